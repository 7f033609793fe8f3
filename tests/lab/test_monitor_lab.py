"""Monitoring and `bubble stress` on ONE isolated lab (198.18.7.0/24, bridge bubble-mon): one
server with the usage agent reporting to the lab's InfluxDB and two accounts (tests.support.
stress.two_sites), brought up once for both stories and torn down at the end.

Stress first: `bubble stress --neighbour` against a real lab site: the report (JSON and HTML)
with the figures of a quiet run and of one beside a CPU, memory and process hog in a second
account on the same server, the agent's usage of both accounts, and the measured p99 ratio.
The ratio is MEASURED and reported; the platform's goal for it (1.2) is a benchmark
(`make bench`), not asserted here. What serves the site (nginx, the account's PHP-FPM master
and workers) runs with the short CPU slice that the goal needs, and the neighbour's own
processes with the kernel's; a PHP worker is not replaced every 1000 requests (each new one's
start-up spent the bubble's CPU quota: a stall of the site).

Then monitoring: `bubble monitor run` (a process, 2 s interval) with the agent and the control
plane's probes. A stopped nginx -> service-failing; /srv filled to 95 % -> disk-low; the
server stopped -> server-down within the rule's duration and one interval; each resolved
after; each notice arrives at a webhook receiver on this machine naming the server.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from glue.providers import lab
from glue.remote import public_key
from tests.support.cli import Bubble, fresh_bubble, start
from tests.support.lab_env import isolated_lab, lab_env
from tests.support.lab_server import LabServer, cpu_slices, http_get, se_slice
from tests.support.stress import BASE_CPU_MHZ, DISK_GIB, NEIGHBOUR, SITE, two_sites
from tests.support.timings import step_timings
from tests.support.webhook import Receiver, receiving

pytestmark = pytest.mark.lab

LAB = isolated_lab("mon", 7)
SERVER = "mon1"
INTERVAL_S = 2  # the monitor's; the agent reports every 2 s too (two_sites)
# Short durations so the story fits in a few minutes.
RULES = {
    "server-down": ("--for", "6s", "--fire", "6", "--clear", "6"),
    "service-failing": ("--for", "4s"),
    "disk-low": ("--for", "2s", "--clear-for", "0s"),
}
TIMINGS = step_timings(__name__)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bubble]:
    """The lab, its server and the two accounts, for every test here; `lab down` at the end
    stops the lab's InfluxDB too."""
    started = time.monotonic()
    bubble = fresh_bubble(tmp_path_factory, {**lab_env(LAB), **lab.influx_environment(LAB)})
    try:
        two_sites(bubble, SERVER)
        TIMINGS["lab up + server + 2 accounts"] = time.monotonic() - started
        yield bubble
    finally:
        bubble.run("lab", "down", "--yes")
    assert not lab.status(LAB).influx.running


def test_stress_reports_the_figures_and_the_noisy_neighbour_ratio(built: Bubble) -> None:
    bubble, started = built, time.monotonic()
    # Quiet, then beside the neighbour's hog: the figures, the agent's samples of both
    # accounts and the p99 ratio, printed (--json) and in the report.
    reports = bubble.root / "reports"
    out = bubble.json("stress", SITE, "--rate", "40/s", "--duration", "6s",
                      "--neighbour", NEIGHBOUR, "--report", str(reports), "--json")  # fmt: skip
    written = json.loads((reports / "stress.json").read_text())
    assert isinstance(out, dict) and out["runs"] == written["runs"]
    assert written["account"] == "calm" and written["server"] == SERVER
    quiet, busy = written["runs"]
    assert quiet["label"] == "quiet" and busy["label"] == "neighbour busy"
    for run in (quiet, busy):
        assert run["scheduled"] == run["ok"] == 240 and run["errors"] == {}, run
        assert run["realtime"] is True  # as root: the generator's waits are not the site's
        latency = run["latency_ms"]
        assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]
    neighbour = written["neighbour"]
    assert neighbour["account"] == "noisy"
    ratio = busy["latency_ms"]["p99"] / quiet["latency_ms"]["p99"]
    assert neighbour["ratio"] == round(ratio, 3)
    usage = written["usage"]
    assert "unavailable" not in usage and usage["samples"], usage
    assert usage["cpu_mhz"]["max"] > 0 and usage["cpu_mhz"]["limit_max"] == BASE_CPU_MHZ
    # The hog really ran, in noisy's bubble, held at its CPU limit (the agent saw it).
    hog = neighbour["usage"]
    assert hog["cpu_mhz"]["max"] >= 0.8 * BASE_CPU_MHZ, hog["cpu_mhz"]
    assert hog["cpu_mhz"]["limit_max"] == BASE_CPU_MHZ
    assert hog["memory_mib"]["max"] >= 100, hog["memory_mib"]
    assert written["elastic"] == {"events": [], "cost_cents": 0, "cost": "0.00"}
    page = (reports / "stress.html").read_text()
    assert f"<b id=ratio>{neighbour['ratio']}</b>" in page and page.count("<svg") == 2
    assert "<script" not in page and "The generator ran at real-time priority." in page
    TIMINGS["stress quiet + beside the hog"] = time.monotonic() - started


