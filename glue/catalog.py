"""The catalog on disk: load and validate all of it, or write one part of it atomically.

Layout under the root: `catalog/plans.yml`, `catalog/servers.yml`, `catalog/accounts/NAME.yml`.
Loading collects every problem across every file before failing, so an operator fixes a
broken commit in one pass; writing validates the whole resulting catalog first, so nothing is
written when anything would be invalid.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from glue.errors import BubbleError
from glue.models import (
    ACCOUNT_NAME_RE,
    PLAN_NAME_RE,
    RESOURCES,
    SERVER_NAME_RE,
    Account,
    Plan,
    Server,
    ServerRole,
)
from glue.units import format_cpu, format_money, format_size
from glue.yamlio import YamlError, atomic_write, dump_yaml, load_yaml, load_yaml_text, update_yaml

M = TypeVar("M", bound=BaseModel)
# A catalog file's raw YAML -> the data a full write of it would hold.
Reader = Callable[[Any], dict[str, Any]]

HEADER = "# Bubblehost catalog: edit by hand or with `bubble`; validated by `bubble validate`."


class CatalogError(BubbleError):
    """One or more problems in the catalog, each a line naming the file, the field and the value."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Catalog:
    root: Path
    plans: dict[str, Plan] = field(default_factory=dict)
    servers: dict[str, Server] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)

    def with_plan(self, name: str, plan: Plan) -> Catalog:
        return replace(self, plans={**self.plans, name: plan})

    def with_server(self, name: str, server: Server) -> Catalog:
        return replace(self, servers={**self.servers, name: server})

    def with_account(self, name: str, account: Account) -> Catalog:
        return replace(self, accounts={**self.accounts, name: account})

    def without_account(self, name: str) -> Catalog:
        return replace(self, accounts={k: v for k, v in self.accounts.items() if k != name})

    def accounts_on(self, server: str) -> dict[str, Account]:
        return {n: a for n, a in self.accounts.items() if a.server == server}


def catalog_dir(root: Path) -> Path:
    return root / "catalog"


def plans_path(root: Path) -> Path:
    return catalog_dir(root) / "plans.yml"


def servers_path(root: Path) -> Path:
    return catalog_dir(root) / "servers.yml"


def account_path(root: Path, name: str) -> Path:
    return catalog_dir(root) / "accounts" / f"{name}.yml"


# ---------------------------------------------------------------------------------- loading


def describe_error(error: Any) -> str:
    loc = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field"
    elif error["type"] == "missing":
        message = "required field is missing"
    value = error.get("input")
    shown = "" if error["type"] == "missing" or isinstance(value, dict) else f" (got {value!r})"
    return f"{loc}: {message}{shown}" if loc else f"{message}{shown}"


