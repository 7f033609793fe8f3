"""What each rule measures now, as readings for glue.monitor.evaluate: from the servers'
health, the accounts' latest agent points, the state DB (scaler events and tick, wallets) and
the backup repositories (read every few minutes, not every tick: `LastBackups`).
One pass over the fleet; InfluxDB answers grouped queries, the DB a few selects."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Collection, Mapping
from fractions import Fraction

from sqlalchemy import Engine, func, select

from glue.catalog import Catalog
from glue.models import AccountState
from glue.monitor.evaluate import Reading, time_to_full
from glue.monitor.health import Disk, Health
from glue.monitor.rules import AlertsConfig, Rule
from glue.state.schema import scaler_events, wallets
from scaler.agent_http import InfluxUnavailable
from scaler.influx import InfluxClient, InfluxQueryError

log = logging.getLogger("bubble.monitor")
CONTROL = "control"  # the "server" of the control plane's own alerts (the scaler)
INFLUXDB = "influxdb"  # ... and of InfluxDB's, when it cannot be read
DEFERRED_WINDOW_S = 15 * 60
NEVER = 10**9  # a heartbeat never seen: as old as it gets
DISK_FULL = 0.99  # an account at 99 % of its disk limit is at it
CPU_FULL = 0.95  # ... and one using 95 % of its CPU quota
LIMIT_S = 10  # an account at its limit in the last 10 s (two of the agent's ticks) is at it


def server_readings(health: Collection[Health], config: AlertsConfig) -> list[Reading]:
    out: list[Reading] = []
    disk_rule = config.rules["disk-low"]
    for h in health:
        if not h.watched:  # not built yet, or down on purpose: nothing to alert on
            continue
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
        if left is not None:
            fills = _fills(disk, left, rule.full_within_s, rule.full_within_under)
            fills_soon = _fills(
                disk, left, rule.full_within_critical_s, rule.full_within_critical_under
            )
            if fills or fills_soon:
                notes.append(f"{disk.path} full in {left / 3600:.1f} h")
            warn, crit = warn or fills, crit or fills_soon
        if rule.min_free_mib is not None and disk.free_bytes < rule.min_free_mib * 1024 * 1024:
            warn = True
            notes.append(f"{disk.path} under {rule.min_free_mib} MiB free")
    return Reading(
        "disk-low", h.server, worst.free_percent, summary="; ".join(notes), warn=warn, crit=crit
    )


def _fills(disk: Disk, left_s: float, within_s: int | None, under: float | None) -> bool:
    """node_exporter's NodeFilesystemSpaceFillingUp: predicted full within `within_s`, while
    under `under` % free."""
    return (
        within_s is not None and left_s <= within_s and (under is None or disk.free_percent < under)
    )


def account_readings(
    catalog: Catalog, at_limit: Mapping[str, str], engine: Engine, now: float
) -> list[Reading]:
    """account-at-limit (`at_limit`: account -> why, from `accounts_at_limit`),
    elastic-deferred (scaler events), wallet-low (ledger)."""
    active = {n: a for n, a in catalog.accounts.items() if a.state == AccountState.ACTIVE}
    out = [
        Reading("account-at-limit", active[name].server, 1, account=name, summary=why)
        for name, why in sorted(at_limit.items())
        if name in active
    ]
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


def accounts_at_limit(influx: InfluxClient | None, now: float) -> dict[str, str]:
    """Accounts using their whole CPU quota (the agent's cpu_quota_share: used / quota) or
    with a full disk in the last LIMIT_S. InfluxDB returns only those points (a fleet of
    10,000 accounts is not read out); an account not returned has no reading, and an alert
    of its clears. Account -> why."""
    since = f"time >= {int((now - LIMIT_S) * 1000)}ms AND time <= {int(now * 1000)}ms"
    statement = (
        'SELECT "account", "cpu_quota_share", "disk_bytes", "disk_max_bytes" FROM "account" '  # noqa: S608
        f'WHERE {since} AND ("cpu_quota_share" >= {CPU_FULL} OR '
        f'"disk_bytes" >= "disk_max_bytes" * {DISK_FULL})'
    )
    if influx is None:
        return {}
    try:
        rows = influx.query(statement)
    except (InfluxUnavailable, InfluxQueryError):
        return {}  # said once, by server_readings' reporter-silent on InfluxDB
    why: dict[str, set[str]] = {}
    for row in rows:
        share, disk, limit = (
            row.get("cpu_quota_share"),
            row.get("disk_bytes"),
            row.get("disk_max_bytes"),
        )
        mine = why.setdefault(str(row.get("account", "")), set())
        if share is not None and share >= CPU_FULL:
            mine.add("CPU at its quota")
        if disk is not None and limit and disk >= DISK_FULL * limit:
            mine.add("disk full")
    return {name: " and ".join(sorted(reasons)) for name, reasons in why.items()}


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


LastGood = Mapping[str, str | None]  # account -> its newest archive's time (ISO), None: none


class LastBackups:
    """The accounts' last good backups (`read`: glue.services.backups.last_good_backups, one
    `borg info` per repository, seconds each over ssh), kept between ticks and read again
    every `refresh_s`. The first read waits (a fresh monitor knows at once); later ones run in
    a thread while ticks go on with what was read before, so no tick waits on borg."""

    def __init__(self, read: Callable[[], LastGood], refresh_s: float) -> None:
        self.read, self.refresh_s = read, refresh_s
        self.last: LastGood | None = None
        self.read_at: float | None = None
        self._reading: threading.Thread | None = None

    def get(self, now: float) -> LastGood | None:
        """What was read last (None: never read yet); a read is started when it is due."""
        if self._reading is not None and self._reading.is_alive():
            return self.last
        if self.read_at is None:
            self._refresh(now)
        elif now - self.read_at >= self.refresh_s:
            self.read_at = now  # one read at a time, the next one due refresh_s from now
            self._reading = threading.Thread(target=self._refresh, args=(now,), daemon=True)
            self._reading.start()
        return self.last

    def _refresh(self, now: float) -> None:
        try:
            self.last = dict(self.read())
        except Exception as exc:  # the monitor goes on with what it had
            log.warning("backups: cannot read the repositories: %s", exc)
        self.read_at = now


def backup_readings(
    catalog: Catalog, backed_up: Collection[str], last: LastGood | None, now: float
) -> list[Reading]:
    """backup-missing: hours since each account's last good backup (NEVER: it has none), for
    the accounts on the web servers that have a backup server (`backed_up`). An account the
    repositories were not read for yet (new, or no read so far) has no value: its alert, if
    any, keeps its state until the next read."""
    out = []
    for name, account in sorted(catalog.accounts.items()):
        if account.server not in backed_up or account.state.leaving:
            continue
        value: float | None = None
        summary = "not read yet"
        if last is not None and name in last:
            stamp = last[name]
            if stamp is None:
                value, summary = NEVER, "no backup yet"
            else:
                taken = dt.datetime.fromisoformat(stamp)
                if taken.tzinfo is None:  # borg's own spelling: UTC (glue.backup.borg)
                    taken = taken.replace(tzinfo=dt.UTC)
                value = max(0.0, now - taken.timestamp()) / 3600
                summary = f"last good backup {value:.1f} h ago ({stamp[:19]})"
        out.append(Reading("backup-missing", account.server, value, account=name, summary=summary))
    return out
