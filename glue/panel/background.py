"""The panel's background jobs: a customer's migration or restore, an admin's move. Each is
a row of panel_jobs (kind, state, progress, report; who started it) and a thread of the
panel server; one job of an account runs at a time. The row is what pages and the API show,
so a reload or another tab sees the job, and its result once it ended."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException
from sqlalchemy import Engine, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from glue.errors import BubbleError
from glue.state.schema import panel_jobs
from migrator.errors import MigratorError

log = logging.getLogger("bubble.panel")
HEARTBEAT = 10.0  # seconds between a running job's signs of life
ABANDONED = dt.timedelta(minutes=1)  # a running job silent this long: its panel stopped
KINDS = ("migration", "restore", "move")

# A job's work: given its id (for progress), its state (done or failed), error and report.
Work = Callable[[int], tuple[str, str, str]]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _abandoned(engine: Engine, account: str) -> None:
    """A running job not heard from for a while was left by a panel that stopped: failed."""
    stale = and_(panel_jobs.c.running == account, panel_jobs.c.updated_at < now() - ABANDONED)
    with engine.begin() as connection:
        kind = connection.execute(select(panel_jobs.c.kind).where(stale)).scalar()
        if kind is not None:
            connection.execute(
                update(panel_jobs).where(stale).values(
                    running=None, state="failed", updated_at=now(),
                    error=f"the panel stopped during this {kind}: start it again",
                )
            )  # fmt: skip


def progress(engine: Engine, job_id: int, parts: dict[str, Any]) -> None:
    """The job's progress (JSON: what the page shows while it runs) and a sign of life."""
    with engine.begin() as connection:
        connection.execute(
            update(panel_jobs)
            .where(panel_jobs.c.id == job_id)
            .values(progress=json.dumps(parts), updated_at=now())
        )


def one_line(kind: str, exc: Exception) -> str:
    """A job's refusal as the service said it; anything else is the operator's (logged)."""
    if isinstance(exc, BubbleError | MigratorError):
        return str(exc)
    return f"the {kind} stopped on an internal error: the operator's log has it"


def start(engine: Engine, who: str, account: str, kind: str, work: Work) -> int:
    """The job's row, then its thread; refused (409) while a job of the account runs."""
    assert kind in KINDS
    _abandoned(engine, account)
    started = now()
    try:
        with engine.begin() as connection:
            made = connection.execute(
                insert(panel_jobs).values(
                    account=account, running=account, kind=kind, state="running",
                    started_by=who, started_at=started, updated_at=started, progress="{}",
                    report="", error="",
                )
            ).inserted_primary_key  # fmt: skip
    except IntegrityError:
        with engine.connect() as connection:
            busy = connection.execute(
                select(panel_jobs.c.kind).where(panel_jobs.c.running == account)
            ).scalar()
        raise HTTPException(
            409, f"a {busy or 'job'} of {account} is running: wait for it to finish"
        ) from None
    assert made is not None
    job_id = int(made[0])
    log.info("%s started %s job %s of %s", who, kind, job_id, account)
    thread = threading.Thread(target=_run, args=(engine, job_id, kind, work),
                              name=f"{kind}-{job_id}", daemon=True)  # fmt: skip
    thread.start()
    return job_id


def _run(engine: Engine, job_id: int, kind: str, work: Work) -> None:
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(HEARTBEAT):
            with engine.begin() as connection:
                connection.execute(update(panel_jobs)
                                   .where(panel_jobs.c.id == job_id)
                                   .values(updated_at=now()))  # fmt: skip

    threading.Thread(target=heartbeat, daemon=True).start()
    state, error, report = "failed", "", ""
    try:
        state, error, report = work(job_id)
    except Exception as exc:  # the job ends with its one line; the trace is the operator's
        if not isinstance(exc, BubbleError | MigratorError):
            log.exception("%s job %s", kind, job_id)
        error = one_line(kind, exc)
    finally:
        stop.set()
        with engine.begin() as connection:
            connection.execute(
                update(panel_jobs)
                .where(panel_jobs.c.id == job_id)
                .values(running=None, state=state, error=error, report=report, updated_at=now())
            )
        log.info("%s job %s ended: %s", kind, job_id, state)


def rows(engine: Engine, account: str, kind: str, job_id: int | None = None,
         limit: int = 10) -> list[dict[str, Any]]:  # fmt: skip
    """The account's jobs of `kind`, newest first (or the one asked for)."""
    _abandoned(engine, account)
    query = select(panel_jobs).where(and_(panel_jobs.c.account == account,
                                          panel_jobs.c.kind == kind))  # fmt: skip
    if job_id is not None:
        query = query.where(panel_jobs.c.id == job_id)
    with engine.connect() as connection:
        found = connection.execute(query.order_by(panel_jobs.c.id.desc()).limit(limit)).mappings()
        return [
            {"id": r["id"], "account": r["account"], "kind": r["kind"], "state": r["state"],
             "started_by": r["started_by"], "started_at": r["started_at"].isoformat(),
             "updated_at": r["updated_at"].isoformat(), "error": r["error"],
             "progress": json.loads(r["progress"] or "{}"),
             "report": json.loads(r["report"]) if r["report"] else None}
            for r in found
        ]  # fmt: skip
