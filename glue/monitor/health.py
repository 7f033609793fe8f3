"""Each server's health: the agent's latest points (heartbeat age, load, memory, disk free and
inodes, failed units and the key services among them) and probes from the control plane
(ssh answering, HTTP answering on the server, each account's site answering with its own vhost
Host header). Probes are bounded by a timeout and run concurrently: 200 servers with their
sites take a few timeouts at worst, not minutes.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from glue.catalog import Catalog
from glue.models import SERVER_NAME_RE, ServerState
from scaler.agent_http import InfluxUnavailable
from scaler.influx import InfluxClient, InfluxQueryError

# The services whose failure the health names (their systemd units, as prefixes).
KEY_SERVICES = ("nginx", "php", "mariadb", "dovecot", "vsftpd", "ssh", "bubble-usage-agent")
# Sites answering 502/503/504 (or not at all) are the platform's failure, not the tenant's;
# 444 (nginx closed the connection unanswered: its default server) means no vhost has it.
CLOSED = 444
PLATFORM_FAILURES = frozenset({CLOSED, 502, 503, 504})
TREND_S = 6 * 3600  # the disk's trend for time-to-full (node_exporter's predict_linear window)
TREND_STEP_S = 300


@dataclass
class Disk:
    path: str
    free_bytes: int
    total_bytes: int
    free_inodes: int | None = None
    trend: list[tuple[float, float]] = field(default_factory=list)  # (epoch s, free bytes)

    @property
    def free_percent(self) -> float:
        return 100.0 * self.free_bytes / self.total_bytes if self.total_bytes else 100.0


@dataclass
class Health:
    server: str
    address: str | None
    heartbeat_age_s: float | None = None  # None: no heartbeat in the window read
    load1: float | None = None
    mem_total_bytes: int | None = None
    mem_available_bytes: int | None = None
    failed_units: list[str] | None = None
    disks: list[Disk] = field(default_factory=list)
    ssh: bool | None = None  # None: not probed
    http: int | str | None = None  # a status, or why it did not answer
    sites: dict[str, int | str] = field(default_factory=dict)  # domain -> status or error
    agent_error: str | None = None  # InfluxDB could not be read: the agent's figures unknown
    watched: bool = True  # False: not built yet (no address) or `state: down` in the catalog

    @property
    def key_services(self) -> dict[str, str]:
        failed = self.failed_units or []
        return {
            name: "failed" if any(u.startswith(name) for u in failed) else "ok"
            for name in KEY_SERVICES
        }

    @property
    def failing(self) -> list[str]:
        """What is failing on the server: failed units, HTTP, sites the platform fails."""
        out = list(self.failed_units or [])
        if self.http is not None and not isinstance(self.http, int):
            out.append(f"http: {self.http}")
        out += [
            f"site {domain}: {status}"
            for domain, status in sorted(self.sites.items())
            if not isinstance(status, int) or status in PLATFORM_FAILURES
        ]
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "address": self.address,
            "heartbeat_age_s": None
            if self.heartbeat_age_s is None
            else round(self.heartbeat_age_s, 1),
            "load1": self.load1,
            "mem_total_bytes": self.mem_total_bytes,
            "mem_available_bytes": self.mem_available_bytes,
            "failed_units": self.failed_units,
            "key_services": self.key_services,
            "disks": [
                {
                    "path": d.path,
                    "free_bytes": d.free_bytes,
                    "total_bytes": d.total_bytes,
                    "free_percent": round(d.free_percent, 1),
                    "free_inodes": d.free_inodes,
                }
                for d in self.disks
            ],
            "ssh": self.ssh,
            "http": self.http,
            "sites": self.sites,
            "failing": self.failing,
            "agent_error": self.agent_error,
        }


# ------------------------------------------------------------------------- agent points


def _ms(value: Any) -> float:
    return float(value) / 1000


def _servers_only(rows: Iterable[dict[str, Any]], wanted: set[str]) -> Iterable[dict[str, Any]]:
    return (r for r in rows if str(r.get("server", "")) in wanted)


def read_agent(influx: InfluxClient, health: dict[str, Health], now: float, window_s: int) -> None:
    """Fill `health` from the agent's points of the last `window_s` seconds: a few queries
    for the whole fleet (grouped by server), whatever its size."""
    wanted = set(health)
    since = f"time >= {int((now - window_s) * 1000)}ms AND time <= {int(now * 1000)}ms"
    beats = influx.query(f'SELECT last("seq") FROM "agent" WHERE {since} GROUP BY "server"')  # noqa: S608
    for row in _servers_only(beats, wanted):
        health[row["server"]].heartbeat_age_s = max(0.0, now - _ms(row["time"]))
    fields = (
        "load1",
        "mem_total_bytes",
        "mem_available_bytes",
        "failed_units",
        "failed_unit_names",
    )
    columns = ", ".join(f'last("{f}") AS "{f}"' for f in fields)
    statement = f'SELECT {columns} FROM "server" WHERE {since} GROUP BY "server"'  # noqa: S608
    for row in _servers_only(influx.query(statement), wanted):
        h = health[row["server"]]
        h.load1 = row.get("load1")
        h.mem_total_bytes = row.get("mem_total_bytes")
        h.mem_available_bytes = row.get("mem_available_bytes")
        if row.get("failed_units") is not None:
            names = str(row.get("failed_unit_names") or "")
            h.failed_units = [n for n in names.split(",") if n]
    last = ", ".join(f'last("{f}") AS "{f}"' for f in ("free_bytes", "total_bytes", "free_inodes"))
    disks: dict[tuple[str, str], Disk] = {}
    statement = f'SELECT {last} FROM "disk" WHERE {since} GROUP BY "server", "path"'  # noqa: S608
    for row in _servers_only(influx.query(statement), wanted):
        if row.get("free_bytes") is None or row.get("total_bytes") is None:
            continue
        disk = Disk(
            str(row["path"]),
            int(row["free_bytes"]),
            int(row["total_bytes"]),
            None if row.get("free_inodes") is None else int(row["free_inodes"]),
        )
        disks[(row["server"], disk.path)] = disk
        health[row["server"]].disks.append(disk)
    trend = (
        f'SELECT mean("free_bytes") AS "free" FROM "disk" WHERE time >= '  # noqa: S608
        f"{int((now - TREND_S) * 1000)}ms AND time <= {int(now * 1000)}ms "
        f'GROUP BY time({TREND_STEP_S}s), "server", "path" fill(none)'
    )
    for row in _servers_only(influx.query(trend), wanted):
        found = disks.get((row["server"], str(row.get("path"))))
        if found is not None and row.get("free") is not None:
            found.trend.append((_ms(row["time"]), float(row["free"])))


# ------------------------------------------------------------------------------- probes


def ssh_answers(address: str, timeout: float, port: int = 22) -> bool:
    """An ssh server answers with its banner (no login: nothing to authenticate)."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            return conn.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def http_status(address: str, host: str, timeout: float, port: int = 80) -> int | str:
    """The status of GET / with `host` as Host header (444: closed unanswered, as nginx's
    default server does for a Host it does not serve), or why there was none."""
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.request("GET", "/", headers={"Host": host, "User-Agent": "bubble-monitor"})
        return conn.getresponse().status
    except http.client.RemoteDisconnected:
        return CLOSED
    except (OSError, http.client.HTTPException) as exc:
        return type(exc).__name__ if not str(exc) else str(exc)[:80]
    finally:
        conn.close()


