"""The panel's migrations: the form's pre-flight, then the copy as a background job owned by
the panel server (a thread), `bubble migrate`'s service underneath. The job's state and live
progress (bytes per part) are in the state DB (panel_jobs), so a reload or another tab shows
them, with the final report. Passwords live in memory only: a checked form until it is
started or expires, then the job's thread until it ends; never stored, never logged."""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from sqlalchemy import Engine, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from glue.errors import BubbleError
from glue.panel.auth import Principal
from glue.panel.request import Panel
from glue.services.migration import Migration, MigrationRequest, prepare_migration
from glue.state.schema import panel_jobs
from migrator.errors import MigratorError
from migrator.network import Network, public_only
from migrator.report import MigrationReport
from migrator.target import Target

log = logging.getLogger("bubble.panel")
PUBLIC = Network(refuse=public_only)  # old hosts on the internet only
CHECK_TTL = dt.timedelta(minutes=15)  # a checked form waits this long to be started
HEARTBEAT = 10.0  # seconds between a running job's signs of life
ABANDONED = dt.timedelta(minutes=1)  # a running job silent this long: its panel stopped
PROGRESS_EVERY = 1.0  # seconds between progress writes while bytes flow
PASSWORD_KEYS = ("files", "db", "mail", "mailbox")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class MigrationForm:
    """What the customer asked for: sources as `bubble migrate` takes them (no password in a
    URL), and the passwords by the password file's keys (files, db, mail, mailbox)."""

    files: str = ""
    databases: tuple[str, ...] = ()
    mail: tuple[str, ...] = ()
    passwords: dict[str, str] = field(default_factory=dict, repr=False)

    def request(self, account: str, check_only: bool, mail: MailServer) -> MigrationRequest:
        return MigrationRequest(account=account, files=self.files.strip() or None,
                                databases=self.databases, mail=self.mail,
                                mail_port=mail.port, mail_cafile=mail.cafile,
                                check_only=check_only)  # fmt: skip


@dataclass(frozen=True)
class MailServer:
    """How the panel reaches the accounts' mailboxes on their servers: IMAPS on `port`, the
    certificate checked against the system CAs or `cafile` (`bubble migrate`'s --mail-port,
    --mail-cafile)."""

    port: int = 993
    cafile: Path | None = None


IMAPS = MailServer()  # the servers' own: port 993, the certificate checked against the system CAs


def lines(text: str) -> tuple[str, ...]:
    """A textarea's sources, one per line."""
    return tuple(line.strip() for line in text.splitlines() if line.strip())


class _Progress:
    """The runner's events into the job's row: bytes per part, written at most once a second
    while they flow (at once when a part starts or ends). Called from the copy threads."""

    def __init__(self, engine: Engine, job_id: int) -> None:
        self.engine, self.job_id = engine, job_id
        self.parts: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.written = 0.0

    def _save(self, force: bool) -> None:
        if not force and time.monotonic() - self.written < PROGRESS_EVERY:
            return
        self.written = time.monotonic()
        with self.engine.begin() as connection:
            connection.execute(
                update(panel_jobs)
                .where(panel_jobs.c.id == self.job_id)
                .values(progress=json.dumps(self.parts), updated_at=_now())
            )

    def start(self, part: str, total_bytes: int) -> None:
        with self.lock:
            self.parts[part] = {"total": total_bytes, "done": 0, "state": "copying"}
            self._save(True)

    def advance(self, part: str, nbytes: int) -> None:
        with self.lock:
            self.parts[part]["done"] += nbytes
            self._save(False)

    def done(self, part: str, state: str) -> None:
        with self.lock:
            self.parts[part]["state"] = state
            self._save(True)


def _one_line(exc: Exception) -> str:
    if isinstance(exc, BubbleError | MigratorError):
        return str(exc)
    return "the migration stopped on an internal error: the operator's log has it"


@dataclass
class _Checked:
    account: str
    form: MigrationForm
    expires: dt.datetime


def _abandoned(engine: Engine, account: str) -> None:
    """A running job not heard from for a while was left by a panel that stopped: failed."""
    now = _now()
    with engine.begin() as connection:
        connection.execute(
            update(panel_jobs)
            .where(and_(panel_jobs.c.running == account, panel_jobs.c.updated_at < now - ABANDONED))
            .values(
                running=None,
                state="failed",
                updated_at=now,
                error="the panel stopped during this migration: start it again",
            )
        )


