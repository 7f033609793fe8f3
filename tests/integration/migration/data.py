"""Generated old-host data: awkward names, dotfiles, a 100 MB file, exact mtimes."""

# SQL here is built from the tests' own constants.
# ruff: noqa: S608

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

BIG = "media/big file 100MB.bin"
BIG_SIZE = 100 * 1024 * 1024
BASE_MTIME = 1_600_000_000  # 2020-09-13, whole seconds as FTP MDTM gives them

SMALL_FILES = {
    "index.php": b"<?php echo 'hello from the old host'; ?>\n",
    ".htaccess": b"RewriteEngine On\n",
    "dir with space/résumé üñîçød.txt": "café ☕\n".encode(),
    "日本語/ファイル.html": "<p>こんにちは</p>\n".encode(),
    "nested/deeper/.hidden/secret.txt": b"dotdir content\n",
    "nested/deeper/data.json": b'{"a": 1}\n' * 1000,
    "empty.txt": b"",
}
EMPTY_DIRS = ["uploads/empty dir"]


def make_site(root: Path, uid: int, gid: int) -> None:
    if (root / BIG).exists():
        return
    for i, (rel, data) in enumerate(sorted(SMALL_FILES.items())):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.utime(p, (BASE_MTIME + i * 3607, BASE_MTIME + i * 3607))
    for d in EMPTY_DIRS:
        (root / d).mkdir(parents=True, exist_ok=True)
    big = root / BIG
    big.parent.mkdir(parents=True, exist_ok=True)
    block = os.urandom(1 << 20)
    with big.open("wb") as f:
        for i in range(BIG_SIZE >> 20):
            # Each MiB differs, so a resume at a wrong offset shows in the checksum.
            f.write(i.to_bytes(8, "big") + block[8:])
    os.utime(big, (BASE_MTIME - 86400 + 13, BASE_MTIME - 86400 + 13))
    for base, dirs, files in os.walk(root):
        for n in [*dirs, *files]:
            os.lchown(os.path.join(base, n), uid, gid)
    os.chown(root, uid, gid)


def tree_state(root: Path) -> dict[str, tuple[int, int, str]]:
    """path -> (size, mtime, sha256) for every file: what 'identical' means for files."""
    out: dict[str, tuple[int, int, str]] = {}
    for base, _dirs, files in os.walk(root):
        for n in files:
            p = Path(base) / n
            h = hashlib.sha256()
            with p.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            st = p.stat()
            out[str(p.relative_to(root))] = (st.st_size, int(st.st_mtime), h.hexdigest())
    return out


def dir_set(root: Path) -> set[str]:
    return {str(Path(b).relative_to(root) / d) for b, ds, _ in os.walk(root) for d in ds}


DB_PASSWORD = "db pass 'quoted\" 1"
OLD_DB_SETUP = """
DELETE FROM mysql.global_priv WHERE User = '';
CREATE DATABASE IF NOT EXISTS shop CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'olduser'@'%' IDENTIFIED BY 'PASSWORD';
CREATE USER IF NOT EXISTS 'olduser'@'localhost' IDENTIFIED BY 'PASSWORD';
GRANT ALL PRIVILEGES ON shop.* TO 'olduser'@'%';
GRANT ALL PRIVILEGES ON shop.* TO 'olduser'@'localhost';
CREATE USER IF NOT EXISTS 'nodump'@'%' IDENTIFIED BY 'PASSWORD';
CREATE USER IF NOT EXISTS 'nodump'@'localhost' IDENTIFIED BY 'PASSWORD';
USE shop;
CREATE TABLE products (
  id INT AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(200) NOT NULL,
  price DECIMAL(10,2) NOT NULL,
  slug VARCHAR(200),
  note TEXT,
  img BLOB
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE legacy (
  id INT PRIMARY KEY,
  label VARCHAR(100)
) ENGINE=InnoDB DEFAULT CHARSET=latin1;
CREATE TABLE audit (
  id INT AUTO_INCREMENT PRIMARY KEY,
  product_id INT,
  at DATETIME DEFAULT '2020-01-01 00:00:00'
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TRIGGER products_slug BEFORE INSERT ON products FOR EACH ROW
  SET NEW.slug = LOWER(REPLACE(NEW.name, ' ', '-'));
CREATE TRIGGER products_audit AFTER INSERT ON products FOR EACH ROW
  INSERT INTO audit (product_id) VALUES (NEW.id);
CREATE VIEW cheap AS SELECT id, name, price FROM products WHERE price < 10;
DELIMITER ;;
CREATE DEFINER='olduser'@'localhost' PROCEDURE count_products(OUT n INT)
BEGIN
  SELECT COUNT(*) INTO n FROM products;
END;;
CREATE DEFINER='olduser'@'localhost' FUNCTION with_tax(p DECIMAL(10,2))
  RETURNS DECIMAL(10,2) DETERMINISTIC
  RETURN p * 1.2;;
DELIMITER ;
INSERT INTO products (name, price, note, img) VALUES
  ('Café crème ☕', 3.50, 'emoji 😀🎉 and 𝄞', UNHEX('00FF10')),
  ('Pizza 🍕', 12.00, 'tab\there, newline\nthere', NULL),
  ('Ünïcödé Ñame', 7.25, 'Grüße aus Köln', UNHEX('DEADBEEF')),
  ('Plain', 1.00, NULL, NULL);
INSERT INTO legacy VALUES (1, 'Ça va très bien'), (2, 'naïve façade'), (3, 'plain');
"""


