"""Generated old-host data: awkward names, dotfiles, a 100 MB file, exact mtimes."""

# SQL here is built from the tests' own constants.
# ruff: noqa: S608

from __future__ import annotations

import hashlib
import os
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


def old_db_setup() -> str:
    return OLD_DB_SETUP.replace(
        "PASSWORD", DB_PASSWORD.replace("\\\\", "\\\\\\\\").replace("'", "''")
    )


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
