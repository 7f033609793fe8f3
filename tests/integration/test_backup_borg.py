"""Backups with real borg on loopback: a real sshd stands for the backup server (its
authorized_keys is the one `glue.backup.authorized` writes, forced commands and all), a real
MariaDB for the web server's databases, and the agent that web servers run makes the archives.

Proves: what an archive holds (home, mailboxes, consistent dumps with routines and triggers,
a tenant's link to /etc/shadow as a link only), that the repository is unreadable without its
passphrase-protected key, retention pruning per account, and that a web server's key cannot
delete an archive for good (append-only) while the control plane's can prune."""

from __future__ import annotations

import datetime as dt
import json
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from glue.backup import agent
from glue.backup.authorized import authorized_keys
from glue.backup.borg import BorgError, Repository
from glue.backup.keys import client_key, control_key, passphrase_file, public, repokey_file
from glue.models import Retention
from tests.integration.migration.servers import MariaDB, Server, ensure_user
from tests.support.influxd import free_port

MARKER = b"plaintext-marker-7f3a9c"  # in bkalice's files: never readable in the repository


@dataclass
class BackupHost:
    """The backup server (sshd + forced commands) and one control-plane root."""

    root: Path
    base: Path  # the repositories directory
    port: int
    known_hosts: Path

    def url(self, web: str) -> str:
        return f"ssh://root@127.0.0.1:{self.port}{self.base}/{web}"

    def ssh(self, key: Path) -> list[str]:
        return ["ssh", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "LogLevel=ERROR"]  # fmt: skip

    def control(self, web: str) -> Repository:
        """The control plane's view of `web`'s repository (its own key: may prune)."""
        return Repository(self.url(web), passphrase_file(self.root, web),
                          self.ssh(control_key(self.root)), self.root / "borg-cache")  # fmt: skip

    def as_web(self, web: str) -> Repository:
        """`web`'s own view: its push key (append-only, its repository only)."""
        key = client_key(self.root, web)
        return Repository(self.url(web), passphrase_file(self.root, web), self.ssh(key),
                          self.root / f"cache-{web}")  # fmt: skip


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackupHost]:
    d = tmp_path_factory.mktemp("backup")
    root, base = d / "ops", d / "repos"
    base.mkdir()
    hostkey = d / "host_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(hostkey)],
                   check=True, stdin=subprocess.DEVNULL)  # fmt: skip
    clients = {web: public(client_key(root, web)) for web in ("web1", "web2")}
    keys = d / "authorized_keys"
    keys.write_text(authorized_keys(clients, public(control_key(root)), str(base)))
    port = free_port()
    conf = d / "sshd_config"
    conf.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {hostkey}", f"PidFile {d}/sshd.pid",
        f"AuthorizedKeysFile {keys}", "PermitRootLogin forced-commands-only", "UsePAM no",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "StrictModes no",
        "LogLevel ERROR", "",
    ]))  # fmt: skip
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    sshd = Server(["/usr/sbin/sshd", "-D", "-e", "-f", str(conf)], d / "sshd.log", port)
    known = d / "known_hosts"
    kind, key = (hostkey.with_suffix(".pub").read_text().split())[:2]
    known.write_text(f"[127.0.0.1]:{port} {kind} {key}\n")
    try:
        yield BackupHost(root, base, port, known)
    finally:
        sshd.stop()