def validated(model: type[M], data: Any, what: str) -> M:
    """One object from a command's input: its first problem as a one-line BubbleError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BubbleError(f"{what}: {describe_error(exc.errors()[0])}") from exc


def _validate(
    model: type[BaseModel], data: Any, source: str, prefix: str, problems: list[str]
) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems.extend(f"{source}: {prefix}{describe_error(e)}" for e in exc.errors())
        return None


def _section(path: Path, source: str, key: str, problems: list[str]) -> dict[str, Any]:
    """The mapping under `key` in a catalog file (absent file = empty)."""
    if not path.exists():
        return {}
    try:
        data = load_yaml(path, source)
    except YamlError as exc:
        problems.append(str(exc))
        return {}
    if data is None:
        return {}
    if not isinstance(data, dict) or set(data) - {key}:
        problems.append(f"{source}: expected a single top-level key {key!r}")
        return {}
    section = data.get(key) or {}
    if not isinstance(section, dict):
        problems.append(f"{source}: {key}: expected a mapping of name to settings")
        return {}
    return section


def load_catalog(root: Path) -> Catalog:
    """Load and validate the whole catalog; raise CatalogError listing every problem."""
    if not catalog_dir(root).is_dir():  # a mistyped --root is not an empty, valid catalog
        raise BubbleError(
            f"no catalog at {catalog_dir(root)} (run `bubble init {root}`, or give --root)"
        )
    problems: list[str] = []
    account_problems: list[str] = []  # listed after the plans' and servers'
    accounts_dir = catalog_dir(root) / "accounts"
    # Directory entries sorted by name, not Paths: Path handling costs 0.5 s over 10,000.
    files: list[os.DirEntry[str]] = []
    if accounts_dir.is_dir():
        with os.scandir(accounts_dir) as entries:
            files = sorted((e for e in entries if e.name.endswith(".yml")), key=lambda e: e.name)
    parsed = _parsed.setdefault(accounts_dir, {})
    sections = (_stat_key(plans_path(root)), _stat_key(servers_path(root)))
    accounts: dict[str, Account] = {}
    unchanged = set(parsed) == {entry.name for entry in files}
    for entry in files:
        before = parsed.get(entry.name)
        account = _account_file(entry, parsed, account_problems)
        unchanged = unchanged and before is not None and before[1] is account
        if account is not None:
            accounts[entry.name.removesuffix(".yml")] = account
    last = _whole.pop(accounts_dir, None)
    if unchanged and last is not None and last[0] == sections and None not in sections:
        _whole[accounts_dir] = last  # nothing changed on disk since it was checked
        return last[1]
    rel = Path("catalog")
    plans: dict[str, Plan] = {}
    for name, data in _section(plans_path(root), str(rel / "plans.yml"), "plans", problems).items():
        plan = _validate(Plan, data, str(rel / "plans.yml"), f"plans.{name}.", problems)
        if plan is not None:
            plans[str(name)] = plan
    servers: dict[str, Server] = {}
    servers_src = str(rel / "servers.yml")
    for name, data in _section(servers_path(root), servers_src, "servers", problems).items():
        server = _validate(Server, data, servers_src, f"servers.{name}.", problems)
        if server is not None:
            servers[str(name)] = server
    problems.extend(account_problems)
    for gone in set(parsed) - {entry.name for entry in files}:
        del parsed[gone]
    catalog = Catalog(root=root, plans=plans, servers=servers, accounts=accounts)
    problems.extend(check_references(catalog))
    if problems:
        raise CatalogError(problems)
    _whole[accounts_dir] = (sections, catalog)
    return catalog


# Account files parsed before, per accounts directory: file name -> (its stat, the account).
# A 10,000-account catalog takes seconds to parse and the scaler loads it every tick; a file
# whose inode, size and mtime are unchanged is not parsed again. A file changed within the
# last RACY_NS is never taken from here: an in-place edit in the same mtime tick as our read
# would otherwise keep its old size and mtime (git's "racy" entries).
_parsed: dict[Path, dict[str, tuple[tuple[int, int, int], Account]]] = {}
RACY_NS = 2_000_000_000
# The last catalog that validated, per accounts directory, with the stat of plans.yml and
# servers.yml it was read from: taken again while every account file came from `_parsed`
# unchanged and those two did not move (no parse, no cross-file check). Catalog is frozen.
_whole: dict[Path, tuple[tuple[object, object], Catalog]] = {}


def _stat_key(path: Path) -> tuple[int, int, int] | str | None:
    """A file's inode, size and mtime; "absent"; None while it may still change unseen."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return "absent"
    if time.time_ns() - stat.st_mtime_ns <= RACY_NS:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _account_file(
    entry: os.DirEntry[str],
    parsed: dict[str, tuple[tuple[int, int, int], Account]],
    problems: list[str],
) -> Account | None:
    source = f"catalog/accounts/{entry.name}"
    try:
        stat = entry.stat()
    except OSError:  # removed while listing: as if never listed
        return None
    key = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    cached = parsed.get(entry.name)
    if cached is not None and cached[0] == key:
        return cached[1]
    parsed.pop(entry.name, None)
    try:
        data = load_yaml(Path(entry.path), source)
    except YamlError as exc:
        problems.append(str(exc))
        return None
    account: Account | None = _validate(Account, data, source, "", problems)
    if account is not None and time.time_ns() - stat.st_mtime_ns > RACY_NS:
        parsed[entry.name] = (key, account)
    return account


