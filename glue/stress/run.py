"""One `bubble stress`: find the site (its account, its server's address), drive the load
(`load`), add what the agent saw of the account during it (`glue.services.usage`) and what
the scaler did and charged in that window (`glue.services.history`); with a neighbour, the
same load quiet and then beside a hog in the neighbour's bubble."""

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
from glue.stress.load import Run, Target, run_load

# What one site may be asked for at most: a run of 60 s at 2,000/s.
MAX_REQUESTS = 120_000
# The neighbour's hog: busy loops (more than it may use), memory it touches, idle processes;
# it starts this long before the loud run and ends on its own after it (RuntimeMaxSec too).
HOG_CPU_WORKERS, HOG_MEMORY_MIB, HOG_PROCESSES = 4, 128, 32
HOG_WARMUP_S = 2.0
# The agent's samples in the run's window: a little before, so a short run has one.
USAGE_MARGIN_S = 10


@dataclass(frozen=True)
class Load:
    rates: Sequence[float]  # one rate, or a sweep's steps (lowest first)
    duration: float  # seconds per rate
    concurrency: int
    timeout: float
    path: str = "/"


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
    with a neighbour `neighbour` (quiet and loud p99, their ratio)."""
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

    def one(rate: float, label: str) -> tuple[Run, dict[str, Any]]:
        report(f"{label}: {rate:g}/s for {load.duration:g} s against {domain}")
        run = run_load(target.target, rate, load.duration, load.concurrency, load.timeout)
        return run, {**stats.summary(run), "label": label, "per_second": stats.per_second(run)}

    started = time.time()
    runs: list[dict[str, Any]] = []
    result: dict[str, Any] = {
        "domain": domain, "account": target.account, "server": target.server,
        "address": target.target.address, "path": load.path, "concurrency": load.concurrency,
        "timeout_s": load.timeout, "runs": runs,
    }  # fmt: skip
    if other is None:
        for rate in load.rates:
            runs.append(one(rate, f"{rate:g}/s")[1])
            if len(load.rates) > 1 and stats.climb(runs):
                break  # past the knee only the site's visitors pay for more
        result["sweep"] = len(load.rates) > 1
        result["climb"] = stats.climb(runs) if result["sweep"] else None
    else:
        rate = load.rates[0]
        runs.append(one(rate, "quiet")[1])
        report(f"hog in {other.account}'s bubble ({other.domain})")
        hog = _hog(ctx, other, math.ceil(HOG_WARMUP_S + load.duration + load.timeout + 5))
        try:
            time.sleep(HOG_WARMUP_S)
            if hog.poll() is not None:
                raise BubbleError(f"the hog in {other.account} ended at once: {_said(hog)}")
            loud_run, loud = one(rate, "neighbour busy")
            runs.append(loud)
        finally:
            if hog.poll() is None:
                hog.terminate()  # the ssh client; the remote hog ends on its own timer
            hog.wait(30)
        quiet_p99, loud_p99 = runs[0]["latency_ms"]["p99"], loud["latency_ms"]["p99"]
        result["neighbour"] = {
            "domain": other.domain, "account": other.account,
            "quiet_p99_ms": quiet_p99, "busy_p99_ms": loud_p99,
            "ratio": round(loud_p99 / quiet_p99, 3) if quiet_p99 and loud_p99 else None,
            "usage": _usage(ctx, other.account, loud_run.start, time.time()),
        }  # fmt: skip
    ended = time.time()
    result.update(
        start=started, end=ended,
        usage=_usage(ctx, target.account, started, ended),
        elastic=_elastic(ctx, target.account, started, ended),
    )  # fmt: skip
    return result


def _said(process: subprocess.Popen[str]) -> str:
    err = process.stderr.read() if process.stderr else ""
    return (err.strip().splitlines() or [f"exit {process.returncode}"])[-1]