@pytest.fixture(scope="module")
def web1(host: BackupHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """web1: two homes under its own /srv, a MariaDB with bkalice's database, the agent's
    config; its repository made by the control plane (init + key export)."""
    # Outside pytest's 0700 tmp: the accounts (real users) reach their homes and the socket.
    d = Path(tempfile.mkdtemp(prefix="bubble-backup-web1-", dir="/var/tmp"))
    d.chmod(0o755)
    users = {name: ensure_user(name) for name in ("bkalice", "bkbob")}
    db = MariaDB(d, "web1", free_port())
    db.sql(
        "CREATE DATABASE bkalice_shop; USE bkalice_shop;"
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40)) CHARSET utf8mb4;"
        "INSERT INTO items VALUES (1, 'caf\u00e9 \U0001f600'), (2, 'tea');"
        "CREATE PROCEDURE count_items() SELECT COUNT(*) FROM items;"
        "CREATE TRIGGER name_upper BEFORE INSERT ON items FOR EACH ROW"
        " SET NEW.name = UPPER(NEW.name);"
        "CREATE DATABASE `bkbob_x/../../y`;"  # the tenant names it: never a path as root
    )  # fmt: skip
    srv = d / "srv"
    bkalice = srv / "bkalice"
    (bkalice / "www").mkdir(parents=True)
    (bkalice / "www" / "index.php").write_bytes(b"<?php echo 'hi';\n" + MARKER)
    (bkalice / "www" / "shadow").symlink_to("/etc/shadow")  # the tenant's planted link
    os.mkfifo(bkalice / "www" / "pipe")  # a FIFO: never read (it would block the backup)
    inbox = bkalice / "mail" / "info@bkalice.example" / "Maildir"
    for sub in ("cur", "new", "tmp", ".Lists.debian"):
        (inbox / sub).mkdir(parents=True)
    (inbox / "cur" / "1.msg:2,S").write_bytes(b"Subject: hello\r\n\r\nbody\r\n")
    (srv / "bkbob" / "www").mkdir(parents=True)
    (srv / "bkbob" / "www" / "index.html").write_text("bkbob\n")
    (srv / "not-an-account").mkdir()
    for name, user in users.items():  # the account role's layout: root's home, its own dirs
        (srv / name).chmod(0o755)
        for path in [*(srv / name).rglob("*")]:
            os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
        db.sql(f"CREATE USER IF NOT EXISTS {name} IDENTIFIED VIA unix_socket;"
               f"GRANT ALL PRIVILEGES ON `{name}\\_%`.* TO {name};")  # fmt: skip
    # Dovecot's passwd-file, root's: bkalice's and bkbob's logins (hashes), and a line naming
    # an address under bkalice's mail/ that is not its own home (never taken for bkalice).
    logins = {name: f"info@{name}.example:{{SHA512-CRYPT}}$6$s$h{name}:{user.pw_uid}:"
                    f"{user.pw_gid}::{srv}/{name}/mail/info@{name}.example::\n"
              for name, user in users.items()}  # fmt: skip
    stray = f"x@y.example:{{PLAIN}}stray:1:1::{srv}/bkalice/mail/info@bkalice.example::\n"
    (d / "bubble-users").write_text(logins["bkalice"] + stray + logins["bkbob"])
    created = host.control("web1").init(repokey_file(host.root, "web1"))
    config = d / "backup.conf"
    web = host.as_web("web1")
    config.write_text(json.dumps({
        "repository": web.url, "passphrase_file": str(web.passphrase_file),
        "ssh": " ".join(web.ssh), "srv": str(srv), "staging": str(d / "staging"),
        "restore_dir": str(d / "restore"), "mail_users": str(d / "bubble-users"),
        "mysql_args": [f"--socket={db.socket}", "--user=root"],
    }))  # fmt: skip
    try:
        yield {"config": str(config), "db": db, "srv": srv, "created": created, "dir": d,
               "logins": logins}  # fmt: skip
    finally:
        db.stop()
        shutil.rmtree(d, ignore_errors=True)


def run_agent(web1: dict[str, object], which: str, at: dt.datetime) -> list[dict[str, object]]:
    config = agent.load_config(str(web1["config"]))
    assert agent.run(config, which, at) == 0
    last = json.loads((Path(config["staging"]) / "last.json").read_text())
    results: list[dict[str, object]] = last["results"]
    return results


