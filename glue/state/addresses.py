"""Server addresses: the catalog holds the ones people decided (lab servers get theirs at
`server add`); the ones a cloud provider assigns are runtime facts, recorded here by
`bubble apply` from its stack's output and never written back into catalog/servers.yml."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import Engine, delete, select

from glue.models import Server
from glue.state.schema import server_addresses


def server_address(name: str, server: Server, recorded: Mapping[str, str]) -> str | None:
    """Where a server is reached: the catalog's address if a person set one, else the one
    its provider assigned (`recorded`, from `recorded_addresses`); None before it exists.
    Every caller (inventory, ssh, listings) goes through here."""
    return server.address or recorded.get(name) or None


def address_of(engine: Engine, name: str, server: Server) -> str | None:
    """`server_address` of one server: the state DB is read only when the catalog has no
    address for it (a cloud server), so lab and hand-addressed servers cost no query."""
    if server.address:
        return server.address
    with engine.connect() as connection:
        found = connection.execute(
            select(server_addresses.c.address).where(server_addresses.c.server == name)
        ).scalar()
    return found or None


def recorded_addresses(engine: Engine) -> dict[str, str]:
    """server -> the address its provider last reported."""
    with engine.connect() as connection:
        rows = connection.execute(select(server_addresses.c.server, server_addresses.c.address))
        return {row.server: row.address for row in rows}


def record_addresses(
    engine: Engine, provider: str, addresses: Mapping[str, str], at: dt.datetime
) -> bool:
    """Make `provider`'s recorded addresses exactly `addresses` (its stack's whole output:
    a server missing from it no longer exists); return whether anything changed."""
    wanted = {name: address for name, address in addresses.items() if address}
    with engine.begin() as connection:
        table = server_addresses
        rows = connection.execute(
            select(table.c.server, table.c.address).where(table.c.provider == provider)
        )
        current = {row.server: row.address for row in rows}
        if current == wanted:
            return False
        connection.execute(
            delete(table).where((table.c.provider == provider) | table.c.server.in_(wanted))
        )
        if wanted:
            connection.execute(
                table.insert(),
                [
                    {"server": name, "provider": provider, "address": address, "recorded_at": at}
                    for name, address in sorted(wanted.items())
                ],
            )
    return True
