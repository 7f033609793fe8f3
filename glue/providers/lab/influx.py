"""The lab's InfluxDB: Debian's influxd (1.x) for the lab servers' usage agents and the scaler.

Its own directories under the lab dir, bound to the bridge's gateway address (the servers
reach it there), auth on: an admin with a generated password kept in a root-only 0600 file,
never printed nor put on a command line. Started with Popen + a pid file like the servers.
"""

from __future__ import annotations

import base64
import secrets
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from glue.paths import open_private, private_dir
from glue.providers.lab.config import LabConfig
from glue.providers.lab.errors import LabError
from glue.providers.lab.proc import cmdline, is_alive, kill, wait_dead

PORT = 8086
RPC_PORT = 8088  # influxd's backup/restore service: on the gateway address too, never 0.0.0.0
ADMIN = "bubble"
AGENT = "agent"  # the usage agents' user: WRITE on the database, nothing else
DATABASE = "bubblehost"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
ADMIN_TIMEOUT = 10.0


@dataclass(frozen=True)
class InfluxPaths:
    dir: Path

    @property
    def config(self) -> Path:
        return self.dir / "influxdb.conf"

    @property
    def pidfile(self) -> Path:
        return self.dir / "influxd.pid"

    @property
    def log(self) -> Path:
        return self.dir / "influxd.log"

    @property
    def password_file(self) -> Path:
        """The admin's password: root only (0600), read by the control plane through
        BUBBLE_INFLUX_PASSWORD_FILE."""
        return self.dir / "admin.password"

    @property
    def agent_password_file(self) -> Path:
        """The usage agents' password (root only, 0600): BUBBLE_INFLUX_AGENT_PASSWORD_FILE."""
        return self.dir / "agent.password"


@dataclass(frozen=True)
class InfluxStatus:
    url: str
    running: bool
    pid: int
    password_file: str


def influx_paths(cfg: LabConfig) -> InfluxPaths:
    return InfluxPaths(cfg.dir / "influxdb")


def url(cfg: LabConfig) -> str:
    return f"http://{cfg.gateway_interface.ip}:{PORT}"


def environment(cfg: LabConfig) -> dict[str, str]:
    """The BUBBLE_INFLUX_* a control plane exports to use the lab's InfluxDB (no secret)."""
    return {
        "BUBBLE_INFLUX_URL": url(cfg),
        "BUBBLE_INFLUX_DATABASE": DATABASE,
        "BUBBLE_INFLUX_AUTH": "basic",
        "BUBBLE_INFLUX_USERNAME": ADMIN,
        "BUBBLE_INFLUX_PASSWORD_FILE": str(influx_paths(cfg).password_file),
        "BUBBLE_INFLUX_AGENT_USERNAME": AGENT,
        "BUBBLE_INFLUX_AGENT_PASSWORD_FILE": str(influx_paths(cfg).agent_password_file),
    }


