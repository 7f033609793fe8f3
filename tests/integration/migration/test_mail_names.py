"""Every folder name IMAP allows on a modern old host arrives under the servers' mail layout
(Dovecot LAYOUT=fs): dots, '&' and non-ASCII, empty and implied parents, unsubscribed folders.
One folder the target still refuses is reported and skipped; every other one is copied."""

from __future__ import annotations

import os
import pwd
import ssl
from pathlib import Path

import pytest
from imapclient import IMAPClient

from migrator.report import WARNINGS
from migrator.runner import MigrationPlan, Runner
from migrator.secrets import Secrets
from migrator.sources import parse_mail_arg
from tests.support.migration_target import LocalTarget

from . import data, servers
from .test_mail import mail_target

pytestmark = pytest.mark.integration

REFUSED = "Locked/Child"


def _counts(client: IMAPClient) -> dict[str, int | None]:
    """Folder -> message count (None: listed but not selectable)."""
    out: dict[str, int | None] = {}
    for flags, _, name in client.list_folders():
        if {b"\\noselect", b"\\nonexistent"} & {f.lower() for f in flags}:
            out[name] = None
            continue
        client.select_folder(name, readonly=True)
        out[name] = len(client.search("ALL"))
    return out


def _lock_target_folder(base: Path) -> Path:
    """Makes the target refuse REFUSED: its parent directory is root's and read-only."""
    nobody = pwd.getpwnam("nobody")
    maildir = base / "dovecot-target" / "home" / data.NAMES_MAILBOX / "Maildir"
    maildir.mkdir(parents=True, exist_ok=True)
    for p in (maildir.parent, maildir):
        os.chown(p, nobody.pw_uid, nobody.pw_gid)
    locked = maildir / REFUSED.split("/")[0]
    locked.mkdir(exist_ok=True)
    locked.chmod(0o555)
    return locked


def test_every_folder_name_arrives_and_a_refused_one_is_reported(
    base: Path, names_imap: str, target_imap: servers.Dovecot, target: LocalTarget,
    cert: tuple[Path, Path],
) -> None:  # fmt: skip
    _lock_target_folder(base)
    job = parse_mail_arg(f"{names_imap}={data.NAMES_MAILBOX}")
    plan = MigrationPlan(servers.ACCOUNT, mail=[job], mail_target=mail_target)
    secrets = Secrets({job.label: servers.MAIL_PASSWORD}, {job.mailbox: servers.MAIL_PASSWORD})
    report = Runner(plan, secrets, target).run()
    (part,) = report.parts
    assert report.ok and report.outcome == WARNINGS and report.exit_code == 3, report.lines()
    assert part.state == WARNINGS
    ((warning),) = part.warnings
    assert warning.item == REFUSED and f"refuses to create {REFUSED}" in warning.why
    assert f"         warning: {REFUSED}: the mailbox refuses" in "\n".join(report.lines())

    ctx = ssl.create_default_context(cafile=str(cert[0]))
    old = IMAPClient("127.0.0.1", servers.PORT_IMAPS_NAMES, ssl=True, ssl_context=ctx)
    old.login(data.NAMES_MAIL_USER, servers.MAIL_PASSWORD)
    new = IMAPClient("127.0.0.1", servers.PORT_IMAP_TARGET, ssl=False)
    new.login(data.NAMES_MAILBOX, servers.MAIL_PASSWORD)
    source, got = _counts(old), _counts(new)
    # Every folder but the refused one, each with every message (counted per folder).
    for name, count in data.NAMES_FOLDERS.items():
        assert source[name] == count, (name, source)
        if name == REFUSED:
            assert name not in got
        elif count is None:
            assert name in got  # the implied parent exists (as a folder of its own)
        else:
            assert got[name] == count, (name, got)
    assert {n for n in source if n != REFUSED} <= set(got)
    assert part.copied == sum(c or 0 for n, c in data.NAMES_FOLDERS.items() if n != REFUSED)
    assert "Résumés & CVs" in {n for _, _, n in new.list_sub_folders()}  # subscribed
    old.logout()
    new.logout()

    again = Runner(plan, secrets, target).run()  # a re-run copies nothing, warns the same
    assert again.parts[0].copied == 0 and again.exit_code == 3, again.lines()
