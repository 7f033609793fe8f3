"""roles/web/files/bubble-short-slice, the ExecStart prefix of nginx and of every PHP-FPM
master, run here as on a server: the command it runs and everything that command starts get
the short CPU slice (se.slice in /proc/PID/sched); bad usage runs nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.lab_server import se_slice

WRAPPER = Path(__file__).parents[2] / "roles/web/files/bubble-short-slice"
# The command's own slice, then its child's.
BOTH = "grep se.slice /proc/self/sched; sh -c 'grep se.slice /proc/self/sched'"


def slices(*wrapper_args: str) -> list[int]:
    out = subprocess.run(
        [str(WRAPPER), *wrapper_args, "/bin/sh", "-c", BOTH],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [se_slice(line) for line in out.stdout.splitlines()]


def test_the_command_and_what_it_starts_get_the_short_slice() -> None:
    default = se_slice(Path("/proc/self/sched").read_text())
    assert default > 100_000, "the kernel's own slice is longer than the short one"
    assert slices("100") == [100_000, 100_000]
    assert slices("300") == [300_000, 300_000]
    assert slices("0") == [default, default]  # 0: the kernel's own


def test_bad_usage_runs_nothing_and_says_so_in_one_line(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for args in (["fast", "/usr/bin/touch", str(marker)], ["100"]):
        out = subprocess.run([str(WRAPPER), *args], capture_output=True, text=True, check=False)
        assert out.returncode == 1 and out.stdout == ""
        assert out.stderr == "usage: bubble-short-slice MICROSECONDS COMMAND [ARG...]\n"
    assert not marker.exists()
