"""The panel at fleet scale: 10,000 accounts on 200 servers (bench_control_plane's fleet),
served by `bubble panel serve` in a process of its own, usage in a real influxd.

Targets (issue 11): the admin's account list page under 300 ms (a page of 50, searched, and
the last page: in force and current use read for the 50 shown, never for the 10,000), one
account's 24 h usage graph data under 200 ms (`glue.services.usage.usage_graph`: InfluxDB
groups a day of 5 s samples into 240 intervals), and the panel process's memory. Each time
is the median of seven requests. The API over HTTP against the same targets, with an admin's
bearer token: the account list's first page (50), one account, and its 24 h usage (the same
graph data; one account's: 200 ms). Baselines, measured in the same run: the login page (a
template, no data) for the pages, `GET /api/v1/session` (who is asking, no data) for the API,
the same graph data for 1 h, and the panel's RSS right after it started (before any request).
The samples: a00001 every 5 s for 24 h; every account's last two minutes (current use).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from glue.panel import auth
from glue.panel.request import Panel
from glue.services.context import Context
from glue.services.usage import usage_graph
from glue.settings import Settings
from scaler.agent_http import Endpoint
from scaler.influx import InfluxClient
from tests.bench.bench_control_plane import SERVERS, generate
from tests.support.influxd import ADMIN, ADMIN_PASSWORD, free_port, running_influxd
from tests.support.panel import PASSWORD, Client

ACCOUNTS = 10_000
DATABASE = "panelbench"
MIB = 1024 * 1024
NOW = int(time.time())
REPEAT = 7


def _fields(i: int, k: int) -> dict[str, Any]:
    return {
        "cpu_mhz": 100 + (i + k) % 400, "cpu_limit_mhz": 1000, "mem_bytes": (200 + k % 50) * MIB,
        "mem_max_bytes": 2048 * MIB, "disk_bytes": 1024 * MIB, "disk_max_bytes": 30720 * MIB,
        "tasks": 10 + k % 20, "tasks_max": 256,
    }  # fmt: skip


def seed_metrics(influx: InfluxClient) -> None:
    influx.execute(f"CREATE DATABASE {DATABASE}", database="")
    tags = {"server": "web001", "account": "a00001"}
    day = [(tags, _fields(1, k), (NOW - k * 5) * 1000) for k in range(86_400 // 5, -1, -1)]
    for first in range(0, len(day), 5000):
        influx.write("account", day[first : first + 5000])
    for first in range(0, ACCOUNTS, 500):
        rows = [
            ({"server": f"web{i % SERVERS:03d}", "account": f"a{i:05d}"}, _fields(i, k),
             (NOW - k * 5) * 1000)
            for i in range(first, min(first + 500, ACCOUNTS)) if i != 1 for k in range(24)
        ]  # fmt: skip
        influx.write("account", rows)


def median_s(action: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def line(name: str, seconds: float, baseline: float, target: float | None) -> str:
    verdict = "" if target is None else (" ok" if seconds < target else " OVER TARGET")
    goal = "" if target is None else f" (target < {target * 1000:g} ms){verdict}"
    return f"{name:<40} {seconds * 1000:8.1f} ms = {seconds / baseline:6.1f} x baseline{goal}"


def rss_mib(pid: int) -> tuple[float, float]:
    """The process's resident memory now and at its highest (VmRSS, VmHWM), MiB."""
    status = dict(row.split(":", 1) for row in Path(f"/proc/{pid}/status").read_text().splitlines())
    return tuple(int(status[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def serve(root: Path, environment: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    bubble = str(Path(sys.executable).with_name("bubble"))
    process = subprocess.Popen(
        [bubble, "--root", str(root), "panel", "serve", "--listen", f"127.0.0.1:{port}",
         "--no-apply"],
        env={**os.environ, **environment}, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if Client(url).request("GET", "/login").status == 200:
                return process, url
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the panel did not start: {process.communicate()[1].decode()}")
        time.sleep(0.1)


def _ok(client: Client, path: str, needle: str) -> Callable[[], object]:
    def get() -> object:
        reply = client.request("GET", path)
        assert reply.status == 200 and needle in reply.text, (path, reply.status)
        return reply

    return get


def api_lines(client: Client) -> list[str]:
    """The API's answers over HTTP against the page targets, as a script would ask."""
    session = median_s(_ok(client, "/api/v1/session", '"admin"'))
    usage_path = "/api/v1/accounts/a00001/usage?since=86400"
    points = len(client.request("GET", usage_path).json()["series"]["cpu"])
    timed = [
        ("API: accounts, first page", "/api/v1/accounts", '"a00049"', 0.3, ""),
        ("API: one account", "/api/v1/accounts/a00001", '"in_force"', 0.2, ""),
        ("API: 24 h usage", usage_path, '"series"', 0.2, f"  {points} points"),
    ]
    return [line("baseline: API session", session, session, None)] + [
        line(name, median_s(_ok(client, path, needle)), session, target) + note
        for name, path, needle, target, note in timed
    ]


def run() -> list[str]:
    load = os.getloadavg()[0]
    out = [f"panel: {ACCOUNTS} accounts on {SERVERS} servers, `bubble panel serve` over http "
           f"(load average {load:.1f} on {os.cpu_count()} CPUs)"]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, running_influxd(Path(tmp) / "influxd") as influxd:
        root = Path(tmp) / "fleet"
        generate(root, ACCOUNTS, SERVERS)
        environment = {
            "BUBBLE_INFLUX_URL": influxd.url, "BUBBLE_INFLUX_DATABASE": DATABASE,
            "BUBBLE_INFLUX_AUTH": "basic", "BUBBLE_INFLUX_USERNAME": ADMIN,
            "BUBBLE_INFLUX_PASSWORD": ADMIN_PASSWORD,
        }  # fmt: skip
        settings = Settings(influx_url=influxd.url, influx_database=DATABASE, influx_auth="basic",
                            influx_username=ADMIN, influx_password=ADMIN_PASSWORD)  # fmt: skip
        ctx = Context(root=root, settings=settings)
        auth.add_admin(ctx.engine, "root", PASSWORD, totp=False)
        seed_metrics(InfluxClient(Endpoint(influxd.url, DATABASE, "basic", ADMIN, ADMIN_PASSWORD,
                                           timeout=300)))  # fmt: skip
        process, url = serve(root, environment)
        try:
            idle = rss_mib(process.pid)[0]
            admin = Client(url)
            assert admin.login("root").status == 303
            login = median_s(_ok(Client(url), "/login", "password"))
            pages = [
                ("account list, first page", "/admin/accounts", "a00049"),
                ("account list, last page", "/admin/accounts?page=200", "a09999"),
                ("account list, searched", "/admin/accounts?q=a0999", "a09990"),
            ]
            out.append(line("baseline: the login page", login, login, None))
            for name, path, needle in pages:
                out.append(line(name, median_s(_ok(admin, path, needle)), login, 0.3))
            # As a request reads it: the catalog once (`Panel.reading`), the state DB shared.
            hour = median_s(lambda: usage_graph(Panel(ctx).reading(), "a00001", 3600))
            day = median_s(lambda: usage_graph(Panel(ctx).reading(), "a00001", 86_400))
            points = len(usage_graph(ctx, "a00001", 86_400)["series"]["cpu"])
            out.append(line("baseline: 1 h graph data (in-process)", hour, hour, None))
            out.append(line("24 h graph data (in-process)", day, hour, 0.2) + f"  {points} points")
            page = median_s(_ok(admin, "/admin/accounts/a00001?range=24h", 'id="graph-processes"'))
            out.append(line("one account's page with 24 h graphs", page, login, None))
            script = auth.create_token(ctx.engine, auth.principal(ctx.engine, "root"))
            out += api_lines(Client(url, token=script))
            now, high = rss_mib(process.pid)
            out.append(f"{'panel RSS: after start (baseline)':<40} {idle:8.1f} MiB")
            out.append(f"{'panel RSS: now / highest':<40} {now:8.1f} / {high:.1f} MiB "
                       f"= {high / idle:.1f} x baseline")  # fmt: skip
        finally:
            process.terminate()
            process.wait(10)
    return out


if __name__ == "__main__":
    print("\n".join(run()))
