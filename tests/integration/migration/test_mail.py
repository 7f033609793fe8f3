"""Mail from one real Dovecot (IMAPS, INBOX. prefix, '.') into another ('/', special-use)."""

from __future__ import annotations

import ssl
from datetime import datetime
from pathlib import Path

import pytest
from imapclient import IMAPClient

from migrator.errors import MigrationError
from migrator.mail import MailCopier, MailTarget, message_key
from migrator.sources import parse_mail_arg

from . import data, servers

pytestmark = pytest.mark.integration

FOLDER_MAP = {
    "INBOX": "INBOX",
    "INBOX.Sent Items": "Sent",
    "INBOX.Deleted Messages": "Trash",
    "INBOX.Projekte": "Projekte",
    "INBOX.Projekte.Ünïcode & Co": "Projekte/Ünïcode & Co",
    "INBOX.Projekte.Ünïcode & Co.日本語": "Projekte/Ünïcode & Co/日本語",
}
Snapshot = dict[str, list[tuple[str, tuple[bytes, ...], datetime]]]


def snapshot(client: IMAPClient, folders: list[str]) -> Snapshot:
    """Per folder: (identity, flags, internal date) of every message, sorted."""
    client.normalise_times = False
    out: Snapshot = {}
    for folder in folders:
        client.select_folder(folder, readonly=True)
        uids = client.search("ALL")
        rows = client.fetch(uids, ["RFC822.SIZE", "FLAGS", "INTERNALDATE", "BODY.PEEK[HEADER]"])
        out[folder] = sorted(
            (
                message_key(r[b"BODY[HEADER]"], r[b"RFC822.SIZE"]),
                tuple(sorted(f for f in r[b"FLAGS"] if f != b"\\Recent")),
                r[b"INTERNALDATE"],
            )
            for r in rows.values()
        )
    return out


def old_client(cert: tuple[Path, Path]) -> IMAPClient:
    ctx = ssl.create_default_context(cafile=str(cert[0]))
    c = IMAPClient("127.0.0.1", servers.PORT_IMAPS_OLD, ssl=True, ssl_context=ctx)
    c.login(data.OLD_MAIL_USER, servers.MAIL_PASSWORD)
    return c


def target_client(user: str = data.TARGET_MAILBOX) -> IMAPClient:
    c = IMAPClient("127.0.0.1", servers.PORT_IMAP_TARGET, ssl=False)
    c.login(user, servers.MAIL_PASSWORD)
    return c


def mail_target(user: str = data.TARGET_MAILBOX) -> MailTarget:
    return MailTarget(host="127.0.0.1", port=servers.PORT_IMAP_TARGET, user=user, ssl=False)


def test_copy_identical_idempotent_old_host_untouched(
    old_imap: str, target_imap: servers.Dovecot, cert: tuple[Path, Path]
) -> None:
    job = parse_mail_arg(f"{old_imap}={data.TARGET_MAILBOX}")
    old = old_client(cert)
    before = snapshot(old, list(FOLDER_MAP))
    copier = MailCopier(job.source, servers.MAIL_PASSWORD, mail_target(), servers.MAIL_PASSWORD)
    info = copier.inspect()
    assert info.messages == len(data.mail_messages())
    first = copier.copy()
    assert first.verified, first.mismatches
    assert first.copied == len(data.mail_messages())
    assert snapshot(old, list(FOLDER_MAP)) == before  # \Seen untouched, nothing expunged
    tgt = target_client()
    after = snapshot(tgt, list(FOLDER_MAP.values()))
    assert after == {FOLDER_MAP[k]: v for k, v in before.items()}
    assert any(b"ProjectX" in flags for _, flags, _ in after["INBOX"])
    assert first.folders["INBOX"].source == first.folders["INBOX"].target == 12
    second = copier.copy()
    assert second.copied == 0 and second.flags_synced == 0 and second.verified
    # A flag changed on the old host (customer read a mail meanwhile): a re-run syncs it.
    old.select_folder("INBOX")
    unread = old.search(["UNSEEN"])
    old.add_flags(unread[:1], [b"\\Seen", b"Later"])
    third = copier.copy()
    assert third.copied == 0 and third.flags_synced == 1
    assert snapshot(tgt, ["INBOX"])["INBOX"] == snapshot(old, ["INBOX"])["INBOX"]
    old.remove_flags(unread[:1], [b"\\Seen", b"Later"])
    old.logout()
    tgt.logout()


def test_over_quota_is_one_clear_line(old_imap: str, target_imap: servers.Dovecot) -> None:
    job = parse_mail_arg(f"{old_imap}={data.TINY_MAILBOX}")
    copier = MailCopier(
        job.source, servers.MAIL_PASSWORD, mail_target(data.TINY_MAILBOX), servers.MAIL_PASSWORD
    )
    with pytest.raises(MigrationError) as err:
        copier.copy()
    assert "over quota" in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith(f"mailbox {data.TINY_MAILBOX}: append to ")


def test_wrong_password_is_one_clear_line(old_imap: str, target_imap: servers.Dovecot) -> None:
    job = parse_mail_arg(f"{old_imap}={data.TARGET_MAILBOX}")
    copier = MailCopier(job.source, "nope", mail_target(), servers.MAIL_PASSWORD)
    with pytest.raises(MigrationError) as err:
        copier.inspect()
    assert str(err.value).startswith(f"{job.source.label}: login: ")
    assert "\n" not in str(err.value)
