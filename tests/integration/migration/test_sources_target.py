"""URL parsing (no passwords ever) and the ssh target's exact command line."""

from __future__ import annotations

import shlex

import pytest

from glue.migration_target import SshTarget
from migrator.sources import SourceUrlError, parse_db_url, parse_files_url, parse_mail_arg


def test_password_in_url_is_refused_and_not_echoed() -> None:
    with pytest.raises(SourceUrlError) as err:
        parse_files_url("ftp://bob:hunter2@old.example/public_html")
    assert "hunter2" not in str(err.value)


def test_urls() -> None:
    f = parse_files_url("sftp://bob@old.example:2222/home/bob/www/?connections=2")
    assert (f.scheme, f.port, f.path, f.connections) == ("sftp", 2222, "/home/bob/www", 2)
    assert parse_db_url("mysql://bob@db.old.example/shop").port == 3306
    m = parse_mail_arg("imaps://bob@mail.old.example=info@shop.example")
    assert (m.source.port, m.mailbox) == (993, "info@shop.example")
    with pytest.raises(SourceUrlError):
        parse_files_url("ftp://bob@old.example/../etc")
    with pytest.raises(SourceUrlError):
        parse_mail_arg("imaps://bob@mail.old.example")  # no target mailbox


def test_ssh_target_command() -> None:
    t = SshTarget("198.18.0.11", "alice", key_file="/k", ssh_options=("-o", "ConnectTimeout=5"))
    argv = t.command(["python3", "-c", "print(1)"])
    assert argv[:8] == ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-i", "/k",
                        "root@198.18.0.11"]  # fmt: skip
    remote = shlex.split(argv[-1])
    assert remote[:5] == ["systemd-run", "--quiet", "--wait", "--pipe", "--collect"]
    assert "--slice=acct-alice.slice" in remote and "--uid=alice" in remote
    assert "--working-directory=/srv/alice" in remote
    assert remote[-3:] == ["python3", "-c", "print(1)"]
    with pytest.raises(ValueError):
        t.command(["sh", "-c", "echo $HOME"])  # systemd-run would expand it
