"""A real InfluxDB (Debian's influxd 1.x) on loopback for tests: own dirs, free ports, by PID."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

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
    proc: subprocess.Popen[bytes] | None = None

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
        log = (self.base / "influxd.log").open("ab")
        self.proc = subprocess.Popen(
            [binary, "-config", str(self._config())],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = (self.base / "influxd.log").read_text()[-800:]
                pytest.fail(f"influxd exited {self.proc.returncode}: {tail}")
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as resp:  # noqa: S310
                    if resp.status == 204:
                        break
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        else:
            self.stop()
            pytest.fail("influxd did not answer /ping within 20 s")
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
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@contextmanager
def running_influxd(base: Path, auth: bool = True) -> Iterator[Influxd]:
    base.mkdir(parents=True, exist_ok=True)
    server = Influxd(base, auth=auth)
    server.start()
    try:
        yield server
    finally:
        server.stop()