# Every character that ends a URL's user info or trips an option file: / ? # @ : = " ' \
SPECIAL_PASSWORD = "s/e?c#r@e:t \"x'y\\z=1"


def sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def old_db_setup(require_ssl: bool = False) -> str:
    """The shop database, its users, and `special` whose password is SPECIAL_PASSWORD."""
    sql = OLD_DB_SETUP.replace("'PASSWORD'", sql_string(DB_PASSWORD))
    sql += (
        f"CREATE USER IF NOT EXISTS 'special'@'%' IDENTIFIED BY {sql_string(SPECIAL_PASSWORD)};\n"
        "GRANT ALL PRIVILEGES ON shop.* TO 'special'@'%';\n"
    )
    if require_ssl:
        users = ["'olduser'@'%'", "'olduser'@'localhost'", "'nodump'@'%'",
                 "'nodump'@'localhost'", "'special'@'%'"]  # fmt: skip
        sql += f"ALTER USER {', '.join(users)} REQUIRE SSL;\n"
    return sql


def bulk_rows(n: int) -> str:
    """More rows so the dump is more than a few bytes (one statement per 1000 rows)."""
    out = []
    for start in range(0, n, 1000):
        vals = ",".join(
            f"('item {i} ✓', {i % 100}.99, 'note {i} {'x' * 40}', NULL)"
            for i in range(start, min(n, start + 1000))
        )
        out.append(f"INSERT INTO products (name, price, note, img) VALUES {vals};")
    return "\n".join(out)


def target_db_setup(account: str) -> str:
    return f"""
DELETE FROM mysql.global_priv WHERE User = '';
CREATE USER IF NOT EXISTS '{account}'@'localhost' IDENTIFIED VIA unix_socket;
GRANT ALL PRIVILEGES ON `{account}\\_%`.* TO '{account}'@'localhost';
"""


OLD_MAIL_USER = "alice"
TARGET_MAILBOX = "box@example.com"
TINY_MAILBOX = "tiny@example.com"  # 2 KiB quota
MAIL_FOLDERS = [
    "INBOX.Sent Items",  # no special-use flag on the old host: matched by name
    "INBOX.Deleted Messages",
    "INBOX.Projekte",
    "INBOX.Projekte.Ünïcode & Co",
    "INBOX.Projekte.Ünïcode & Co.日本語",
]


def _msg(n: int, subject: str, msgid: str | None, body: str = "") -> bytes:
    head = [f"From: Sender {n} <s{n}@old.example>", "To: alice@old.example",
            f"Subject: {subject}", f"Date: Mon, 0{1 + n % 8} Mar 2021 10:{n % 60:02d}:00 +0100",
            "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit"]  # fmt: skip
    if msgid:
        head.append(f"Message-ID: <{msgid}>")
    return ("\r\n".join(head) + "\r\n\r\n" + (body or f"Body {n} – grüße 😀\r\n")).encode()


