"""What each rule measures now, as readings for glue.monitor.evaluate: from the servers'
health, the accounts' latest agent points, and the state DB (scaler events and tick, wallets).
One pass over the fleet; InfluxDB answers grouped queries, the DB a few selects."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from fractions import Fraction

from sqlalchemy import Engine, func, select

from glue.catalog import Catalog
from glue.models import Account, AccountState
from glue.monitor.evaluate import Reading, time_to_full
from glue.monitor.health import Health
from glue.monitor.rules import AlertsConfig, Rule
from glue.state.schema import scaler_events, wallets
from scaler.agent_http import InfluxUnavailable
from scaler.influx import InfluxClient, InfluxQueryError

CONTROL = "control"  # the "server" of the control plane's own alerts (the scaler)
INFLUXDB = "influxdb"  # ... and of InfluxDB's, when it cannot be read
DEFERRED_WINDOW_S = 15 * 60
NEVER = 10**9  # a heartbeat never seen: as old as it gets
DISK_FULL = 0.99  # an account at 99 % of its disk limit is at it
LIMIT_S = 15  # an account at its limit in the last 15 s (three of the agent's ticks) is at it


def server_readings(health: Collection[Health], config: AlertsConfig) -> list[Reading]:
    out: list[Reading] = []
    disk_rule = config.rules["disk-low"]
    for h in health:
        age = NEVER if h.heartbeat_age_s is None else h.heartbeat_age_s
        why = "no heartbeat" if h.heartbeat_age_s is None else f"no heartbeat for {age:.0f} s"
        if h.agent_error:  # the heartbeat is unknown: ssh alone says whether it is down
            age, why = NEVER, "InfluxDB unreadable"
        down = age if h.ssh is not True else 0.0
        out.append(Reading("server-down", h.server, down, summary=f"{why}; ssh not answering"))
        silent = None if h.agent_error else age if h.ssh is True else 0.0
        out.append(Reading("reporter-silent", h.server, silent, summary=f"usage agent: {why}"))
        failing = h.failing
        known = h.failed_units is not None or h.http is not None
        out.append(
            Reading(
                "service-failing",
                h.server,
                len(failing) if known else None,
                summary=", ".join(failing)[:500],
            )
        )
        if h.disks:
            out.append(_disk_reading(h, disk_rule))
    errors = sorted({h.agent_error for h in health if h.agent_error})
    if errors:
        out.append(Reading("reporter-silent", INFLUXDB, NEVER, summary=errors[0][:300]))
    return out


def _disk_reading(h: Health, rule: Rule) -> Reading:
    worst = min(h.disks, key=lambda d: d.free_percent)
    warn = crit = False
    notes = [f"{worst.path} {worst.free_percent:.1f} % free"]
    for disk in h.disks:
        left = time_to_full(disk.trend)
        if left is not None and rule.full_within_s is not None and left <= rule.full_within_s:
            warn = True
            notes.append(f"{disk.path} full in {left / 3600:.1f} h")
            if rule.full_within_critical_s is not None and left <= rule.full_within_critical_s:
                crit = True
        if rule.min_free_mib is not None and disk.free_bytes < rule.min_free_mib * 1024 * 1024:
            warn = True
            notes.append(f"{disk.path} under {rule.min_free_mib} MiB free")
    return Reading(
        "disk-low", h.server, worst.free_percent, summary="; ".join(notes), warn=warn, crit=crit
    )


def account_readings(
    catalog: Catalog, influx: InfluxClient | None, engine: Engine, now: float
) -> list[Reading]:
    """account-at-limit (agent), elastic-deferred (scaler events), wallet-low (ledger)."""
    out: list[Reading] = []
    active = {n: a for n, a in catalog.accounts.items() if a.state == AccountState.ACTIVE}
    if influx is not None:
        out += _at_limit(influx, active, now)
    moment = dt.datetime.fromtimestamp(now - DEFERRED_WINDOW_S, dt.UTC)
    with engine.connect() as db:
        deferred: dict[str, int] = dict(
            db.execute(
                select(scaler_events.c.account, func.count())
                .where(scaler_events.c.kind == "deferred", scaler_events.c.at >= moment)
                .group_by(scaler_events.c.account)
            ).all()
        )
        balances = dict(db.execute(select(wallets.c.account, wallets.c.balance_cents)).all())
    for name, count in deferred.items():  # an account not listed has none: its alert clears
        account = active.get(name)
        if account is not None and account.elastic:
            out.append(
                Reading(
                    "elastic-deferred",
                    account.server,
                    count,
                    account=name,
                    summary=f"{count} elastic raise(s) deferred: no room on the server",
                )
            )
    out += _wallet_readings(catalog, engine, balances, active)
    return out


def _at_limit(influx: InfluxClient, active: Mapping[str, Account], now: float) -> list[Reading]:
    """Accounts CPU-throttled (the counter rose) or with a full disk in the last LIMIT_S:
    their raw points as columns (InfluxDB 1.x groups 10,000 series slowly); the others
    have no reading, and an alert of theirs clears."""
    since = f"time >= {int((now - LIMIT_S) * 1000)}ms AND time <= {int(now * 1000)}ms"
    statement = (
        'SELECT "account", "cpu_throttled_periods", "disk_bytes", "disk_max_bytes" '  # noqa: S608
        f'FROM "account" WHERE {since}'
    )
    try:
        columns, values = influx.table(statement)
    except (InfluxUnavailable, InfluxQueryError):
        return []  # said once, by server_readings' reporter-silent on InfluxDB
    if not values:
        return []
    at = {name: i for i, name in enumerate(columns)}
    name_i, thr_i = at["account"], at.get("cpu_throttled_periods")
    disk_i, max_i = at.get("disk_bytes"), at.get("disk_max_bytes")
    first: dict[str, float] = {}
    last: dict[str, list[object]] = {}
    for row in values:  # oldest first
        name = str(row[name_i])
        if thr_i is not None and row[thr_i] is not None:
            first.setdefault(name, float(row[thr_i]))
        last[name] = row
    out = []
    for name, row in last.items():
        account = active.get(name)
        if account is None:
            continue
        throttled = thr_i is not None and row[thr_i] is not None and float(row[thr_i]) > first[name]  # type: ignore[arg-type]
        disk = row[disk_i] if disk_i is not None else None
        limit = row[max_i] if max_i is not None else None
        full = bool(disk is not None and limit and float(disk) >= DISK_FULL * float(limit))  # type: ignore[arg-type]
        if throttled or full:
            why = " and ".join(
                w for w, on in (("CPU throttled", throttled), ("disk full", full)) if on
            )
            out.append(Reading("account-at-limit", account.server, 1, account=name, summary=why))
    return out


def _wallet_readings(
    catalog: Catalog, engine: Engine, balances: dict[str, int], active: Collection[str]
) -> list[Reading]:
    """Hours of burn left, for the accounts that burn (only boosted ones do)."""
    from glue.limits import limits_in_force
    from glue.services.wallets import burn_of
    from glue.state.boosts import boosts_at

    boosts = boosts_at(engine)
    names = [n for n in boosts if n in active]
    if not names:
        return []
    today = dt.datetime.now(dt.UTC).date()
    in_force = limits_in_force(catalog, boosts, today, names)
    out = []
    for name in names:
        account = catalog.accounts[name]
        per_hour = burn_of(name, catalog.plans[account.plan], account, in_force[name], today)
        if per_hour <= 0:
            continue
        hours = float(Fraction(max(0, int(balances.get(name, 0)))) / per_hour)
        out.append(
            Reading(
                "wallet-low",
                account.server,
                hours,
                account=name,
                summary=f"wallet lasts {hours:.1f} h at the current burn",
            )
        )
    return out


def scaler_reading(engine: Engine, now: float) -> list[Reading]:
    """reporter-silent for the scaler: seconds since its last tick (none if it never ran)."""
    from scaler import lease

    held = lease.current(engine)
    if held is None or held.last_tick is None:
        return []
    age = max(0.0, now - held.last_tick.timestamp())
    return [Reading("reporter-silent", CONTROL, age, summary=f"scaler: no tick for {age:.0f} s")]
