"""`bubble stress`'s figures: nearest-rank percentiles, the sweep's climb, and the report's
HTML (self-contained, everything escaped)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from glue.stress import report, stats
from glue.stress.load import TIMEOUT, Run, Sample, joined


@pytest.mark.parametrize(
    ("q", "expected"), [(50, 50), (95, 95), (99, 99), (100, 100), (1, 1), (0.5, 1)]
)
def test_percentiles_are_nearest_rank(q: float, expected: float) -> None:
    values = [float(v) for v in range(100, 0, -1)]
    assert stats.percentile(values, q) == expected


def test_percentiles_of_few_and_of_none() -> None:
    assert stats.percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert stats.percentile([3.0, 1.0, 2.0], 99) == 3.0
    assert stats.percentile([], 99) is None


def step(rate: float, p99: float | None, error_share: float = 0.0) -> dict[str, Any]:
    return {"rate": rate, "latency_ms": {"p99": p99}, "error_share": error_share}


def test_latency_climbs_where_p99_passes_twice_the_lowest_steps() -> None:
    steps = [step(10, 10.0), step(20, 12.0), step(40, 20.0), step(80, 20.1), step(160, 90)]
    assert stats.climb(steps) == {
        "rate": 80, "why": ["latency"], "p99_ms": 20.1, "baseline_p99_ms": 10.0
    }  # fmt: skip
    assert stats.climb(steps[:3]) is None  # 20.0 is twice, not over


def test_errors_climb_where_the_share_failed_rises_and_noise_is_not_a_climb() -> None:
    steps = [step(10, 5.0, 0.002), step(20, 5.0, 0.011), step(40, 5.0, 0.013)]
    assert stats.climb(steps) == {
        "rate": 40, "why": ["errors"], "p99_ms": 5.0, "baseline_p99_ms": 5.0
    }  # fmt: skip
    # A fast site: 0.2 ms to 0.5 ms is timer noise, not a climb.
    assert stats.climb([step(10, 0.2), step(20, 0.5)]) is None
    assert stats.climb([step(10, 0.2)]) is None


def test_summary_counts_every_outcome_and_the_report_escapes_what_it_shows(
    tmp_path: Path,
) -> None:
    run = Run(10, 1.0, 1_700_000_000.0, 0.0)
    run.samples = [Sample(i / 10, 0.010 + i / 1000, "200") for i in range(7)]
    run.samples += [Sample(0.7, 0.2, "503"), Sample(0.8, 2.0, TIMEOUT)]
    run.dropped = [0.9]
    figures = stats.summary(run)
    assert figures["scheduled"] == 10 and figures["sent"] == 9 and figures["ok"] == 7
    assert figures["errors"] == {"503": 1, TIMEOUT: 1} and figures["dropped"] == 1
    assert figures["error_share"] == 0.3
    # Answers only (a timeout has no latency of an answer): 8 of them, the 503's the highest.
    assert figures["latency_ms"] == {"p50": 13.0, "p95": 200.0, "p99": 200.0, "max": 200.0}
    assert figures["answered"] == 8 and figures["throughput_rps"] == round(8 / 2.8, 3)
    assert figures["realtime"] is False
    hostile = "<script>alert(1)</script>"
    result = {
        "domain": "site.example", "account": "alice", "server": "web1",
        "address": "198.18.9.2", "path": "/", "concurrency": 8, "timeout_s": 10.0,
        "start": run.start, "end": run.start + 3, "sweep": False, "climb": None,
        "runs": [{**figures, "label": "10/s", "per_second": stats.per_second(run)}],
        "usage": {"account": "alice", "unavailable": f"usage of alice: {hostile}"},
        "elastic": {"cost": "0.02", "cost_cents": 2, "events": [
            {"at": "2026-12-02T00:00:00+00:00", "kind": "raise", "resource": "cpu",
             "from": 500, "to": 1000, "reason": hostile},
            {"at": "2026-12-02T00:00:01+00:00", "kind": "charge", "amount": "0.02"},
        ]},
    }  # fmt: skip
    json_path, html_path = report.write(result, tmp_path / "out")
    assert json.loads(json_path.read_text())["runs"][0]["errors"] == {"503": 1, "timeout": 1}
    page = html_path.read_text()
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert page.count("<svg") == 1 and "raise cpu 500 → 1000" in page
    assert "The generator ran at normal priority" in page
    # A neighbour run: the pooled ratio and each round's pair.
    result["neighbour"] = {
        "domain": "bob.example", "account": "bob", "quiet_p99_ms": 8.0, "busy_p99_ms": 9.0,
        "ratio": 1.125, "rounds": [{"quiet_p99_ms": 7.5, "busy_p99_ms": 9.0, "ratio": 1.2},
                                   {"quiet_p99_ms": 8.0, "busy_p99_ms": 8.5, "ratio": 1.062}],
        "usage": {"account": "bob", "unavailable": hostile},
    }  # fmt: skip
    page = report.html(result)
    assert "<b id=ratio>1.125</b>, over 2 rounds" in page and "7.5 / 9.0, 8.0 / 8.5" in page
    assert "<script" not in page
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["stress.html", "stress.json"]


def test_blocks_join_into_one_run_each_after_the_one_before() -> None:
    # A neighbour run's quiet (or busy) blocks: their percentiles are over every block's
    # answers, and the plot over time has them one after another.
    first, second = Run(10, 2.0, 1_700_000_000.0, 0.0), Run(10, 2.0, 1_700_000_010.0, 5.0)
    first.samples = [Sample(i / 10, 0.001 * (i + 1), "200") for i in range(20)]
    second.samples = [Sample(i / 10, 0.100, "200") for i in range(19)]
    second.dropped = [1.9]
    run = joined([first, second])
    assert (run.rate, run.duration, run.start, run.scheduled) == (10, 4.0, first.start, 40)
    assert run.samples[20].due == 2.0 and run.dropped == [3.9]
    figures = stats.summary(run)
    assert figures["latency_ms"]["p50"] == 20.0 and figures["latency_ms"]["p99"] == 100.0
    assert figures["dropped"] == 1 and len(stats.per_second(run)) == 4


def test_bad_stress_requests_fail_in_one_line_naming_the_wrong_thing(
    bubble: Any, two_servers: None
) -> None:
    for name, server in (("alice", "web1"), ("bob", "web2")):
        code, _, err = bubble("account", "create", name, "--domain", f"{name}.example",
                              "--server", server)  # fmt: skip
        assert code == 0, err
    cases = {
        ("nope.example",): "error: domain 'nope.example': no account serves it",
        ("alice.example", "--rate", "0/s"): "error: --rate '0/s': requests a second above 0",
        ("alice.example", "--duration", "soon"): "error: --duration 'soon': a duration",
        ("alice.example", "--path", "a b"): "error: --path 'a b': an absolute path",
        ("alice.example", "--sweep", "--neighbour", "bob.example"): "error: --sweep and --nei",
        ("alice.example", "--neighbour", "alice.example"): "the same account as alice.example",
        ("alice.example", "--neighbour", "bob.example"): "on server web2, not web1",
        ("alice.example", "--neighbour", "bob.example", "--duration", "2s", "--rounds", "3"):
            "--rounds 3: blocks under 1 s",
        ("alice.example", "--rate", "5000/s"): "more than 120000 requests in one run",
    }  # fmt: skip
    for args, message in cases.items():
        code, out, err = bubble("stress", *args)
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1, (args, err)
        assert out == ""
