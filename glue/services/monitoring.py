"""Monitoring operations: the alerts firing and their history, silences, rules, channels,
SMTP, and the servers' health. The evaluation itself is glue.monitor (run by `bubble monitor
run`); everything here is what a person asks for or changes."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

from glue.errors import BubbleError
from glue.models import SERVER_NAME_RE
from glue.monitor import store
from glue.monitor.channels import check_webhook, store_secret
from glue.monitor.evaluate import Alert, Silence, inhibited, silenced
from glue.monitor.readings import CONTROL, INFLUXDB
from glue.monitor.rules import (
    ACCOUNT_RULES,
    CHANNEL_NAME,
    RULE_NAMES,
    AlertsConfig,
    alerts_data,
    load_alerts,
    parse_duration,
    save_alerts,
    validated_config,
    with_grouping,
    with_rule,
)
from glue.services.context import Context

OTHERS = (CONTROL, INFLUXDB)  # the control plane's own alerts' "servers"


def _when(seconds: float | None) -> str | None:
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()


def alert_row(
    alert: Alert,
    silences: Sequence[Silence] = (),
    others: Sequence[Alert] = (),
    now: float = 0.0,
) -> dict[str, Any]:
    return {
        "rule": alert.rule,
        "severity": alert.severity,
        "server": alert.server,
        "account": alert.account or None,
        "state": alert.state,
        "since": _when(alert.since),
        "resolved_at": _when(alert.resolved_at),
        "summary": alert.summary,
        "silenced": silenced(alert, silences, now),
        "inhibited": inhibited(alert, others),
    }


def firing_alerts(ctx: Context, account: str | None = None) -> list[dict[str, Any]]:
    """The alerts firing now, critical first, then by server and rule; with `account`: only
    that account's own (what its owner may see)."""
    now = time.time()
    alerts = [a for _, a in store.open_alerts(ctx.engine).values()]
    silences = store.silences(ctx.engine, now)
    firing = sorted(
        (
            a
            for a in alerts
            if a.state == "firing"
            and account in (None, a.account)
            and (account is None or a.rule in ACCOUNT_RULES)
        ),
        key=lambda a: (a.severity != "critical", a.server, a.rule, a.account),
    )
    return [alert_row(a, silences, alerts, now) for a in firing]


def alert_history(ctx: Context, limit: int = 100) -> list[dict[str, Any]]:
    return [alert_row(a) for a in store.history(ctx.engine, limit)]


def silence(ctx: Context, target: str, duration: str, reason: str) -> dict[str, Any]:
    """Hold the notices of a rule's alerts, or a server's, for `duration`."""
    catalog = ctx.catalog()
    if target not in RULE_NAMES and target not in catalog.servers and target not in OTHERS:
        raise BubbleError(f"{target!r}: neither a rule ({', '.join(RULE_NAMES)}) nor a server")
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise BubbleError(f"--for: {exc}") from None
    if seconds <= 0:
        raise BubbleError(f"--for {duration!r}: a duration above 0, e.g. 2h")
    if not reason.strip():
        raise BubbleError("--reason: say why (it is shown with the silence)")
    now = time.time()
    store.add_silence(ctx.engine, target, now + seconds, reason.strip(), now)
    return {"matcher": target, "until": _when(now + seconds), "reason": reason.strip()}


def active_silences(ctx: Context) -> list[dict[str, Any]]:
    return [
        {"matcher": s.matcher, "until": _when(s.until), "reason": s.reason}
        for s in store.silences(ctx.engine, time.time())
    ]


def set_rule(ctx: Context, name: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Change one rule's knobs in catalog/alerts.yml (validated first: nothing half-written)."""
    with ctx.editing():
        config = with_rule(load_alerts(ctx.root), name, changes)
        save_alerts(ctx.root, config)
    return {"rule": name, **config.rules[name].model_dump(by_alias=True, exclude_none=True)}


def set_grouping(ctx: Context, changes: dict[str, Any]) -> dict[str, str]:
    """Change the grouping's waits in catalog/alerts.yml (validated first: nothing
    half-written)."""
    with ctx.editing():
        config = with_grouping(load_alerts(ctx.root), changes)
        save_alerts(ctx.root, config)
    return dict(alerts_data(config)["grouping"])


def grouping(ctx: Context) -> dict[str, str]:
    """The grouping's waits in force, as the file spells them."""
    return dict(alerts_data(load_alerts(ctx.root))["grouping"])


def add_channel(ctx: Context, name: str, email: str | None, webhook: str | None) -> dict[str, Any]:
    """An e-mail address in the catalog, or a webhook whose URL goes to the state directory
    (0600): a webhook URL carries its token."""
    if (email is None) == (webhook is None):
        raise BubbleError("give one of --email ADDRESS or --webhook URL")
    if not CHANNEL_NAME.fullmatch(name):
        raise BubbleError(f"channel {name!r}: a name of a-z, 0-9 and - (at most 32)")
    with ctx.editing():
        config = load_alerts(ctx.root)
        channel = {"email": email} if email else {"webhook": "secret"}
        data = alerts_data(config)
        data["channels"] = {**data["channels"], name: channel}
        new = validated_config(data)
        if webhook is not None:
            store_secret(ctx.root, f"webhook-{name}", check_webhook(webhook))
        save_alerts(ctx.root, new)
    return {"channel": name, "kind": "email" if email else "webhook", "email": email}


def remove_channel(ctx: Context, name: str) -> None:
    with ctx.editing():
        config = load_alerts(ctx.root)
        if name not in config.channels:
            raise BubbleError(f"channel {name!r}: no such channel")
        channels = {k: v for k, v in config.channels.items() if k != name}
        save_alerts(ctx.root, config.model_copy(update={"channels": channels}))


def set_smtp(ctx: Context, settings: dict[str, Any], password: str | None) -> dict[str, Any]:
    """The SMTP server for e-mail channels and owners' notices; its password to the state
    directory (0600), never the catalog."""
    with ctx.editing():
        config = load_alerts(ctx.root)
        data = alerts_data(config)
        current = data.get("smtp") or {}
        data["smtp"] = {**current, **settings}
        new = validated_config(data)
        if password is not None:
            store_secret(ctx.root, "smtp-password", password)
        save_alerts(ctx.root, new)
    assert new.smtp is not None
    return new.smtp.model_dump(exclude_none=True)


def channels(ctx: Context) -> AlertsConfig:
    return load_alerts(ctx.root)


def server_health(
    ctx: Context, names: Sequence[str] | None, probes: bool = True, timeout: float = 3.0
) -> list[dict[str, Any]]:
    from glue.monitor.health import fleet_health
    from glue.monitor.run import addresses
    from scaler.influx import InfluxClient

    catalog = ctx.catalog()
    for name in names or ():
        if not SERVER_NAME_RE.fullmatch(name) or name not in catalog.servers:
            raise BubbleError(f"server {name!r}: not in the catalog")
    influx = InfluxClient.from_settings(ctx.settings, timeout=timeout)
    health = fleet_health(
        catalog, addresses(ctx, catalog), influx, time.time(), names, probes=probes, timeout=timeout
    )
    return [h.as_dict() for h in health.values()]
