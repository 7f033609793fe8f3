"""The catalog's data model: plans, servers and accounts as people decided them.

Units are parsed on the way in (see `units`), so every number past this module is an exact
integer: MHz, MiB, cents. `extra="forbid"` everywhere: a misspelt key is an error, not a
silently ignored setting.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from glue.providers import PROVIDERS
from glue.units import parse_cpu_mhz, parse_money_cents, parse_size_mib

# Account names become Linux users, slices, MariaDB users and `NAME_*` database prefixes:
# lower-case letters and digits only (a hyphen would need quoting in SQL, `_` is the separator).
# Every pattern here is used with fullmatch (never match + `$`, which lets a trailing newline
# through: "bob.example\n" would slip past the domain uniqueness check).
ACCOUNT_NAME_RE = re.compile(r"[a-z][a-z0-9]{0,15}")
SERVER_NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,62}")
PLAN_NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,31}")
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
DOMAIN_RE = re.compile(rf"(?:{_LABEL}\.)+(?:[a-z]{{2,63}}|xn--[a-z0-9-]{{1,59}})")
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@(?:[a-z0-9-]+\.)+[a-z]{2,63}")
# A mailbox's local part (it becomes a Dovecot user name and a directory under the home):
# no leading, trailing or doubled dot, nothing a shell or a path could read as syntax.
MAILBOX_LOCAL_RE = re.compile(r"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*")
IPV4_RE = re.compile(
    r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
)

Resource = Literal["cpu", "memory", "disk"]
RESOURCES: tuple[Resource, ...] = ("cpu", "memory", "disk")


def _matches(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid {what}")
        return value

    return AfterValidator(check)


def _percent(value: int) -> int:
    if not 1 <= value <= 100:
        raise ValueError(f"{value} is not a percentage between 1 and 100")
    return value


AccountName = Annotated[str, _matches(ACCOUNT_NAME_RE, "account name")]
ServerName = Annotated[str, _matches(SERVER_NAME_RE, "server name")]
PlanName = Annotated[str, _matches(PLAN_NAME_RE, "plan name")]
Domain = Annotated[str, _matches(DOMAIN_RE, "domain name")]
Email = Annotated[str, _matches(EMAIL_RE, "e-mail address")]
IPv4 = Annotated[str, _matches(IPV4_RE, "IPv4 address")]
Mhz = Annotated[int, BeforeValidator(parse_cpu_mhz)]
Mib = Annotated[int, BeforeValidator(parse_size_mib)]
Cents = Annotated[int, BeforeValidator(parse_money_cents)]
Percent = Annotated[int, AfterValidator(_percent)]
Count = Annotated[int, Field(gt=0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(Strict):
    """A complete set of limits for one bubble (written as cpu, memory, disk in the catalog)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    cpu_mhz: Mhz = Field(alias="cpu")
    memory_mib: Mib = Field(alias="memory")
    disk_mib: Mib = Field(alias="disk")
    processes: Count = 256
    io_read_mbps: Count | None = None
    io_write_mbps: Count | None = None

    def get(self, resource: Resource) -> int:
        return int(getattr(self, _RESOURCE_FIELD[resource]))

    def with_value(self, resource: Resource, value: int) -> Limits:
        return self.model_copy(update={_RESOURCE_FIELD[resource]: value})


# Each resource's field (the scaler asks for 30,000 limits a tick: named once, not per call).
_RESOURCE_FIELD: dict[str, str] = {"cpu": "cpu_mhz", "memory": "memory_mib", "disk": "disk_mib"}


def parse_resource(resource: Resource, text: str | int) -> int:
    """Parse `text` in the unit of `resource` (MHz for cpu, MiB for memory and disk)."""
    return parse_cpu_mhz(text) if resource == "cpu" else parse_size_mib(text)


class ElasticRule(Strict):
    """How far and in which steps a resource may grow above base, and its hourly price."""

    step: int
    ceiling: int
    hourly_price: Cents  # per step in force above base, per hour


class UpgradeRule(Strict):
    """Permanent base raises: bought in whole steps, for a yearly fee per step."""

    step: int
    yearly_price: Cents


def _resource_rules(data: Any) -> Any:
    """Parse `step` and `ceiling` in the unit of the resource they belong to."""
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    for resource, rule in data.items():
        if resource in RESOURCES and isinstance(rule, dict):
            rule = dict(rule)
            for key in ("step", "ceiling"):
                if key in rule:
                    rule[key] = parse_resource(resource, rule[key])
        out[resource] = rule
    return out


class ElasticRules(Strict):
    cpu: ElasticRule | None = None
    memory: ElasticRule | None = None
    disk: ElasticRule | None = None

    _parse = model_validator(mode="before")(_resource_rules)

    def get(self, resource: Resource) -> ElasticRule | None:
        rule: ElasticRule | None = getattr(self, resource)
        return rule


class UpgradeRules(Strict):
    cpu: UpgradeRule | None = None
    memory: UpgradeRule | None = None
    disk: UpgradeRule | None = None

    _parse = model_validator(mode="before")(_resource_rules)

    def get(self, resource: Resource) -> UpgradeRule | None:
        rule: UpgradeRule | None = getattr(self, resource)
        return rule


class Thresholds(Strict):
    """When the scaler moves: sustained use at/above `up_percent` for `up_after_s` seconds
    raises one step; at/below `down_percent` for `down_after_s` lowers one step."""

    up_percent: Percent = 90
    down_percent: Percent = 50
    up_after_s: Count = 120
    down_after_s: Count = 900

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.down_percent >= self.up_percent:
            raise ValueError("down_percent must be below up_percent")
        return self