def extract(repo: Repository, archive: str, into: Path) -> Path:
    into.mkdir(parents=True)
    subprocess.run(["borg", "extract", f"::{archive}"], cwd=into, env=repo._env(),
                   check=True, capture_output=True, stdin=subprocess.DEVNULL)  # fmt: skip
    return into


AT = dt.datetime(2026, 12, 1, 2, 30, tzinfo=dt.UTC)


def test_one_archive_per_account_holds_its_home_mail_and_dumps_and_no_link_target(
    host: BackupHost, web1: dict[str, object], tmp_path: Path
) -> None:
    assert web1["created"] is True
    assert oct(repokey_file(host.root, "web1").stat().st_mode & 0o777) == "0o600"
    results = run_agent(web1, "all", AT)
    assert [(r["account"], r["archive"], r["ok"]) for r in results] == [
        ("bkalice", "bkalice-2026-12-01T02:30", True),
        ("bkbob", "bkbob-2026-12-01T02:30", True),
    ]
    assert results[1]["skipped_databases"] == ["bkbob_x/../../y"] and results[1]["warnings"]
    rows = host.control("web1").archives("bkalice")
    assert [(r["archive"], r["databases"], r["mailboxes"]) for r in rows] == [
        ("bkalice-2026-12-01T02:30", ["bkalice_shop"], ["info@bkalice.example"])]  # fmt: skip
    assert rows[0]["size"] > len(MARKER)
    every = host.control("web1").archives()  # the monitor's backup-missing reads them all
    assert [r["archive"] for r in every] == ["bkalice-2026-12-01T02:30", "bkbob-2026-12-01T02:30"]

    out = extract(host.control("web1"), "bkalice-2026-12-01T02:30", tmp_path / "x")
    srv = str(web1["srv"]).lstrip("/")
    home = out / srv / "bkalice"
    assert (home / "www" / "index.php").read_bytes().endswith(MARKER)
    assert (home / "www" / "shadow").is_symlink()  # the link, never /etc/shadow's content
    assert os.readlink(home / "www" / "shadow") == "/etc/shadow"
    shadow = Path("/etc/shadow").read_bytes()
    for path in out.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert shadow[:40] not in path.read_bytes(), path
    maildir = home / "mail" / "info@bkalice.example" / "Maildir"
    assert (maildir / "cur" / "1.msg:2,S").read_bytes() == b"Subject: hello\r\n\r\nbody\r\n"
    assert (maildir / ".Lists.debian").is_dir()
    dumps = list(out.rglob("databases/bkalice_shop.sql"))
    assert len(dumps) == 1
    sql = dumps[0].read_text(encoding="utf-8")
    assert "CREATE TABLE `items`" in sql and "caf\u00e9 \U0001f600" in sql
    assert "PROCEDURE `count_items`" in sql and "TRIGGER" in sql and "name_upper" in sql
    assert not list(out.rglob("bkbob")), "bkalice's archive holds nothing of bkbob's"
    # Its mailbox logins, from root's passwd-file: its own line alone, a hash, no stray line.
    (logins,) = out.rglob("bkalice/mail-logins")
    assert logins.read_text() == web1["logins"]["bkalice"]  # type: ignore[index]


