"""`bubble stress DOMAIN`: HTTP load at a constant arrival rate against one site, with a
report (JSON and HTML) of latency, errors, the account's usage and the scaler's events."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from glue.cli.common import (
    JsonOption,
    context,
    duration_option,
    print_json,
    print_table,
    progress,
    say,
)

_RATE_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(?:/s)?")
SWEEP_FACTOR = 2  # each sweep step asks twice the step before


def _rate(text: str) -> float:
    from glue.errors import BubbleError

    found = _RATE_RE.fullmatch(text.strip())
    if not found or float(found.group(1)) <= 0:
        raise BubbleError(f"--rate {text!r}: requests a second above 0, e.g. 50/s")
    return float(found.group(1))


def stress(
    ctx: typer.Context,
    domain: str = typer.Argument(..., help="The site (one of an account's domains)."),
    rate: str = typer.Option("20/s", "--rate", help="Requests a second (a sweep's first step)."),
    duration: str = typer.Option("60s", "--duration", help="How long each rate runs: 60s, 2m."),
    sweep: bool = typer.Option(
        False,
        "--sweep",
        help="Double the rate every step until latency or errors climb (at most --steps steps).",
    ),
    steps: int = typer.Option(6, "--steps", min=2, max=12, help="A sweep's most steps."),
    neighbour: str | None = typer.Option(
        None,
        "--neighbour",
        help="A site on the same server: run quiet and with a CPU/memory/process hog in "
        "its account, in alternating blocks, and report the p99 ratio.",
    ),
    rounds: int = typer.Option(
        3,
        "--rounds",
        min=1,
        max=20,
        help="With --neighbour: this many quiet and busy blocks, alternating "
        "(each --duration / --rounds long).",
    ),
    path: str = typer.Option("/", "--path", help="The path to GET."),
    concurrency: int = typer.Option(
        256,
        "--concurrency",
        min=1,
        max=4096,
        help="At most this many in flight; the rest are dropped (and counted).",
    ),
    timeout: str = typer.Option("10s", "--timeout", help="A request's longest wait."),
    report_dir: Path | None = typer.Option(
        None, "--report", help="Write DIR/stress.json and DIR/stress.html."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Drive HTTP load at a constant arrival rate (latency from each request's scheduled
    time: a slow server cannot hide it) from this machine to the site's server."""
    from glue.errors import BubbleError
    from glue.stress.report import write
    from glue.stress.run import Load
    from glue.stress.run import stress as run_stress

    first = _rate(rate)
    if sweep and neighbour:
        raise BubbleError("--sweep and --neighbour: one at a time")
    if not path.startswith("/") or any(c.isspace() or not c.isprintable() for c in path):
        raise BubbleError(f"--path {path!r}: an absolute path without spaces, e.g. /index.php")
    rates = [first * SWEEP_FACTOR**k for k in range(steps if sweep else 1)]
    seconds = duration_option("--duration", duration, "30s or 2m")
    wait = duration_option("--timeout", timeout, "10s")
    if neighbour and seconds / rounds < 1:
        raise BubbleError(f"--rounds {rounds}: blocks under 1 s (--duration / --rounds)")
    load = Load(rates, float(seconds), concurrency, float(wait), path, rounds)
    c = context(ctx)
    with progress() as report:
        result = run_stress(c, domain, load, neighbour, report)
    written = write(result, report_dir) if report_dir is not None else None
    if as_json:
        print_json({**result, "report": [str(p) for p in written] if written else None})
        return
    print_table(
        f"stress {domain} ({result['account']} on {result['server']})",
        ["run", "rate/s", "sent", "ok", "dropped", "errors", "req/s", "p50 ms", "p95 ms",
         "p99 ms", "max ms"],
        [[r["label"], f"{r['rate']:g}", r["sent"], r["ok"], r["dropped"],
          ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "-", r["throughput_rps"],
          *(r["latency_ms"][q] for q in ("p50", "p95", "p99", "max"))]
         for r in result["runs"]],
    )  # fmt: skip
    if result.get("sweep"):
        climb = result["climb"]
        say(
            f"climbs from {climb['rate']:g}/s ({' and '.join(climb['why'])})"
            if climb
            else "nothing climbed"
        )
    if result.get("neighbour"):
        n = result["neighbour"]
        say(f"neighbour {n['account']} busy: p99 {n['busy_p99_ms']} ms against "
            f"{n['quiet_p99_ms']} ms quiet, ratio {n['ratio']}")  # fmt: skip
    usage = result["usage"]
    if "unavailable" in usage:
        say(f"usage: {usage['unavailable']}")
    else:
        cpu, memory = usage["cpu_mhz"], usage["memory_mib"]
        say(
            f"usage of {usage['account']}: CPU mean {cpu['mean']} MHz, highest {cpu['max']} "
            f"MHz; memory highest {memory['max']} MiB"
        )
    elastic = result["elastic"]
    say(f"elastic events: {len(elastic['events'])}, charged {elastic['cost']}")
    if written:
        say(f"report: {written[1]}")