def check_references(catalog: Catalog) -> list[str]:
    """What no single file can know: names, plans, servers and domains across files."""
    problems: list[str] = []
    for name in catalog.plans:
        if not PLAN_NAME_RE.fullmatch(name):
            problems.append(f"catalog/plans.yml: plans: {name!r} is not a valid plan name")
    for name in catalog.servers:
        if not SERVER_NAME_RE.fullmatch(name):
            problems.append(f"catalog/servers.yml: servers: {name!r} is not a valid server name")
    addresses: dict[str, str] = {}
    for name, server in sorted(catalog.servers.items()):
        if server.address and server.address in addresses:
            problems.append(
                f"catalog/servers.yml: servers.{name}.address: {server.address} is already "
                f"used by {addresses[server.address]}"
            )
        elif server.address:
            addresses[server.address] = name
        target = server.backup_to
        if target is not None and (
            target not in catalog.servers or catalog.servers[target].role is not ServerRole.BACKUP
        ):
            problems.append(
                f"catalog/servers.yml: servers.{name}.backup_to: {target!r} is not a server "
                "with role backup"
            )
    domains: dict[str, str] = {}
    for name, account in sorted(catalog.accounts.items()):
        source = f"catalog/accounts/{name}.yml"
        if not ACCOUNT_NAME_RE.fullmatch(name):
            problems.append(f"{source}: {name!r} is not a valid account name (file name)")
        if account.plan not in catalog.plans:
            known = ", ".join(sorted(catalog.plans)) or "none"
            problems.append(f"{source}: plan: unknown plan {account.plan!r} (known: {known})")
        if account.server not in catalog.servers:
            problems.append(f"{source}: server: unknown server {account.server!r}")
        elif catalog.servers[account.server].role is not ServerRole.WEB:
            problems.append(
                f"{source}: server: {account.server!r} is a backup server, it holds no accounts"
            )
        # Accounts being removed keep their domains until the server confirmed the removal:
        # a domain is never served by two bubbles at once.
        for domain in account.domains:
            if domain in domains:
                owner = domains[domain]
                leaving = (
                    " (being removed: `bubble apply` finishes that)"
                    if catalog.accounts[owner].state.leaving
                    else ""
                )
                problems.append(
                    f"{source}: domains: {domain!r} already belongs to account {owner!r}{leaving}"
                )
            else:
                domains[domain] = name
    return problems


# ---------------------------------------------------------------------------------- writing


