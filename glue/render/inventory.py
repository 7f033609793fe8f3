"""The Ansible inventory: servers and, per server, its accounts with the limits in force.

Shape (docs/interfaces.md): hosts.yml with group `bubble_servers` (backup servers in
`bubble_backup_servers`), and host_vars/SERVER.yml holding `bubble_server` and `bubble_accounts`.
Servers that are down stay listed, in their own group, so nothing runs against them but their
accounts are not forgotten.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

from glue.backup.topology import (
    BORG_USER,
    REPOSITORIES_DIR,
    backup_target,
    clients,
    policy,
    repository_path,
)
from glue.catalog import Catalog
from glue.limits import cpu_quota_percent, limits_in_force, memory_high_mib
from glue.models import Account, AccountState, Limits, Server, ServerRole, ServerState
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


def backup_vars(catalog: Catalog, name: str, addresses: Mapping[str, str]) -> dict[str, Any]:
    """A web server's backups (the backup_client role): where its repository is, when it
    runs; a backup server's: which web servers push to it (the backup_server role)."""
    server = catalog.servers[name]
    if server.role is ServerRole.BACKUP:
        return {"clients": clients(catalog, name), "repositories": REPOSITORIES_DIR}
    target = backup_target(catalog, name)
    if target is None:
        return {}
    return {
        "server": target,
        "address": server_address(target, catalog.servers[target], addresses),
        "user": BORG_USER,
        "repository": repository_path(name),
        "schedule": policy(catalog, target).schedule,
    }


def render_inventory(
    catalog: Catalog,
    boosts: Mapping[str, Mapping[str, int]],
    today: dt.date,
    addresses: Mapping[str, str],
    servers: Collection[str] | None = None,
) -> dict[str, str]:
    """hosts.yml (every server) and the host_vars of every server, or only of `servers`.
    `addresses`: those the providers assigned, recorded in the state DB (see server_address)."""
    shown = set(catalog.servers) if servers is None else set(servers) & set(catalog.servers)
    accounts = {n: a for n, a in catalog.accounts.items() if a.server in shown}
    staying = [name for name, account in accounts.items() if not account.state.leaving]
    in_force = limits_in_force(catalog, boosts, today, staying)
    per_server: dict[str, dict[str, Any]] = {name: {} for name in shown}
    for name in sorted(accounts):
        account = accounts[name]
        if account.state.leaving:
            per_server[account.server][name] = removal_vars(account)
        else:
            server = catalog.servers[account.server]
            per_server[account.server][name] = account_vars(account, in_force[name], server)

    live: dict[str, Any] = {}
    down: dict[str, Any] = {}
    stores: dict[str, Any] = {}  # the backup servers
    files: dict[str, str] = {}
    for name in sorted(catalog.servers):
        server = catalog.servers[name]
        group = down if server.state is ServerState.DOWN else live
        if server.role is ServerRole.BACKUP and group is live:
            group = stores  # not a web server: site.yml's roles never run there
        host = server_address(name, server, addresses)
        group[name] = {"ansible_host": host} if host else {}
        if name not in shown:
            continue
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
        backup = backup_vars(catalog, name, addresses)
        if backup:
            host_vars["bubble_backup"] = backup
        files[f"host_vars/{name}.yml"] = dump_plain_yaml(host_vars, HEADER)
    groups: dict[str, Any] = {"bubble_servers": {"hosts": live}}
    if stores:
        groups["bubble_backup_servers"] = {"hosts": stores}
    if down:
        groups["bubble_down"] = {"hosts": down}
    files["hosts.yml"] = dump_plain_yaml({"all": {"children": groups}}, HEADER)
    return files
