"""Migration throughput beside baselines measured in the same run on the same servers.

files: our copy (4 FTP connections into one receiver, verified) and a re-run that copies
nothing vs `lftp mirror --parallel=4`, on a site of over 3,000 files (the 100 MB file, then
3,000 small ones in 100 directories, like a WordPress tree);
databases: our streamed dump/restore as the account (with both checksums) vs a plain
`mariadb-dump | mariadb` pipe; mail: messages/s from one Dovecot into another.
"""

from __future__ import annotations

import os
import pwd
import shutil
import ssl
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from imapclient import IMAPClient

from migrator.databases import DbCopier
from migrator.files_copy import copy_files
from migrator.mail import MailCopier, MailTarget
from migrator.sources import parse_db_url, parse_files_url, parse_mail_arg
from tests.integration.migration import data, servers
from tests.support.migration_target import LocalTarget

MB = 1_000_000
MESSAGES = 1000
SMALL = 3000


def _site(root: Path) -> int:
    pw = pwd.getpwnam(servers.OLD_USER)
    data.make_site(root, pw.pw_uid, pw.pw_gid)
    block = os.urandom(64 * 1024)
    for i in range(SMALL):  # many small files too: per-file overhead counts
        d = root / "many" / f"d{i % 100:02d}"
        p = d / f"f{i:04d}.php"
        d.mkdir(parents=True, exist_ok=True)
        p.write_bytes(block[: 1000 + (i * 37) % 60000])
        os.chown(p, pw.pw_uid, pw.pw_gid)
        os.chown(d, pw.pw_uid, pw.pw_gid)
    os.chown(root / "many", pw.pw_uid, pw.pw_gid)
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _bench_files(base: Path) -> list[str]:
    site = base / "old" / "site"
    site.mkdir(parents=True)
    (base / "old").chmod(0o755)
    total = _site(site)
    subprocess.run(["usermod", "-d", str(site), servers.OLD_USER], check=True)
    ftpd = servers.start_vsftpd(base, site)
    try:
        home = servers.fresh_home(base, "bench-files")
        src = parse_files_url(f"ftp://{servers.OLD_USER}@127.0.0.1:{servers.PORT_VSFTPD}/")
        t0 = time.perf_counter()
        res = copy_files(src, servers.OLD_PASSWORD, LocalTarget(servers.ACCOUNT, home))
        ours = time.perf_counter() - t0
        assert res.verified and res.copied == res.files
        t0 = time.perf_counter()
        again = copy_files(src, servers.OLD_PASSWORD, LocalTarget(servers.ACCOUNT, home))
        rerun = time.perf_counter() - t0
        assert again.verified and again.copied == 0
        dest = base / "lftp-dest"
        t0 = time.perf_counter()
        subprocess.run(
            ["lftp", "-u", f"{servers.OLD_USER},{servers.OLD_PASSWORD}", "-p",
             str(servers.PORT_VSFTPD), "-e",
             f"set ftp:ssl-allow no; mirror --parallel=4 / {dest}; quit", "127.0.0.1"],
            check=True, capture_output=True,
        )  # fmt: skip
        lftp = time.perf_counter() - t0
    finally:
        ftpd.stop()
    return [
        f"files: {total / MB:.0f} MB, {res.files} files: bubble {ours:.1f} s, "
        f"lftp mirror --parallel=4 {lftp:.1f} s (bubble/lftp {ours / lftp:.2f}, target <= 1.5); "
        f"re-run copying nothing {rerun:.1f} s (target < 3)"
    ]


