"""Locks held by one control machine's commands (flock: released by the kernel if the holder
dies).

- a server's lock: one change per server at a time (an apply, an account change and the
  scaler each take it before running Ansible on the server);
- the catalog lock: every read-modify-write of catalog/ holds it from the read to the write,
  so two commands never write a catalog that lost the other's change.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from glue.errors import BubbleError
from glue.paths import state_dir


class LockTimeout(BubbleError):
    pass


def _lock_path(root: Path, name: str) -> Path:
    path = state_dir(root) / "locks" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def _flock(path: Path, what: str, timeout: float) -> Iterator[None]:
    with path.open("a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise LockTimeout(
                        f"{what}: still being changed by {holder} after {timeout:.0f} s"
                    ) from None
                time.sleep(0.05)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def server_lock(root: Path, server: str, timeout: float = 900) -> Iterator[None]:
    with _flock(_lock_path(root, f"server-{server}"), f"server {server}", timeout):
        yield


# The catalog locks this thread holds: the lock is re-entrant within a thread, so a caller can
# hold it around a service's change and what must follow it (the panel's git commit).
_held = threading.local()


@contextmanager
def catalog_lock(root: Path, timeout: float = 60) -> Iterator[None]:
    """Held only around a read-modify-write of catalog/, never while Ansible runs."""
    path = _lock_path(root, "catalog")
    held: set[Path] = _held.__dict__.setdefault("paths", set())
    if path in held:
        yield
        return
    with _flock(path, "the catalog", timeout):
        held.add(path)
        try:
            yield
        finally:
            held.discard(path)
