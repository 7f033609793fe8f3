"""Issue 4, lab end to end: `bubble migrate` into an account on a real lab server.

An old host on loopback (pyftpdlib FTPS with a small PHP site, MariaDB with emoji rows, a
trigger, a view and routines, Dovecot IMAPS with nested folders), and an isolated lab (its own
directory, bridge and subnet, so `bubble lab down` here touches no other test's servers) with
one server and the account `shop`. Only the `bubble` CLI acts on the lab. After the migration
the site answers over HTTP with the migrated files, its PHP page reads the migrated database,
and the account's mailbox lists the migrated folders over IMAPS.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from imapclient import IMAPClient

from migrator.sources import TlsOptions
from migrator.tlsutil import context
from tests.integration.migration import data, servers
from tests.support.cli import Bubble, server_args
from tests.support.lab_env import isolated_lab, lab_available, lab_env
from tests.support.timings import step_timings

pytestmark = pytest.mark.lab

LAB_ENV = lab_env(isolated_lab("mig", 3))
SERVER = "mig1"
ACCOUNT = "shop"
DOMAIN = "shop.example"
MAILBOX = f"info@{DOMAIN}"
MAILBOX_PASSWORD = "new mailbox pass 1"
# The old host's ports: clear of the integration suite's 23xxx.
PORT_FTPS = 24422
PASSIVE = (24440, 24460)
PORT_DB = 24406
PORT_IMAPS = 24993

# The old site: a static page, a binary, a non-ASCII name, a dotfile, and a PHP page that reads
# its database settings from config.php, overridden by config.local.php where it exists (the
# file a customer writes on the new host; the migration never removes it).
LOGO = hashlib.sha256(b"logo").digest() * 4096  # 128 KiB of binary
SITE: dict[str, bytes] = {
    "index.html": "<!doctype html><title>Shop</title><h1>Willkommen im Laden ☕</h1>\n".encode(),
    "img/logo.bin": LOGO,
    "downloads/preisliste grüße.txt": "Café 3,50 €\n".encode(),
    ".htaccess": b"Options -Indexes\n",
    "config.php": (
        b"<?php\nreturn ['dsn' => 'mysql:host=db.old-host.example;dbname=shop;charset=utf8mb4',\n"
        b"        'user' => 'olduser', 'password' => 'on the old host'];\n"
    ),
    "products.php": b"""<?php
