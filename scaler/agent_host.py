"""Per-server figures (load, memory, free disk, failed units) and per-account disk use.

Disk per account is the btrfs level-1 qgroup `1/ID` of the subvolume `/srv/NAME` (see
roles/baseline/files/bubble-btrfs): its referenced bytes and its limit. One
`btrfs qgroup show` per tick covers every account; the subvolume id of each account comes
from an ioctl on its directory (no process), cached while the directory's device and ctime
stay the same (a subvolume made again may get the freed device number back). /srv/NAME
belongs to root, so nothing here follows a name the tenant controls.
Stdlib only: copied to every server with the agent.
"""

from __future__ import annotations

import fcntl
import os
import re
import struct
import subprocess
from pathlib import Path

# Account names as glue validates them (catalog); anything else under /srv is not an account.
NAME_RE = re.compile(r"[a-z][a-z0-9]{0,30}")
# _IOWR(0x94, 18, struct btrfs_ioctl_ino_lookup_args) where the struct is 4096 bytes.
_BTRFS_IOC_INO_LOOKUP = 0xD0009412
_FIRST_FREE_OBJECTID = 256  # the root directory of every subvolume
_QGROUP_RE = re.compile(rb"^1/(\d+)\s+(\d+)\s+\d+\s+(\d+|none)\s")


def _run(argv: list[str], timeout: float = 10.0) -> str | None:
    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.decode(errors="replace") if proc.returncode == 0 else None


def load(proc: str = "/proc") -> dict[str, int | float]:
    with Path(proc, "loadavg").open("rb") as fh:
        parts = fh.read().split()
    running, _, total = parts[3].partition(b"/")
    return {
        "load1": float(parts[0]),
        "load5": float(parts[1]),
        "load15": float(parts[2]),
        "procs_running": int(running),
        "procs": int(total),
    }


def memory(proc: str = "/proc") -> dict[str, int | float]:
    wanted = {b"MemTotal:": "mem_total_bytes", b"MemAvailable:": "mem_available_bytes"}
    out: dict[str, int | float] = {}
    with Path(proc, "meminfo").open("rb") as fh:
        for line in fh:
            parts = line.split()
            if parts and parts[0] in wanted:
                out[wanted[parts[0]]] = int(parts[1]) * 1024
    return out


def disk_free(path: str) -> dict[str, int | float] | None:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return {
        "free_bytes": st.f_bavail * st.f_frsize,
        "total_bytes": st.f_blocks * st.f_frsize,
        "free_inodes": st.f_favail,
    }


def failed_units() -> list[str] | None:
    """Names of the failed systemd units (one systemctl call); None when systemd is not there."""
    out = _run(["systemctl", "list-units", "--failed", "--plain", "--no-legend", "--no-pager"])
    if out is None:
        return None
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _subvolume_id(path: str) -> int | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        args = bytearray(struct.pack("=QQ", 0, _FIRST_FREE_OBJECTID) + bytes(4080))
        fcntl.ioctl(fd, _BTRFS_IOC_INO_LOOKUP, args)
        return int(struct.unpack_from("=Q", args)[0])
    except OSError:
        return None
    finally:
        os.close(fd)


class BtrfsDisk:
    """Per-account disk use and limit from the level-1 qgroups under `srv`."""

    def __init__(self, srv: str = "/srv") -> None:
        self.srv = srv
        self._ids: dict[str, tuple[tuple[int, int], int]] = {}  # name -> (stat key, id)

    def _account_ids(self) -> dict[str, int]:
        ids: dict[str, int] = {}
        seen: dict[str, tuple[tuple[int, int], int]] = {}
        try:
            entries = list(os.scandir(self.srv))
        except OSError:
            return ids
        for entry in entries:
            if not NAME_RE.fullmatch(entry.name) or not entry.is_dir(follow_symlinks=False):
                continue
            st = entry.stat(follow_symlinks=False)
            key = (st.st_dev, st.st_ctime_ns)
            cached = self._ids.get(entry.name)
            if cached and cached[0] == key:
                sid: int | None = cached[1]
            else:
                sid = _subvolume_id(entry.path)
            if sid is not None:
                seen[entry.name] = (key, sid)
                ids[entry.name] = sid
        self._ids = seen
        return ids

    def read(self) -> dict[str, dict[str, int]]:
        ids = self._account_ids()
        if not ids:
            return {}
        out = _run(["btrfs", "qgroup", "show", "-pcre", "--raw", self.srv])
        if out is None:
            return {}
        groups = parse_qgroups(out.encode())
        result: dict[str, dict[str, int]] = {}
        for name, sid in ids.items():
            if sid in groups:
                used, limit = groups[sid]
                result[name] = {"disk_bytes": used}
                if limit is not None:
                    result[name]["disk_max_bytes"] = limit
        return result


def parse_qgroups(raw: bytes) -> dict[int, tuple[int, int | None]]:
    """`btrfs qgroup show -pcre --raw` -> {subvolume id: (referenced, limit)} for level 1."""
    groups: dict[int, tuple[int, int | None]] = {}
    for line in raw.split(b"\n"):
        match = _QGROUP_RE.match(line)
        if match:
            limit = None if match.group(3) == b"none" else int(match.group(3))
            groups[int(match.group(1))] = (int(match.group(2)), limit)
    return groups
