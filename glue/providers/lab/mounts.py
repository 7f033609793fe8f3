"""Mount-table helpers: what is mounted under a path, and unmounting it reliably."""

from __future__ import annotations

import time
from pathlib import Path

from glue.providers.lab.errors import LabError
from glue.providers.lab.proc import run


def _unescape(field: str) -> str:
    # /proc/mounts escapes space, tab, newline and backslash as octal.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def mount_points() -> list[Path]:
    return [
        Path(_unescape(line.split()[1]))
        for line in Path("/proc/mounts").read_text().splitlines()
        if line.strip()
    ]


def is_mounted(path: Path) -> bool:
    return path in mount_points()


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below path, deepest first (the order to unmount them)."""
    found = [m for m in mount_points() if m == path or path in m.parents]
    return sorted(set(found), key=lambda m: len(m.parts), reverse=True)


def umount_all(path: Path, *, step: str, server: str | None = None) -> None:
    """Unmount everything at or below path, retrying while it is still busy."""
    for point in mounts_under(path):
        for attempt in range(50):
            if not is_mounted(point):
                break
            try:
                run(["umount", str(point)], step=step, server=server)
            except LabError:
                if attempt == 49:
                    raise
                time.sleep(0.2)
