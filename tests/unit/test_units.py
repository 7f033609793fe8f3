from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from glue.units import (
    UnitError,
    format_cpu,
    format_money,
    format_size,
    parse_cpu_mhz,
    parse_money_cents,
    parse_size_mib,
)


@pytest.mark.parametrize(
    ("text", "mhz"),
    [("1GHz", 1000), ("1.5GHz", 1500), ("1500MHz", 1500), ("2.25ghz", 2250), (800, 800)],
)
def test_cpu(text: str, mhz: int) -> None:
    assert parse_cpu_mhz(text) == mhz


@pytest.mark.parametrize(
    ("text", "mib"),
    [
        ("2GiB", 2048),
        ("2048MiB", 2048),
        ("30GB", 30 * 10**9 // 2**20),  # decimal gigabytes, exactly, rounded down
        ("1TiB", 1024 * 1024),
        ("1.5GiB", 1536),
    ],
)
def test_size(text: str, mib: int) -> None:
    assert parse_size_mib(text) == mib


def test_gb_and_gib_differ_exactly() -> None:
    assert parse_size_mib("1GiB") == 1024
    assert parse_size_mib("1GB") == 953  # 10**9 bytes = 953.67 MiB


@pytest.mark.parametrize("bad", ["1", "GHz", "1.0005GHz", "-1GHz", "0MHz", "1 Ghz x", "1e3MHz"])
def test_bad_cpu(bad: str) -> None:
    with pytest.raises(UnitError, match=r"CPU|whole|more than"):
        parse_cpu_mhz(bad)


@pytest.mark.parametrize("bad", ["2G", "2 gigs", "0MiB", "100KB", "-1GiB"])
def test_bad_size(bad: str) -> None:
    with pytest.raises(UnitError):
        parse_size_mib(bad)


@pytest.mark.parametrize(
    ("text", "cents"),
    [("12.50", 1250), ("12.5", 1250), ("0.01", 1), ("7", 700), (Decimal("3.10"), 310)],
)
def test_money(text: str, cents: int) -> None:
    assert parse_money_cents(text) == cents


@pytest.mark.parametrize("bad", ["1.005", "abc", "1,50", "", "1e2", "-3.00"])
def test_bad_money(bad: str) -> None:
    with pytest.raises(UnitError):
        parse_money_cents(bad)


def test_money_refuses_floats() -> None:
    with pytest.raises(UnitError, match="decimal string"):
        parse_money_cents(0.1)  # type: ignore[arg-type]


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_money_round_trip(cents: int) -> None:
    assert parse_money_cents(format_money(cents), allow_negative=True) == cents


@given(st.integers(min_value=1, max_value=10**6))
def test_cpu_and_size_round_trip(value: int) -> None:
    assert parse_cpu_mhz(format_cpu(value)) == value
    assert parse_size_mib(format_size(value)) == value
