"""The state of account moves: the open move of an account (one at a time), its phase."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select, update

from glue.state.schema import account_moves


@dataclass(frozen=True)
class Move:
    id: int
    account: str
    source: str
    target: str
    phase: str
    downtime_ms: int | None


def open_move(engine: Engine, account: str) -> Move | None:
    with engine.connect() as connection:
        row = connection.execute(
            select(account_moves).where(account_moves.c.open == account)
        ).first()
    if row is None:
        return None
    return Move(row.id, row.account, row.source, row.target, row.phase, row.downtime_ms)


def start_move(engine: Engine, account: str, source: str, target: str) -> Move:
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as connection:
        key = connection.execute(
            insert(account_moves).values(
                account=account,
                open=account,
                source=source,
                target=target,
                phase="copying",
                started_at=now,
                updated_at=now,
            )
        ).inserted_primary_key
    assert key is not None
    return Move(int(key[0]), account, source, target, "copying", None)


def set_phase(engine: Engine, move: Move, phase: str, downtime_ms: int | None = None) -> Move:
    values: dict[str, object] = {"phase": phase, "updated_at": dt.datetime.now(dt.UTC)}
    if downtime_ms is not None:
        values["downtime_ms"] = downtime_ms
    if phase == "finished":
        values["open"] = None
    with engine.begin() as connection:
        connection.execute(
            update(account_moves).where(account_moves.c.id == move.id).values(**values)
        )
    return Move(move.id, move.account, move.source, move.target, phase,
                downtime_ms if downtime_ms is not None else move.downtime_ms)  # fmt: skip