def test_a_deleted_file_a_dropped_table_and_a_deleted_mail_folder_come_back_exactly(
    web1: dict[str, object],
) -> None:
    config = agent.load_config(str(web1["config"]))
    db, home = web1["db"], Path(str(web1["srv"])) / "bkalice"
    assert isinstance(db, MariaDB)
    archive, at = "bkalice-2026-12-01T02:30", AT + dt.timedelta(hours=1)
    index = home / "www" / "index.php"
    original = index.read_bytes()
    checksum = db.sql("CHECKSUM TABLE bkalice_shop.items")
    folder = home / "mail" / "info@bkalice.example" / "Maildir" / ".Lists.debian"
    message = home / "mail" / "info@bkalice.example" / "Maildir" / "cur" / "1.msg:2,S"
    mail_bytes = message.read_bytes()

    index.unlink()
    result = agent.restore(config, "bkalice", archive, "path:www/index.php", "bkalice", at)
    assert result["ok"] and index.read_bytes() == original
    assert index.stat().st_uid == pwd.getpwnam("bkalice").pw_uid

    db.sql("DROP TABLE bkalice_shop.items")
    agent.restore(config, "bkalice", archive, "db:bkalice_shop", "bkalice", at)
    assert db.sql("CHECKSUM TABLE bkalice_shop.items") == checksum
    assert "count_items" in db.sql("SHOW PROCEDURE STATUS WHERE Db = 'bkalice_shop'")
    assert "name_upper" in db.sql("SHOW TRIGGERS FROM bkalice_shop")
    assert list(Path(config["staging"] + "").glob("aside/bkalice_shop.before-restore-*.sql"))

    shutil.rmtree(folder)
    message.unlink()
    users = Path(config["mail_users"])
    logins: dict[str, str] = web1["logins"]  # type: ignore[assignment]
    users.write_text(logins["bkbob"])  # bkalice's login lost too
    result = agent.restore(config, "bkalice", archive, "mailbox:info@bkalice.example",
                           "bkalice", at)  # fmt: skip
    assert folder.is_dir() and message.read_bytes() == mail_bytes
    # Its login back (merged: bkbob's untouched), root:dovecot 0640 as Dovecot reads it.
    assert result["mail_logins"] == 1
    assert users.read_text() == logins["bkbob"] + logins["bkalice"]
    assert oct(users.stat().st_mode & 0o777) == "0o640"
    assert list((home / "mail").glob("info@bkalice.example.before-restore-*"))  # kept aside


