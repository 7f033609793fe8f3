"""Generated old-host data: awkward names, dotfiles, a 100 MB file, exact mtimes."""

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
