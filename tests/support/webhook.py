"""A Slack-compatible webhook receiver on loopback (http.server in a thread): what the
monitor's webhook channel posted, with when it arrived."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Every `text` posted to `url` (its path carries a token, as a real webhook's does),
    with its arrival time (time.monotonic); posts to any other path are answered, not kept."""

    def __init__(self, token: str) -> None:
        texts: list[tuple[float, str]] = []
        self.texts = texts
        path = f"/hooks/{token}"

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == path:
                    texts.append((time.monotonic(), str(body["text"])))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def wait(
        self, what: str, match: Callable[[str], bool], timeout: float, *, after: int | None = None
    ) -> float:
        """Seconds until a text matching `match` arrived, counted from now; only texts after
        the first `after` count (by default, those here now: earlier ones do not count). Fails
        naming `what` after `timeout`."""
        started = time.monotonic()
        seen = len(self.texts) if after is None else after
        while time.monotonic() - started < timeout:
            for at, text in self.texts[seen:]:
                if match(text):
                    return at - started
            time.sleep(0.2)
        raise AssertionError(f"{what}: no notice within {timeout:.0f} s; got {self.texts}")


@contextmanager
def receiving(token: str) -> Iterator[Receiver]:
    receiver = Receiver(token)
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
