"""Whole migrations through the runner: files + database + mailbox, job record, faults."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from migrator.jobs import JobStore
from migrator.mail import MailTarget
from migrator.runner import MigrationPlan, Runner
from migrator.secrets import Secrets
from migrator.sources import parse_db_url, parse_files_url, parse_mail_arg
from tests.support.migration_target import LocalTarget

from . import data, servers

pytestmark = pytest.mark.integration


def _plan(vsftpd: str, old_imap: str, db_url: str, limit: int | None = None) -> MigrationPlan:
    return MigrationPlan(
        account=servers.ACCOUNT,
        files=parse_files_url(vsftpd),
        databases=[parse_db_url(db_url)],
        mail=[parse_mail_arg(f"{old_imap}={data.TARGET_MAILBOX}")],
        disk_limit_mib=limit,
        mail_target=lambda box: MailTarget("127.0.0.1", servers.PORT_IMAP_TARGET, box, ssl=False),
    )


def _secrets(plan: MigrationPlan) -> Secrets:
    by_label = {plan.files.label: servers.OLD_PASSWORD} if plan.files else {}
    by_label |= {d.label: data.DB_PASSWORD for d in plan.databases}
    by_label |= {m.label: servers.MAIL_PASSWORD for m in plan.mail}
    return Secrets(by_label, {data.TARGET_MAILBOX: servers.MAIL_PASSWORD})


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    from glue.state.db import open_engine

    return JobStore(open_engine(f"sqlite:///{tmp_path / 'state.sqlite'}"))


def test_full_migration_then_nothing_to_copy(
    vsftpd: str, old_imap: str, db_url: str, target_imap: object, db_target: LocalTarget,
    site: Path, store: JobStore,
) -> None:  # fmt: skip
    plan = _plan(vsftpd, old_imap, db_url, limit=1024)
    first = Runner(plan, _secrets(plan), db_target, store).run()
    assert first.ok, first.lines()
    assert [p.state for p in first.parts] == ["verified"] * 3
    assert data.tree_state(db_target.home / "www") == data.tree_state(site)
    job = store.job(first.job_id or 0)
    assert job["state"] == "done"
    assert servers.OLD_PASSWORD not in job["report"] and data.DB_PASSWORD not in job["report"]
    assert {r.state for r in store.parts(first.job_id or 0).values()} == {"verified"}
    second = Runner(plan, _secrets(plan), db_target, store).run()
    assert second.ok
    assert [(p.copied, p.copied_bytes) for p in second.parts] == [(0, 0)] * 3


def test_preflight_refuses_over_disk_limit(
    vsftpd: str, old_imap: str, db_url: str, target_imap: object, db_target: LocalTarget,
    store: JobStore,
) -> None:  # fmt: skip
    plan = _plan(vsftpd, old_imap, db_url, limit=50)  # the site alone is 100 MB
    report = Runner(plan, _secrets(plan), db_target, store).run()
    assert not report.ok and report.parts == []
    assert "disk limit of 50 MiB" in report.error and "nothing was copied" in report.error
    assert not (db_target.home / "www").exists()
    assert store.job(report.job_id or 0)["state"] == "refused"


def _part_sizes(parts: Path) -> list[int]:
    """Sizes of the staged parts; a part may be renamed into www/ between listing and stat."""
    sizes = []
    for part in parts.glob("*") if parts.exists() else []:
        with contextlib.suppress(FileNotFoundError):
            sizes.append(part.stat().st_size)
    return sizes


def test_killed_midway_then_rerun_is_identical(
    vsftpd: str, site: Path, target: LocalTarget, store: JobStore
) -> None:
    # PYTHONPATH: the script imports this checkout's migrator and tests.support.
    repo = str(Path(__file__).resolve().parents[3])
    env = dict(os.environ, BUBBLE_MIGRATE_FILES_PASSWORD=servers.OLD_PASSWORD, PYTHONPATH=repo)
    url = vsftpd + "?connections=2"
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("run_files.py")), url, target.account,
         str(target.home)],
        env=env, start_new_session=True,
    )  # fmt: skip
    parts = target.home / "tmp" / ".bubble-migrate" / "parts"
    deadline = time.monotonic() + 60
    killed_at = 0
    while time.monotonic() < deadline and proc.poll() is None:
        sizes = _part_sizes(parts)
        if sizes and max(sizes) > 20 * 1024 * 1024:
            os.killpg(proc.pid, signal.SIGKILL)  # the whole migration, receiver included
            killed_at = max(sizes)
            break
        time.sleep(0.005)
    proc.wait()
    assert killed_at, "the copy finished before it could be killed"
    assert not (target.home / "www" / data.BIG).exists()  # only the staged part
    plan = MigrationPlan(servers.ACCOUNT, files=parse_files_url(url))
    report = Runner(plan, Secrets({plan.files.label: servers.OLD_PASSWORD}), target, store).run()  # type: ignore[union-attr]
    assert report.ok, report.lines()
    assert "1 partial file(s) resumed" in report.parts[0].details
    assert report.parts[0].copied_bytes < data.BIG_SIZE  # it continued, not restarted
    assert data.tree_state(target.home / "www") == data.tree_state(site)
    assert not (target.home / "tmp" / ".bubble-migrate").exists()
