"""Sequencing: pre-flight everything, refuse when it does not fit, then copy and verify each
part (files, databases, mailboxes), recording each step in the job record."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from migrator.databases import DbCopier, DbInfo, target_db_name
from migrator.errors import MigrationError
from migrator.files import RemoteTree
from migrator.files_copy import copy_files, scan
from migrator.jobs import JobStore
from migrator.mail import MailCopier, MailInfo, MailTarget
from migrator.network import OPEN, Network
from migrator.report import (
    WARNINGS,
    MigrationReport,
    PartCheck,
    PartReport,
    PreflightReport,
    warn,
)
from migrator.secrets import Secrets
from migrator.sources import DbSource, FilesSource, MailJob
from migrator.target import Target


@dataclass
class MigrationPlan:
    """What to move for one account, without any secret (the catalog's Plan is a hosting plan)."""

    account: str
    files: FilesSource | None = None
    databases: list[DbSource] = field(default_factory=list)
    mail: list[MailJob] = field(default_factory=list)
    disk_limit_mib: int | None = None
    mail_target: Callable[[str], MailTarget] | None = None  # mailbox -> its IMAP endpoint
    network: Network = OPEN  # how the old host is reached (the panel: public addresses only)

    def warnings(self) -> list[str]:
        """One line per source reached without encryption or without a certificate check."""
        sources = [self.files, *self.databases, *(m.source for m in self.mail)]
        return [w for s in sources if s is not None and (w := s.warning)]

    def parts(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.files:
            out.append(("files", self.files.label))
        out += [("db", d.label) for d in self.databases]
        out += [("mail", m.label) for m in self.mail]
        return out


class Events(Protocol):
    def start(self, part: str, total_bytes: int) -> None: ...

    def advance(self, part: str, nbytes: int) -> None: ...

    def done(self, part: str, state: str) -> None: ...


class _Quiet:
    def start(self, part: str, total_bytes: int) -> None:
        pass

    def advance(self, part: str, nbytes: int) -> None:
        pass

    def done(self, part: str, state: str) -> None:
        pass


class _Bytes:
    """Adapts a part's byte counter to the files engine's progress protocol."""

    def __init__(self, events: Events, part: str) -> None:
        self.events, self.part = events, part

    def advance(self, nbytes: int) -> None:
        self.events.advance(self.part, nbytes)


class Runner:
    def __init__(
        self,
        plan: MigrationPlan,
        secrets: Secrets,
        target: Target,
        store: JobStore | None = None,
        events: Events | None = None,
    ) -> None:
        self.plan, self.secrets, self.target = plan, secrets, target
        self.store = store
        self.events: Events = events or _Quiet()
        self._tree: RemoteTree | None = None
        self._db_info: dict[str, DbInfo] = {}
        self._mail_info: dict[str, MailInfo] = {}
        self._checks: dict[str, PartCheck] = {}

    def _pw(self, label: str) -> str:
        return self.secrets.by_label.get(label, "")

    def _mail_copier(self, job: MailJob) -> MailCopier:
        if self.plan.mail_target is None:
            raise MigrationError(job.label, "plan", "no IMAP endpoint for the account's mailboxes")
        dst = self.plan.mail_target(job.mailbox)
        return MailCopier(
            job.source,
            self._pw(job.label),
            dst,
            self.secrets.mailboxes.get(job.mailbox, ""),
            self.plan.network,
        )

    def preflight(self) -> PreflightReport:
        """Every login, every size; raises MigrationError on the first that fails."""
        report = PreflightReport(disk_limit_mib=self.plan.disk_limit_mib)
        p = self.plan
        if p.files:
            self._tree = scan(p.files, self._pw(p.files.label), p.network)
            report.parts.append(
                PartCheck(
                    "files",
                    p.files.label,
                    f"{self.target.label}/{self.target.web_root}",
                    self._tree.total_bytes,
                    len(self._tree.files),
                    {"dirs": len(self._tree.dirs)},
                )
            )
        for db in p.databases:
            info = DbCopier(db, self._pw(db.label), self.target, self.plan.network).inspect()
            self._db_info[db.label] = info
            report.parts.append(
                PartCheck(
                    "db",
                    db.label,
                    target_db_name(p.account, db.database),
                    info.bytes,
                    info.rows,
                    {
                        "tables": len(info.tables),
                        "routines": len(info.routines),
                        "triggers": len(info.triggers),
                    },
                )
            )
        for job in p.mail:
            minfo = self._mail_copier(job).inspect()
            self._mail_info[job.label] = minfo
            report.parts.append(
                PartCheck(
                    "mail",
                    job.label,
                    job.mailbox,
                    minfo.bytes,
                    minfo.messages,
                    {"folders": len(minfo.folders)},
                )
            )
        self._checks = {c.source: c for c in report.parts}
        return report

    def run(self, check_only: bool = False, resume: bool = False) -> MigrationReport:
        report = MigrationReport(
            account=self.plan.account, check_only=check_only, warnings=self.plan.warnings()
        )
        parts = self.plan.parts()
        done: set[str] = set()
        if self.store and not check_only:
            job_id = self.store.resumable(self.plan.account, parts) if resume else None
            if job_id is not None:
                done = {k for k, r in self.store.parts(job_id).items() if r.state == "verified"}
            else:
                job_id = self.store.create(self.plan.account, parts)
            report.job_id = job_id
        try:
            report.preflight = self.preflight()
        except MigrationError as exc:
            report.error = str(exc)
            self._finish(report, "failed")
            return report
        if not report.preflight.fits:
            report.error = f"{self.plan.account}: pre-flight: {report.preflight.refusal()}"
            self._finish(report, "refused")
            return report
        if check_only:
            return report
        for kind, label in parts:
            part = PartReport(kind, label, "")
            report.parts.append(part)
            if label in done:
                part.state = "skipped"
                part.details.append("verified by an earlier run of this job")
                continue
            started = time.monotonic()
            try:
                self._run_part(kind, label, part)
            except MigrationError as exc:
                part.state, part.error = "failed", str(exc)
            part.seconds = time.monotonic() - started
            self._record(report.job_id, part)
        self._finish(report, "done" if report.ok else "failed")
        return report

    def _run_part(self, kind: str, label: str, part: PartReport) -> None:
        check = self._checks[label]
        part.target = check.target
        self.events.start(label, check.bytes)
        if kind == "files":
            assert self.plan.files
            res = copy_files(
                self.plan.files,
                self._pw(label),
                self.target,
                self._tree,
                _Bytes(self.events, label),
                self.plan.network,
            )
            part.copied, part.copied_bytes, part.skipped = res.copied, res.copied_bytes, res.skipped
            for path in res.failed:
                warn(part, path, "refused by the source")
            for entry in res.not_copied:
                path, _, why = entry.partition(": ")
                warn(part, path, why)
            part.details += res.mismatches
            if res.resumed:
                part.details.append(f"{res.resumed} partial file(s) resumed")
            # What the old host refuses to the customer is a warning, not a failure.
            part.settle(not res.mismatches)
        elif kind == "db":
            db = next(d for d in self.plan.databases if d.label == label)
            dres = DbCopier(db, self._pw(label), self.target, self.plan.network).copy(
                self._db_info[label], lambda n: self.events.advance(label, n)
            )
            part.copied = 1 if dres.copied else 0
            part.skipped = 0 if dres.copied else 1
            part.copied_bytes = dres.copied_bytes
            part.details += dres.mismatches
            part.details.append(f"{dres.tables} tables, row counts and CHECKSUM TABLE compared")
            part.settle(dres.verified)
        else:
            job = next(m for m in self.plan.mail if m.label == label)
            mres = self._mail_copier(job).copy(lambda n: self.events.advance(label, n))
            part.copied, part.copied_bytes, part.skipped = (
                mres.copied,
                mres.copied_bytes,
                mres.skipped,
            )
            part.details += [
                f"{name}: {c.source} on the old host, {c.target} in the mailbox"
                for name, c in mres.folders.items()
            ]
            if mres.flags_synced:
                part.details.append(f"flags brought in line on {mres.flags_synced} message(s)")
            for name, why in mres.skipped_folders.items():
                warn(part, name, why)
            part.details += mres.mismatches
            part.settle(mres.verified)
        self.events.done(label, part.state)

    def _record(self, job_id: int | None, part: PartReport) -> None:
        if self.store and job_id is not None and part.state != "skipped":
            # The job record keeps "verified" (its warnings in the detail): a resumed job has
            # nothing to redo for such a part, and the column holds the short states.
            state = "verified" if part.state == WARNINGS else part.state
            self.store.update_part(
                job_id,
                part.source,
                state,
                copied=part.copied,
                copied_bytes=part.copied_bytes,
                skipped=part.skipped,
                failed=part.failed,
                detail="\n".join(
                    [
                        *part.details,
                        *(f"warning: {w.item}: {w.why}" for w in part.warnings),
                        part.error,
                    ]
                ).strip(),
            )

    def _finish(self, report: MigrationReport, state: str) -> None:
        if self.store and report.job_id is not None:
            self.store.finish(report.job_id, state, report.to_dict(), report.error)
