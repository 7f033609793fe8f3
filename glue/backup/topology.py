"""Which backup server a web server pushes to, with which policy, into which repository."""

from __future__ import annotations

from glue.catalog import Catalog
from glue.errors import BubbleError
from glue.models import BackupPolicy, ServerRole

# Where a backup server keeps the repositories: one directory per web server under it.
REPOSITORIES_DIR = "/srv/borg"
# The backup server's user that every borg ssh login is (forced commands only).
BORG_USER = "borg"


def backup_servers(catalog: Catalog) -> list[str]:
    return sorted(n for n, s in catalog.servers.items() if s.role is ServerRole.BACKUP)


def backup_target(catalog: Catalog, web: str) -> str | None:
    """The backup server `web` pushes to: its `backup_to`, else the only backup server;
    None when the catalog has none (nothing is backed up yet)."""
    chosen = catalog.servers[web].backup_to
    if chosen is not None:
        return chosen
    candidates = backup_servers(catalog)
    if len(candidates) > 1:
        raise BubbleError(
            f"server {web}: {len(candidates)} backup servers ({', '.join(candidates)}): "
            "set backup_to on it in catalog/servers.yml"
        )
    return candidates[0] if candidates else None


def policy(catalog: Catalog, backup_server: str) -> BackupPolicy:
    return catalog.servers[backup_server].backup or BackupPolicy()


def clients(catalog: Catalog, backup_server: str) -> list[str]:
    """The web servers whose repositories live on `backup_server`."""
    return sorted(
        name
        for name, server in catalog.servers.items()
        if server.role is ServerRole.WEB and backup_target(catalog, name) == backup_server
    )


def repository_path(web: str) -> str:
    return f"{REPOSITORIES_DIR}/{web}"