def _pid(cfg: LabConfig) -> int:
    """The recorded influxd if it runs with this lab's config (a reused pid does not count)."""
    p = influx_paths(cfg)
    try:
        pid = int(p.pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return 0
    return pid if is_alive(pid) and str(p.config) in cmdline(pid) else 0


def _write_config(cfg: LabConfig, p: InfluxPaths) -> None:
    host = cfg.gateway_interface.ip
    p.config.write_text(
        "reporting-disabled = true\n"
        f'bind-address = "{host}:{RPC_PORT}"\n'
        f'[meta]\n  dir = "{p.dir}/meta"\n'
        f'[data]\n  dir = "{p.dir}/data"\n  wal-dir = "{p.dir}/wal"\n'
        "  query-log-enabled = false\n"
        f'[http]\n  bind-address = "{host}:{PORT}"\n  log-enabled = false\n'
        "  auth-enabled = true\n"
        "[monitor]\n  store-enabled = false\n"
        '[continuous_queries]\n  run-interval = "1m"\n'
    )


def _ping(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/ping", timeout=2):  # noqa: S310 (http, built here)
            return True
    except (urllib.error.URLError, OSError):
        return False


def _password(path: Path) -> str:
    """A password generated once (0600 file, root's)."""
    if not path.exists():
        with open_private(path) as handle:
            handle.write(secrets.token_urlsafe(24) + "\n")
    return path.read_text().strip()


def _admin_answers(base: str, password: str) -> bool:
    """Whether the admin exists with this password (asked, not guessed from a status code)."""
    token = base64.b64encode(f"{ADMIN}:{password}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 (http, built here)
        f"{base}/query?{urlencode({'q': 'SHOW USERS'})}",
        headers={"Authorization": f"Basic {token}"},
    )
    try:
        urllib.request.urlopen(request, timeout=5).close()  # noqa: S310
    except (urllib.error.URLError, OSError):
        return False
    return True


def _ensure_admin(base: str, password: str) -> None:
    """The admin with the password in its file. InfluxDB lets the first admin be created without
    credentials, and only while there is none; a refusal is retried until ADMIN_TIMEOUT, since a
    busy influxd has answered 403 where 401 was due, then named with influxd's own words."""
    body = urlencode({"q": f"CREATE USER {ADMIN} WITH PASSWORD '{password}' WITH ALL PRIVILEGES"})
    deadline = time.monotonic() + ADMIN_TIMEOUT
    while not _admin_answers(base, password):
        said = "the admin does not answer with the password in its file"
        try:
            urllib.request.urlopen(f"{base}/query", data=body.encode(), timeout=5).close()  # noqa: S310
        except urllib.error.HTTPError as exc:
            said = f"HTTP {exc.code} {exc.read().decode(errors='replace').strip()[:200]}"
        except (urllib.error.URLError, OSError) as exc:
            said = str(exc)
        if time.monotonic() > deadline:
            raise LabError("influxdb", f"create the admin: {said}")
        time.sleep(0.5)


def up(cfg: LabConfig) -> str:
    """influxd running (kept if it already runs) with its admin; returns its URL. The
    database and its retention are the control plane's (scaler.influx.ensure_retention)."""
    p = influx_paths(cfg)
    private_dir(p.dir)
    base = url(cfg)
    if not _pid(cfg):
        binary = shutil.which("influxd") or "/usr/sbin/influxd"
        if not Path(binary).exists():
            raise LabError("influxdb", "influxd is not installed (apt-get install influxdb)")
        _write_config(cfg, p)
        with p.log.open("ab") as log:
            # A session of its own: influxd outlives the command that started it.
            child = subprocess.Popen(
                [binary, "-config", str(p.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        p.pidfile.write_text(f"{child.pid}\n")
        deadline = time.monotonic() + START_TIMEOUT
        while not _ping(base):
            if child.poll() is not None or time.monotonic() > deadline:
                kill(child.pid, signal.SIGKILL)
                raise LabError("influxdb", f"influxd did not answer on {base}; see {p.log}")
            time.sleep(0.2)
    _ensure_admin(base, _password(p.password_file))
    _password(p.agent_password_file)  # its user is made with the database (`lab up`)
    return base


def down(cfg: LabConfig) -> None:
    """Stop influxd (its data stays in the lab dir until the directory is removed)."""
    pid = _pid(cfg)
    if pid:
        kill(pid, signal.SIGTERM)
        if not wait_dead(pid, STOP_TIMEOUT):
            kill(pid, signal.SIGKILL)
            wait_dead(pid, 5)
    influx_paths(cfg).pidfile.unlink(missing_ok=True)


def status(cfg: LabConfig) -> InfluxStatus:
    pid = _pid(cfg)
    return InfluxStatus(
        url=url(cfg),
        running=bool(pid),
        pid=pid,
        password_file=str(influx_paths(cfg).password_file),
    )
