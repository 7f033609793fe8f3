"""Effective limits and placement on a catalog built in memory."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from glue.limits import cpu_quota_percent, effective_base, raised_by_boosts
from glue.placement import PlacementError, choose_server
from tests.support.models import PLAN, account, catalog, server

TODAY = dt.date(2026, 11, 22)


def test_upgrades_add_and_overrides_win() -> None:
    upgrades = [
        {"resource": "cpu", "amount": "1GHz", "expires": "2027-11-22", "key": "a"},
        {"resource": "cpu", "amount": "1GHz", "expires": "2026-11-22", "key": "b"},  # expired today
        {"resource": "disk", "amount": "10GiB", "expires": "2027-01-01", "key": "c"},
    ]
    acct = account("web1", upgrades=upgrades, overrides={"disk": "5GiB"})
    base = effective_base(PLAN, acct, TODAY)
    assert base.cpu_mhz == 2000  # plan 1 GHz + one active upgrade
    assert base.disk_mib == 5 * 1024  # the admin override wins over plan + upgrade
    assert base.memory_mib == 2048


def test_limits_in_force_never_below_base() -> None:
    base = PLAN.base
    assert raised_by_boosts(base, {"cpu": 3000}).cpu_mhz == 3000
    assert raised_by_boosts(base, {"cpu": 500}).cpu_mhz == 1000


@pytest.mark.parametrize(
    ("mhz", "core", "pct"), [(1000, 2500, 40), (1000, 2000, 50), (1000, 3000, 34)]
)
def test_cpu_quota(mhz: int, core: int, pct: int) -> None:
    assert cpu_quota_percent(mhz, core) == pct


def test_fewest_accounts_wins() -> None:
    cat = catalog(
        {"a": server(), "b": server()},
        {"x1": account("a"), "x2": account("a"), "y1": account("b")},
    )
    assert choose_server(cat, PLAN.base, TODAY).server == "b"


def test_accounts_being_removed_do_not_count() -> None:
    leaving = {f"x{i}": account("a", state="removing") for i in range(3)}
    cat = catalog(
        {"a": server(), "b": server()},
        {**leaving, "x9": account("a", state="purging"), "y1": account("b")},
    )
    placement = choose_server(cat, PLAN.base, TODAY)
    assert placement.server == "a"
    assert placement.reason.startswith("a has the fewest accounts (0)")


def test_tie_broken_by_committed_then_name() -> None:
    big = account("a", overrides={"disk": "90GiB"})
    cat = catalog({"a": server(), "b": server(), "c": server()}, {"x": big, "y": account("b")})
    placement = choose_server(cat, PLAN.base, TODAY)
    assert placement.server == "c"
    cat = catalog({"a": server(), "b": server()}, {"y": account("b"), "x": account("a")})
    placement = choose_server(cat, PLAN.base, TODAY)
    assert placement.server == "a"
    assert "then by name" in placement.reason


def test_fill_is_relative_to_capacity() -> None:
    # Same accounts and same absolute load, but b is twice as big: b is less committed.
    cat = catalog(
        {"a": server(), "b": server(disk="200GiB", memory="16GiB", cores=4)},
        {"x": account("a"), "y": account("b")},
    )
    assert choose_server(cat, PLAN.base, TODAY).server == "b"


def test_draining_down_and_full_servers_are_skipped() -> None:
    cat = catalog(
        {
            "a": server(state="draining"),
            "b": server(state="down"),
            "c": server(disk="40GiB"),
            "d": server(),
        },
        {"x": account("c"), "y": account("d"), "z": account("d")},
    )
    placement = choose_server(cat, PLAN.base, TODAY)
    assert placement.server == "d"
    assert "a is draining" in placement.reason and "c has no room" in placement.reason


def test_full_cluster_is_an_error() -> None:
    cat = catalog({"a": server(state="draining"), "c": server(disk="20GiB")}, {})
    with pytest.raises(
        PlacementError, match="no server can take the account: a is draining; c has no room"
    ):
        choose_server(cat, PLAN.base, TODAY)


def test_cloud_addresses_from_terraform_outputs_are_recorded(tmp_path: Path) -> None:
    """In the state DB, not the catalog; the inventory reads them where a person set none."""
    import yaml

    from glue.render.inventory import render_inventory
    from glue.state.addresses import (
        address_of,
        record_addresses,
        recorded_addresses,
        server_address,
    )
    from glue.state.db import open_engine

    engine = open_engine(f"sqlite:///{tmp_path / 'state.sqlite'}")
    at = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
    cloud = server(provider="hcloud", type="cx22", region="fsn1", address=None)
    cat = catalog({"c1": cloud, "lab1": server(address="198.18.0.11")}, {})
    assert record_addresses(engine, "hcloud", {"c1": "203.0.113.7", "gone": "1.2.3.4"}, at)
    assert record_addresses(engine, "lab", {"lab1": "198.18.0.99"}, at)
    recorded = recorded_addresses(engine)
    assert recorded == {"c1": "203.0.113.7", "gone": "1.2.3.4", "lab1": "198.18.0.99"}
    assert cat.servers["c1"].address is None

    # The person's address wins; the provider's fills in where there is none.
    assert server_address("c1", cat.servers["c1"], recorded) == "203.0.113.7"
    assert server_address("lab1", cat.servers["lab1"], recorded) == "198.18.0.11"
    # One server at a time, the same answer (ssh, probes, migrate).
    assert address_of(engine, "c1", cat.servers["c1"]) == "203.0.113.7"
    assert address_of(engine, "lab1", cat.servers["lab1"]) == "198.18.0.11"
    assert address_of(engine, "c9", cloud) is None
    hosts_yml = render_inventory(cat, {}, TODAY, recorded)["hosts.yml"]
    hosts = yaml.safe_load(hosts_yml)["all"]["children"]["bubble_servers"]["hosts"]
    assert hosts == {"c1": {"ansible_host": "203.0.113.7"}, "lab1": {"ansible_host": "198.18.0.11"}}

    # The same output again changes nothing; a server gone from its stack's output is forgotten.
    assert not record_addresses(engine, "hcloud", {"c1": "203.0.113.7", "gone": "1.2.3.4"}, at)
    assert record_addresses(engine, "hcloud", {"c1": "203.0.113.7"}, at)
    assert recorded_addresses(engine) == {"c1": "203.0.113.7", "lab1": "198.18.0.99"}
    assert server_address("c1", cloud, {}) is None
