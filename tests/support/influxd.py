"""A real InfluxDB (Debian's influxd 1.x) on loopback for tests: own dirs, free ports, by PID."""

from __future__ import annotations

import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.migration.servers import Server

ADMIN, ADMIN_PASSWORD = "bubble", "influx-test-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Influxd:
    """One influxd whose data outlives stop()/start(): an outage and a return."""

    base: Path
    port: int = field(default_factory=free_port)
    rpc_port: int = field(default_factory=free_port)
    auth: bool = True
    server: Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _config(self) -> Path:
        conf = self.base / "influxdb.conf"
        conf.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "127.0.0.1:{self.rpc_port}"\n'
            f'[meta]\n  dir = "{self.base}/meta"\n'
            f'[data]\n  dir = "{self.base}/data"\n  wal-dir = "{self.base}/wal"\n'
            "  query-log-enabled = false\n"
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
            f"  auth-enabled = {'true' if self.auth else 'false'}\n"
            "[monitor]\n  store-enabled = false\n"
            '[continuous_queries]\n  run-interval = "1s"\n'
        )
        return conf

    def start(self) -> None:
        binary = shutil.which("influxd") or "/usr/bin/influxd"
        if not Path(binary).exists():
            pytest.fail("influxd is not installed: run `make setup` (apt-get install influxdb)")
        self.server = Server(
            [binary, "-config", str(self._config())],
            self.base / "influxd.log",
            port=self.port,
            stdin=subprocess.DEVNULL,
        )
        if self.auth:
            # The first admin may be created without credentials, and only then.
            body = f"q=CREATE USER {ADMIN} WITH PASSWORD '{ADMIN_PASSWORD}' WITH ALL PRIVILEGES"
            try:
                url = f"{self.url}/query"  # http on loopback, built here
                urllib.request.urlopen(url, data=body.encode(), timeout=5).close()  # noqa: S310
            except urllib.error.HTTPError as exc:
                if exc.code != 401:  # 401: the user exists already (a restart)
                    raise

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.server = None


@contextmanager
def running_influxd(base: Path, auth: bool = True) -> Iterator[Influxd]:
    base.mkdir(parents=True, exist_ok=True)
    server = Influxd(base, auth=auth)
    server.start()
    try:
        yield server
    finally:
        server.stop()
