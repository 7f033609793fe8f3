"""The stress report: the figures as JSON and one self-contained HTML page (inline CSS, the
plots as inline SVG drawn by `glue.panel.graphs.chart_svg`, nothing fetched). Every text
from the catalog or the server is escaped."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import tempfile
from html import escape
from pathlib import Path
from typing import Any

from glue.panel.graphs import Line, Mark, chart_svg

JSON_NAME, HTML_NAME = "stress.json", "stress.html"
COLOURS = {"p50": "#1f5e99", "p95": "#2c8a3e", "p99": "#c77700", "max": "#b42323"}
STYLE = (
    "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#1d2330}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #d7dce2;"
    "padding:.3em .6em;text-align:right}th{background:#f3f5f8}svg{max-width:100%}"
    ".key span{margin-right:1em}"
)


def _cell(value: Any) -> str:
    return "–" if value is None else escape(str(value))


def _key(names: list[str]) -> str:
    return '<p class="key">' + "".join(
        f'<span style="color:{COLOURS[n]}">━ {n}</span>' for n in names
    ) + "</p>"  # fmt: skip


def _utc(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _over_time(run: dict[str, Any], index: int) -> str:
    """Latency per second of one run, with the quiet p99 as the dashed level if there is one."""
    seconds = run["per_second"]  # each drawn at the middle of its second
    lines = [
        Line(name, COLOURS[name], 1.5, [(s["second"] + 0.5, float(s[name])) for s in seconds])
        for name in ("p50", "p99", "max")
    ]
    return str(chart_svg(
        f"latency-{index}", f"latency of {run['label']} per second, ms", "ms",
        (0.0, max(1.0, float(run["duration_s"]))), 1.5, lines,
        x_text=lambda t: f"{t:.0f} s",
    ))  # fmt: skip


def _per_step(result: dict[str, Any]) -> str:
    """The sweep's percentiles per step on a log2 rate axis (each step doubles), the climb
    marked."""
    runs = result["runs"]
    rates = [math.log2(float(r["rate"])) for r in runs]
    lines = [
        Line(name, COLOURS[name], 1.5,
             [(math.log2(float(r["rate"])), float(r["latency_ms"][name])) for r in runs
              if r["latency_ms"][name] is not None])
        for name in ("p50", "p95", "p99")
    ]  # fmt: skip
    climb = result.get("climb")
    marks = [
        Mark(math.log2(float(climb["rate"])), "mark climb",
             f"{' and '.join(climb['why'])} climb here")
    ] if climb else []  # fmt: skip
    return str(chart_svg(
        "sweep", "latency percentiles per rate, ms", "ms", (min(rates), max(rates)),
        1.5, lines, marks=marks, x_text=lambda x: f"{2**x:g}/s",
    ))  # fmt: skip


def _priority(runs: list[dict[str, Any]]) -> str:
    if all(run["realtime"] for run in runs):
        return "The generator ran at real-time priority."
    return (
        "The generator ran at normal priority (it needs root or CAP_SYS_NICE for real-time): "
        "its own waits for a CPU count in the latency."
    )


def html(result: dict[str, Any]) -> str:
    """The page: what ran, the figures table, the plots, neighbour, usage, elastic events."""
    title = f"Stress report: {result['domain']}"
    parts = [
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{escape(title)}</title>",
        f"<style>{STYLE}</style><h1>{escape(title)}</h1>",
        f"<p>Account {escape(result['account'])} on server {escape(result['server'])} "
        f"({escape(result['address'])}), path {escape(result['path'])}; from "
        f"{_utc(result['start'])} to {_utc(result['end'])}. Constant arrival rate: latency "
        "counts from each request's scheduled time; at most "
        f"{result['concurrency']} in flight, the rest dropped. {_priority(result['runs'])}</p>",
        "<table><tr><th>run</th><th>rate/s</th><th>sent</th><th>ok</th><th>dropped</th>"
        "<th>errors</th><th>throughput/s</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th>"
        "<th>max ms</th></tr>",
    ]
    for run in result["runs"]:
        errors = ", ".join(f"{k}: {v}" for k, v in run["errors"].items()) or "none"
        latency = run["latency_ms"]
        parts.append(
            "<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in (
                run["label"], run["rate"], run["sent"], run["ok"], run["dropped"], errors,
                run["throughput_rps"], latency["p50"], latency["p95"], latency["p99"],
                latency["max"])) + "</tr>"
        )  # fmt: skip
    parts.append("</table>")
    climb = result.get("climb")
    if result.get("sweep"):
        parts.append(
            f"<p>Climbing from {climb['rate']:g}/s ({escape(' and '.join(climb['why']))}: p99 "
            f"{_cell(climb['p99_ms'])} ms against {_cell(climb['baseline_p99_ms'])} ms at the "
            "lowest rate).</p>" if climb else "<p>Nothing climbed over the sweep.</p>"
        )  # fmt: skip
        parts += ["<h2>Latency per rate</h2>", _key(["p50", "p95", "p99"]), _per_step(result)]
    neighbour = result.get("neighbour")
    if neighbour:
        parts.append(
            f"<h2>Noisy neighbour</h2><p>With a CPU, memory and process hog in "
            f"{escape(neighbour['account'])} ({escape(neighbour['domain'])}): p99 "
            f"{_cell(neighbour['busy_p99_ms'])} ms against {_cell(neighbour['quiet_p99_ms'])} "
            f"ms quiet, a ratio of <b id=ratio>{_cell(neighbour['ratio'])}</b>, over "
            f"{len(neighbour['rounds'])} rounds of a quiet block then a busy one (p99 ms, "
            "quiet / busy: "
            + ", ".join(f"{_cell(r['quiet_p99_ms'])} / {_cell(r['busy_p99_ms'])}"
                        for r in neighbour["rounds"])
            + ").</p>"
        )  # fmt: skip
    parts.append("<h2>Latency over time</h2>" + _key(["p50", "p99", "max"]))
    for index, run in enumerate(result["runs"]):
        parts += [f"<h3>{escape(run['label'])}</h3>", _over_time(run, index)]
    parts.append("<h2>The account during the run (the usage agent)</h2>")
    for usage in [result["usage"], *([neighbour["usage"]] if neighbour else [])]:
        if "unavailable" in usage:
            parts.append(f"<p>{escape(usage['account'])}: {escape(usage['unavailable'])}</p>")
            continue
        cpu, memory = usage["cpu_mhz"], usage["memory_mib"]
        parts.append(
            f"<p>{escape(usage['account'])}: {len(usage['samples'])} samples; CPU mean "
            f"{_cell(cpu['mean'])} MHz, highest {_cell(cpu['max'])} MHz (limit up to "
            f"{_cell(cpu['limit_max'])}); memory highest {_cell(memory['max'])} MiB (limit up "
            f"to {_cell(memory['limit_max'])}).</p>"
        )
    elastic = result["elastic"]
    parts.append(f"<h2>Elastic events</h2><p>Charged in the run's window: "
                 f"{escape(elastic['cost'])}.</p><ul>")  # fmt: skip
    for event in elastic["events"]:
        what = (f"charged {event['amount']}" if event["kind"] == "charge" else
                f"{event['kind']} {event['resource']} {event['from']} → {event['to']}: "
                f"{event['reason']}")  # fmt: skip
        parts.append(f"<li>{escape(event['at'])} {escape(what)}</li>")
    parts.append("</ul></html>\n")
    return "".join(parts)


def _replace(path: Path, text: str) -> None:
    """Written whole or not at all: a temporary file beside it, then renamed over it."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write(result: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    """DIR/stress.json and DIR/stress.html (DIR made if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / JSON_NAME, directory / HTML_NAME
    _replace(paths[0], json.dumps(result, indent=2, sort_keys=True) + "\n")
    _replace(paths[1], html(result))
    return paths
