"""Units as people write them, parsed once into exact integers.

CPU is a clock budget in MHz (`1GHz`, `1500MHz`, `1.5GHz`); sizes are MiB (`2GiB`, `2048MiB`,
`30GB`; GB = 10**9 bytes and GiB = 2**30 bytes exactly, then rounded down to whole MiB);
money is cents (`"12.50"`: a decimal with at most two places). Decimal arithmetic throughout:
a float never touches a limit or an amount.
"""

from __future__ import annotations

import re
from decimal import Decimal

from glue.errors import BubbleError

MIB = 2**20

# ASCII digits only (`\d` would also take other scripts' digits), always matched in full.
_NUMBER = r"(?P<num>[0-9]+(?:\.[0-9]+)?)"
_CPU_RE = re.compile(rf"{_NUMBER}[ \t]*(?P<unit>GHz|MHz)", re.IGNORECASE)
_SIZE_RE = re.compile(rf"{_NUMBER}[ \t]*(?P<unit>[KMGT]i?B)", re.IGNORECASE)
_MONEY_RE = re.compile(r"-?[0-9]+(?:\.[0-9]{1,2})?")

# The largest amount one ledger entry may carry: 10 billion in the wallet's currency. Far
# above any real payment, far below what the BIGINT columns hold even summed over many entries.
MAX_MONEY_CENTS = 10**12

_CPU_FACTORS = {"mhz": 1, "ghz": 1000}
_SIZE_FACTORS = {
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


class UnitError(BubbleError):
    """A value that is not a valid quantity in its unit."""


def _exact_int(value: Decimal, what: str, text: str) -> int:
    if value != value.to_integral_value():
        raise UnitError(f"{text!r} is not a whole number of {what}")
    return int(value)


def parse_cpu_mhz(text: str | int) -> int:
    """`1GHz` -> 1000, `1500MHz` -> 1500. A bare integer is already MHz."""
    if isinstance(text, int) and not isinstance(text, bool):
        mhz = text
    else:
        match = _CPU_RE.fullmatch(str(text).strip())
        if not match:
            raise UnitError(f"{text!r} is not a CPU clock (write e.g. 1GHz or 1500MHz)")
        factor = _CPU_FACTORS[match["unit"].lower()]
        mhz = _exact_int(Decimal(match["num"]) * factor, "MHz", str(text))
    if mhz <= 0:
        raise UnitError(f"{text!r} must be more than 0 MHz")
    return mhz


def parse_size_mib(text: str | int) -> int:
    """`2GiB` -> 2048, `30GB` -> 28610 (rounded down). A bare integer is already MiB."""
    if isinstance(text, int) and not isinstance(text, bool):
        mib = text
    else:
        match = _SIZE_RE.fullmatch(str(text).strip())
        if not match:
            raise UnitError(f"{text!r} is not a size (write e.g. 2GiB, 512MiB or 30GB)")
        size_bytes = Decimal(match["num"]) * _SIZE_FACTORS[match["unit"].lower()]
        mib = int(size_bytes // MIB)
    if mib <= 0:
        raise UnitError(f"{text!r} must be at least 1MiB")
    return mib


def parse_money_cents(text: str | Decimal | int, *, allow_negative: bool = False) -> int:
    """`"12.50"` -> 1250. At most two decimal places; never a float."""
    if isinstance(text, float):
        raise UnitError(f'{text!r}: write money as a decimal string, e.g. "12.50"')
    raw = str(text).strip()
    if not _MONEY_RE.fullmatch(raw):
        raise UnitError(f"{raw!r} is not an amount of money (at most 2 decimal places)")
    value = Decimal(raw)  # the regex admits only plain decimals: never inf, nan or 1e3
    if value < 0 and not allow_negative:
        raise UnitError(f"{raw!r} must not be negative")
    if abs(value) * 100 > MAX_MONEY_CENTS:
        raise UnitError(f"{raw!r} is more than {format_money(MAX_MONEY_CENTS)}")
    return int(value * 100)


def format_money(cents: int) -> str:
    """1250 -> "12.50"; -5 -> "-0.05"."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


def format_cpu(mhz: int) -> str:
    """1000 -> 1GHz, 1500 -> 1.5GHz, 500 -> 500MHz: the way people write it."""
    if mhz >= 1000 and mhz % 100 == 0:
        return f"{(Decimal(mhz) / 1000).normalize():f}GHz"
    return f"{mhz}MHz"


def format_size(mib: int) -> str:
    return f"{mib // 1024}GiB" if mib % 1024 == 0 else f"{mib}MiB"
