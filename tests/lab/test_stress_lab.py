"""`bubble stress --neighbour` against a real lab site: the report (JSON and HTML) with the
figures of a quiet run and of one beside a CPU, memory and process hog in a second account
on the same server, the agent's usage of both accounts, and the measured p99 ratio.

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
        assert "<script" not in page
        TIMINGS["stress quiet + beside the hog"] = (
            time.monotonic() - started - TIMINGS["lab up + server + 2 accounts"]
        )
    finally:
        bubble.run("lab", "down", "--yes")
    assert not lab.status(LAB).influx.running