def test_what_serves_a_site_runs_with_a_short_cpu_slice_and_a_tenants_own_work_does_not(
    built: Bubble,
) -> None:
    server = LabServer(SERVER, "", LAB)
    serving = {
        **cpu_slices(server, "nginx.service"),
        **cpu_slices(server, "php-fpm-acct@calm.service"),
    }
    assert len(serving) >= 3 and set(serving.values()) == {100_000}, serving
    # What an account starts itself (`bubble account exec`: ssh, a hog) keeps the kernel's
    # slice: the platform gives the short one to what serves requests only.
    shell = built.run(
        "account", "exec", "noisy", "--", "sh", "-c", "grep se.slice /proc/self/sched"
    )
    assert shell.returncode == 0, shell.stderr
    assert se_slice(shell.stdout) > 100_000, shell.stdout


def test_php_workers_are_not_replaced_every_thousand_requests(built: Bubble) -> None:
    # 3000 requests one after another from a fresh master: ondemand starts one or a few
    # workers, which take requests in turn. At pm.max_requests = 1000 (before
    # account_php_max_requests) two of them served exactly 1000 each and were gone.
    built.as_account("calm", "printf '<?php echo getmypid();' > www/pid.php")
    built.on_server(SERVER, "systemctl restart php-fpm-acct@calm.service")
    address = built.address(SERVER)
    answers = Counter(http_get(address, SITE, "/pid.php") for _ in range(3000))
    assert {status for status, _ in answers} == {200}, answers
    alive = set(built.on_server(SERVER, "pgrep -u calm php-fpm").split())
    assert {pid for _, pid in answers} <= alive, (answers, alive)


@dataclass
class Monitored:
    bubble: Bubble
    server: LabServer
    hook: Receiver


@pytest.fixture(scope="module")
def monitored(built: Bubble) -> Iterator[Monitored]:
    """The monitor running against the lab (started after the stress test: its probes are
    no load on the figures)."""
    with receiving("lab") as hook:
        yield from _monitor(built, hook)


def _monitor(bubble: Bubble, hook: Receiver) -> Iterator[Monitored]:
    monitor = None
    try:
        for rule, knobs in RULES.items():
            bubble("alerts", "rule", "set", rule, *knobs)
        bubble("alerts", "grouping", "set", "--wait", "0s", "--interval", "0s")
        bubble("alerts", "channel", "add", "lab", "--webhook", "-", stdin=hook.url + "\n")
        address = bubble.address(SERVER)
        log = (bubble.root / "monitor.log").open("w")
        monitor = start(
            "monitor",
            "run",
            "--interval",
            f"{INTERVAL_S}s",
            env=bubble.env,
            output=log,
            own_bubble_env=False,
        )
        yield Monitored(bubble, LabServer(SERVER, address, LAB), hook)
    finally:
        if monitor is not None:
            monitor.terminate()
            monitor.wait(30)


def _is(kind: str, rule: str) -> Callable[[str], bool]:
    return lambda text: text.startswith(f"[{kind}") and rule in text and SERVER in text


def test_a_stopped_nginx_fires_service_failing_and_resolves(monitored: Monitored) -> None:
    hook, server = monitored.hook, monitored.server
    time.sleep(3 * INTERVAL_S)  # a quiet start: nothing fires on a healthy server
    assert hook.texts == [], hook.texts
    server.ssh("systemctl stop nginx")
    TIMINGS["service-failing"] = hook.wait("nginx stopped", _is("FIRING", "service-failing"), 30)
    server.ssh("systemctl start nginx")
    hook.wait("nginx started", _is("RESOLVED", "service-failing"), 30)


def test_srv_filled_to_95_percent_fires_disk_low_and_resolves(monitored: Monitored) -> None:
    hook, server = monitored.hook, monitored.server
    size, free = (int(v) for v in server.ssh("stat -f -c '%b %a' /srv").stdout.split())
    block = int(server.ssh("stat -f -c '%S' /srv").stdout)
    fill = (free - size // 20) * block  # leaves 5 % free
    server.ssh(f"fallocate -l {fill} /srv/.monitor-fill")
    TIMINGS["disk-low"] = hook.wait("/srv at 95 %", _is("FIRING", "disk-low"), 30)
    server.ssh("rm -f /srv/.monitor-fill && sync")
    hook.wait("/srv freed", _is("RESOLVED", "disk-low"), 30)


def test_a_stopped_server_fires_server_down_within_its_duration_and_resolves(
    monitored: Monitored,
) -> None:
    hook, server, root = monitored.hook, monitored.server, monitored.bubble.root
    lab.server.stop(SERVER, LAB)
    # no heartbeat for `fire` (6 s) and no ssh, for `for` (6 s), seen within an interval
    # (+ the probe's 3 s timeout and the agent's last report)
    took = hook.wait("server stopped", _is("FIRING", "server-down"), 6 + 6 + 2 * INTERVAL_S + 8)
    TIMINGS["server-down"] = took
    # The server answers ssh before `create` returns: the resolved notice may come meanwhile.
    starting = len(hook.texts)
    lab.server.create(SERVER, server.address, public_key(root), DISK_GIB, cfg=LAB)
    hook.wait("server started", _is("RESOLVED", "server-down"), 60, after=starting)
    done = monitored.bubble.json("alerts", "history")
    assert isinstance(done, list)
    assert {"server-down", "service-failing", "disk-low"} <= {a["rule"] for a in done}
    assert Path(root / "monitor.log").exists()
