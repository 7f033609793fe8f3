"""The panel's migrations: the form's pre-flight, then the copy as a background job owned by
the panel server (glue.panel.background), `bubble migrate`'s service underneath. The job's
state and live progress (bytes per part) are in the state DB (panel_jobs), so a reload or
another tab shows them, with the final report. Passwords live in memory only: a checked form
until it is started or expires, then the job's thread until it ends; never stored, never
logged."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request
from sqlalchemy import Engine

from glue.errors import BubbleError
from glue.panel import background
from glue.panel.auth import Principal
from glue.panel.request import Panel
from glue.services.migration import Migration, MigrationRequest, prepare_migration
from migrator.errors import MigratorError
from migrator.network import Network, public_only
from migrator.report import MigrationReport
from migrator.target import Target

PUBLIC = Network(refuse=public_only)  # old hosts on the internet only
CHECK_TTL = dt.timedelta(minutes=15)  # a checked form waits this long to be started
PROGRESS_EVERY = 1.0  # seconds between progress writes while bytes flow
PASSWORD_KEYS = ("files", "db", "mail", "mailbox")


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
        background.progress(self.engine, self.job_id, self.parts)

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


@dataclass
class _Checked:
    account: str
    form: MigrationForm
    expires: dt.datetime


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
            self.checked[token] = _Checked(account, form, background.now() + CHECK_TTL)
        return token

    def _forget_expired(self) -> None:
        """Drop the checked forms (and their passwords) nobody started in time."""
        now = background.now()
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
        engine = self.found.ctx.engine

        def work(job_id: int) -> tuple[str, str, str]:
            done = migration.run(_Progress(engine, job_id))
            report = json.dumps({**done.to_dict(), "lines": done.lines()})
            return ("done" if done.ok else "failed"), done.error, report

        return background.start(engine, who.name, account, "migration", work)


def jobs(request: Request) -> Jobs:
    """The app's Jobs (made with it)."""
    registry: Jobs = request.app.state.jobs
    return registry
