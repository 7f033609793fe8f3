"""`bubble plan set` for the scaler's settings: thresholds, windows, and per resource the
elastic step, ceiling and hourly price; written by the round-trip catalog edit."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.cli import CliResult

Bubble = Callable[..., CliResult]


def plans(root: Path) -> str:
    return (root / "catalog" / "plans.yml").read_text()


def test_scaling_settings_are_written_keeping_comments_and_shown(
    bubble: Bubble, root: Path
) -> None:
    path = root / "catalog" / "plans.yml"
    path.write_text(
        plans(root).replace("    thresholds:", "    # tuned for shops\n    thresholds:")
    )
    code, out, err = bubble(
        "plan", "set", "base", "--threshold", "80%", "--down-threshold", "40",
        "--up-after", "30s", "--down-after", "10m", "--step", "cpu=250MHz",
        "--ceiling", "memory=6GiB", "--price", "cpu=0.03", "--price", "disk=0.05", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["plan"] == "base"
    assert "# tuned for shops" in plans(root)
    shown = json.loads(bubble("plan", "show", "base", "--json")[1])
    assert shown["thresholds"] == {
        "up_percent": 80, "down_percent": 40, "up_after_s": 30, "down_after_s": 600
    }  # fmt: skip
    elastic = shown["elastic"]
    assert (elastic["cpu"]["step"], elastic["cpu"]["ceiling"], elastic["cpu"]["hourly_price"]) == (
        250, 4000, 3
    )  # fmt: skip
    assert (elastic["memory"]["ceiling"], elastic["disk"]["hourly_price"]) == (6144, 5)
    text = bubble("plan", "show", "base")[1]
    assert "step: 250MHz" in text and "hourly_price: '0.03'" in text and "ceiling: 6GiB" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--threshold", "0%"), "--threshold: '0%': a percentage from 1% to 100%"),
        (("--threshold", "101"), "--threshold: '101': a percentage from 1% to 100%"),
        (("--down-threshold", "95%"), "down_percent must be below up_percent"),
        (("--up-after", "0s"), "--up-after: '0s': a duration above 0"),
        (("--down-after", "soon"), "--down-after: 'soon': a duration above 0"),
        (("--ceiling", "memory=1GiB"), "elastic.memory.ceiling is below the plan's base"),
        (("--step", "cpu=0MHz"), "--step: cpu: '0MHz' must be more than 0 MHz"),
        (("--step", "memory=-1GiB"), "--step: memory: '-1GiB' is not a size"),
        (("--price", "cpu=0.025"), "--price: cpu: '0.025' is not an amount of money"),
        (("--price", "gpu=1.00"), "--price: 'gpu=1.00': write RESOURCE=VALUE"),
        (("--ceiling", "8GiB"), "--ceiling: '8GiB': write RESOURCE=VALUE"),
    ],
)
def test_bad_scaling_settings_are_one_line_exit_2_and_change_nothing(
    bubble: Bubble, root: Path, args: tuple[str, ...], message: str
) -> None:
    before = plans(root)
    code, out, err = bubble("plan", "set", "base", *args)
    lines = err.strip().splitlines()
    assert (code, out) == (2, "") and len(lines) == 1 and message in lines[0], err
    assert plans(root) == before
