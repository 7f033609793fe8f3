"""`make demo`'s webhook receiver: a Slack-compatible endpoint on loopback (http.server in a
thread) keeping the `text` of every post, for the monitor's notices to arrive at."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self) -> None:
        texts: list[str] = []
        self.texts = texts

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                texts.append(str(body.get("text", "")))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass  # the demo prints what arrives, not the access log

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/demo"

    def wait(self, state: str, rule: str, timeout: float, seen: int) -> tuple[float, str] | None:
        """(seconds, text) of the first notice after the first `seen` that starts with
        `[STATE` and names `rule`; None after `timeout`."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            for text in self.texts[seen:]:
                if text.startswith(f"[{state}") and rule in text:
                    return time.monotonic() - started, text
            time.sleep(0.5)
        return None


@contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver()
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
