"""Alert evaluation, pure (no I/O, time given): readings -> alert states -> the notices due.

An alert is one (rule, server, account) and moves pending -> firing -> resolved -> closed:
pending while its measure is past `fire` but not yet for `for`; firing after; resolved once the
measure is back past `clear` (hysteresis: between the two it keeps its state) for `clear_for`;
closed when its resolved notice went out (or none was owed). Notices are grouped per server
(Alertmanager's group_wait / group_interval / repeat); a firing critical alert on a server
inhibits that server's warnings; a silence (rule or server, until an expiry) holds notices back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from glue.monitor.rules import ACCOUNT_RULES, MEASURES, AlertsConfig, Rule, Severity

State = Literal["pending", "firing", "resolved", "closed"]
Key = tuple[str, str, str]  # rule, server, account ("" for a server's alert)


@dataclass(frozen=True)
class Reading:
    """One rule's measure of one server (or account) now; `value` None: no data this time,
    the alert keeps its state. `warn`/`crit` are conditions beyond the thresholds (a
    disk predicted full within the rule's time)."""

    rule: str
    server: str
    value: float | None
    account: str = ""
    summary: str = ""
    warn: bool = False
    crit: bool = False

    @property
    def key(self) -> Key:
        return (self.rule, self.server, self.account)


@dataclass(frozen=True)
class Alert:
    rule: str
    server: str
    account: str
    severity: Severity
    state: State
    active_since: float  # when its measure first went past `fire` (pending began)
    since: float | None = None  # when it began firing
    clear_since: float | None = None
    resolved_at: float | None = None
    notified_at: float | None = None  # the last firing notice
    notified_severity: Severity | None = None
    resolved_notified: bool = False
    summary: str = ""
    value: float | None = None

    @property
    def key(self) -> Key:
        return (self.rule, self.server, self.account)


@dataclass(frozen=True)
class Silence:
    matcher: str  # a rule name or a server name
    until: float
    reason: str = ""

    def covers(self, alert: Alert, now: float) -> bool:
        return now < self.until and self.matcher in (alert.rule, alert.server)


_ABOVE = {name: way == "above" for name, (_, way) in MEASURES.items()}


def at_or_past(rule_name: str, value: float, threshold: float) -> bool:
    """Is `value` at or past `threshold` in the direction the rule fires?"""
    return value >= threshold if _ABOVE[rule_name] else value <= threshold


def _judge(reading: Reading, value: float, rule: Rule, active: bool) -> tuple[bool, Severity]:
    """(active now, severity). At or past `fire`: active; not even at `clear`: cleared;
    between the two (hysteresis): as it was."""
    name = reading.rule
    if at_or_past(name, value, rule.fire) or reading.warn or reading.crit:
        now_active = True
    else:
        now_active = active and at_or_past(name, value, rule.clear)
    critical = reading.crit or (
        rule.critical is not None and at_or_past(name, value, rule.critical)
    )
    return now_active, "critical" if critical else rule.severity


def step(
    alerts: Mapping[Key, Alert], readings: Iterable[Reading], config: AlertsConfig, now: float
) -> dict[Key, Alert]:
    """The alerts after this evaluation. An alert without a reading clears (its server or
    account is gone, or the rule reads only what breaches); a reading without a value (no
    data this time) keeps it as it is."""
    out: dict[Key, Alert] = {}
    seen: set[Key] = set()
    for reading in readings:
        rule = config.rules[reading.rule]
        if not rule.enabled:
            continue
        seen.add(reading.key)
        before = alerts.get(reading.key)
        if before is not None and before.state == "closed":
            before = None
        if reading.value is None:
            if before is not None:
                out[reading.key] = before
            continue
        was_active = (
            before is not None
            and before.state in ("pending", "firing")
            and (before.clear_since is None)
        )
        active, severity = _judge(reading, reading.value, rule, was_active)
        after = _advance(before, reading, rule, active, severity, now)
        if after is not None:
            out[reading.key] = after
    for key, alert in alerts.items():
        if key in seen or alert.state == "closed":
            continue
        gone = _advance(alert, None, config.rules[alert.rule], False, alert.severity, now)
        if gone is not None:
            out[key] = gone
    return out


def _advance(
    before: Alert | None,
    reading: Reading | None,
    rule: Rule,
    active: bool,
    severity: Severity,
    now: float,
) -> Alert | None:
    summary = reading.summary if reading else (before.summary if before else "")
    value = reading.value if reading else None
    if before is None or before.state == "resolved":
        if not active:
            return before
        if before is not None:  # came back before its resolved notice went: a new episode
            before = None
        assert reading is not None
        new = Alert(
            reading.rule,
            reading.server,
            reading.account,
            severity,
            "pending",
            now,
            summary=summary,
            value=value,
        )
        return _promote(new, rule, now)
    if active:
        kept = replace(before, severity=severity, clear_since=None, summary=summary, value=value)
        return _promote(kept, rule, now)
    if before.state == "pending":
        return None  # never fired: forgotten
    clear_since = before.clear_since if before.clear_since is not None else now
    if now - clear_since >= rule.clear_for_s:
        return replace(
            before, state="resolved", resolved_at=now, clear_since=clear_since, value=value
        )
    return replace(before, clear_since=clear_since, value=value)


def _promote(alert: Alert, rule: Rule, now: float) -> Alert:
    if alert.state == "pending" and now - alert.active_since >= rule.for_s:
        return replace(alert, state="firing", since=now)
    return alert


# ------------------------------------------------------------------------------- notices


@dataclass(frozen=True)
class Notice:
    """One message to the channels: a server's group of alerts that fire or resolved."""

    server: str
    firing: tuple[Alert, ...] = ()
    resolved: tuple[Alert, ...] = ()

    @property
    def accounts(self) -> list[str]:
        """Accounts whose owner gets this notice's account-level part."""
        alerts = (*self.firing, *self.resolved)
        return sorted({a.account for a in alerts if a.account and a.rule in ACCOUNT_RULES})


@dataclass
class Plan:
    notices: list[Notice] = field(default_factory=list)
    alerts: dict[Key, Alert] = field(default_factory=dict)  # after the notices were sent
    groups: dict[str, float] = field(default_factory=dict)  # server -> last notice


def inhibited(alert: Alert, alerts: Iterable[Alert]) -> bool:
    """A warning on a server where a critical alert fires says nothing new."""
    return alert.severity == "warning" and any(
        other.state == "firing"
        and other.severity == "critical"
        and other.server == alert.server
        and other.key != alert.key
        for other in alerts
    )


def silenced(alert: Alert, silences: Sequence[Silence], now: float) -> bool:
    return any(s.covers(alert, now) for s in silences)


def plan_notices(
    alerts: Mapping[Key, Alert],
    silences: Sequence[Silence],
    groups: Mapping[str, float],
    config: AlertsConfig,
    now: float,
) -> Plan:
    """What to send now, and the alerts and groups as they are once it is sent: a firing
    alert not yet notified (or whose severity rose), one due again (`repeat`), a resolved one
    that was notified. A group that never sent waits until its oldest new alert fired
    `group_wait` ago; one that sent waits `group_interval` since; repeats go when due."""
    grouping = config.grouping
    by_server: dict[str, list[Alert]] = {}
    for alert in alerts.values():
        by_server.setdefault(alert.server, []).append(alert)
    plan = Plan(alerts=dict(alerts), groups=dict(groups))
    everything = list(alerts.values())
    for server, mine in sorted(by_server.items()):
        new: list[Alert] = []
        again: list[Alert] = []
        resolved: list[Alert] = []
        for alert in sorted(mine, key=lambda a: a.key):
            quiet = silenced(alert, silences, now)
            if alert.state == "firing" and not quiet and not inhibited(alert, everything):
                if alert.notified_at is None or _rose(alert):
                    new.append(alert)
                else:
                    repeat = config.rules[alert.rule].repeat_s or grouping.repeat_s
                    if now - alert.notified_at >= repeat:
                        again.append(alert)
            elif alert.state == "resolved":
                if alert.notified_at is None or alert.resolved_notified or quiet:
                    plan.alerts[alert.key] = replace(alert, state="closed")  # nothing owed
                else:
                    resolved.append(alert)
        last = groups.get(server)
        if last is None:
            due = bool(new) and now - min(a.since or now for a in new) >= grouping.group_wait_s
        else:
            due = bool(new or resolved) and now - last >= grouping.group_interval_s
        if not (due or again):
            continue
        firing, gone = tuple(new + again), tuple(resolved)
        plan.notices.append(Notice(server, firing, gone))
        plan.groups[server] = now
        for alert in firing:
            plan.alerts[alert.key] = replace(
                alert, notified_at=now, notified_severity=alert.severity
            )
        for alert in gone:
            plan.alerts[alert.key] = replace(alert, resolved_notified=True, state="closed")
    return plan


def _rose(alert: Alert) -> bool:
    return alert.notified_severity == "warning" and alert.severity == "critical"


# ------------------------------------------------------------------------ time to full


def time_to_full(points: Sequence[tuple[float, float]]) -> float | None:
    """Seconds until the free space reaches 0 on the least-squares line through `points`
    ((time, free bytes), any order), counted from the newest point; None when it is not
    falling (or there are fewer than two points, or no time between them)."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_f = sum(f for _, f in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    slope = sum((t - mean_t) * (f - mean_f) for t, f in points) / var
    if slope >= 0:
        return None
    last = max(t for t, _ in points)
    free_now = mean_f + slope * (last - mean_t)
    return max(0.0, free_now / -slope)
