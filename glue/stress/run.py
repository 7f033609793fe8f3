"""One `bubble stress`: find the site (its account, its server's address), drive the load
(`load`), add what the agent saw of the account during it (`glue.services.usage`) and what
the scaler did and charged in that window (`glue.services.history`); with a neighbour, the
same load in blocks that alternate between quiet and beside a hog in the neighbour's bubble."""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from glue.errors import BubbleError
from glue.services.context import Context
from glue.stress import stats
from glue.stress.load import Run, Target, joined, run_load

# What one site may be asked for at most: a run of 60 s at 2,000/s.
MAX_REQUESTS = 120_000
# The neighbour's hog: busy loops (more than it may use), memory it touches, idle processes;
# it starts this long before each busy block and ends on its own timer this long after it
# (RuntimeMaxSec too); a hog not over this long after its timer is an error.
HOG_CPU_WORKERS, HOG_MEMORY_MIB, HOG_PROCESSES = 4, 128, 32
HOG_WARMUP_S, HOG_TAIL_S, HOG_END_S = 2.0, 1.0, 30.0
# The agent's samples in the run's window: a little before, so a short run has one.
USAGE_MARGIN_S = 10


@dataclass(frozen=True)
class Load:
    rates: Sequence[float]  # one rate, or a sweep's steps (lowest first)
    duration: float  # seconds per rate
    concurrency: int
    timeout: float
    path: str = "/"
    rounds: int = 3  # with a neighbour: quiet and busy blocks, alternating (`_alternating`)


@dataclass(frozen=True)
class Site:
    domain: str
    account: str
    server: str
    target: Target


def site(ctx: Context, domain: str, path: str = "/") -> Site:
    """The account serving `domain` and its server's address (port 80, Host: domain)."""
    from glue.remote import require_address

    catalog = ctx.catalog()
    wanted = domain.lower()
    owner = next(
        (name for name, a in catalog.accounts.items() if wanted in (d.lower() for d in a.domains)),
        None,
    )
    if owner is None:
        raise BubbleError(f"domain {domain!r}: no account serves it")
    account = catalog.accounts[owner]
    if account.state.leaving:
        raise BubbleError(f"domain {domain!r}: its account {owner!r} is being removed")
    address = require_address(ctx, account.server, catalog.servers[account.server])
    return Site(domain, owner, account.server, Target(address, wanted, 80, path))


def hog_script(seconds: int) -> str:
    """The neighbour's hog as a POSIX sh script (every server has sh, timeout and python3)."""
    return "\n".join([
        f"d={seconds}",
        f"for i in $(seq {HOG_CPU_WORKERS}); do timeout $d sh -c 'while :; do :; done' & done",
        f"timeout $d python3 -c 'import time; b = b\"x\" * ({HOG_MEMORY_MIB} << 20); "
        "time.sleep(3600)' &",
        f"for i in $(seq {HOG_PROCESSES}); do timeout $d sleep $d & done",
        "wait",
        "exit 0",
    ])  # fmt: skip


def _hog(ctx: Context, neighbour: Site, seconds: int) -> subprocess.Popen[str]:
    """The hog, started as the neighbour inside its bubble (`bubble account exec`'s way)."""
    from glue.remote import account_exec_argv

    server = ctx.catalog().servers[neighbour.server]
    command = ["sh", "-c", hog_script(seconds)]
    argv = account_exec_argv(ctx, neighbour.server, server, neighbour.account, command)
    return subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def _usage(ctx: Context, account: str, start: float, end: float) -> dict[str, Any]:
    """The agent's samples of the account from a little before `start` (`since`: a short run
    has one) to `end`, and their highest and mean use."""
    import datetime as dt

    from glue.services.usage import account_usage

    since = math.ceil(end - start) + USAGE_MARGIN_S
    try:
        rows = account_usage(ctx, account, since, now=dt.datetime.fromtimestamp(end, dt.UTC))
    except BubbleError as exc:
        return {"account": account, "unavailable": str(exc), "since": end - since, "samples": []}
    out: dict[str, Any] = {"account": account, "since": end - since, "samples": rows}
    for resource, unit in (("cpu", "mhz"), ("memory", "mib")):
        uses = [r[resource]["use"] for r in rows if r[resource]["use"] is not None]
        limits = [r[resource]["limit"] for r in rows if r[resource]["limit"] is not None]
        out[f"{resource}_{unit}"] = {
            "max": max(uses, default=None),
            "mean": round(sum(uses) / len(uses), 1) if uses else None,
            "limit_max": max(limits, default=None),
        }
    return out


def _elastic(ctx: Context, account: str, start: float, end: float) -> dict[str, Any]:
    """The scaler's raises, lowers and deferrals and the charges in [start, end]."""
    import datetime as dt

    from glue.services.history import account_history
    from glue.units import format_money

    events = [
        e for e in account_history(ctx, account)
        if start <= dt.datetime.fromisoformat(e["at"]).timestamp() <= end
    ]  # fmt: skip
    cents = sum(e["amount_cents"] for e in events if e["kind"] == "charge")
    return {"events": events, "cost_cents": cents, "cost": format_money(cents)}


