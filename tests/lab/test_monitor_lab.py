"""Monitoring on a real lab server: `bubble monitor run` (a process, 2 s interval) with the
usage agent reporting to the lab's InfluxDB and the control plane's probes. A stopped nginx
-> service-failing; /srv filled to 95 % -> disk-low; the server stopped -> server-down within
the rule's duration and one interval; each resolved after; each notice arrives at a webhook
receiver on this machine naming the server.

An isolated lab of its own (198.18.7.0/24, bridge bubble-mon), one server, no accounts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from glue.providers import lab
from glue.remote import public_key
from tests.support.cli import Bubble, fresh_bubble, server_args, start
from tests.support.lab_env import isolated_lab, lab_env
from tests.support.lab_server import LabServer
from tests.support.timings import step_timings
from tests.support.webhook import Receiver, receiving

pytestmark = pytest.mark.lab

LAB = isolated_lab("mon", 7)
INFLUX_ENV = lab.influx_environment(LAB)
SERVER = "mon1"
DISK_GIB = 4
INTERVAL_S = 2
# Short durations so the story fits in a few minutes; the agent reports every 2 s.
RULES = {
    "server-down": ("--for", "6s", "--fire", "6", "--clear", "6"),
    "service-failing": ("--for", "4s"),
    "disk-low": ("--for", "2s", "--clear-for", "0s"),
}
TIMINGS = step_timings(__name__)


@dataclass
class Monitored:
    bubble: Bubble
    server: LabServer
    hook: Receiver


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitored]:
    started = time.monotonic()
    bubble = fresh_bubble(tmp_path_factory, {**lab_env(LAB), **INFLUX_ENV}, "mon")
    with receiving("lab") as hook:
        yield from _lab(bubble, hook, started)


def _lab(bubble: Bubble, hook: Receiver, started: float) -> Iterator[Monitored]:
    monitor = None
    try:
        bubble("lab", "up")
        with (bubble.root / "inventory/group_vars/all.yml").open("a") as settings:
            settings.write(f"\nusage_agent_interval: {INTERVAL_S}\n")
        bubble("server", "add", SERVER, *server_args(memory="2GiB", disk=f"{DISK_GIB}GiB"))
        bubble("apply")
        TIMINGS["lab up + apply"] = time.monotonic() - started
        for rule, knobs in RULES.items():
            bubble("alerts", "rule", "set", rule, *knobs)
        alerts = bubble.root / "catalog/alerts.yml"
        text = alerts.read_text().replace("group_wait: 30s", "group_wait: 0s")
        alerts.write_text(text.replace("group_interval: 5m", "group_interval: 0s"))
        bubble("alerts", "channel", "add", "lab", "--webhook", "-", stdin=hook.url + "\n")
        rows = bubble.json("server", "list")
        assert isinstance(rows, list)
        address = str(next(row["address"] for row in rows if row["name"] == SERVER))
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
        bubble.run("lab", "down", "--yes")


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
    lab.server.create(SERVER, server.address, public_key(root), DISK_GIB, cfg=LAB)
    hook.wait("server started", _is("RESOLVED", "server-down"), 60)
    done = monitored.bubble.json("alerts", "history")
    assert isinstance(done, list)
    assert {"server-down", "service-failing", "disk-low"} <= {a["rule"] for a in done}
    assert Path(root / "monitor.log").exists()
