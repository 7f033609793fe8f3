"""Small process helpers: checked subprocess runs and liveness that sees zombies."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from glue.providers.lab.errors import LabError


def run(
    argv: Sequence[str],
    *,
    step: str,
    server: str | None = None,
    input_text: str | None = None,
    timeout: float | None = None,
) -> str:
    """Run argv, return stdout; raise LabError with the tool's last stderr line on failure."""
    try:
        done = subprocess.run(
            list(argv),
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=None if input_text is not None else subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(step, f"{argv[0]}: {exc}", server) from exc
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
        detail = lines[-1] if lines else f"exit code {done.returncode}"
        raise LabError(step, f"{argv[0]} exited {done.returncode}: {detail}", server)
    return done.stdout


def process_state(pid: int) -> str | None:
    """The State letter of /proc/PID/status, or None if there is no such process."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("State:"):
                return line.split()[1]
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def reap(pid: int) -> None:
    """Collect pid if it is our own exited child (PID 1 here never reaps orphans)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def is_alive(pid: int) -> bool:
    """True if pid runs; a zombie counts as dead."""
    reap(pid)
    state = process_state(pid)
    return state is not None and state != "Z"


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def wait_dead(pid: int, timeout: float) -> bool:
    """Wait until pid has exited (or is a zombie); True if it did in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.1)
    return not is_alive(pid)


def kill(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
