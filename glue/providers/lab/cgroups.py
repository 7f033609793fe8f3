"""Per-server cgroups that make limits set inside a lab server actually enforced.

nspawn is started inside a cgroup of its own, named after the server, in each hierarchy
listed below; the init wrapper then remounts the controllers read-write, so the server's
systemd manages its own subtree (cgroup namespaces keep it there). Without the own cgroup,
every server would create /payload and /supervisor at the root and collide.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from glue.providers.lab.errors import LabError

CGROUP_ROOT = Path("/sys/fs/cgroup")
# Hierarchy directory under /sys/fs/cgroup -> its name in /proc/self/cgroup.
HIERARCHIES = {
    "systemd": "name=systemd",
    "unified": "",
    "cpu": "cpu",
    "cpuacct": "cpuacct",
    "pids": "pids",
    "memory": "memory",
}


def cgroup_name(server: str) -> str:
    return f"bubblelab-{server}"


def own_paths() -> dict[str, str]:
    """This process's path in each hierarchy (memory here sits below the sandbox's own)."""
    paths: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(","):
            paths[name] = path
    return paths


def plan(server: str) -> list[Path]:
    """The cgroup directories a server's nspawn process is to live in."""
    mine = own_paths()
    dirs = []
    for directory, key in HIERARCHIES.items():
        if not (CGROUP_ROOT / directory).is_dir():
            continue
        parent = mine.get(key, "/").lstrip("/")
        path = CGROUP_ROOT / directory / parent / cgroup_name(server)
        if any(ch.isspace() for ch in str(path)):
            # The start wrapper takes them as one space-separated word.
            raise LabError("plan cgroups", f"cgroup path {str(path)!r} has whitespace", server)
        dirs.append(path)
    return dirs


# The lab server's CPU weight against the host's own processes (v1 cpu.shares; a task there
# weighs 1024). A server stands for a machine of its own: at 1024 it is worth ONE host task, so
# a busy host (test suites, builds) left its bubbles far less than their CPU quotas, and what
# the lab measured was the host, not the limits. Quotas inside still cap every bubble.
CPU_SHARES = 16 * 1024


def create(server: str, dirs: list[Path]) -> None:
    for path in dirs:
        try:
            path.mkdir(exist_ok=True)
            shares = path / "cpu.shares"
            if shares.exists():
                shares.write_text(f"{CPU_SHARES}\n")
        except OSError as exc:
            raise LabError("create cgroups", f"{path}: {exc.strerror}", server) from exc


def _tree(path: Path) -> list[Path]:
    """path and every cgroup below it, deepest first."""
    found = [Path(root) for root, _, _ in os.walk(path)]
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def pids(dirs: list[Path]) -> set[int]:
    found: set[int] = set()
    for top in dirs:
        if not top.is_dir():
            continue
        for group in _tree(top):
            try:
                text = (group / "cgroup.procs").read_text()
            except OSError:
                continue
            found.update(int(pid) for pid in text.split())
    return found


def kill_all(dirs: list[Path]) -> None:
    """SIGKILL whatever still runs in the server's cgroups (the last resort of stop)."""
    for _ in range(50):
        remaining = pids(dirs)
        if not remaining:
            return
        for pid in remaining:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def remove(server: str, dirs: list[Path]) -> None:
    """rmdir every cgroup of the server, depth-first; retry while the kernel lets go."""
    for top in dirs:
        if not top.is_dir():
            continue
        for group in _tree(top):
            for attempt in range(50):
                try:
                    group.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if attempt == 49:
                        raise LabError(
                            "remove cgroups", f"{group}: {exc.strerror}", server
                        ) from exc
                    time.sleep(0.1)
