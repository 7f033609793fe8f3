"""catalog/alerts.yml: the alert rules, how notices are grouped, the channels and SMTP.

Defaults follow the anchors the operator knows (Prometheus `up == 0 for 5m`, node_exporter's
disk rules and predictions, Netdata's hysteresis and delays, Alertmanager's grouping); `bubble
init` writes them out and every knob can be changed. Secrets (SMTP password, webhook URLs) are
never here: see glue.monitor.secrets.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, model_validator

from glue.catalog import HEADER, CatalogError, _write, catalog_dir, describe_error
from glue.errors import BubbleError
from glue.models import Email, Strict
from glue.yamlio import load_yaml
from scaler.influx import duration_seconds

Severity = Literal["warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("warning", "critical")
CHANNEL_NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")


def parse_duration(value: Any) -> int:
    """`30s`, `5m`, `4h`, `1h30m` or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int) and value >= 0:
        return value
    try:
        return duration_seconds(str(value).strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a duration such as 30s, 5m or 4h") from None


def format_duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


Seconds = Annotated[int, BeforeValidator(parse_duration)]

# What each rule measures, and whether it fires above or below its threshold.
MEASURES: dict[str, tuple[str, Literal["above", "below"]]] = {
    "server-down": ("seconds without a heartbeat while ssh does not answer", "above"),
    "service-failing": ("failed units and failing probes", "above"),
    "disk-low": ("percent of /srv free", "below"),
    "account-at-limit": ("1 while the account uses its whole CPU quota or disk", "above"),
    "elastic-deferred": ("elastic raises deferred in the last 15 minutes", "above"),
    "backup-missing": ("hours since the account's last good backup", "above"),
    "reporter-silent": ("seconds since the scaler's tick or the agent's heartbeat", "above"),
    "wallet-low": ("hours of burn left in the wallet", "below"),
}
RULE_NAMES = tuple(MEASURES)
# Rules about one account (the owner gets a notice too); the others are about a server.
ACCOUNT_RULES = frozenset({"account-at-limit", "elastic-deferred", "wallet-low"})


class Rule(Strict):
    """One rule: fires when its measure is past `fire` for `for`; clears (hysteresis) when it
    is back past `clear` for `clear_for`; past `critical` it is critical. Firing alerts are
    notified again every `repeat` (default: the grouping's)."""

    severity: Severity
    for_s: Seconds = Field(0, alias="for")
    clear_for_s: Seconds = Field(0, alias="clear_for")
    fire: float
    clear: float
    critical: float | None = None
    repeat_s: Seconds | None = Field(None, alias="repeat")
    enabled: bool = True
    # disk-low only: "full within" predictions from the trend (node_exporter's 24 h / 4 h),
    # each counted only while the disk has under `..._under` % free (its 40 % / 20 %): a disk
    # filled and emptied again keeps a falling trend for a while, yet is not about to fill.
    full_within_s: Seconds | None = Field(None, alias="full_within")
    full_within_critical_s: Seconds | None = Field(None, alias="full_within_critical")
    full_within_under: float | None = Field(None, gt=0, le=100)
    full_within_critical_under: float | None = Field(None, gt=0, le=100)
    min_free_mib: int | None = Field(None, alias="min_free_mib", ge=0)

    model_config = Strict.model_config | {"populate_by_name": True}


DEFAULT_RULES: dict[str, dict[str, Any]] = {
    "server-down": {"severity": "critical", "for": "5m", "fire": 60, "clear": 60},
    "service-failing": {"severity": "warning", "for": "1m", "fire": 1, "clear": 1},
    "disk-low": {
        "severity": "warning",
        "for": "1m",
        "clear_for": "15m",
        "fire": 10,
        "clear": 20,
        "critical": 3,
        "full_within": "24h",
        "full_within_critical": "4h",
        "full_within_under": 40,
        "full_within_critical_under": 20,
    },
    "account-at-limit": {"severity": "warning", "for": "10m", "fire": 1, "clear": 1},
    "elastic-deferred": {"severity": "warning", "for": "0s", "fire": 1, "clear": 1},
    "backup-missing": {"severity": "warning", "for": "0s", "fire": 26, "clear": 26},
    "reporter-silent": {"severity": "warning", "for": "2m", "fire": 120, "clear": 120},
    "wallet-low": {"severity": "warning", "for": "0s", "fire": 24, "clear": 24},
}


class Grouping(Strict):
    """Alertmanager's: a new group waits `group_wait` for company; a group that was notified
    waits `group_interval` before the next notice of changes; `repeat` re-sends firing ones."""

    group_wait_s: Seconds = Field(30, alias="group_wait")
    group_interval_s: Seconds = Field(300, alias="group_interval")
    repeat_s: Seconds = Field(4 * 3600, alias="repeat")

    model_config = Strict.model_config | {"populate_by_name": True}


class Channel(Strict):
    """An e-mail address, or a Slack-compatible webhook whose URL is a secret (state dir or
    the environment)."""

    email: Email | None = None
    webhook: Literal["secret"] | None = None

    @model_validator(mode="after")
    def _one(self) -> Channel:
        if (self.email is None) == (self.webhook is None):
            raise ValueError("a channel is either `email: ADDRESS` or `webhook: secret`")
        return self


class Smtp(Strict):
    host: str
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = True
    username: str = ""
    sender: Email
    ca_file: str | None = None  # a private CA's certificate for STARTTLS (default: the system's)


def _merged_rules(data: Any) -> Any:
    """Every rule, each the default with what the file sets over it; an unknown name is an
    error naming it."""
    if not isinstance(data, dict):
        return data
    given = data.get("rules") or {}
    if not isinstance(given, dict):
        return data
    unknown = sorted(set(given) - set(RULE_NAMES))
    if unknown:
        raise ValueError(f"rules.{unknown[0]}: unknown rule (known: {', '.join(RULE_NAMES)})")
    rules = {}
    for name, default in DEFAULT_RULES.items():
        mine = given.get(name) or {}
        rules[name] = {**default, **mine} if isinstance(mine, dict) else mine
    return {**data, "rules": rules}


class AlertsConfig(Strict):
    rules: dict[str, Rule] = Field(default_factory=dict)
    grouping: Grouping = Grouping()
    channels: dict[str, Channel] = Field(default_factory=dict)
    smtp: Smtp | None = None

    _merge = model_validator(mode="before")(_merged_rules)

    @model_validator(mode="after")
    def _hysteresis(self) -> AlertsConfig:
        for name, rule in self.rules.items():
            direction = MEASURES[name][1]
            if (rule.clear > rule.fire) if direction == "above" else (rule.clear < rule.fire):
                side = "at or below" if direction == "above" else "at or above"
                raise ValueError(
                    f"rules.{name}.clear: {rule.clear:g} must be {side} fire ({rule.fire:g})"
                )
            if rule.critical is not None and (
                rule.critical < rule.fire if direction == "above" else rule.critical > rule.fire
            ):
                raise ValueError(f"rules.{name}.critical: {rule.critical:g} is short of fire")
        for name in self.channels:
            if not CHANNEL_NAME.fullmatch(name):
                raise ValueError(f"channels.{name}: a name of a-z, 0-9 and - (at most 32)")
        return self

    def rule(self, name: str) -> Rule:
        return self.rules[name]


def alerts_path(root: Path) -> Path:
    return catalog_dir(root) / "alerts.yml"


SOURCE = "catalog/alerts.yml"


def load_alerts(root: Path) -> AlertsConfig:
    """The file validated (every rule present, defaults filled in); absent file: defaults."""
    path = alerts_path(root)
    data: Any = {}
    if path.exists():
        data = load_yaml(path, SOURCE) or {}
    try:
        return AlertsConfig.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(f"{SOURCE}: {describe_error(e)}" for e in exc.errors()) from None


def _rule_data(name: str, rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {"severity": rule.severity, "for": format_duration(rule.for_s)}
    out["clear_for"] = format_duration(rule.clear_for_s)  # always: absent means the default
    out["fire"] = _number(rule.fire)
    out["clear"] = _number(rule.clear)
    if rule.critical is not None:
        out["critical"] = _number(rule.critical)
    if rule.repeat_s is not None:
        out["repeat"] = format_duration(rule.repeat_s)
    if not rule.enabled:
        out["enabled"] = False
    for key in ("full_within", "full_within_critical"):
        value = getattr(rule, f"{key}_s")
        if value is not None:
            out[key] = format_duration(value)
        under = getattr(rule, f"{key}_under")
        if under is not None:
            out[f"{key}_under"] = _number(under)
    if rule.min_free_mib is not None:
        out["min_free_mib"] = rule.min_free_mib
    return out


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def alerts_data(config: AlertsConfig) -> dict[str, Any]:
    data: dict[str, Any] = {
        "rules": {name: _rule_data(name, rule) for name, rule in config.rules.items()},
        "grouping": {
            "group_wait": format_duration(config.grouping.group_wait_s),
            "group_interval": format_duration(config.grouping.group_interval_s),
            "repeat": format_duration(config.grouping.repeat_s),
        },
        "channels": {
            name: ({"email": ch.email} if ch.email else {"webhook": "secret"})
            for name, ch in sorted(config.channels.items())
        },
    }
    if config.smtp is not None:
        data["smtp"] = config.smtp.model_dump(exclude_none=True)
    return data


def _read(raw: Any) -> dict[str, Any]:
    return alerts_data(AlertsConfig.model_validate(raw))


def _header() -> str:
    lines = [
        HEADER,
        "# Alert rules (`bubble alerts rule set`): each fires when its measure is at or past",
        "# `fire` for `for`, clears when back beyond `clear` for `clear_for` (hysteresis);",
        "# at or past `critical` it is critical. What each measures:",
    ]
    lines += [f"#   {name}: {what} ({way})" for name, (what, way) in MEASURES.items()]
    lines += ["# Channels: `bubble alerts channel add`; secrets stay in state/ or the environment."]
    return "\n".join(lines)


def save_alerts(root: Path, config: AlertsConfig) -> None:
    """Write the file (an edit keeping comments where possible)."""
    _write(alerts_path(root), alerts_data(config), _read, _header())


def with_rule(config: AlertsConfig, name: str, changes: dict[str, Any]) -> AlertsConfig:
    """The config with one rule's fields changed (in the file's spelling: `for`, `fire`...);
    a bad value is one line naming the rule and the field."""
    if name not in RULE_NAMES:
        raise BubbleError(f"rule {name!r}: unknown (known: {', '.join(RULE_NAMES)})")
    data = alerts_data(config)
    data["rules"][name] = {**data["rules"][name], **changes}
    return validated_config(data)


def with_grouping(config: AlertsConfig, changes: dict[str, Any]) -> AlertsConfig:
    """The config with the grouping's waits changed (`group_wait`, `group_interval`, `repeat`,
    in the file's spelling); a bad value is one line naming the field."""
    data = alerts_data(config)
    data["grouping"] = {**data["grouping"], **changes}
    return validated_config(data)


def validated_config(data: dict[str, Any]) -> AlertsConfig:
    try:
        return AlertsConfig.model_validate(data)
    except ValidationError as exc:
        raise BubbleError(f"{SOURCE}: {describe_error(exc.errors()[0])}") from None
