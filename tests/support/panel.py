"""The panel served for real (uvicorn on a free loopback port, in a thread of the test) over
a fresh operator root, and a small HTTP client that keeps cookies and follows no redirect."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from glue.catalog import load_catalog
from glue.panel.app import create_app
from glue.services.context import Context
from glue.services.root import init_root
from glue.settings import Settings
from tests.support.cli import invoke
from tests.support.influxd import free_port

PASSWORD = "correct horse battery"  # every login's password in these tests


def panel_root(base: Path, accounts: tuple[str, ...] = ("alice", "bob")) -> Path:
    """An operator root (a git repository) with one lab server, these accounts, 100.00 in
    each wallet, admin `root` and a customer login per account (all with PASSWORD)."""
    root = init_root(base / "ops")
    env = {"BUBBLE_APPLY": "0", "BUBBLE_PASSWORD": PASSWORD}
    steps = [
        ["server", "add", "web1", "--provider", "lab", "--cores", "4", "--core-ghz", "2",
         "--memory", "16GiB", "--disk", "200GiB"],
        ["panel", "admin", "add", "root"],
    ]  # fmt: skip
    for name in accounts:
        steps += [
            ["account", "create", name, "--domain", f"{name}.example"],
            ["wallet", "credit", name, "100.00", "--key", f"start-{name}"],
            ["panel", "customer-password", name],
        ]
    for args in steps:
        result = invoke(*args, root=root, env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
    return root


def form_field(page: str, name: str) -> str:
    """A hidden field's value as a page gives it (csrf, version)."""
    return page.split(f'name="{name}" value="', 1)[1].split('"', 1)[0]


def on_loopback(root: Path, server: str = "web1") -> None:
    """Put `server` at this machine's loopback, where no ssh answers: each call to it fails at
    once (at its lab address ssh waits out its connect timeout). Left uncommitted."""
    servers = root / "catalog" / "servers.yml"
    address = load_catalog(root).servers[server].address
    servers.write_text(servers.read_text().replace(f"address: {address}", "address: 127.0.0.1"))


def api_token(root: Path, *args: str) -> str:
    """A bearer token from `bubble panel token create ARGS` (--admin NAME | --account NAME)."""
    result = invoke("panel", "token", "create", *args, root=root, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()


@contextmanager
def running_panel(root: Path, settings: Settings | None = None, **options: Any) -> Iterator[str]:
    """The panel of `root` (nothing carried to servers) at the URL yielded; `options` go to
    create_app (migration_target)."""
    port = free_port()
    ctx = Context(root=root, settings=settings or Settings())
    config = uvicorn.Config(create_app(ctx, apply=False, **options), host="127.0.0.1",
                            port=port, log_level="warning")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the panel did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


@dataclass
class Client:
    """One browser-like user agent: its cookies, its bearer token if it has one."""

    url: str
    token: str = ""
    cookies: dict[str, str] = field(default_factory=dict)
    source: str = ""  # another loopback address (127.0.0.2) is another client to the panel

    def request(
        self, method: str, path: str, *, body: Any = None, form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:  # fmt: skip
        parsed = urllib.parse.urlsplit(self.url)
        sent = dict(headers or {})
        data: bytes | None = None
        if body is not None:
            data, sent["Content-Type"] = json.dumps(body).encode(), "application/json"
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection = http.client.HTTPConnection(
            parsed.hostname, parsed.port, timeout=30,
            source_address=(self.source, 0) if self.source else None,
        )  # fmt: skip
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            reply = Reply(response.status, response.headers, response.read())
        finally:
            connection.close()
        for cookie in reply.headers.get_all("set-cookie") or []:
            name, _, rest = cookie.partition("=")
            value = rest.split(";", 1)[0].strip('"')
            if value and "max-age=0" not in cookie.lower():
                self.cookies[name] = value
            else:
                self.cookies.pop(name, None)
        return reply

    def login(self, name: str, password: str = PASSWORD, code: str = "") -> Reply:
        """The login form, as a browser fills it (its CSRF cookie and field)."""
        page = self.request("GET", "/login").text
        csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        return self.request("POST", "/login", form={"name": name, "password": password,
                                                    "code": code, "csrf": csrf})  # fmt: skip

    def csrf(self) -> str:
        token: str = self.request("GET", "/api/v1/session").json()["csrf"]
        return token
