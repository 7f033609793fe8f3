"""One change per server at a time: an apply, an account change and the scaler each take the
server's lock before running Ansible on it. flock: released by the kernel if the holder dies."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from glue.errors import BubbleError
from glue.paths import state_dir


class LockTimeout(BubbleError):
    pass


@contextmanager
def server_lock(root: Path, server: str, timeout: float = 900) -> Iterator[None]:
    path = state_dir(root) / "locks" / f"server-{server}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
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
                        f"server {server}: still being changed by {holder} after {timeout:.0f} s"
                    ) from None
                time.sleep(0.5)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
