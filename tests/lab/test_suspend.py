"""`account suspend` (issue 7, item 7): web, PHP, FTP and IMAP stop, open sessions end.

On spc-web1 (198.18.0.71) alice has an FTP session and an IMAP session open when the accounts
playbook suspends her: both sessions are closed, new logins are refused, nothing of hers runs,
bob is untouched; resuming brings every login back. Before that, `bubble account exec` on
alice passes the operator's stdin through to her command (issue 9).
"""

from __future__ import annotations

import ftplib
import imaplib
import ssl
from pathlib import Path
from typing import Any

import pytest

from glue.remote import public_key
from tests.support.cli import Bubble, server_args
from tests.support.lab_env import lab_env
from tests.support.lab_server import http_get, put_file
from tests.support.playbooks import Inventory, account

pytestmark = pytest.mark.lab

SERVER = "spc-web1"
ADDRESS = "198.18.0.71"
FTP_PASSWORD = "alice-ftp-pw-7"
MAILBOX, MAIL_PASSWORD = "info@alice.example", "alice-mail-pw-7"
# A mailbox in alice's home under a domain she no longer serves: refused all the same.
FORMER = "old@former.example"
WHO_PHP = "<?php echo posix_getpwuid(posix_geteuid())['name'], \"\\n\";\n"


@pytest.fixture(scope="module")
def suspend_lab(lab_server: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Inventory]:
    server = lab_server(SERVER, ADDRESS, disk_gib=2)
    inv = Inventory(tmp_path_factory.mktemp("suspend-inventory"), server)
    inv.accounts["alice"] = account(["alice.example"])
    inv.accounts["bob"] = account(["bob.example"])
    done = inv.run("site.yml")
    assert done.returncode == 0, done.output[-6000:]
    server.ssh("bubble-ftp-password alice", input=f"{FTP_PASSWORD}\n")
    for mailbox in (MAILBOX, FORMER):
        server.ssh(f"bubble-mailbox-password alice {mailbox}", input=f"{MAIL_PASSWORD}\n")
    for name in ("alice", "bob"):
        put_file(server, name, f"/srv/{name}/www/who.php", WHO_PHP)
    return server, inv


def _ftp() -> ftplib.FTP:
    ftp = ftplib.FTP()  # noqa: S321 - plain FTP is what customers use
    ftp.connect(ADDRESS, 21, timeout=15)
    ftp.login("alice", FTP_PASSWORD)
    return ftp


def _imap(mailbox: str = MAILBOX) -> imaplib.IMAP4:
    imap = imaplib.IMAP4(ADDRESS, 143, timeout=15)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the lab server's own self-signed certificate
    imap.starttls(ssl_context=ctx)
    imap.login(mailbox, MAIL_PASSWORD)
    return imap


def _ftp_closed(ftp: ftplib.FTP) -> bool:
    try:
        ftp.pwd()
    except (EOFError, OSError, ftplib.Error):
        return True
    return False


def _imap_closed(imap: imaplib.IMAP4) -> bool:
    try:
        typ, _ = imap.noop()
    except (imaplib.IMAP4.abort, imaplib.IMAP4.error, OSError):
        return True
    return typ != "OK"


def test_account_exec_passes_stdin_through(suspend_lab: Any, tmp_path: Path) -> None:
    """`echo hi | bubble account exec alice -- cat` prints hi; the exit code is the command's."""
    server, _ = suspend_lab
    bubble = Bubble(tmp_path / "root", lab_env(server.cfg, apply=False))
    bubble.init()
    bubble("server", "add", SERVER, *server_args("2GiB", "2GiB"), "--address", ADDRESS)
    bubble("account", "create", "alice", "--domain", "alice.example", "--server", SERVER,
           "--no-apply")  # fmt: skip
    server.ssh("cat >> /root/.ssh/authorized_keys", input=public_key(bubble.root) + "\n")
    done = bubble.run("account", "exec", "alice", "--", "cat", stdin="hi\n", timeout=120)
    assert (done.returncode, done.stdout) == (0, "hi\n"), done.stderr
    script = 'read line; echo "$line from $(id -un) in $PWD"; exit 7'
    done = bubble.run("account", "exec", "alice", "--", "sh", "-c", script, stdin="hi\n")
    assert (done.returncode, done.stdout) == (7, "hi from alice in /srv/alice\n"), done.stderr


def test_suspend_ends_sessions_and_refuses_logins_resume_restores(suspend_lab: Any) -> None:
    server, inv = suspend_lab
    assert http_get(ADDRESS, "alice.example", "/who.php") == (200, "alice\n")
    ftp, imap = _ftp(), _imap()
    assert ftp.pwd() == "/"
    assert imap.select("INBOX")[0] == "OK"

    inv.accounts["alice"]["suspended"] = True
    suspended = inv.run("accounts.yml")
    assert suspended.returncode == 0, suspended.output[-4000:]
    # The sessions that were open are gone ...
    assert _ftp_closed(ftp)
    assert _imap_closed(imap)
    # ... new logins are refused, the web answers 503, nothing of alice's runs ...
    with pytest.raises(ftplib.error_perm):
        _ftp()
    for mailbox in (MAILBOX, FORMER):
        with pytest.raises(imaplib.IMAP4.error):
            _imap(mailbox)
    assert http_get(ADDRESS, "alice.example", "/who.php")[0] == 503
    assert server.ssh("pgrep -u alice", check=False).returncode == 1
    assert server.ssh("systemctl is-active acct-alice.slice", check=False).stdout.strip() in (
        "inactive",
        "failed",
    )
    # ... bob is untouched, and converging again changes nothing.
    assert http_get(ADDRESS, "bob.example", "/who.php") == (200, "bob\n")
    again = inv.run("accounts.yml")
    assert again.returncode == 0 and again.changed(SERVER) == 0, "\n".join(again.changed_tasks())

    inv.accounts["alice"]["suspended"] = False
    resumed = inv.run("accounts.yml")
    assert resumed.returncode == 0, resumed.output[-4000:]
    ftp = _ftp()
    assert ftp.pwd() == "/"
    ftp.quit()
    for mailbox in (MAILBOX, FORMER):
        imap = _imap(mailbox)
        assert imap.select("INBOX")[0] == "OK"
        imap.logout()
    assert http_get(ADDRESS, "alice.example", "/who.php") == (200, "alice\n")