def mail_messages() -> list[tuple[str, bytes, list[bytes], datetime]]:
    """(folder, message, flags, internal date) for the old mailbox."""
    tz = timezone(timedelta(hours=-5))
    out: list[tuple[str, bytes, list[bytes], datetime]] = []
    for i in range(8):
        flags = [b"\\Seen"] if i % 2 else []  # half unread: must stay unread on the old host
        if i % 3 == 0:
            flags += [b"\\Flagged", b"ProjectX"]
        if i == 4:
            flags += [b"$Label1", b"\\Answered"]
        out.append(("INBOX", _msg(i, f"Inbox {i} ☕", f"inbox-{i}@old.example"), flags,
                    datetime(2021, 3, 1 + i, 9, i, 7, tzinfo=tz)))  # fmt: skip
    dup = _msg(50, "Duplicate", "dup@old.example")
    out.append(("INBOX", dup, [b"\\Seen"], datetime(2021, 4, 1, 8, 0, 0, tzinfo=UTC)))
    out.append(("INBOX", dup, [b"\\Seen"], datetime(2021, 4, 1, 8, 0, 0, tzinfo=UTC)))
    # Without Message-ID: identified by Date/From/Subject + size.
    out.append(("INBOX", _msg(60, "No id at all", None), [], datetime(2021, 5, 1, tzinfo=tz)))
    out.append(("INBOX", _msg(61, "No id either", None), [b"\\Seen"],
                datetime(2021, 5, 2, tzinfo=tz)))  # fmt: skip
    for i in range(3):
        out.append(("INBOX.Sent Items", _msg(70 + i, f"Sent {i}", f"sent-{i}@old.example"),
                    [b"\\Seen"], datetime(2021, 6, 1 + i, tzinfo=UTC)))  # fmt: skip
    out.append(("INBOX.Deleted Messages", _msg(80, "Binned", "bin@old.example"),
                [b"\\Seen", b"\\Deleted"], datetime(2021, 7, 1, tzinfo=UTC)))  # fmt: skip
    for i in range(3):
        out.append(("INBOX.Projekte.Ünïcode & Co", _msg(90 + i, f"Projekt {i} äöü", f"p{i}@x"),
                    [b"Wichtig"] if i else [],
                    datetime(2021, 8, 1 + i, 12, tzinfo=tz)))  # fmt: skip
    out.append(("INBOX.Projekte.Ünïcode & Co.日本語", _msg(99, "日本語の件名", "jp@x"), [],
                datetime(2021, 9, 9, 9, 9, 9, tzinfo=timezone(timedelta(hours=9)))))  # fmt: skip
    return out


# A modern old host ('/' separator, no prefix) whose folder names the maildir++ layout refuses:
# folder -> messages in it (None: never created, only implied by a child).
NAMES_MAIL_USER = "bob"
NAMES_MAILBOX = "names@example.com"
NAMES_FOLDERS: dict[str, int | None] = {
    "INBOX": 2,
    "lists.example.org": 4,  # a dot: maildir++ refuses it
    "Résumés & CVs": 3,  # '&' and non-ASCII: modified UTF-7 on the wire
    "Parent": 0,  # an empty parent...
    "Parent/Child": 2,  # ...with a child
    "Implied": None,  # exists only as the parent of its child
    "Implied/lists.example.net": 1,
    "Hidden": 2,  # not subscribed
    "Locked/Child": 2,  # the target refuses it (see test_mail_names)
}
NAMES_UNSUBSCRIBED = {"Hidden"}


def names_messages() -> list[tuple[str, bytes]]:
    return [
        (folder, _msg(200 + 10 * i + n, f"{folder} {n}", f"names-{i}-{n}@old.example"))
        for i, (folder, count) in enumerate(NAMES_FOLDERS.items())
        for n in range(count or 0)
    ]


# A site with a file the old host refuses to the customer (root's, mode 0600).
REFUSED_FILES = {"index.html": b"<p>refusing host</p>\n", "logs/access.log": b"GET /\n",
                 "docs/readme.txt": b"nothing refused below docs/\n"}  # fmt: skip
REFUSED_FILE = "logs/error.log"


# An old host's tree with what breaks naive walkers: links back up the tree (a server that
# follows links lists them as directories), names that are not UTF-8 or hold a line break, a
# directory the FTP user may not list, and files whose MLSD entry lacks `modify` (the quirky
# server also refuses MDTM for `nomdtm`).
ODD_FILES = {
    "index.html": b"<p>odd host</p>\n",
    "sub/page.html": b"<p>page</p>\n",
    "nomodify.txt": b"dated by MDTM\n",
    "nomodify-nomdtm.txt": b"no date anywhere\n",
    "locked/inside.txt": b"behind a directory the FTP user cannot list\n",
    "a[/x]/[bold]f.txt": b"names that look like rich markup\n",
}
ODD_BAD_NAMES = [b"caf\xe9.html", b"bad\xffdir/inner.txt", b"line\nbreak.txt"]
ODD_LINKS = {"loop": ".", "sub/up": ".."}


def make_odd_site(root: Path, uid: int, gid: int) -> None:
    if root.exists():
        return
    for i, (rel, content) in enumerate(sorted(ODD_FILES.items())):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content)
        os.utime(p, (BASE_MTIME + i * 61, BASE_MTIME + i * 61))
    for raw in ODD_BAD_NAMES:
        p = os.path.join(os.fsencode(root), raw)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        Path(os.fsdecode(p)).write_bytes(b"unrepresentable name\n")
    for link, dest in ODD_LINKS.items():
        (root / link).symlink_to(dest)
    for base, dirs, files in os.walk(root):
        for n in [*dirs, *files]:
            os.lchown(os.path.join(base, n), uid, gid)
    os.chown(root, uid, gid)
    (root / "locked").chmod(0)
