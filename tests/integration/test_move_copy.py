"""The copy a move makes as root over a hostile tenant's home (the real rsync with the move's
own options, here from one directory to another): nothing outside the home arrives, a FIFO
with no writer does not hang it, a sparse file past the disk limit is never read, one within
it stays sparse, and the home's own files and inside links arrive exactly."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from glue.services.moves import copy_argv


def test_a_hostile_home_is_copied_without_anything_from_outside_it_and_without_hanging(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "outside" / "shadow"
    secret.parent.mkdir()
    secret.write_text("root:$6$secret-hash:19000:0:99999:7:::\n")
    home = tmp_path / "srv" / "eve"
    (home / "www" / "sub").mkdir(parents=True)
    (home / "www" / "index.php").write_bytes(os.urandom(70000))
    (home / "www" / "shadow").symlink_to(secret)  # absolute, out of the home
    (home / "www" / "up").symlink_to("../../../outside/shadow")  # relative, out of the home
    (home / "www" / "root").symlink_to("/")
    (home / "www" / "sub" / "index").symlink_to("../index.php")  # inside: kept
    os.mkfifo(home / "www" / "pipe")  # nobody ever writes to it
    with (home / "www" / "huge.bin").open("wb") as trap:
        trap.truncate(1 << 40)  # 1 TiB of holes: past any disk limit, never read
    with (home / "www" / "holes.bin").open("wb") as sparse:
        sparse.truncate(64 << 20)
    dest = tmp_path / "target" / "eve"
    dest.mkdir(parents=True)

    started = time.monotonic()
    argv = copy_argv("ssh", [f"{home}/"], f"{dest}/", "--delete", "--max-size=1024M")
    done = subprocess.run(["timeout", "60", *argv], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 30

    www = dest / "www"
    assert sorted(p.name for p in www.iterdir()) == ["holes.bin", "index.php", "pipe", "sub"]
    assert (www / "index.php").read_bytes() == (home / "www" / "index.php").read_bytes()
    assert os.readlink(www / "sub" / "index") == "../index.php"
    assert (www / "pipe").is_fifo()
    assert (www / "holes.bin").stat().st_size == 64 << 20
    assert (www / "holes.bin").stat().st_blocks * 512 < 1 << 20  # still holes
    for path in dest.rglob("*"):
        if path.is_file() and not path.is_symlink() and not path.is_fifo():
            assert b"secret-hash" not in path.read_bytes(), path
