"""One scaler tick: bill; read usage; recommend + caps per account and resource; actuate all
changes of one server in one converge; record each decision. `bubble scaler run` repeats it
while it holds the lease (scaler/lease.py).

Record, then roll back: the limits push renders the limits in force from the state DB, so a
change is written to the boosts history BEFORE its converge, and taken back (`revert_levels`)
when the server did not take it (busy, down, a failed playbook): billing then never meters
capacity that was not in force, and the next tick decides again (a busy server is retried).
Billing runs first so an account whose wallet ran dry goes back to base in the same converge.
One account or server failing is logged and skipped; the others go on.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from sqlalchemy import Engine, func, select

from glue.catalog import Catalog
from glue.limits import base_moved, effective_base, limits_in_force
from glue.models import RESOURCES, Account, Limits, Resource
from glue.services.context import Context
from glue.services.converge import ConvergeResult
from glue.state.boosts import apply_levels, boosts_at, revert_levels
from glue.state.schema import ledger_entries, scaler_events, wallets
from scaler.billing import BillRun, Tariff, bill, hour_of
from scaler.caps import Decision, Funds, Kind, caps, hourly_cost
from scaler.influx import InfluxClient
from scaler.policy import UNITS, Rule, recommend
from scaler.usage import Usage
from scaler.window import UsageWindow

log = logging.getLogger("bubble.scaler")

# One server's changes carried to it: returns the converge's result (done or pending).
Actuate = Callable[[str], ConvergeResult]


@dataclass
class TickResult:
    decisions: dict[tuple[str, Resource], Decision] = field(default_factory=dict)
    done: list[str] = field(default_factory=list)  # servers that took their changes
    busy: dict[str, str] = field(default_factory=dict)  # server -> why not (retried next tick)
    to_base: dict[str, str] = field(default_factory=dict)  # accounts billing sends to base
    errors: dict[str, str] = field(default_factory=dict)  # account or server -> what failed
    # Seconds per phase (catalog, bill, limits, read usage, decide, record): where time goes.
    seconds: dict[str, float] = field(default_factory=dict)


def tick(
    ctx: Context,
    influx: InfluxClient,
    now: dt.datetime,
    actuate: Actuate,
    *,
    last_tick: dt.datetime | None = None,
    window: UsageWindow | None = None,
) -> TickResult:
    """One tick at `now`. `window` is the running scaler's (kept between its ticks, so only
    new points are read); without one, the whole window is read."""
    result = TickResult()
    window = window or UsageWindow()
    clock = _Phases(result.seconds)
    catalog, engine, day = ctx.catalog(), ctx.engine, now.date()
    clock.done("catalog")
    accounts = {n: a for n, a in catalog.accounts.items() if not a.state.leaving}
    bases = {n: effective_base(catalog.plans[a.plan], a, day) for n, a in accounts.items()}
    tariffs = {n: Tariff(bases[n], catalog.plans[a.plan].elastic) for n, a in accounts.items()}
    rules = _rules(catalog, accounts, bases)
    # The usage is read while billing runs: neither needs the other, and InfluxDB's answer
    # takes about as long as billing's statements. "read usage" is what is left of it after.
    with ThreadPoolExecutor(1, thread_name_prefix="usage") as pool:
        reading = pool.submit(_refresh, window, influx, now, rules)
        # Only a completed hour is charged: bill at the first tick of each hour (and at a
        # scaler's first); a run charges every hour still owed, so one that waits is not lost.
        if last_tick is None or hour_of(last_tick) != hour_of(now):
            run = bill(engine, tariffs, now)
        else:
            run = BillRun()
        clock.done("bill")
        result.to_base, result.errors = dict(run.to_base), dict(run.errors)
        for entry in run.charged:
            log.info("%s: charge: %s cents (%s)", entry.account, -entry.amount_cents, entry.note)
        for why in run.errors.values():
            log.warning("billing: %s", why)
        in_force = limits_in_force(catalog, boosts_at(engine), day, accounts)
        clock.done("limits")
        unavailable = reading.result()
    if unavailable is not None:
        result.errors["influxdb"] = unavailable
    clock.done("read usage")
    at = now.timestamp()
    since = last_tick.timestamp() if last_tick is not None else at - window.interval_s
    funds = _funds(engine, accounts, now, result.to_base)
    # Each account's limits in force as plain numbers, read out of the models once.
    levels = {name: {r: limits.get(r) for r in RESOURCES} for name, limits in in_force.items()}
    spend = _hourly(rules, levels)
    free = _free(catalog, levels)
    changes: dict[str, list[tuple[str, Decision]]] = {}
    deferred: list[tuple[str, Decision]] = []
    debug = log.isEnabledFor(logging.DEBUG)
    for (name, resource), rule in sorted(rules.items()):
        server, current = accounts[name].server, levels[name][resource]
        if unavailable is None:
            usage = window.usage(name, resource, at, current, since)
        else:  # InfluxDB away: no usage at all, so every account is held as it is
            usage = Usage(name, resource, at, current, interval_s=window.interval_s)
        # What the account's other resources cost an hour: caps adds this one's new cost.
        mine = funds[name].other_costs(spend[name] - hourly_cost(rule, current))
        try:
            decision = caps(recommend(usage, rule), rule, mine, free[server][resource])
        except Exception as exc:  # one account never stops the others
            log.exception("%s: %s: decision failed", name, resource)
            result.errors[name] = f"{name}: {resource}: {exc}"
            continue
        if name in result.to_base and decision.kind == "lower":
            why = f"back to base, {result.to_base[name]}"
            decision = replace(decision, reason=decision.reason.split(": ", 1)[0] + ": " + why)
        result.decisions[name, resource] = decision
        # Holds are the steady state of every account each tick: debug, not the log.
        if decision.kind != "hold" or debug:
            level = logging.DEBUG if decision.kind == "hold" else logging.INFO
            log.log(level, "%s: %s: %s", name, decision.kind, decision.reason)
        if decision.kind == "deferred":
            deferred.append((name, decision))
        elif decision.kind in ("raise", "lower"):
            changes.setdefault(server, []).append((name, decision))
            free[server][resource] -= decision.to - decision.from_
            spend[name] += hourly_cost(rule, decision.to) - hourly_cost(rule, current)
    clock.done("decide")
    _record(engine, now, deferred)
    for server, decisions in sorted(changes.items()):
        _carry(engine, now, server, decisions, bases, actuate, result)
    clock.done("record")
    return result


class _Phases:
    """Adds the seconds since the last phase ended to the phase named."""

    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds, self.start = seconds, time.perf_counter()

    def done(self, phase: str) -> None:
        end = time.perf_counter()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + end - self.start
        self.start = end


def repair(ctx: Context, actuate: Actuate) -> dict[str, str]:
    """Push the limits in force (the state DB's) to every server, one converge each: run when
    a scaler takes the lease, since its predecessor may have died between recording a change
    and rolling it back, leaving the DB boosted while the server is not. A server that is
    down or fails is logged and skipped (its next converge carries the DB's limits anyway).
    Returns server -> why it was not repaired."""
    servers = sorted(ctx.catalog().servers)
    missed = _push(servers, actuate)
    log.info("took the lease: limits in force re-pushed to %d of %d servers",
             len(servers) - len(missed), len(servers))  # fmt: skip
    return missed


def new_day(ctx: Context, actuate: Actuate, before: dt.date, today: dt.date) -> dict[str, str]:
    """At the first tick of a day: push the limits of the servers whose accounts' base moved
    overnight (a permanent upgrade ended, or began), and record each move in the account's
    history. Returns server -> why it was not pushed (its next converge carries it)."""
    catalog, engine = ctx.catalog(), ctx.engine
    moved = base_moved(catalog, before, today)
    if not moved:
        return {}
    old, new = (limits_in_force(catalog, boosts_at(engine), day, moved) for day in (before, today))
    missed = _push(sorted({catalog.accounts[name].server for name in moved}), actuate)
    at = dt.datetime.combine(today, dt.time(), dt.UTC)
    changes: list[tuple[str, Decision]] = []
    for name in moved:
        for r in RESOURCES:
            frm, to = old[name].get(r), new[name].get(r)
            if r in UNITS and frm != to:
                kind: Kind = "lower" if to < frm else "raise"
                ended = "ended" if kind == "lower" else "began"
                why = f"base moved: a permanent upgrade {ended} on {today}"
                reason = f"{r} {frm}->{to} {UNITS[r]}: {why}"
                changes.append((name, Decision(kind, r, frm, to, reason)))
    _record(engine, at, changes)
    return missed


def _push(servers: Iterable[str], actuate: Actuate) -> dict[str, str]:
    """One limits converge per server; server -> why it did not take them (logged)."""
    missed: dict[str, str] = {}
    for server in servers:
        try:
            converged = actuate(server)
        except Exception as exc:  # one server never stops the others
            missed[server] = f"limits push failed: {exc}"
        else:
            if server not in converged.done:
                missed[server] = "; ".join(str(p) for p in converged.pending) or "not taken"
    for server, why in missed.items():
        log.warning("%s: limits not re-pushed: %s", server, why)
    return missed


def _rules(
    catalog: Catalog, accounts: Mapping[str, Account], bases: Mapping[str, Limits]
) -> dict[tuple[str, Resource], Rule]:
    out: dict[tuple[str, Resource], Rule] = {}
    # Thousands of accounts share a few (plan, base) pairs: each rule is made once and shared
    # (it is frozen).
    made: dict[tuple[str, Resource, int], Rule | None] = {}
    for name, account in accounts.items():
        for resource in RESOURCES:
            key = (account.plan, resource, bases[name].get(resource))
            if key not in made:
                made[key] = Rule.of(catalog.plans[account.plan], resource, key[2])
            rule = made[key]
            if rule is not None:
                out[name, resource] = rule
    return out


def _refresh(
    window: UsageWindow,
    influx: InfluxClient,
    now: dt.datetime,
    rules: Mapping[tuple[str, Resource], Rule],
) -> str | None:
    """Bring the window up to `now`, as long as the longest rule needs; why not when InfluxDB
    is away (every account is then held; the loop goes on)."""
    if not rules:
        return None
    longest = max(max(r.up_after_s, r.down_after_s) for r in rules.values())
    try:
        window.refresh(influx, now.timestamp(), longest + 2 * window.interval_s)
    except Exception as exc:
        log.warning("usage unavailable, every account held: %s", exc)
        return f"usage unavailable: {exc}"
    return None


def _funds(
    engine: Engine,
    accounts: Mapping[str, Account],
    now: dt.datetime,
    to_base: Mapping[str, str],
) -> dict[str, Funds]:
    """Wallets and today's elastic spend for the fleet, in two queries. An account billing
    sends back to base counts as elasticity off: no raise, boosts lowered."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with engine.connect() as connection:
        balance = dict(connection.execute(select(wallets.c.account, wallets.c.balance_cents)).all())
        spent = dict(
            connection.execute(
                select(ledger_entries.c.account, func.sum(-ledger_entries.c.amount_cents))
                .where(
                    ledger_entries.c.kind == "charge",
                    ledger_entries.c.key.startswith("elastic:"),
                    ledger_entries.c.at >= midnight,
                )
                .group_by(ledger_entries.c.account)
            ).all()
        )
    return {
        name: Funds(
            elastic=account.elastic and name not in to_base,
            wallet=int(balance.get(name, 0)),
            spent_today=int(spent.get(name) or 0),
            max_daily=account.max_daily,
        )
        for name, account in accounts.items()
    }


def _hourly(
    rules: Mapping[tuple[str, Resource], Rule], levels: Mapping[str, Mapping[Resource, int]]
) -> dict[str, int]:
    """What each account's capacity in force (`levels`) costs an hour (cents)."""
    out: dict[str, int] = {}
    for (name, resource), rule in rules.items():
        out[name] = out.get(name, 0) + hourly_cost(rule, levels[name][resource])
    return out


def _free(
    catalog: Catalog, levels: Mapping[str, Mapping[Resource, int]]
) -> dict[str, dict[Resource, int]]:
    """Each server's capacity not yet given out by the limits in force (`levels`)."""
    free = {name: dict(server.capacity()) for name, server in catalog.servers.items()}
    for name, level in levels.items():
        room = free[catalog.accounts[name].server]
        for resource in RESOURCES:
            room[resource] -= level[resource]
    return {name: {r: max(0, v) for r, v in room.items()} for name, room in free.items()}


def _record(engine: Engine, at: dt.datetime, decisions: Iterable[tuple[str, Decision]]) -> None:
    """The decisions in scaler_events, in one insert."""
    rows = [
        {
            "at": at,
            "account": account,
            "resource": d.resource,
            "kind": d.kind,
            "from_value": d.from_,
            "to_value": d.to,
            "reason": d.reason,
        }
        for account, d in decisions
    ]
    if rows:
        with engine.begin() as connection:
            connection.execute(scaler_events.insert(), rows)


def _carry(
    engine: Engine,
    now: dt.datetime,
    server: str,
    changes: list[tuple[str, Decision]],
    bases: Mapping[str, Limits],
    actuate: Actuate,
    result: TickResult,
) -> None:
    """Record one server's changes, converge it once, and keep them only if it took them."""
    levels = [
        (name, d.resource, None if d.to <= bases[name].get(d.resource) else d.to, d.reason)
        for name, d in changes
    ]
    applied = apply_levels(engine, levels, now)
    started = time.perf_counter()
    try:
        converged = actuate(server)
        took = server in converged.done
        why = "; ".join(str(p) for p in converged.pending)
    except Exception as exc:  # one server never stops the others
        log.exception("%s: limits push failed", server)
        took, why = False, f"limits push failed: {exc}"
        result.errors[server] = f"{server}: {why}"
    if took:
        # One line per push, with its seconds: the actuation's share of the reaction time.
        log.info("%s: %d limit changes in force in %.1f s", server, len(changes),
                 time.perf_counter() - started)  # fmt: skip
        result.done.append(server)
        _record(engine, now, changes)
        return
    revert_levels(engine, applied)
    result.busy[server] = why or f"server {server} did not take the change"
    deferred = []
    for name, d in changes:
        log.info("%s: deferred: %s: %s, retried next tick", name, d.reason, result.busy[server])
        why = f"{d.reason}; {result.busy[server]}"
        deferred.append((name, Decision("deferred", d.resource, d.from_, d.to, why)))
    _record(engine, now, deferred)