def _limits_data(values: dict[str, Any]) -> dict[str, Any]:
    """Human units for the limit-like keys of a model dump; None values dropped."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if key in ("cpu_mhz", "cpu"):
            out["cpu"] = format_cpu(value)
        elif key in ("memory_mib", "memory", "disk_mib", "disk"):
            out[key.removesuffix("_mib")] = format_size(value)
        else:
            out[key] = value
    return out


def _rules_data(rules: BaseModel, price_key: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for resource in RESOURCES:
        rule = getattr(rules, resource)
        if rule is None:
            continue
        fmt = format_cpu if resource == "cpu" else format_size
        entry: dict[str, Any] = {"step": fmt(rule.step)}
        if hasattr(rule, "ceiling"):
            entry["ceiling"] = fmt(rule.ceiling)
        entry[price_key] = format_money(getattr(rule, price_key))
        out[resource] = entry
    return out


def plan_data(plan: Plan) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if plan.description:
        data["description"] = plan.description
    data["base"] = _limits_data(plan.base.model_dump())
    data["elastic"] = _rules_data(plan.elastic, "hourly_price")
    data["upgrade"] = _rules_data(plan.upgrade, "yearly_price")
    data["thresholds"] = plan.thresholds.model_dump()
    return data


def server_data(server: Server) -> dict[str, Any]:
    data: dict[str, Any] = {
        "provider": server.provider,
        "type": server.type,
        "region": server.region,
        "cores": server.cores,
        "core_ghz": format_cpu(server.core_mhz),
        "memory": format_size(server.memory_mib),
        "disk": format_size(server.disk_mib),
        "state": server.state.value,
    }
    if server.address:
        data["address"] = server.address
    if server.overcommit != type(server.overcommit)():
        data["overcommit"] = server.overcommit.model_dump()
    if server.role is not ServerRole.WEB:
        data["role"] = server.role.value
    if server.backup is not None:
        data["backup"] = server.backup.model_dump()
    if server.backup_to is not None:
        data["backup_to"] = server.backup_to
    return data


def account_data(account: Account) -> dict[str, Any]:
    data: dict[str, Any] = {
        "plan": account.plan,
        "server": account.server,
        "domains": list(account.domains),
    }
    if account.email:
        data["email"] = account.email
    data["state"] = account.state.value
    data["elastic"] = account.elastic
    if account.max_daily is not None:
        data["max_daily"] = format_money(account.max_daily)
    overrides = _limits_data(account.overrides.model_dump())
    if overrides:
        data["overrides"] = overrides
    if account.upgrades:
        data["upgrades"] = [
            {
                "resource": u.resource,
                "amount": format_cpu(u.amount) if u.resource == "cpu" else format_size(u.amount),
                "expires": u.expires,
                "key": u.key,
            }
            for u in account.upgrades
        ]
    if account.created:
        data["created"] = account.created
    return data


def _ensure_valid(catalog: Catalog) -> None:
    problems = check_references(catalog)
    if problems:
        raise CatalogError(problems)


def _section_data(model: type[M], to_data: Callable[[M], dict[str, Any]], key: str) -> Reader:
    def read(raw: Any) -> dict[str, Any]:
        entries = raw[key] or {}
        return {key: {n: to_data(model.model_validate(d)) for n, d in sorted(entries.items())}}

    return read


def _write(path: Path, data: dict[str, Any], read: Reader, header: str | None) -> None:
    """Write `data` to a catalog file: as an edit of the file people wrote (comments, blank
    lines and key order kept, only what changed touched) when that edit reads back as exactly
    `data`; in full when there is no file yet or it cannot be edited safely."""
    text = dump_yaml(data, header)
    if path.exists():
        current = path.read_text(encoding="utf-8")
        try:
            edited = update_yaml(current, _read_back(current, read) or {}, data)
        except (YamlError, ValueError):  # ruamel's errors are ValueErrors: not worth keeping
            edited = None
        if edited is not None and _read_back(edited, read) == data:
            text = edited
    atomic_write(path, text)


def _read_back(text: str, read: Reader) -> dict[str, Any] | None:
    """What a catalog file says, as the data a full write of it would hold; None if invalid."""
    try:
        return read(load_yaml_text(text, "catalog"))
    except (YamlError, ValidationError, LookupError, TypeError, AttributeError):
        return None


def save_plans(catalog: Catalog) -> None:
    _ensure_valid(catalog)
    data = {"plans": {n: plan_data(p) for n, p in sorted(catalog.plans.items())}}
    _write(plans_path(catalog.root), data, _section_data(Plan, plan_data, "plans"), HEADER)


def save_servers(catalog: Catalog) -> None:
    _ensure_valid(catalog)
    data = {"servers": {n: server_data(s) for n, s in sorted(catalog.servers.items())}}
    read = _section_data(Server, server_data, "servers")
    _write(servers_path(catalog.root), data, read, HEADER)


def save_account(catalog: Catalog, name: str) -> None:
    _ensure_valid(catalog)
    data = account_data(catalog.accounts[name])
    _write(account_path(catalog.root, name), data, _account_read, None)


def _account_read(raw: Any) -> dict[str, Any]:
    return account_data(Account.model_validate(raw))


def remove_account_file(root: Path, name: str) -> None:
    account_path(root, name).unlink(missing_ok=True)
