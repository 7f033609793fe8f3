"""The one limits function: base (plan, upgrades, overrides) raised by the boosts in force,
and the boost history in the state DB answering "what was in force then"."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from glue.catalog import Catalog
from glue.limits import limits_in_force
from glue.models import Account, Plan, Server
from glue.services.context import Context
from glue.services.root import BASE_PLAN
from glue.state.boosts import boost_history, boosts_at, close_boosts, open_boost

TODAY = dt.date(2026, 11, 22)
PLAN = Plan.model_validate(BASE_PLAN)
SERVER = Server.model_validate(
    {"provider": "lab", "cores": 2, "core_ghz": "2GHz", "memory": "8GiB", "disk": "100GiB"}
)


def account(**changes: object) -> Account:
    data: dict[str, object] = {"plan": "base", "server": "web1", "domains": ["x.example"]}
    return Account.model_validate({**data, **changes})


def fleet() -> Catalog:
    upgraded = account(
        upgrades=[{"resource": "cpu", "amount": "1GHz", "expires": "2026-12-01", "key": "u"}]
    )
    overridden = account(overrides={"memory": "4GiB"})
    accounts = {"plain": account(), "upgraded": upgraded, "overridden": overridden}
    return Catalog(Path("/nonexistent"), {"base": PLAN}, {"web1": SERVER}, accounts)


def test_base_upgrades_until_they_expire_and_overrides() -> None:
    catalog = fleet()
    now = limits_in_force(catalog, {}, TODAY)
    assert sorted(now) == ["overridden", "plain", "upgraded"]
    assert now["plain"] == PLAN.base
    assert now["upgraded"].cpu_mhz == 2000
    assert now["overridden"].memory_mib == 4096
    later = limits_in_force(catalog, {}, dt.date(2026, 12, 1), ["upgraded"])
    assert list(later) == ["upgraded"] and later["upgraded"].cpu_mhz == 1000  # expired


def test_boosts_raise_and_boosts_below_base_are_ignored() -> None:
    boosts = {"plain": {"cpu": 2500}, "upgraded": {"cpu": 1500, "memory": 3072}}
    got = limits_in_force(fleet(), boosts, TODAY)
    assert got["plain"].cpu_mhz == 2500
    assert got["upgraded"].cpu_mhz == 2000  # the upgraded base is above the boost: base wins
    assert got["upgraded"].memory_mib == 3072
    assert got["overridden"] == limits_in_force(fleet(), {}, TODAY)["overridden"]


def test_boost_history_answers_for_past_times(root: Path) -> None:
    engine = Context(root=root).engine
    t0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)
    hour = dt.timedelta(hours=1)
    open_boost(engine, "plain", "cpu", 1500, t0, "busy")
    open_boost(engine, "plain", "cpu", 2000, t0 + hour, "busier")
    open_boost(engine, "plain", "memory", 3072, t0 + hour)
    close_boosts(engine, "plain", t0 + 2 * hour, resource="cpu")

    assert boosts_at(engine, t0 - hour) == {}
    assert boosts_at(engine, t0) == {"plain": {"cpu": 1500}}
    assert boosts_at(engine, t0 + hour) == {"plain": {"cpu": 2000, "memory": 3072}}
    assert boosts_at(engine, t0 + 3 * hour) == {"plain": {"memory": 3072}}
    assert boosts_at(engine) == {"plain": {"memory": 3072}}  # open now

    history = boost_history(engine, "plain")
    assert [(b.resource, b.value, b.until) for b in history] == [
        ("cpu", 1500, t0 + hour),  # closed, never overwritten
        ("cpu", 2000, t0 + 2 * hour),
        ("memory", 3072, None),
    ]
    assert history[0].reason == "busy" and history[0].since == t0

    back_then = limits_in_force(fleet(), boosts_at(engine, t0 + hour), (t0 + hour).date())
    assert back_then["plain"].cpu_mhz == 2000 and back_then["plain"].memory_mib == 3072
    close_boosts(engine, "plain")
    assert boosts_at(engine) == {}
    assert limits_in_force(fleet(), boosts_at(engine), TODAY)["plain"] == PLAN.base