def stress(
    ctx: Context,
    domain: str,
    load: Load,
    neighbour: str | None = None,
    report: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Every figure of the run (the report's JSON): `runs` (one summary a rate, each with its
    per-second latency), `climb` for a sweep, `usage` and `elastic` of the run's window, and
    with a neighbour `neighbour` (quiet and busy p99 over all their blocks, their ratio, and
    each round's pair)."""
    target = site(ctx, domain, load.path)
    if any(rate * load.duration > MAX_REQUESTS for rate in load.rates):
        raise BubbleError(f"--rate x --duration: more than {MAX_REQUESTS} requests in one run")
    other = None
    if neighbour is not None:
        other = site(ctx, neighbour)
        if other.account == target.account:
            raise BubbleError(f"--neighbour {neighbour}: the same account as {domain}")
        if other.server != target.server:
            raise BubbleError(
                f"--neighbour {neighbour}: on server {other.server}, not {target.server}"
            )

    def figures(run: Run, label: str) -> dict[str, Any]:
        return {**stats.summary(run), "label": label, "per_second": stats.per_second(run)}

    started = time.time()
    runs: list[dict[str, Any]] = []
    result: dict[str, Any] = {
        "domain": domain, "account": target.account, "server": target.server,
        "address": target.target.address, "path": load.path, "concurrency": load.concurrency,
        "timeout_s": load.timeout, "runs": runs,
    }  # fmt: skip
    if other is None:
        for rate in load.rates:
            report(f"{rate:g}/s for {load.duration:g} s against {domain}")
            run = run_load(target.target, rate, load.duration, load.concurrency, load.timeout)
            runs.append(figures(run, f"{rate:g}/s"))
            if len(load.rates) > 1 and stats.climb(runs):
                break  # past the knee only the site's visitors pay for more
        result["sweep"] = len(load.rates) > 1
        result["climb"] = stats.climb(runs) if result["sweep"] else None
    else:
        quiet, busy, hog_from = _alternating(ctx, target, other, load, report)
        runs += [figures(joined(quiet), "quiet"), figures(joined(busy), "neighbour busy")]
        result["neighbour"] = {
            "domain": other.domain, "account": other.account,
            **_ratio(runs[0]["latency_ms"]["p99"], runs[1]["latency_ms"]["p99"]),
            # Each round's pair: how far the quiet blocks alone stray is the noise floor.
            "rounds": [
                _ratio(stats.summary(q)["latency_ms"]["p99"], stats.summary(b)["latency_ms"]["p99"])
                for q, b in zip(quiet, busy, strict=True)
            ],
            "usage": _usage(ctx, other.account, hog_from, time.time()),
        }  # fmt: skip
    ended = time.time()
    result.update(
        start=started, end=ended,
        usage=_usage(ctx, target.account, started, ended),
        elastic=_elastic(ctx, target.account, started, ended),
    )  # fmt: skip
    return result


def _ratio(quiet_p99: float | None, busy_p99: float | None) -> dict[str, Any]:
    return {
        "quiet_p99_ms": quiet_p99, "busy_p99_ms": busy_p99,
        "ratio": round(busy_p99 / quiet_p99, 3) if quiet_p99 and busy_p99 else None,
    }  # fmt: skip


def _alternating(
    ctx: Context, target: Site, other: Site, load: Load, report: Callable[[str], None]
) -> tuple[list[Run], list[Run], float]:
    """`load.rounds` quiet blocks and as many beside the hog, alternating, quiet first; each
    block a `rounds`th of the duration. A server whose latency drifts over the minutes (the
    host's other work) then drifts alike under both: one quiet run followed by one busy run
    has shown ratios from 0.7x to 1.3x with no hog at all. The hog starts before each busy
    block and ends on its own timer just after it; the next quiet block waits for that.
    Returns the quiet blocks, the busy blocks, and when the first hog started."""
    rate, block = load.rates[0], load.duration / load.rounds
    quiet: list[Run] = []
    busy: list[Run] = []
    hog_from = 0.0
    for n in range(1, load.rounds + 1):
        report(
            f"round {n}/{load.rounds}: quiet, {rate:g}/s for {block:g} s against {target.domain}"
        )
        quiet.append(run_load(target.target, rate, block, load.concurrency, load.timeout))
        report(f"round {n}/{load.rounds}: the same beside a hog in {other.account}'s bubble")
        hog_from = hog_from or time.time()
        hog = _hog(ctx, other, math.ceil(HOG_WARMUP_S + block + HOG_TAIL_S))
        try:
            time.sleep(HOG_WARMUP_S)
            if hog.poll() is not None:
                raise BubbleError(f"the hog in {other.account} ended at once: {_said(hog)}")
            busy.append(run_load(target.target, rate, block, load.concurrency, load.timeout))
            hog.wait(HOG_WARMUP_S + block + HOG_END_S)  # over when its timer ends
        except subprocess.TimeoutExpired:
            raise BubbleError(f"the hog in {other.account} did not end on its timer") from None
        finally:
            if hog.poll() is None:
                hog.terminate()  # the ssh client; the remote hog ends on its own timer
                hog.wait(30)
    return quiet, busy, hog_from


def _said(process: subprocess.Popen[str]) -> str:
    err = process.stderr.read() if process.stderr else ""
    return (err.strip().splitlines() or [f"exit {process.returncode}"])[-1]
