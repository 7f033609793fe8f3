"""`bubble stress` end to end, from the command line to the report, against a real HTTP
server on loopback that answers one request at a time in 5 ms (about 200 a second): a sweep
from 20/s finds where it climbs, between the step it held and the first it could not; the
site's server is in the catalog at 127.0.0.77 (port 80, the address `bubble stress` uses)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from glue.services.root import init_root
from tests.support.cli import invoke
from tests.support.http_site import Quiet, serving

pytestmark = pytest.mark.integration

ADDRESS = "127.0.0.77"
SERVICE_S = 0.005


class OneAtATime(Quiet):
    gate = threading.Lock()

    def do_GET(self) -> None:
        with self.gate:
            time.sleep(SERVICE_S)
        self.answer(200)


@pytest.fixture
def site() -> Iterator[None]:
    try:
        server = ThreadingHTTPServer((ADDRESS, 80), OneAtATime)
    except PermissionError:
        pytest.skip("port 80 needs root")
    with serving(server):
        yield


def test_a_sweep_finds_where_a_site_climbs_and_writes_the_report(
    site: None, tmp_path: Path
) -> None:
    root = init_root(tmp_path / "ops")
    env = {"BUBBLE_APPLY": "0", "BUBBLE_INFLUX_URL": "http://127.0.0.1:9"}  # no InfluxDB

    def bubble(*args: str) -> str:
        done = invoke(*args, root=root, env=env, catch_exceptions=False)
        assert done.exit_code == 0, done.stderr
        return done.stdout

    bubble("server", "add", "web1", "--provider", "lab", "--cores", "2", "--core-ghz", "2",
           "--memory", "8GiB", "--disk", "100GiB", "--address", ADDRESS)  # fmt: skip
    bubble("account", "create", "alice", "--domain", "alice.example", "--server", "web1")
    report = str(tmp_path / "rep")
    out = json.loads(bubble("stress", "alice.example", "--sweep", "--rate", "20/s",
                            "--duration", "1s", "--report", report, "--json"))  # fmt: skip
    rates = [run["rate"] for run in out["runs"]]
    # 20, 40, 80 held (under half its capacity); 320 it cannot: the sweep stops at the climb.
    assert rates[:3] == [20, 40, 80] and out["climb"]["rate"] in (160, 320), out["climb"]
    assert rates[-1] == out["climb"]["rate"] and "latency" in out["climb"]["why"]
    for run in out["runs"][:3]:
        assert run["ok"] == run["scheduled"] == run["rate"] and run["errors"] == {}
        assert run["latency_ms"]["p50"] >= SERVICE_S * 1000
    assert out["usage"]["unavailable"].startswith("usage of alice: InfluxDB")
    assert out["elastic"]["cost_cents"] == 0
    written = json.loads((tmp_path / "rep/stress.json").read_text())
    assert written["runs"] == out["runs"] and out["report"][0].endswith("stress.json")
    page = (tmp_path / "rep/stress.html").read_text()
    # One plot per run over time and the sweep's, the climb marked on it.
    assert page.count("<svg") == len(rates) + 1 and 'class="mark climb"' in page
