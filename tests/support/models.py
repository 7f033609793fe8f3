"""Catalog objects built in memory, for tests that need a catalog without a root on disk:
each factory gives a valid object with plain defaults; a test names only what it is about."""

from __future__ import annotations

from pathlib import Path

from glue.catalog import Catalog
from glue.models import Account, Plan, Server
from glue.services.root import BASE_PLAN

# The plan `bubble init` writes.
PLAN = Plan.model_validate(BASE_PLAN)


def server(**changes: object) -> Server:
    """A lab server: 2 cores at 2 GHz, 8 GiB, 100 GiB; `changes` override any field."""
    data: dict[str, object] = {
        "provider": "lab",
        "cores": 2,
        "core_ghz": "2GHz",
        "memory": "8GiB",
        "disk": "100GiB",
    }
    return Server.model_validate({**data, **changes})


def cloud_server(**changes: object) -> Server:
    """An hcloud cx22 in fsn1: 2 cores at 2 GHz, 4 GiB, 40 GiB; `changes` override any field."""
    data: dict[str, object] = {"provider": "hcloud", "type": "cx22", "region": "fsn1",
                               "memory": "4GiB", "disk": "40GiB"}  # fmt: skip
    return server(**{**data, **changes})


def account(server_name: str, **changes: object) -> Account:
    """An account on the base plan with one domain, placed on `server_name`."""
    data: dict[str, object] = {"plan": "base", "server": server_name, "domains": ["x.example"]}
    return Account.model_validate({**data, **changes})


def catalog(
    servers: dict[str, Server],
    accounts: dict[str, Account],
    root: Path = Path("/nonexistent"),
) -> Catalog:
    """A catalog with the base plan, these servers and accounts (nothing read from `root`)."""
    return Catalog(root, {"base": PLAN}, servers, accounts)
