"""The Ansible inventory: servers and, per server, its accounts with the limits in force.

Shape (docs/interfaces.md): hosts.yml with group `bubble_servers`, and host_vars/SERVER.yml
holding `bubble_server` and `bubble_accounts`. Servers that are down stay listed, in their own
group, so nothing runs against them but their accounts are not forgotten.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from glue.catalog import Catalog
from glue.limits import cpu_quota_percent, effective_base, limits_in_force, memory_high_mib
from glue.models import Account, AccountState, Limits, Server, ServerState
from glue.paths import GENERATED_HEADER
from glue.state.addresses import server_address
from glue.yamlio import dump_plain_yaml

HEADER = f"# {GENERATED_HEADER}"


def account_limits(limits: Limits, server: Server) -> dict[str, Any]:
    return {
        "cpu_mhz": limits.cpu_mhz,
        "cpu_quota_percent": cpu_quota_percent(limits.cpu_mhz, server.core_mhz),
        "memory_mib": limits.memory_mib,
        "memory_high_mib": memory_high_mib(limits.memory_mib),
        "disk_mib": limits.disk_mib,
        "tasks": limits.processes,
        "io_read_mbps": limits.io_read_mbps,
        "io_write_mbps": limits.io_write_mbps,
    }


def account_vars(account: Account, limits: Limits, server: Server) -> dict[str, Any]:
    return {
        "state": "present",
        "suspended": account.state is AccountState.SUSPENDED,
        "domains": list(account.domains),
        "email": account.email,
        "limits": account_limits(limits, server),
    }


def removal_vars(account: Account) -> dict[str, Any]:
    """An account being removed: the role removes it (archived unless purge) on the next
    converge; glue deletes its catalog file once the server confirmed that."""
    return {"state": "absent", "purge": account.state is AccountState.PURGING}


def render_inventory(
    catalog: Catalog,
    boosts: Mapping[str, Mapping[str, int]],
    today: dt.date,
    addresses: Mapping[str, str],
) -> dict[str, str]:
    """`addresses`: those the providers assigned, recorded in the state DB (see server_address)."""
    per_server: dict[str, dict[str, Any]] = {name: {} for name in catalog.servers}
    for name in sorted(catalog.accounts):
        account = catalog.accounts[name]
        if account.state.leaving:
            per_server[account.server][name] = removal_vars(account)
            continue
        server = catalog.servers[account.server]
        base = effective_base(catalog.plans[account.plan], account, today)
        limits = limits_in_force(base, boosts.get(name, {}))
        per_server[account.server][name] = account_vars(account, limits, server)

    live: dict[str, Any] = {}
    down: dict[str, Any] = {}
    files: dict[str, str] = {}
    for name in sorted(catalog.servers):
        server = catalog.servers[name]
        group = down if server.state is ServerState.DOWN else live
        host = server_address(name, server, addresses)
        group[name] = {"ansible_host": host} if host else {}
        host_vars = {
            "bubble_server": {
                "name": name,
                "provider": server.provider,
                "state": server.state.value,
                "cores": server.cores,
                "core_mhz": server.core_mhz,
                "memory_mib": server.memory_mib,
                "disk_mib": server.disk_mib,
            },
            "bubble_accounts": per_server[name],
        }
        files[f"host_vars/{name}.yml"] = dump_plain_yaml(host_vars, HEADER)
    groups: dict[str, Any] = {"bubble_servers": {"hosts": live}}
    if down:
        groups["bubble_down"] = {"hosts": down}
    files["hosts.yml"] = dump_plain_yaml({"all": {"children": groups}}, HEADER)
    return files
