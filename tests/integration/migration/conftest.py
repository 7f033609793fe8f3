"""Fixtures: real FTP, FTPS, SFTP, MariaDB and Dovecot servers on loopback (see servers.py)."""

from __future__ import annotations

import os
import pwd
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient

from tests.support.migration_target import LocalTarget

from . import data, servers

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def base() -> Iterator[Path]:
    # Not pytest's tmp_path: the account user must be able to traverse every parent.
    d = Path(tempfile.mkdtemp(prefix="bubble-migtest-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def users() -> None:
    servers.ensure_user(servers.OLD_USER, servers.OLD_PASSWORD)
    servers.ensure_user(servers.ACCOUNT)


@pytest.fixture(scope="session")
def cert(base: Path) -> tuple[Path, Path]:
    return servers.make_cert(base)


@pytest.fixture(scope="session")
def site(base: Path, users: None) -> Path:
    pw = pwd.getpwnam(servers.OLD_USER)
    root = base / "old" / "site"
    root.mkdir(parents=True, exist_ok=True)
    (base / "old").chmod(0o755)
    data.make_site(root, pw.pw_uid, pw.pw_gid)
    # vsftpd changes into the user's home before applying local_root: one that no run of this
    # suite deletes (parallel runs share the user; each vsftpd names its tree in local_root).
    subprocess.run(["usermod", "-d", "/", servers.OLD_USER], check=True)
    return root


@pytest.fixture(scope="session")
def ca(base: Path) -> tuple[Path, Path, Path]:
    """(ca, cert, key): a throwaway CA and the old host's certificate it signed."""
    return servers.make_ca(base)


@pytest.fixture(scope="session")
def odd_site(base: Path, site: Path) -> Path:
    pw = pwd.getpwnam(servers.OLD_USER)
    root = base / "old" / "odd"
    data.make_odd_site(root, pw.pw_uid, pw.pw_gid)
    return root


@pytest.fixture(scope="session")
def vsftpd_odd(base: Path, odd_site: Path) -> Iterator[str]:
    s = servers.start_vsftpd(
        base, odd_site, servers.PORT_VSFTPD_ODD, servers.passive(23470), "vsftpd-odd"
    )
    yield f"ftp://{servers.OLD_USER}@127.0.0.1:{servers.PORT_VSFTPD_ODD}/"
    s.stop()


@pytest.fixture(scope="session")
def ftps_odd(base: Path, odd_site: Path, cert: tuple[Path, Path]) -> Iterator[str]:
    s = servers.start_pyftpdlib(
        base, odd_site, *cert, servers.PORT_FTPS_ODD, servers.passive(23480, 11), quirks=True
    )
    yield f"ftps://{servers.OLD_USER}@127.0.0.1:{servers.PORT_FTPS_ODD}/?cafile={cert[0]}"
    s.stop()


@pytest.fixture(scope="session")
def vsftpd(base: Path, site: Path) -> Iterator[str]:
    s = servers.start_vsftpd(base, site)
    yield f"ftp://{servers.OLD_USER}@127.0.0.1:{servers.PORT_VSFTPD}/"
    s.stop()


@pytest.fixture(scope="session")
def ftps(base: Path, site: Path, cert: tuple[Path, Path]) -> Iterator[str]:
    s = servers.start_pyftpdlib(base, site, *cert)
    yield f"ftps://{servers.OLD_USER}@127.0.0.1:{servers.PORT_FTPS}/?cafile={cert[0]}"
    s.stop()


@pytest.fixture(scope="session")
def sftp(base: Path, site: Path) -> Iterator[str]:
    s, known = servers.start_sshd(base)
    yield f"sftp://{servers.OLD_USER}@127.0.0.1:{servers.PORT_SSHD}{site}?known_hosts={known}"
    s.stop()


@pytest.fixture
def target(base: Path, users: None, request: pytest.FixtureRequest) -> LocalTarget:
    home = servers.fresh_home(base, request.node.name.replace("/", "_")[:60])
    return LocalTarget(account=servers.ACCOUNT, home=home)


@pytest.fixture
def password_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUBBLE_MIGRATE_FILES_PASSWORD", servers.OLD_PASSWORD)


@pytest.fixture(scope="session")
def old_db(base: Path, ca: tuple[Path, Path, Path]) -> Iterator[servers.MariaDB]:
    """The old host's MariaDB with TLS; its users may only log in over TLS (REQUIRE SSL)."""
    # Also on 127.0.0.2: an address its certificate does not name.
    db = servers.MariaDB(base, "old", servers.PORT_DB_OLD, tls=ca, bind="127.0.0.1,127.0.0.2")
    db.sql(data.old_db_setup(require_ssl=True))
    db.sql(data.bulk_rows(20000), "shop")
    yield db
    db.stop()


@pytest.fixture(scope="session")
def plain_db(base: Path) -> Iterator[servers.MariaDB]:
    """An old host whose MariaDB offers no TLS at all."""
    db = servers.MariaDB(base, "plain", servers.PORT_DB_PLAIN)
    db.sql(data.old_db_setup())
    yield db
    db.stop()


@pytest.fixture(scope="session")
def db_url(old_db: servers.MariaDB, ca: tuple[Path, Path, Path]) -> str:
    return f"mysql://olduser@127.0.0.1:{servers.PORT_DB_OLD}/shop?cafile={ca[0]}"


@pytest.fixture(scope="session")
def target_db(base: Path, users: None) -> Iterator[servers.MariaDB]:
    db = servers.MariaDB(base, "target", servers.PORT_DB_TARGET)
    db.sql(data.target_db_setup(servers.ACCOUNT))
    yield db
    db.stop()


@pytest.fixture
def db_target(target: LocalTarget, target_db: servers.MariaDB) -> LocalTarget:
    target.mariadb_args = (f"--socket={target_db.socket}",)
    return target


@pytest.fixture(scope="session")
def old_imap(base: Path, cert: tuple[Path, Path]) -> Iterator[str]:
    server = servers.Dovecot(
        base, "old", servers.PORT_IMAPS_OLD, "old", cert, {data.OLD_MAIL_USER: ""}
    )
    ctx = ssl.create_default_context(cafile=str(cert[0]))
    c = IMAPClient("127.0.0.1", servers.PORT_IMAPS_OLD, ssl=True, ssl_context=ctx)
    c.login(data.OLD_MAIL_USER, servers.MAIL_PASSWORD)
    for folder in data.MAIL_FOLDERS:
        c.create_folder(folder)
    for folder, msg, flags, when in data.mail_messages():
        c.append(folder, msg, flags=flags, msg_time=when)
    c.logout()
    yield f"imaps://{data.OLD_MAIL_USER}@127.0.0.1:{servers.PORT_IMAPS_OLD}?cafile={cert[0]}"
    server.stop()


@pytest.fixture(scope="session")
def target_imap(base: Path, cert: tuple[Path, Path]) -> Iterator[servers.Dovecot]:
    users = {data.TARGET_MAILBOX: "", data.TINY_MAILBOX: "userdb_quota_rule=*:storage=2K",
             data.NAMES_MAILBOX: ""}  # fmt: skip
    server = servers.Dovecot(base, "target", servers.PORT_IMAP_TARGET, "target", cert, users)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def target_imaps(base: Path, cert: tuple[Path, Path]) -> Iterator[servers.Dovecot]:
    """The account's mailbox as the panel reaches it: its server's IMAPS (port, CA file)."""
    server = servers.Dovecot(base, "target-tls", servers.PORT_IMAPS_TARGET, "modern", cert,
                             {data.TARGET_MAILBOX: ""})  # fmt: skip
    yield server
    server.stop()


@pytest.fixture(scope="session")
def names_imap(base: Path, cert: tuple[Path, Path]) -> Iterator[str]:
    """A modern old host whose folder names hold dots, '&' and non-ASCII (data.NAMES_FOLDERS)."""
    user = data.NAMES_MAIL_USER
    server = servers.Dovecot(base, "names", servers.PORT_IMAPS_NAMES, "modern", cert, {user: ""})
    ctx = ssl.create_default_context(cafile=str(cert[0]))
    c = IMAPClient("127.0.0.1", servers.PORT_IMAPS_NAMES, ssl=True, ssl_context=ctx)
    c.login(user, servers.MAIL_PASSWORD)
    for folder, count in data.NAMES_FOLDERS.items():
        if count is not None and folder != "INBOX":
            c.create_folder(folder)
            if folder not in data.NAMES_UNSUBSCRIBED:
                c.subscribe_folder(folder)
    for folder, msg in data.names_messages():
        c.append(folder, msg)
    c.logout()
    yield f"imaps://{user}@127.0.0.1:{servers.PORT_IMAPS_NAMES}?cafile={cert[0]}"
    server.stop()


@pytest.fixture(scope="session")
def refused_site(base: Path, site: Path) -> Path:
    """The customer's files and one the old host keeps from it (root's, 0600)."""
    pw = pwd.getpwnam(servers.OLD_USER)
    root = base / "old" / "refused"
    for rel, content in data.REFUSED_FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    for p in [root, *root.rglob("*")]:
        os.chown(p, pw.pw_uid, pw.pw_gid)
    refused = root / data.REFUSED_FILE
    refused.write_bytes(b"root only\n")
    refused.chmod(0o600)  # owned by root: the FTP user may list it, not read it
    return root


@pytest.fixture(scope="session")
def vsftpd_refused(base: Path, refused_site: Path) -> Iterator[str]:
    s = servers.start_vsftpd(
        base, refused_site, servers.PORT_VSFTPD_REFUSED, servers.passive(23500), "vsftpd-refused"
    )
    yield f"ftp://{servers.OLD_USER}@127.0.0.1:{servers.PORT_VSFTPD_REFUSED}/"
    s.stop()