def _bench_db(base: Path) -> list[str]:
    old = servers.MariaDB(base, "old", servers.PORT_DB_OLD)
    tgt = servers.MariaDB(base, "target", servers.PORT_DB_TARGET)
    try:
        old.sql(data.old_db_setup())
        for _ in range(10):
            old.sql(data.bulk_rows(20000), "shop")
        tgt.sql(data.target_db_setup(servers.ACCOUNT))
        home = servers.fresh_home(base, "bench-db")
        target = LocalTarget(servers.ACCOUNT, home, mariadb_args=(f"--socket={tgt.socket}",))
        copier = DbCopier(
            parse_db_url(f"mysql://olduser@127.0.0.1:{servers.PORT_DB_OLD}/shop?tls=no"),
            data.DB_PASSWORD,
            target,
        )
        info = copier.inspect()
        t0 = time.perf_counter()
        res = copier.copy(info)
        ours = time.perf_counter() - t0
        assert res.verified and res.copied
        tgt.sql("CREATE DATABASE plain CHARACTER SET utf8mb4")
        t0 = time.perf_counter()
        dump = subprocess.Popen(
            ["mariadb-dump", f"--socket={old.socket}", "-u", "root", "--single-transaction",
             "--routines", "--triggers", "--hex-blob", "--default-character-set=utf8mb4", "shop"],
            stdout=subprocess.PIPE,
        )  # fmt: skip
        subprocess.run(
            ["mariadb", f"--socket={tgt.socket}", "-u", "root",
             "--default-character-set=utf8mb4", "plain"],
            stdin=dump.stdout, check=True,
        )  # fmt: skip
        assert dump.wait() == 0
        plain = time.perf_counter() - t0
    finally:
        old.stop()
        tgt.stop()
    size = res.copied_bytes / MB
    return [
        f"databases: {size:.0f} MB dump, {info.rows} rows: bubble {size / ours:.1f} MB/s "
        f"(incl. checksums both sides), plain pipe {size / plain:.1f} MB/s, "
        f"ratio {plain / ours:.2f}"
    ]


def _bench_mail(base: Path) -> list[str]:
    cert = servers.make_cert(base)
    old = servers.Dovecot(base, "old", servers.PORT_IMAPS_OLD, "old", cert, {"alice": ""})
    tgt = servers.Dovecot(base, "target", servers.PORT_IMAP_TARGET, "target", cert,
                          {"box@example.com": ""})  # fmt: skip
    try:
        c = IMAPClient("127.0.0.1", servers.PORT_IMAPS_OLD, ssl=True,
                       ssl_context=ssl.create_default_context(cafile=str(cert[0])))  # fmt: skip
        c.login("alice", servers.MAIL_PASSWORD)
        body = "x" * 4000
        for i in range(MESSAGES):
            msg = f"From: a{i}@x\r\nSubject: m {i}\r\nMessage-ID: <m{i}@x>\r\n\r\n{body}\r\n"
            c.append("INBOX", msg.encode(), flags=[b"\\Seen"] if i % 2 else [],
                     msg_time=datetime(2021, 1, 1, tzinfo=UTC))  # fmt: skip
        c.logout()
        job = parse_mail_arg(
            f"imaps://alice@127.0.0.1:{servers.PORT_IMAPS_OLD}?cafile={cert[0]}=box@example.com"
        )
        dst = MailTarget("127.0.0.1", servers.PORT_IMAP_TARGET, "box@example.com", ssl=False)
        copier = MailCopier(job.source, servers.MAIL_PASSWORD, dst, servers.MAIL_PASSWORD)
        t0 = time.perf_counter()
        res = copier.copy()
        ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = copier.copy()
        rerun = time.perf_counter() - t0
        assert res.copied == MESSAGES and again.copied == 0
    finally:
        old.stop()
        tgt.stop()
    return [
        f"mail: {MESSAGES} messages: {MESSAGES / ours:.0f} messages/s copied, "
        f"re-run (nothing to copy) {MESSAGES / rerun:.0f} messages/s checked"
    ]


def run(parts: tuple[str, ...] = ("files", "db", "mail")) -> list[str]:
    if not shutil.which("vsftpd") and not Path("/usr/sbin/vsftpd").exists():
        return ["migration: skipped (vsftpd, mariadb, dovecot not installed: make setup)"]
    servers.ensure_user(servers.OLD_USER, servers.OLD_PASSWORD)
    servers.ensure_user(servers.ACCOUNT)
    base = Path(tempfile.mkdtemp(prefix="bubble-migbench-"))
    base.chmod(0o755)
    try:
        benches = {"files": _bench_files, "db": _bench_db, "mail": _bench_mail}
        return [line for part in parts for line in benches[part](base)]
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    import sys

    print("\n".join(run(tuple(sys.argv[1:]) or ("files", "db", "mail"))))
