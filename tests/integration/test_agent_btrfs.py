"""The agent's disk figures from a real btrfs volume (a loop image): use and limit per account."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from scaler.agent_host import BtrfsDisk

pytestmark = pytest.mark.integration


def _run(*argv: str) -> str:
    return subprocess.run(
        list(argv), stdin=subprocess.DEVNULL, capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0 or not shutil.which("mkfs.btrfs"):
        pytest.skip("needs root and btrfs-progs (make setup)")
    image, mount = tmp_path / "srv.img", tmp_path / "srv"
    mount.mkdir()
    with image.open("wb") as fh:
        fh.truncate(300 << 20)
    _run("mkfs.btrfs", "-q", str(image))
    _run("mount", "-o", "loop", str(image), str(mount))
    try:
        _run("btrfs", "quota", "enable", str(mount))
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], stdin=subprocess.DEVNULL, check=False)


def _account(srv: Path, name: str, limit: str | None) -> None:
    """What bubble-btrfs `ensure` + `limit` make: subvolume 0/ID inside level-1 qgroup 1/ID."""
    _run("btrfs", "subvolume", "create", str(srv / name))
    sid = _run("btrfs", "subvolume", "show", str(srv / name)).split("Subvolume ID:")[1].split()[0]
    _run("btrfs", "qgroup", "create", f"1/{sid}", str(srv))
    _run("btrfs", "qgroup", "assign", f"0/{sid}", f"1/{sid}", str(srv))
    if limit:
        _run("btrfs", "qgroup", "limit", limit, f"1/{sid}", str(srv))


def test_disk_use_and_limit_per_account(srv: Path) -> None:
    _account(srv, "alice", "20M")
    _account(srv, "bob", None)
    (srv / "alice" / "data").write_bytes(b"x" * (3 << 20))
    (srv / "notanaccount").mkdir()
    (srv / "carol").symlink_to(srv / "alice")
    _run("sync", "-f", str(srv))
    disk = BtrfsDisk(str(srv))
    figures = disk.read()
    assert sorted(figures) == ["alice", "bob"]
    assert figures["alice"]["disk_max_bytes"] == 20 << 20
    assert 3 << 20 <= figures["alice"]["disk_bytes"] < 4 << 20
    assert "disk_max_bytes" not in figures["bob"]
    # An account removed and made again gets a new subvolume: the cache follows.
    _run("btrfs", "subvolume", "delete", "--commit-after", str(srv / "bob"))
    _account(srv, "bob", "50M")
    assert disk.read()["bob"]["disk_max_bytes"] == 50 << 20
