"""Line protocol: escaping and fixed field types."""

from __future__ import annotations

import pytest

from scaler.agent_lineproto import format_field, point


def test_tags_and_measurement_are_escaped() -> None:
    line = point(
        "acc ount,x", {"server": "web 1", "account": "a,b=c\\d"}, {"cpu mhz": 5}, 1_700_000
    )
    assert line == "acc\\ ount\\,x,account=a\\,b\\=c\\\\d,server=web\\ 1 cpu\\ mhz=5i 1700000"


def test_field_types_never_change() -> None:
    assert format_field(5) == "5i"
    assert format_field(0) == "0i"
    assert format_field(2.0) == "2.0"
    assert format_field(1e-7) == "1e-07"
    assert format_field(True) == "true"
    assert format_field('say "hi" \\o/') == '"say \\"hi\\" \\\\o/"'


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_unstorable_floats_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="not a storable float"):
        format_field(bad)


def test_newlines_never_reach_the_wire() -> None:
    with pytest.raises(ValueError, match="newline"):
        point("m", {"account": "a\nm2 x=1i"}, {"x": 1}, 1)
    with pytest.raises(ValueError, match="newline"):
        point("m", {}, {"s": "two\nlines"}, 1)


def test_empty_tags_are_left_out_and_fields_are_required() -> None:
    assert point("m", {"server": ""}, {"x": 1}, 2) == "m x=1i 2"
    with pytest.raises(ValueError, match="without fields"):
        point("m", {}, {}, 1)
