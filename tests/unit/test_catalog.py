"""Loading and writing the catalog: every problem named by file, field and value."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from glue.catalog import CatalogError, load_catalog, save_account

SERVERS = """servers:
  web1: {provider: lab, cores: 2, core_ghz: 2GHz, memory: 8GiB, disk: 100GiB, address: 198.18.0.11}
"""


def write(root: Path, rel: str, text: str) -> None:
    path = root / "catalog" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def problems(root: Path) -> list[str]:
    with pytest.raises(CatalogError) as info:
        load_catalog(root)
    return info.value.problems


def test_fresh_root_has_the_base_plan(root: Path) -> None:
    catalog = load_catalog(root)
    base = catalog.plans["base"].base
    assert (base.cpu_mhz, base.memory_mib, base.disk_mib) == (1000, 2048, 30 * 1024)


def test_units_are_parsed_to_integers(root: Path) -> None:
    write(root, "servers.yml", SERVERS)
    write(root, "accounts/alice.yml", "plan: base\nserver: web1\ndomains: [alice.example]\n")
    catalog = load_catalog(root)
    assert catalog.servers["web1"].core_mhz == 2000
    assert catalog.servers["web1"].memory_mib == 8192
    assert catalog.accounts["alice"].domains == ["alice.example"]


def test_unknown_field_names_file_and_path(root: Path) -> None:
    write(root, "servers.yml", SERVERS.replace("cores: 2", "cores: 2, coers: 3"))
    assert problems(root) == ["catalog/servers.yml: servers.web1.coers: unknown field (got 3)"]


def test_bad_unit_names_the_value(root: Path) -> None:
    write(root, "servers.yml", SERVERS.replace("memory: 8GiB", "memory: 8 gigs"))
    [line] = problems(root)
    assert line.startswith("catalog/servers.yml: servers.web1.memory:")
    assert "'8 gigs'" in line


def test_problems_are_collected_across_files(root: Path) -> None:
    write(root, "servers.yml", SERVERS)
    write(root, "accounts/alice.yml", "plan: gold\nserver: web1\ndomains: [alice.example]\n")
    write(root, "accounts/bob.yml", "plan: base\nserver: web9\ndomains: [alice.example]\n")
    write(root, "accounts/carol.yml", "plan: base\nserver: web1\ndomains: ['../etc/passwd']\n")
    found = problems(root)
    assert "catalog/accounts/alice.yml: plan: unknown plan 'gold' (known: base)" in found
    assert "catalog/accounts/bob.yml: server: unknown server 'web9'" in found
    assert (
        "catalog/accounts/bob.yml: domains: 'alice.example' already belongs to account 'alice'"
        in found
    )
    assert any(p.startswith("catalog/accounts/carol.yml: domains.0:") for p in found)


@pytest.mark.parametrize("name", ["Alice", "a_b", "a-b", "a.b", "x" * 17, "-a", "a;rm", "1a"])
def test_bad_account_file_names(root: Path, name: str) -> None:
    write(root, "servers.yml", SERVERS)
    write(root, f"accounts/{name}.yml", "plan: base\nserver: web1\ndomains: [a.example]\n")
    assert any("is not a valid account name" in p for p in problems(root))


def test_duplicate_yaml_keys_are_refused(root: Path) -> None:
    write(root, "servers.yml", SERVERS + "  web1: {provider: lab}\n")
    [line] = problems(root)
    assert line.startswith("catalog/servers.yml:3: not valid YAML: duplicate key 'web1'")


def test_unquoted_decimal_money_is_exact(root: Path) -> None:
    plans = (root / "catalog" / "plans.yml").read_text().replace("'0.02'", "0.07")
    write(root, "plans.yml", plans)
    rule = load_catalog(root).plans["base"].elastic.cpu
    assert rule is not None and rule.hourly_price == 7


def test_money_with_three_places_is_refused(root: Path) -> None:
    plans = (root / "catalog" / "plans.yml").read_text().replace("'60.00'", "'60.005'")
    write(root, "plans.yml", plans)
    [line] = problems(root)
    assert line.startswith("catalog/plans.yml: plans.base.upgrade.cpu.yearly_price:")


def test_elastic_ceiling_below_base_is_refused(root: Path) -> None:
    plans = (root / "catalog" / "plans.yml").read_text().replace("ceiling: 4GHz", "ceiling: 500MHz")
    write(root, "plans.yml", plans)
    [line] = problems(root)
    assert "elastic.cpu.ceiling is below the plan's base" in line


def test_the_daily_spend_cap_survives_a_write(root: Path) -> None:
    write(root, "servers.yml", SERVERS)
    write(root, "accounts/shop.yml", "plan: base\nserver: web1\ndomains: [shop.example]\n")
    catalog = load_catalog(root)
    capped = catalog.accounts["shop"].model_copy(update={"max_daily": 505})
    save_account(catalog.with_account("shop", capped), "shop")
    assert load_catalog(root).accounts["shop"].max_daily == 505


def test_account_files_parse_once_while_unchanged_and_a_racy_edit_is_seen(root: Path) -> None:
    write(root, "servers.yml", SERVERS)
    write(root, "accounts/shop.yml", "plan: base\nserver: web1\ndomains: [shop.example]\n")
    write(root, "accounts/old.yml", "plan: base\nserver: web1\ndomains: [old.example]\n")
    old = root / "catalog" / "accounts" / "old.yml"
    os.utime(old, ns=(1, 1_000_000_000))  # written long ago: parsed once, then reused
    first = load_catalog(root)
    assert load_catalog(root).accounts["old"] is first.accounts["old"]
    # An edit in place within the same mtime tick as the read: same size, same mtime, same
    # inode. A file this fresh is never taken from the cache, so the edit is seen.
    shop = root / "catalog" / "accounts" / "shop.yml"
    stamp = shop.stat().st_mtime_ns
    with shop.open("r+") as file:
        file.write("plan: base\nserver: web1\ndomains: [shoq.example]\n")
    os.utime(shop, ns=(stamp, stamp))
    assert load_catalog(root).accounts["shop"].domains == ["shoq.example"]
    # An edit of the old file (new mtime) is seen; a removed file is gone.
    old.write_text("plan: base\nserver: web1\ndomains: [new.example]\n")
    assert load_catalog(root).accounts["old"].domains == ["new.example"]
    old.unlink()
    assert "old" not in load_catalog(root).accounts


def test_an_unchanged_catalog_is_taken_whole_and_any_change_is_checked_again(root: Path) -> None:
    write(root, "servers.yml", SERVERS)
    write(root, "accounts/shop.yml", "plan: base\nserver: web1\ndomains: [shop.example]\n")
    write(root, "accounts/old.yml", "plan: base\nserver: web1\ndomains: [old.example]\n")
    files = [root / "catalog" / name for name in
             ("plans.yml", "servers.yml", "accounts/shop.yml", "accounts/old.yml")]  # fmt: skip
    for path in files:
        os.utime(path, ns=(1, 1_000_000_000))
    first = load_catalog(root)
    assert load_catalog(root) is first  # nothing moved: no parse, no cross-file check
    # A file valid alone that clashes with another is refused on every load, not once.
    old = files[3]
    old.write_text("plan: base\nserver: web1\ndomains: [shop.example]\n")
    os.utime(old, ns=(2, 2_000_000_000))
    for _ in range(2):
        with pytest.raises(CatalogError, match=r"shop\.example"):
            load_catalog(root)
    old.write_text("plan: base\nserver: web1\ndomains: [old.example]\n")
    os.utime(old, ns=(3, 3_000_000_000))
    again = load_catalog(root)
    assert again is not first and load_catalog(root) is again
    # servers.yml moved: read again.
    files[1].write_text(SERVERS + "# moved\n")
    os.utime(files[1], ns=(4, 4_000_000_000))
    assert load_catalog(root) is not again
