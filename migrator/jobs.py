"""The job record of a migration in the state DB: one row per job, one per part.

A part is one source (the files, one database, one mailbox) and goes pending -> copied ->
verified, or failed with its one-line error. `--resume` picks the newest unfinished job of the
same account and sources and skips parts already verified. URLs are stored as labels, which
never contain a password.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from migrator.schema import migration_jobs, migration_parts


@dataclass(frozen=True)
class PartRecord:
    part: str
    kind: str
    state: str
    copied: int
    copied_bytes: int
    skipped: int
    failed: int
    detail: str


def _now() -> datetime:
    return datetime.now(UTC)


class JobStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, account: str, parts: list[tuple[str, str]]) -> int:
        now = _now()
        with self.engine.begin() as c:
            job_id = c.execute(
                insert(migration_jobs).values(
                    account=account,
                    sources=json.dumps([p for _, p in parts]),
                    state="running",
                    started_at=now,
                    updated_at=now,
                    error="",
                    report="",
                )
            ).inserted_primary_key
            assert job_id is not None
            for kind, part in parts:
                c.execute(
                    insert(migration_parts).values(
                        job_id=job_id[0],
                        part=part,
                        kind=kind,
                        state="pending",
                        copied=0,
                        copied_bytes=0,
                        skipped=0,
                        failed=0,
                        detail="",
                        updated_at=now,
                    )
                )
        return int(job_id[0])

    def resumable(self, account: str, parts: list[tuple[str, str]]) -> int | None:
        """The newest unfinished job of this account with exactly these sources."""
        with self.engine.connect() as c:
            row = c.execute(
                select(migration_jobs.c.id)
                .where(
                    migration_jobs.c.account == account,
                    migration_jobs.c.sources == json.dumps([p for _, p in parts]),
                    migration_jobs.c.state.in_(("running", "failed")),
                )
                .order_by(migration_jobs.c.id.desc())
                .limit(1)
            ).first()
        return int(row[0]) if row else None

    def parts(self, job_id: int) -> dict[str, PartRecord]:
        with self.engine.connect() as c:
            rows = c.execute(
                select(migration_parts).where(migration_parts.c.job_id == job_id)
            ).mappings()
            return {
                r["part"]: PartRecord(
                    r["part"],
                    r["kind"],
                    r["state"],
                    r["copied"],
                    r["copied_bytes"],
                    r["skipped"],
                    r["failed"],
                    r["detail"],
                )
                for r in rows
            }

    def update_part(self, job_id: int, part: str, state: str, **counts: Any) -> None:
        with self.engine.begin() as c:
            c.execute(
                update(migration_parts)
                .where(migration_parts.c.job_id == job_id, migration_parts.c.part == part)
                .values(state=state, updated_at=_now(), **counts)
            )
            c.execute(
                update(migration_jobs)
                .where(migration_jobs.c.id == job_id)
                .values(state="running", updated_at=_now())
            )

    def finish(self, job_id: int, state: str, report: dict[str, Any], error: str = "") -> None:
        with self.engine.begin() as c:
            c.execute(
                update(migration_jobs)
                .where(migration_jobs.c.id == job_id)
                .values(state=state, updated_at=_now(), error=error, report=json.dumps(report))
            )

    def job(self, job_id: int) -> dict[str, Any]:
        with self.engine.connect() as c:
            row = c.execute(select(migration_jobs).where(migration_jobs.c.id == job_id)).mappings()
            return dict(row.one())
