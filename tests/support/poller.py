"""An HTTP client polling one site while it moves: what it saw, and the longest outage."""

from __future__ import annotations

import threading
import time

from tests.support.lab_server import http_get


class Poller(threading.Thread):
    """GET `path` of `host` from `address` every 50 ms: (time, status, body) in `seen`."""

    def __init__(self, address: str, host: str, path: str) -> None:
        super().__init__(daemon=True)
        self.address, self.host, self.path = address, host, path
        self.seen: list[tuple[float, int, str]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                status, body = http_get(self.address, self.host, self.path, timeout=5)
            except OSError:
                status, body = 0, ""
            self.seen.append((time.monotonic(), status, body.strip()))
            time.sleep(0.05)

    def downtime(self) -> float:
        """The longest run of answers that were not 200."""
        longest, since = 0.0, None
        for at, status, _ in self.seen:
            if status != 200 and since is None:
                since = at
            elif status == 200 and since is not None:
                longest, since = max(longest, at - since), None
        assert since is None, "the site never answered again"
        return longest