class Plan(Strict):
    description: str = ""
    base: Limits
    elastic: ElasticRules = ElasticRules()
    upgrade: UpgradeRules = UpgradeRules()
    thresholds: Thresholds = Thresholds()

    @model_validator(mode="after")
    def _ceilings_above_base(self) -> Plan:
        for resource in RESOURCES:
            rule = self.elastic.get(resource)
            if rule and rule.ceiling < self.base.get(resource):
                raise ValueError(f"elastic.{resource}.ceiling is below the plan's base")
        return self


class ServerState(StrEnum):
    ACTIVE = "active"
    DRAINING = "draining"
    DOWN = "down"


def _known_provider(value: str) -> str:
    """One module per provider under glue/providers/ decides what exists."""
    if value not in PROVIDERS:
        raise ValueError(f"must be one of {', '.join(sorted(PROVIDERS))}")
    return value


ProviderName = Annotated[str, AfterValidator(_known_provider)]


class Overcommit(Strict):
    """How much base may be promised on a server, in percent of its capacity."""

    cpu: Annotated[int, Field(ge=1, le=10000)] = 400
    memory: Annotated[int, Field(ge=1, le=1000)] = 150
    disk: Annotated[int, Field(ge=1, le=1000)] = 100


class ServerRole(StrEnum):
    """What a server is for: `web` holds accounts; `backup` holds the web servers' borg
    repositories and never an account (placement skips it)."""

    WEB = "web"
    BACKUP = "backup"


# A systemd OnCalendar expression ("daily", "*-*-* 02:30:00", "Mon..Fri 03:00"): it reaches a
# unit file, so nothing but the characters such expressions use.
SCHEDULE_RE = re.compile(r"[A-Za-z0-9*:,./~ -]{1,64}")


class Retention(Strict):
    """How many archives per account the control plane keeps (borg prune --keep-*)."""

    daily: Annotated[int, Field(ge=0, le=3660)] = 7
    weekly: Annotated[int, Field(ge=0, le=520)] = 4
    monthly: Annotated[int, Field(ge=0, le=1200)] = 6

    @model_validator(mode="after")
    def _keeps_something(self) -> Retention:
        if not (self.daily or self.weekly or self.monthly):
            raise ValueError("keeps no archive at all")
        return self


class BackupPolicy(Strict):
    """When the web servers that back up to this server do so, and what is kept."""

    schedule: Annotated[str, _matches(SCHEDULE_RE, "systemd calendar schedule")] = "daily"
    keep: Retention = Retention()


class Server(Strict):
    provider: ProviderName
    type: str = "lab"
    region: str = "lab"
    cores: Count
    core_mhz: Mhz = Field(alias="core_ghz")
    memory_mib: Mib = Field(alias="memory")
    disk_mib: Mib = Field(alias="disk")
    state: ServerState = ServerState.ACTIVE
    address: IPv4 | None = None
    overcommit: Overcommit = Overcommit()
    role: ServerRole = ServerRole.WEB
    # On a backup server: its schedule and retention (the defaults when absent).
    backup: BackupPolicy | None = None
    # On a web server: the backup server its repository lives on (default: the only one).
    backup_to: ServerName | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _role_settings(self) -> Server:
        if self.backup is not None and self.role is not ServerRole.BACKUP:
            raise ValueError("backup: only a server with role backup has a backup policy")
        if self.backup_to is not None and self.role is not ServerRole.WEB:
            raise ValueError("backup_to: only a web server backs up to a backup server")
        return self

    def capacity(self) -> dict[Resource, int]:
        """What base may be committed here, per resource (cpu MHz, memory and disk MiB)."""
        return {
            "cpu": self.cores * self.core_mhz * self.overcommit.cpu // 100,
            "memory": self.memory_mib * self.overcommit.memory // 100,
            "disk": self.disk_mib * self.overcommit.disk // 100,
        }


class AccountState(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    # Deletion asked for, not yet confirmed by the server: the bubble is removed on the next
    # converge (archived, or not when purging), then the catalog file goes. Until then the
    # account keeps its domains, so no other account can serve them twice.
    REMOVING = "removing"
    PURGING = "purging"

    @property
    def leaving(self) -> bool:
        return self in (AccountState.REMOVING, AccountState.PURGING)


class Overrides(Strict):
    """Admin overrides: each set value replaces the computed base for that resource."""

    cpu_mhz: Mhz | None = Field(default=None, alias="cpu")
    memory_mib: Mib | None = Field(default=None, alias="memory")
    disk_mib: Mib | None = Field(default=None, alias="disk")
    processes: Count | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Upgrade(Strict):
    """A permanent base raise bought for a year (until `expires`, exclusive)."""

    resource: Resource
    amount: int
    expires: dt.date
    key: str

    @model_validator(mode="before")
    @classmethod
    def _parse_amount(cls, data: Any) -> Any:
        if isinstance(data, dict) and "amount" in data and data.get("resource") in RESOURCES:
            data = {**data, "amount": parse_resource(data["resource"], data["amount"])}
        return data


class Account(Strict):
    plan: PlanName
    server: ServerName
    domains: Annotated[list[Domain], Field(min_length=1)]
    email: Email | None = None
    state: AccountState = AccountState.ACTIVE
    elastic: bool = False
    max_daily: Cents | None = None  # the customer's own cap on elastic spend per day
    overrides: Overrides = Overrides()
    upgrades: list[Upgrade] = []
    created: dt.date | None = None

    @model_validator(mode="after")
    def _unique_domains(self) -> Account:
        if len(set(self.domains)) != len(self.domains):
            raise ValueError("domains: listed twice")
        return self