Probe = Callable[[], None]


@dataclass(frozen=True)
class Ports:
    ssh: int = 22
    http: int = 80


def probe(
    health: dict[str, Health],
    catalog: Catalog,
    timeout: float = 3.0,
    workers: int = 64,
    ports: Ports = Ports(),
) -> None:
    """ssh, HTTP and every account's site on each reachable address, concurrently."""
    jobs: list[Probe] = []

    def ssh_job(h: Health, address: str) -> Probe:
        return lambda: setattr(h, "ssh", ssh_answers(address, timeout, ports.ssh))

    def http_job(h: Health, address: str) -> Probe:
        return lambda: setattr(h, "http", http_status(address, address, timeout, ports.http))

    def site_job(h: Health, address: str, domain: str) -> Probe:
        def job() -> None:
            h.sites[domain] = http_status(address, domain, timeout, ports.http)

        return job

    for name, h in health.items():
        if not h.address:
            continue
        jobs += [ssh_job(h, h.address), http_job(h, h.address)]
        for account in catalog.accounts_on(name).values():
            if account.state.value == "active":
                jobs.append(site_job(h, h.address, account.domains[0]))
    if not jobs:
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        for done in [pool.submit(job) for job in jobs]:
            done.result()


def fleet_health(
    catalog: Catalog,
    addresses: dict[str, str | None],
    influx: InfluxClient | None,
    now: float,
    names: Sequence[str] | None = None,
    probes: bool = True,
    timeout: float = 3.0,
    window_s: int = 600,
    ports: Ports = Ports(),
) -> dict[str, Health]:
    """Health of the servers named (default: all in the catalog)."""
    wanted = sorted(catalog.servers) if names is None else list(names)
    health = {
        n: Health(
            n,
            addresses.get(n),
            watched=bool(addresses.get(n)) and catalog.servers[n].state != ServerState.DOWN,
        )
        for n in wanted
        if SERVER_NAME_RE.fullmatch(n) and n in catalog.servers
    }
    if influx is not None and health:
        try:
            read_agent(influx, health, now, window_s)
        except (InfluxUnavailable, InfluxQueryError) as exc:
            for h in health.values():
                h.agent_error = str(exc)
    if probes:
        probe(health, catalog, timeout, ports=ports)
    return health