class Jobs:
    """The panel server's migrations. `target`: how to reach an account's server other than
    by ssh (tests: a local user); None in production. `mail`: the accounts' IMAPS. `network`:
    how old hosts are reached: public addresses only in production, checked at the form and
    again at every connect (a customer's DNS may answer otherwise the second time)."""

    def __init__(self, found: Panel, target: Callable[[str], Target] | None = None,
                 network: Network = PUBLIC, mail: MailServer = IMAPS) -> None:  # fmt: skip
        self.found, self.target, self.network, self.mail = found, target, network, mail
        self.lock = threading.Lock()
        self.checked: dict[str, _Checked] = {}

    def _prepare(self, account: str, form: MigrationForm, check_only: bool) -> Migration:
        target = self.target(account) if self.target else None
        try:
            request = form.request(account, check_only, self.mail)
            migration = prepare_migration(self.found.context(), request, environ={},
                                          passwords=form.passwords, target=target,
                                          network=self.network)  # fmt: skip
            plan = migration.plan
            for source in (plan.files, *plan.databases, *(m.source for m in plan.mail)):
                if source is not None:  # refused early, in the form (the connect checks again)
                    self.network.pin(source.host, source.port)
        except MigratorError as exc:
            raise BubbleError(str(exc)) from None
        return migration

    def check(self, account: str, form: MigrationForm) -> MigrationReport:
        """The pre-flight: every login and size, the fit in the disk limit."""
        return self._prepare(account, form, check_only=True).run()

    def remember(self, account: str, form: MigrationForm) -> str:
        """A checked form kept in memory (passwords too) for `start_checked`, under the token
        answered, for CHECK_TTL at most."""
        token = secrets.token_urlsafe(24)
        with self.lock:
            self._forget_expired()
            self.checked[token] = _Checked(account, form, _now() + CHECK_TTL)
        return token

    def _forget_expired(self) -> None:
        """Drop the checked forms (and their passwords) nobody started in time."""
        now = _now()
        self.checked = {k: c for k, c in self.checked.items() if c.expires > now}

    def start_checked(self, who: Principal, account: str, token: str) -> int:
        with self.lock:
            self._forget_expired()
            found = self.checked.pop(token, None)
        if found is None or found.account != account:
            raise BubbleError("this pre-flight has expired or was started already: check again")
        return self.start(who, account, found.form)

    def start(self, who: Principal, account: str, form: MigrationForm) -> int:
        """The job's row, then its thread; refused while one of the account's runs."""
        migration = self._prepare(account, form, check_only=False)
        engine, now = self.found.ctx.engine, _now()
        _abandoned(engine, account)
        try:
            with engine.begin() as connection:
                made = connection.execute(
                    insert(panel_jobs).values(
                        account=account, running=account, state="running", started_by=who.name,
                        started_at=now, updated_at=now, progress="{}", report="", error="",
                    )
                ).inserted_primary_key  # fmt: skip
        except IntegrityError:
            raise HTTPException(
                409, f"a migration of {account} is running: wait for it to finish"
            ) from None
        assert made is not None
        job_id = int(made[0])
        log.info("%s started migration job %s of %s", who.name, job_id, account)
        thread = threading.Thread(target=self._run, args=(job_id, migration),
                                  name=f"migration-{job_id}", daemon=True)  # fmt: skip
        thread.start()
        return job_id

    def _run(self, job_id: int, migration: Migration) -> None:
        engine = self.found.ctx.engine
        stop = threading.Event()

        def heartbeat() -> None:
            while not stop.wait(HEARTBEAT):
                with engine.begin() as connection:
                    connection.execute(update(panel_jobs)
                                       .where(panel_jobs.c.id == job_id)
                                       .values(updated_at=_now()))  # fmt: skip

        threading.Thread(target=heartbeat, daemon=True).start()
        state, error, report = "failed", "", ""
        try:
            done = migration.run(_Progress(engine, job_id))
            state = "done" if done.ok else "failed"
            error = done.error
            report = json.dumps({**done.to_dict(), "lines": done.lines()})
        except Exception as exc:  # the job ends with its one line; the trace is the operator's
            log.exception("migration job %s", job_id)
            error = _one_line(exc)
        finally:
            stop.set()
            with engine.begin() as connection:
                connection.execute(
                    update(panel_jobs)
                    .where(panel_jobs.c.id == job_id)
                    .values(
                        running=None, state=state, error=error, report=report, updated_at=_now()
                    )
                )
            log.info("migration job %s ended: %s", job_id, state)


def job_rows(engine: Engine, account: str, job_id: int | None = None,
             limit: int = 10) -> list[dict[str, Any]]:  # fmt: skip
    """The account's jobs, newest first (or the one asked for): state, progress, report."""
    _abandoned(engine, account)
    query = select(panel_jobs).where(panel_jobs.c.account == account)
    if job_id is not None:
        query = query.where(panel_jobs.c.id == job_id)
    with engine.connect() as connection:
        rows = connection.execute(query.order_by(panel_jobs.c.id.desc()).limit(limit)).mappings()
        return [
            {"id": r["id"], "account": r["account"], "state": r["state"],
             "started_by": r["started_by"], "started_at": r["started_at"].isoformat(),
             "updated_at": r["updated_at"].isoformat(), "error": r["error"],
             "progress": json.loads(r["progress"] or "{}"),
             "report": json.loads(r["report"]) if r["report"] else None}
            for r in rows
        ]  # fmt: skip


def jobs(request: Request) -> Jobs:
    """The app's Jobs (made with it)."""
    registry: Jobs = request.app.state.jobs
    return registry