def test_installed_logins_carry_the_accounts_ids_and_no_extra_fields(
    web1: dict[str, object], tmp_path: Path
) -> None:
    """A login line from an archive (which a web server's root could have crafted) lands with
    the account's own uid and gid, no shell and no Dovecot extra fields: its hash and home only."""
    config = agent.load_config(str(web1["config"]))
    home, user = f"{web1['srv']}/bkalice", pwd.getpwnam("bkalice")
    users = tmp_path / "users"
    users.write_text("")
    crafted = (f"info@bkalice.example:{{PLAIN}}x:0:0:gecos:{home}/mail/info@bkalice.example:"
               "/bin/sh:userdb_uid=0 userdb_home=/etc\n")  # fmt: skip
    argv = agent.mail_logins_argv("bkalice", home, "merge", str(users))
    done = subprocess.run(argv, input=crafted, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "1"
    assert users.read_text() == (
        f"info@bkalice.example:{{PLAIN}}x:{user.pw_uid}:{user.pw_gid}::"
        f"{home}/mail/info@bkalice.example::\n"
    )
    assert config["mail_users"] != str(users)  # the server's own file was never touched


def test_a_restore_follows_no_planted_link_and_stays_in_the_home(web1: dict[str, object]) -> None:
    config = agent.load_config(str(web1["config"]))
    home, archive = Path(str(web1["srv"])) / "bkalice", "bkalice-2026-12-01T02:30"
    passwd = Path("/etc/passwd").read_bytes()
    index = home / "www" / "index.php"
    index.unlink()
    index.symlink_to("/etc/passwd")  # the tenant hopes root writes through it
    os.chown(index, pwd.getpwnam("bkalice").pw_uid, 0, follow_symlinks=False)
    agent.restore(config, "bkalice", archive, "path:www/index.php", "bkalice", AT)
    assert Path("/etc/passwd").read_bytes() == passwd
    assert not index.is_symlink() and index.read_bytes().endswith(MARKER)
    for bad in ("www/../../../etc", "/etc/passwd", "www", "etc/x", ""):
        with pytest.raises(ValueError, match="path"):
            agent.restore(config, "bkalice", archive, f"path:{bad}", "bkalice", AT)
    # Into another account: its own files, owned by it.
    agent.restore(config, "bkalice", archive, "path:www/index.php", "bkbob", AT)
    copied = Path(str(web1["srv"])) / "bkbob" / "www" / "index.php"
    assert copied.read_bytes().endswith(MARKER)
    assert copied.stat().st_uid == pwd.getpwnam("bkbob").pw_uid


def test_the_repository_is_encrypted_and_unreadable_without_the_passphrase(
    host: BackupHost, web1: dict[str, object], tmp_path: Path
) -> None:
    run_agent(web1, "bkalice", AT + dt.timedelta(days=1))
    repo_dir = host.base / "web1"
    for path in repo_dir.rglob("*"):
        if path.is_file():
            assert MARKER not in path.read_bytes(), f"{path} holds bkalice's file in clear"
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    stranger = Repository(host.url("web1"), wrong, host.ssh(control_key(host.root)), tmp_path / "c")
    with pytest.raises(BorgError, match="passphrase"):
        stranger.names()
    config = (repo_dir / "config").read_text()
    assert "key = " in config  # repokey: the key is in the repository, sealed by the passphrase
    assert repokey_file(host.root, "web1").read_text().startswith("BORG_KEY ")


def test_retention_prunes_one_account_alone(host: BackupHost, web1: dict[str, object]) -> None:
    for days in (2, 3, 9):  # bkalice: one archive a day, then one a week later
        run_agent(web1, "bkalice", AT + dt.timedelta(days=days))
    control = host.control("web1")
    assert len(control.names("bkalice")) == 5  # 12-01, 02 (the test before), 03, 04, 10
    # By the archives' own times (the names'): the two last days with an archive are kept.
    seen = control.names("bkalice")
    deleted = control.prune("bkalice", Retention(daily=2, weekly=0, monthly=0), seen)
    assert control.names("bkalice") == ["bkalice-2026-12-04T02:30", "bkalice-2026-12-10T02:30"]
    assert deleted == [f"bkalice-2026-12-0{d}T02:30" for d in (1, 2, 3)]
    assert control.names("bkbob") == ["bkbob-2026-12-01T02:30"], "bkbob's archives are untouched"


def test_a_web_servers_key_cannot_delete_an_archive_for_good_nor_reach_another_repository(
    host: BackupHost, web1: dict[str, object], tmp_path: Path
) -> None:
    web, control = host.as_web("web1"), host.control("web1")
    archive = "bkbob-2026-12-01T02:30"
    seen = control.names("bkbob")
    data = host.base / "web1" / "data"
    segments = {p for p in data.rglob("*") if p.is_file()}
    web.delete(archive)  # what an intruder on web1 would try; append-only: it only appends
    web.run("compact", "::", step="compact")  # refused quietly in append-only mode
    assert control.names("bkbob") == []  # hidden until rolled back ...
    with pytest.raises(BorgError, match=f"deleted by someone other.*{archive}"):
        control.prune("bkbob", Retention(), seen)  # ... and the control plane will not compact
    # ... and every segment it had is still there: rolled back (a copy, as borg's docs say:
    # drop the newer segments and the index), the archive is back, readable.
    assert segments <= {p for p in data.rglob("*") if p.is_file()}
    copy = tmp_path / "rolled-back"
    shutil.copytree(host.base / "web1", copy)
    for path in (copy / "data").rglob("*"):
        if path.is_file() and data / path.relative_to(copy / "data") not in segments:
            path.unlink()
    for path in copy.glob("*"):
        if path.name.split(".")[0] in ("index", "hints", "integrity"):
            path.unlink()
    local = Repository(str(copy), web.passphrase_file, [], tmp_path / "fresh-cache")
    assert local.names("bkbob") == [archive]
    other = Repository(host.url("web2"), web.passphrase_file, web.ssh, tmp_path / "c")
    with pytest.raises(BorgError):
        other.names()  # web1's key is pinned to web1's repository
