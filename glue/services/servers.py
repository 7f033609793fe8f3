"""Servers in the catalog: add, change state, remove, list with their load."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from glue.catalog import Catalog, save_servers, validated
from glue.errors import BubbleError
from glue.models import Server, ServerState
from glue.placement import server_loads
from glue.providers import provider
from glue.services.context import Context
from glue.state.addresses import recorded_addresses, server_address


@dataclass(frozen=True)
class NewServer:
    provider: str
    cores: int
    core_ghz: str
    memory: str
    disk: str
    type: str = ""
    region: str = ""
    address: str | None = None
    role: str = "web"


def add_server(ctx: Context, name: str, spec: NewServer) -> Server:
    catalog = ctx.catalog()
    if name in catalog.servers:
        raise BubbleError(f"server {name!r} already exists")
    chosen = provider(spec.provider)
    taken = {s.address for s in catalog.servers.values() if s.address}
    data: dict[str, Any] = {
        "provider": spec.provider,
        "type": spec.type or chosen.default_type,
        "region": spec.region or chosen.default_region,
        "cores": spec.cores,
        "core_ghz": spec.core_ghz,
        "memory": spec.memory,
        "disk": spec.disk,
        "address": spec.address or chosen.allocate_address(taken),
        "role": spec.role,
    }
    if not data["type"] or not data["region"]:
        raise BubbleError(f"server {name!r}: --type and --region are required for {spec.provider}")
    server = validated(Server, data, f"server {name!r}")
    save_servers(catalog.with_server(name, server))
    return server


def set_state(ctx: Context, name: str, state: ServerState) -> Server:
    catalog = ctx.catalog()
    server = require_server(catalog, name)
    updated = server.model_copy(update={"state": state})
    save_servers(catalog.with_server(name, updated))
    return updated


def remove_server(ctx: Context, name: str) -> None:
    """Only an empty server can go: its accounts must be moved or deleted first."""
    catalog = ctx.catalog()
    require_server(catalog, name)
    remaining = sorted(catalog.accounts_on(name))
    if remaining:
        shown = ", ".join(remaining[:5]) + (" ..." if len(remaining) > 5 else "")
        raise BubbleError(f"server {name!r} still hosts {len(remaining)} account(s): {shown}")
    servers = {k: v for k, v in catalog.servers.items() if k != name}
    save_servers(Catalog(catalog.root, catalog.plans, servers, catalog.accounts))


def require_server(catalog: Catalog, name: str) -> Server:
    if name not in catalog.servers:
        raise BubbleError(f"unknown server {name!r}")
    return catalog.servers[name]


def list_servers(ctx: Context) -> list[dict[str, Any]]:
    catalog = ctx.catalog()
    loads = server_loads(catalog, ctx.today)
    recorded = recorded_addresses(ctx.engine)
    rows = []
    for name in sorted(catalog.servers):
        server, load = catalog.servers[name], loads[name]
        rows.append(
            {
                "name": name,
                "provider": server.provider,
                "state": server.state.value,
                "role": server.role.value,
                "address": server_address(name, server, recorded),
                "accounts": load.accounts,
                "cores": server.cores,
                "core_mhz": server.core_mhz,
                "memory_mib": server.memory_mib,
                "disk_mib": server.disk_mib,
                "committed": load.committed,
                "capacity": load.capacity,
            }
        )
    return rows
