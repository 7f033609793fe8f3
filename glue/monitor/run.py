"""`bubble monitor run`: every interval, measure (health + readings), evaluate the rules,
store the alerts, send what is due. The state DB holds every alert's state and notices, so
a restart neither sends a notice again nor forgets one; a notice is marked sent only once a
channel took it (a channel that is down is tried again next tick). One monitor acts at a
time: it holds the lease named "monitor" (scaler.lease) like the scaler holds its own.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from glue.catalog import Catalog
from glue.models import Account
from glue.monitor import store
from glue.monitor.channels import Delivery, deliver
from glue.monitor.evaluate import Alert, Key, Notice, plan_notices, step
from glue.monitor.health import fleet_health
from glue.monitor.readings import (
    LastBackups,
    account_readings,
    accounts_at_limit,
    backup_readings,
    scaler_reading,
    server_readings,
)
from glue.monitor.rules import AlertsConfig, load_alerts
from glue.services.context import Context
from glue.state.addresses import recorded_addresses, server_address
from scaler import lease
from scaler.influx import InfluxClient

log = logging.getLogger("bubble.monitor")
LEASE = "monitor"
Send = Callable[[AlertsConfig, Notice, Mapping[str, Account]], Delivery]


@dataclass
class TickResult:
    firing: int = 0
    pending: int = 0
    notices: list[Notice] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def addresses(ctx: Context, catalog: Catalog) -> dict[str, str | None]:
    recorded = recorded_addresses(ctx.engine)
    return {n: server_address(n, s, recorded) for n, s in catalog.servers.items()}


def tick(
    ctx: Context,
    influx: InfluxClient | None,
    now: float | None = None,
    probes: bool = True,
    send: Send | None = None,
    backups: LastBackups | None = None,
) -> TickResult:
    """One evaluation. `backups`: the repositories' reads kept between ticks (`run` keeps
    one); without it they are read now (if any server is backed up)."""
    now = time.time() if now is None else now
    with ThreadPoolExecutor(max_workers=1) as pool:  # InfluxDB scans while we read the rest
        at_limit = pool.submit(accounts_at_limit, influx, now)
        config = load_alerts(ctx.root)
        catalog = ctx.catalog()
        health = fleet_health(catalog, addresses(ctx, catalog), influx, now, probes=probes)
        readings = server_readings(health.values(), config)
        readings += account_readings(catalog, at_limit.result(), ctx.engine, now)
    readings += scaler_reading(ctx.engine, now)
    backed_up = {web for web in _backed_up(catalog) if catalog.accounts_on(web)}
    if backed_up:
        backups = backups or last_backups(ctx)
        readings += backup_readings(catalog, backed_up, backups.get(now), now)
    before = store.open_alerts(ctx.engine)
    after = step({k: a for k, (_, a) in before.items()}, readings, config, now)
    stored = store.save(ctx.engine, before, after)
    plan = plan_notices(
        after, store.silences(ctx.engine, now), store.group_times(ctx.engine), config, now
    )
    result = TickResult()
    # What needed no notice (resolved while silenced, or never notified) closes now.
    quiet = {k: a for k, a in plan.alerts.items() if a.state == "closed" and k in stored}
    noticed = {a.key for n in plan.notices for a in (*n.firing, *n.resolved)}
    quiet = {k: a for k, a in quiet.items() if k not in noticed}
    if quiet:
        stored = _save_some(ctx, stored, quiet)
    sender = send or (lambda c, n, a: deliver(ctx.root, c, n, a))
    for notice in plan.notices:
        delivery = sender(config, notice, catalog.accounts)
        for line in delivery.failed:
            log.warning("%s", line)
        result.failed += delivery.failed
        if not delivery.delivered:
            continue
        marked = {a.key: plan.alerts[a.key] for a in (*notice.firing, *notice.resolved)}
        stored = _save_some(ctx, stored, marked, {notice.server: now})
        result.notices.append(notice)
        log.info("sent %s to %s", _title(notice), ", ".join(delivery.sent) or "no channel")
    alerts = [a for _, a in stored.values()]
    result.firing = sum(a.state == "firing" for a in alerts)
    result.pending = sum(a.state == "pending" for a in alerts)
    return result


def last_backups(ctx: Context) -> LastBackups:
    from glue.services.backups import last_good_backups

    return LastBackups(lambda: last_good_backups(ctx), ctx.settings.monitor_backup_refresh_s)


def _backed_up(catalog: Catalog) -> set[str]:
    """The web servers with a backup server; none when the catalog cannot say which (two
    backup servers and no backup_to: `bubble backup` names that error)."""
    from glue.errors import BubbleError
    from glue.services.backups import backed_up

    try:
        return set(backed_up(catalog))
    except BubbleError:
        return set()


def _save_some(
    ctx: Context,
    stored: dict[Key, tuple[int, Alert]],
    changed: Mapping[Key, Alert],
    groups: Mapping[str, float] | None = None,
) -> dict[Key, tuple[int, Alert]]:
    """`stored` with the `changed` alerts written (a closed one leaves it)."""
    before = {k: stored[k] for k in changed}
    kept = store.save(ctx.engine, before, changed, groups)
    out = {k: v for k, v in stored.items() if k not in changed}
    out.update(kept)
    return out


def _title(notice: Notice) -> str:
    from glue.monitor.channels import subject

    return subject(notice)


def run(
    ctx: Context,
    influx: InfluxClient | None,
    interval_s: float,
    once: bool = False,
    holder: str = "",
    probes: bool = True,
) -> None:
    """Tick every `interval_s` while holding the monitor's lease (until interrupted)."""
    from scaler.run import holder_id, lease_ttl

    me = holder or holder_id()
    backups = last_backups(ctx)
    try:
        while True:
            started = time.monotonic()
            now = dt.datetime.now(dt.UTC)
            if lease.take(ctx.engine, me, now, lease_ttl(interval_s), LEASE):
                result = tick(ctx, influx, probes=probes, backups=backups)
                lease.ticked(ctx.engine, me, dt.datetime.now(dt.UTC), LEASE)
                log.info(
                    "%d firing, %d pending, %d notice(s) sent",
                    result.firing,
                    result.pending,
                    len(result.notices),
                )
            else:
                log.info("another monitor holds the lease: waiting")
            if once:
                return
            time.sleep(max(0.0, interval_s - (time.monotonic() - started)))
    finally:
        lease.release(ctx.engine, me, dt.datetime.now(dt.UTC), LEASE)