$cfg = require __DIR__ . '/config.php';
if (is_file(__DIR__ . '/config.local.php')) {
    $cfg = array_merge($cfg, require __DIR__ . '/config.local.php');
}
$db = new PDO($cfg['dsn'], $cfg['user'], $cfg['password'],
              [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
header('Content-Type: text/plain; charset=utf-8');
echo 'user ', posix_getpwuid(posix_geteuid())['name'], "\\n";
foreach ($db->query('SELECT name, price, slug FROM products ORDER BY id LIMIT 4') as $row) {
    echo $row['name'], ' | ', $row['price'], ' | ', $row['slug'], "\\n";
}
echo 'total ', $db->query('SELECT COUNT(*) FROM products')->fetchColumn(), "\\n";
echo 'cheap ', $db->query('SELECT COUNT(*) FROM cheap')->fetchColumn(), "\\n";
echo 'with tax ', $db->query('SELECT with_tax(10.00)')->fetchColumn(), "\\n";
echo 'legacy ', $db->query('SELECT label FROM legacy WHERE id = 1')->fetchColumn(), "\\n";
""",
}
# cPanel-style links: inside the tree (a file, and a directory as `www -> public_html` is) they
# arrive as links and the site answers through them; one leading out is reported, not copied.
INSIDE_LINKS = {"latest.html": "index.html", "shop": "downloads"}
OUTSIDE_LINK = ("passwd", "/etc/passwd")
BULK_ROWS = 2000
CONFIG_LOCAL = (
    "<?php\nreturn ['dsn' => 'mysql:unix_socket=/run/mysqld/mysqld.sock;dbname=shop_shop;"
    "charset=utf8mb4', 'user' => 'shop', 'password' => ''];\n"
)
# Where the old mailbox's folders land (Courier-style INBOX. prefix -> '/' hierarchy,
# special-use folders matched by name) and how many messages each holds.
EXPECTED_FOLDERS = {
    "INBOX": 12,
    "Sent": 3,
    "Trash": 1,
    "Projekte": 0,
    "Projekte/Ünïcode & Co": 3,
    "Projekte/Ünïcode & Co/日本語": 1,
}

TIMINGS = step_timings(__name__)


@dataclass
class World:
    bubble: Bubble
    address: str
    base: Path
    site: Path
    old_db: servers.MariaDB
    password_file: Path
    server_cert: Path
    urls: list[str] = field(default_factory=list)

    def migrate(self, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        argv = ["migrate", ACCOUNT, *self.urls, "--password-file", str(self.password_file),
                "--mail-cafile", str(self.server_cert), "--mail-tls-name", SERVER,
                "--json", *extra]  # fmt: skip
        start = time.monotonic()
        done = self.bubble.run(*argv)
        runs = sum(1 for k in TIMINGS if k.startswith("migrate"))
        label = f"migrate{' ' if extra else ''}{' '.join(extra)} (run {runs + 1})"
        TIMINGS[label] = time.monotonic() - start
        for secret in (servers.OLD_PASSWORD, data.DB_PASSWORD, servers.MAIL_PASSWORD,
                       MAILBOX_PASSWORD):  # fmt: skip
            assert secret not in done.stdout + done.stderr
        try:
            report = json.loads(done.stdout)
        except ValueError:
            raise AssertionError(f"bubble migrate: no JSON report: {done.stderr.strip()}") from None
        return done, report


def _old_site(base: Path) -> Path:
    site = base / "old-site"
    for i, (rel, content) in enumerate(sorted(SITE.items())):
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        when = data.BASE_MTIME + i * 3607
        os.utime(path, (when, when))
    for name, target in (*INSIDE_LINKS.items(), OUTSIDE_LINK):
        (site / name).symlink_to(target)
    return site


def _old_mailbox(cert: Path) -> None:
    ctx = ssl.create_default_context(cafile=str(cert))
    client = IMAPClient("127.0.0.1", PORT_IMAPS, ssl=True, ssl_context=ctx)
    client.login(data.OLD_MAIL_USER, servers.MAIL_PASSWORD)
    for folder in data.MAIL_FOLDERS:
        client.create_folder(folder)
    for folder, msg, flags, when in data.mail_messages():
        client.append(folder, msg, flags=flags, msg_time=when)
    client.logout()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if not lab_available():
        pytest.skip("lab tests need root and systemd-nspawn")
    base = Path(tempfile.mkdtemp(prefix="bubble-miglab-"))
    base.chmod(0o755)  # Dovecot (its own user) and nobody-owned maildirs lie below
    root = tmp_path_factory.mktemp("ops") / "root"
    bubble = Bubble(root, LAB_ENV)
    for variable in [k for k in bubble.env if k.startswith("BUBBLE_MIGRATE_")]:
        del bubble.env[variable]  # passwords only from the file this test writes
    running: list[Any] = []
    try:
        # The old host, on loopback.
        start = time.monotonic()
        cert, key = servers.make_cert(base)
        site = _old_site(base)
        running.append(servers.start_pyftpdlib(base, site, cert, key, PORT_FTPS, PASSIVE))
        old_db = servers.MariaDB(base, "labold", PORT_DB)
        running.append(old_db)
        old_db.sql(data.old_db_setup())
        old_db.sql(data.bulk_rows(BULK_ROWS), "shop")
        imap = servers.Dovecot(
            base, "labold", PORT_IMAPS, "old", (cert, key), {data.OLD_MAIL_USER: ""}
        )
        running.append(imap)
        _old_mailbox(cert)
        TIMINGS["old host up"] = time.monotonic() - start

        # A fresh root, one lab server, the account and its mailbox: only the CLI.
        start = time.monotonic()
        bubble.init()
        bubble("server", "add", SERVER, *server_args(memory="4GiB", disk="80GiB"))
        bubble("account", "create", ACCOUNT, "--domain", DOMAIN, "--no-apply")
        bubble("apply")
        TIMINGS["lab server applied"] = time.monotonic() - start
        box_pw = base / "mailbox-password"
        box_pw.write_text(MAILBOX_PASSWORD + "\n")
        box_pw.chmod(0o600)
        bubble("account", "mailbox", ACCOUNT, MAILBOX, "--password-file", str(box_pw))
        # The server's own IMAP certificate, fetched over the authenticated ssh channel.
        server_cert = base / "mig1-imap.pem"
        server_cert.write_text(bubble.on_server(SERVER, "cat /etc/dovecot/private/dovecot.pem"))
        listing = json.loads(bubble("server", "list", "--json"))
        address = str(next(s["address"] for s in listing if s["name"] == SERVER))

        password_file = base / "migrate-passwords"
        password_file.write_text(
            f"files={servers.OLD_PASSWORD}\ndb={data.DB_PASSWORD}\n"
            f"mail={servers.MAIL_PASSWORD}\nmailbox={MAILBOX_PASSWORD}\n"
        )
        password_file.chmod(0o600)
        world = World(bubble, address, base, site, old_db, password_file, server_cert)
        world.urls = [
            "--files", f"ftps://{servers.OLD_USER}@127.0.0.1:{PORT_FTPS}/?cafile={cert}",
            # the old MariaDB on loopback has no TLS (tests/integration covers verified TLS)
            "--db", f"mysql://olduser@127.0.0.1:{PORT_DB}/shop?tls=no",
            "--mail",
            f"imaps://{data.OLD_MAIL_USER}@127.0.0.1:{PORT_IMAPS}?cafile={cert}={MAILBOX}",
        ]  # fmt: skip
        yield world
    finally:
        start = time.monotonic()
        bubble.run("lab", "down", "--yes")
        TIMINGS["lab down"] = time.monotonic() - start
        for server in reversed(running):
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


def http_get(address: str, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(address, 80, timeout=20)
    try:
        conn.request("GET", quote(path), headers={"Host": DOMAIN})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def imap_counts(world: World) -> dict[str, int]:
    """Folder -> message count in the account's mailbox, over IMAPS on its server."""
    ctx = context(TlsOptions(cafile=str(world.server_cert), server_name=SERVER))
    client = IMAPClient(world.address, 993, ssl=True, ssl_context=ctx, timeout=30)
    try:
        client.login(MAILBOX, MAILBOX_PASSWORD)
        counts = {}
        for _flags, _delim, name in client.list_folders():
            counts[name] = int(client.select_folder(name, readonly=True)[b"EXISTS"])
        return counts
    finally:
        client.logout()


def old_inbox_unseen(world: World) -> int:
    ctx = ssl.create_default_context(cafile=str(world.base / "cert.pem"))
    client = IMAPClient("127.0.0.1", PORT_IMAPS, ssl=True, ssl_context=ctx, timeout=30)
    try:
        client.login(data.OLD_MAIL_USER, servers.MAIL_PASSWORD)
        client.select_folder("INBOX", readonly=True)
        return len(client.search(["UNSEEN"]))
    finally:
        client.logout()


def test_check_passes_and_copies_nothing(world: World) -> None:
    done, report = world.migrate("--check")
    assert done.returncode == 0, done.stderr
    assert report["ok"] and report["check_only"] and report["parts"] == []
    pre = report["preflight"]
    assert pre["fits"]
    parts = {p["kind"]: p for p in pre["parts"]}
    assert parts["files"]["items"] == len(SITE)
    assert parts["files"]["bytes"] == sum(len(v) for v in SITE.values())
    assert parts["db"]["target"] == "shop_shop"
    assert parts["db"]["detail"] == {"tables": 4, "routines": 2, "triggers": 2}
    assert parts["mail"]["items"] == sum(EXPECTED_FOLDERS.values())
    # Nothing arrived: no site files, no database, an empty mailbox.
    assert "products.php" not in world.bubble.as_account(ACCOUNT, "ls -A www")
    assert "shop_shop" not in world.bubble.as_account(ACCOUNT, "mariadb -N -B -e 'SHOW DATABASES'")
    assert sum(imap_counts(world).values()) == 0


def files_warned(report: dict[str, Any]) -> list[str]:
    files = next(p for p in report["parts"] if p["kind"] == "files")
    return [w["item"] for w in files["warnings"]]


def test_migrate_copies_and_verifies_everything(world: World) -> None:
    done, report = world.migrate()
    # Everything arrived; the link leading out of the site is the one note: exit code 3.
    assert done.returncode == 3, report.get("error") or done.stderr
    assert report["ok"] and report["outcome"] == "verified with warnings", report
    parts = {p["kind"]: p for p in report["parts"]}
    assert parts["files"]["state"] == "verified with warnings"
    assert files_warned(report) == [OUTSIDE_LINK[0]]
    assert parts["db"]["state"] == parts["mail"]["state"] == "verified"
    assert all(p["seconds"] > 0 and p["bytes_per_second"] >= 0 for p in report["parts"])
    assert parts["files"]["copied"] == len(SITE)
    assert parts["files"]["copied_bytes"] == sum(len(v) for v in SITE.values())
    assert parts["db"]["copied"] == 1 and parts["db"]["target"] == "shop_shop"
    assert parts["mail"]["copied"] == sum(EXPECTED_FOLDERS.values())
    assert parts["mail"]["target"] == MAILBOX


def test_site_serves_the_migrated_files(world: World) -> None:
    for rel, content in SITE.items():
        if rel.startswith(".") or rel.endswith(".php"):
            continue  # dotfiles are denied by the vhost; PHP is run, not served
        status, body = http_get(world.address, "/" + rel)
        assert status == 200, rel
        assert body == content, rel
    # On disk: every file, byte-identical, with the old host's mtime, owned by the account.
    lines = world.bubble.as_account(
        ACCOUNT, "cd www && find . -type f ! -name config.local.php -printf '%P\\t%s\\t%T@\\t%u\\n'"
    ).splitlines()
    found = {p: (int(s), int(float(t)), u) for p, s, t, u in (x.split("\t") for x in lines)}
    want = {
        rel: (len(content), int((world.site / rel).stat().st_mtime), ACCOUNT)
        for rel, content in SITE.items()
    }
    assert {k: v for k, v in found.items() if k in want} == want
    # The inside links are links again (relative, as on the old host); the outside one is not.
    links = world.bubble.as_account(ACCOUNT, "cd www && find . -type l -printf '%P %l\\n'")
    assert sorted(links.splitlines()) == sorted(f"{k} {v}" for k, v in INSIDE_LINKS.items())
    # ...and the site answers through them (nginx checks that each link's owner is the target's).
    assert http_get(world.address, "/latest.html") == (200, SITE["index.html"])
    price_list = "downloads/preisliste grüße.txt"
    assert http_get(world.address, "/shop/preisliste grüße.txt") == (200, SITE[price_list])


def test_php_page_reads_the_migrated_database(world: World) -> None:
    # What the customer does on the new host: point the site at its new database.
    world.bubble.as_account(ACCOUNT, f"cat > www/config.local.php <<'EOF'\n{CONFIG_LOCAL}EOF")
    status, body = http_get(world.address, "/products.php")
    text = body.decode()
    assert status == 200, text
    lines = text.splitlines()
    assert lines[0] == f"user {ACCOUNT}"
    assert lines[1:5] == [
        "Café crème ☕ | 3.50 | café-crème-☕",
        "Pizza 🍕 | 12.00 | pizza-🍕",
        "Ünïcödé Ñame | 7.25 | ünïcödé-ñame",
        "Plain | 1.00 | plain",
    ]
    assert f"total {4 + BULK_ROWS}" in lines
    cheap = int(world.old_db.sql("SELECT COUNT(*) FROM cheap", "shop").strip())
    assert f"cheap {cheap}" in lines
    assert "with tax 12.00" in lines
    assert "legacy Ça va très bien" in lines
    # The triggers came along: a new row gets its slug and its audit line on the new server.
    # Rolled back: the database stays identical to the old host's (a re-run then copies nothing).
    sql = (
        "START TRANSACTION; INSERT INTO products (name, price) VALUES ('Neu Ä', 2.00); "
        "SELECT slug FROM products WHERE name = 'Neu Ä'; "
        "SELECT COUNT(*) FROM audit; ROLLBACK"
    )
    mariadb = "mariadb -N -B --default-character-set=utf8mb4 shop_shop"
    out = world.bubble.as_account(ACCOUNT, f'{mariadb} -e "{sql}"')
    slug, audits = out.split()
    assert slug == "neu-ä" and int(audits) == 4 + BULK_ROWS + 1


def test_mailbox_lists_the_migrated_messages_over_imap(world: World) -> None:
    # The account's mailboxes as its server's Dovecot knows them (over ssh, doveadm).
    assert world.bubble.json("account", "mailboxes", ACCOUNT) == [MAILBOX]
    counts = imap_counts(world)
    assert {k: v for k, v in counts.items() if k in EXPECTED_FOLDERS} == EXPECTED_FOLDERS
    assert set(counts) - set(EXPECTED_FOLDERS) <= {"Drafts", "Junk"}
    assert counts.get("Drafts", 0) == counts.get("Junk", 0) == 0
    # Flags and internal dates came along: the unread messages are still unread.
    ctx = context(TlsOptions(cafile=str(world.server_cert), server_name=SERVER))
    client = IMAPClient(world.address, 993, ssl=True, ssl_context=ctx, timeout=30)
    client.normalise_times = False
    try:
        client.login(MAILBOX, MAILBOX_PASSWORD)
        client.select_folder("INBOX", readonly=True)
        unseen = len(client.search(["UNSEEN"]))
        flagged = len(client.search(["FLAGGED"]))
    finally:
        client.logout()
    inbox = [flags for folder, _msg, flags, _when in data.mail_messages() if folder == "INBOX"]
    assert unseen == sum(1 for flags in inbox if b"\\Seen" not in flags)
    assert flagged == sum(1 for flags in inbox if b"\\Flagged" in flags)
    # Read with BODY.PEEK: the old host's unread messages are still unread there too.
    assert old_inbox_unseen(world) == unseen


def test_second_migrate_copies_nothing(world: World) -> None:
    done, report = world.migrate()
    assert done.returncode == 3, report.get("error") or done.stderr
    assert report["ok"] and files_warned(report) == [OUTSIDE_LINK[0]], report
    parts = {p["kind"]: p for p in report["parts"]}
    assert [p["copied"] for p in report["parts"]] == [0, 0, 0]
    assert parts["files"]["skipped"] == len(SITE)
    assert parts["db"]["skipped"] == 1
    assert parts["mail"]["skipped"] == sum(EXPECTED_FOLDERS.values())
