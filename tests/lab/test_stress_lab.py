"""`bubble stress` against a real lab site: the report (JSON and HTML) with the run's
figures and the agent's usage of the account, then `--neighbour` with a CPU, memory and
process hog in a second account on the same server, its measured p99 ratio in the report.

An isolated lab of its own (198.18.9.0/24, bridge bubble-str, /var/lib/bubblehost/lab-str),
one server, two accounts, torn down at the end. The ratio is MEASURED and reported; the
platform's goal for it (1.2) is a benchmark (`make bench`), not asserted here."""

from __future__ import annotations

import json
import time

import pytest

from glue.providers import lab
from tests.support.cli import fresh_bubble
from tests.support.lab_env import isolated_lab, lab_env
from tests.support.stress import BASE_CPU_MHZ, NEIGHBOUR, SITE, two_sites
from tests.support.timings import step_timings

pytestmark = pytest.mark.lab

LAB = isolated_lab("str", 9)
SERVER = "str1"
TIMINGS = step_timings(__name__)


def test_stress_reports_the_figures_and_the_noisy_neighbour_ratio(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    started = time.monotonic()
    bubble = fresh_bubble(tmp_path_factory, {**lab_env(LAB), **lab.influx_environment(LAB)})
    try:
        two_sites(bubble, SERVER)
        TIMINGS["lab up + server + 2 accounts"] = time.monotonic() - started

        # One run: every request answered, the figures and the agent's samples in the report.
        plain = bubble.root / "reports/plain"
        out = bubble.json("stress", SITE, "--rate", "40/s", "--duration", "6s",
                          "--report", str(plain))  # fmt: skip
        assert isinstance(out, dict)
        written = json.loads((plain / "stress.json").read_text())
        run = written["runs"][0]
        assert run["scheduled"] == 240 and run["ok"] == 240, run
        assert run["errors"] == {} and run["dropped"] == 0
        latency = run["latency_ms"]
        assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]
        assert written["account"] == "calm" and written["server"] == SERVER
        usage = written["usage"]
        assert "unavailable" not in usage and usage["samples"], usage
        assert usage["cpu_mhz"]["max"] > 0 and usage["cpu_mhz"]["limit_max"] == BASE_CPU_MHZ
        assert written["elastic"] == {"events": [], "cost_cents": 0, "cost": "0.00"}
        page = (plain / "stress.html").read_text()
        assert page.count("<svg") == 1 and "<script" not in page
        assert out["runs"][0]["latency_ms"] == latency

        # The neighbour's hog: quiet p99, then p99 beside it, the ratio measured.
        loud = bubble.root / "reports/neighbour"
        bubble("stress", SITE, "--rate", "40/s", "--duration", "8s",
               "--neighbour", NEIGHBOUR, "--report", str(loud))  # fmt: skip
        written = json.loads((loud / "stress.json").read_text())
        quiet, busy = written["runs"]
        assert quiet["label"] == "quiet" and busy["label"] == "neighbour busy"
        assert quiet["ok"] == busy["ok"] == 320, (quiet, busy)
        neighbour = written["neighbour"]
        assert neighbour["account"] == "noisy"
        ratio = busy["latency_ms"]["p99"] / quiet["latency_ms"]["p99"]
        assert neighbour["ratio"] == round(ratio, 3)
        # The hog really ran, in noisy's bubble, held at its CPU limit (the agent saw it).
        hog = neighbour["usage"]
        assert hog["cpu_mhz"]["max"] >= 0.8 * BASE_CPU_MHZ, hog["cpu_mhz"]
        assert hog["cpu_mhz"]["limit_max"] == BASE_CPU_MHZ
        assert hog["memory_mib"]["max"] >= 100, hog["memory_mib"]
        page = (loud / "stress.html").read_text()
        assert f"<b id=ratio>{neighbour['ratio']}</b>" in page and page.count("<svg") == 2
        TIMINGS["two stress runs"] = time.monotonic() - started
    finally:
        bubble.run("lab", "down", "--yes")
    assert not lab.status(LAB).influx.running
