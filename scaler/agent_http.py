"""The InfluxDB v1 HTTP API (/write, /query, /ping), spoken by every InfluxDB generation.

Auth: `basic` for 1.x users, `token` (`Authorization: Token ...`) for 2.x/3.x; credentials go
in a header only, never in the URL (it would end up in proxy and server logs).
Stdlib only: used by the agent on every server and by the control plane's client.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

AUTH_KINDS = ("none", "basic", "token")


class InfluxUnavailable(Exception):
    """No answer, or an answer that says "try again later" (5xx): keep the points."""


class InfluxRejected(Exception):
    """InfluxDB answered and refused (4xx): `status` tells which."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"InfluxDB refused ({status}): {message}")
        self.status = status


@dataclass(frozen=True)
class Endpoint:
    url: str  # e.g. http://127.0.0.1:8086 (no path, no credentials)
    database: str
    auth: str = "none"
    username: str = ""
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    timeout: float = 3.0

    def __post_init__(self) -> None:
        parsed = urllib.parse.urlsplit(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"InfluxDB url {self.url!r}: expected http(s)://HOST:PORT")
        if parsed.username or parsed.password:
            raise ValueError("InfluxDB url: credentials belong in the auth settings, not the URL")
        if self.auth not in AUTH_KINDS:
            kinds = ", ".join(AUTH_KINDS)
            raise ValueError(f"InfluxDB auth {self.auth!r}: expected one of {kinds}")
        if self.auth == "token" and not self.token:
            raise ValueError("InfluxDB auth token: the token is empty")
        if self.auth == "basic" and not self.username:
            raise ValueError("InfluxDB auth basic: the username is empty")

    def headers(self) -> dict[str, str]:
        if self.auth == "basic":
            pair = f"{self.username}:{self.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        if self.auth == "token":
            return {"Authorization": "Token " + self.token}
        return {}

    def request(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        body: bytes | None = None,
        gzipped: bool = False,
    ) -> tuple[int, bytes]:
        """One HTTP exchange; 2xx -> (status, body); raises InfluxUnavailable/InfluxRejected."""
        url = self.url.rstrip("/") + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = self.headers()
        if body is not None and path == "/query":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        req = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310 - http(s) checked above
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                return int(resp.status), resp.read()
        except urllib.error.HTTPError as exc:
            text = _error_text(exc.read())
            if exc.code >= 500:
                raise InfluxUnavailable(f"InfluxDB {exc.code}: {text}") from None
            raise InfluxRejected(exc.code, text) from None
        except (OSError, urllib.error.URLError) as exc:
            reason = getattr(exc, "reason", exc)
            raise InfluxUnavailable(f"InfluxDB at {self.url} unreachable: {reason}") from None

    def write(self, body: bytes, precision: str = "ms", gzipped: bool = False) -> None:
        """POST line protocol (newline-separated points) to /write."""
        self.request("POST", "/write", {"db": self.database, "precision": precision}, body, gzipped)

    def write_lines(self, lines: list[str], precision: str = "ms") -> None:
        self.write(("\n".join(lines) + "\n").encode(), precision)

    def ping(self) -> bool:
        try:
            status, _ = self.request("GET", "/ping", {})
        except (InfluxUnavailable, InfluxRejected):
            return False
        return status == 204


def _error_text(raw: bytes) -> str:
    try:
        doc: Any = json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace").strip()[:300]
    if isinstance(doc, dict) and "error" in doc:
        return str(doc["error"])[:300]
    return raw.decode(errors="replace").strip()[:300]
