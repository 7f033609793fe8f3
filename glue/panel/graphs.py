"""Graphs as inline SVG, drawn on the server (no script, no library, nothing fetched): the
panel's usage graphs (use against the base and the limit in force, the scaler's raises and
lowers and the charges marked) and the stress report's latency plots, all through one
plotter, `chart_svg`. Pure: numbers and text in, markup out; every text escaped."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from markupsafe import Markup

from glue.panel.i18n import term, translator

WIDTH, HEIGHT = 720, 190
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 10, 24
UNITS = {"cpu": "MHz", "memory": "MiB", "disk": "MiB", "processes": "tasks"}


@dataclass(frozen=True)
class Line:
    """One polyline: `points` are (x, y); a gap wider than the chart's `gap` breaks it."""

    cls: str
    colour: str
    width: float
    points: Sequence[tuple[float, float]]


@dataclass(frozen=True)
class Mark:
    """A vertical line at `x` (or, with `dot`, a dot at the bottom) with a hover text."""

    x: float
    cls: str
    title: str
    dot: bool = False


def _runs(points: Sequence[tuple[float, float]], gap: float) -> list[list[tuple[float, float]]]:
    """Consecutive points; a missing bucket (no sample) breaks the line."""
    runs: list[list[tuple[float, float]]] = []
    for point in points:
        if runs and point[0] - runs[-1][-1][0] <= gap:
            runs[-1].append(point)
        else:
            runs.append([point])
    return runs


def utc_minute(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def chart_svg(
    ident: str,
    label: str,
    unit: str,
    span: tuple[float, float],
    gap: float,
    lines: Sequence[Line],
    *,
    reference: tuple[float, str] | None = None,
    marks: Sequence[Mark] = (),
    highest: float = 0.0,
    x_text: Callable[[float], str] = utc_minute,
) -> Markup:
    """Lines over x in `span`, y from 0 to 15% above the highest value (of the lines, the
    `reference` and `highest`); `reference` is a dashed level with its hover text."""
    start, end = span
    top_value = max(
        1.0,
        1.15 * max([highest, *(v for line in lines for _, v in line.points),
                    *([reference[0]] if reference else [])]),
    )  # fmt: skip
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + plot_w * (t - start) / ((end - start) or 1.0)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / top_value)

    out = [
        f'<svg class="usage" id="graph-{escape(ident)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}">',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" '
        'stroke="#d7dce2"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 10}" text-anchor="end" font-size="11">'
        f"{top_value:.0f}</text>",
        f'<text x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end" font-size="11">'
        f"0 {escape(unit)}</text>",
    ]
    for t, anchor in ((start, "start"), (end, "end")):
        out.append(f'<text x="{x(t):.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}" '
                   f'font-size="11">{escape(x_text(t))}</text>')  # fmt: skip
    if reference is not None:
        level, title = reference
        out.append(f'<line class="base" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(level):.1f}" '
                   f'y2="{y(level):.1f}" stroke="#2c8a3e" stroke-dasharray="6 4">'
                   f"<title>{escape(title)}</title></line>")  # fmt: skip
    for line in lines:
        for run in _runs(line.points, gap):
            out.append(
                f'<polyline fill="none" stroke="{line.colour}" stroke-width="{line.width:g}" '
                f'class="{escape(line.cls)}" points="'
                + " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in run) + '"/>'
            )  # fmt: skip
    for mark in marks:
        at, title = x(mark.x), f"<title>{escape(mark.title)}</title>"
        if mark.dot:
            out.append(f'<circle class="{escape(mark.cls)}" cx="{at:.1f}" '
                       f'cy="{TOP + plot_h - 4}" r="3" fill="#c77700">'
                       f"{title}</circle>")  # fmt: skip
        else:
            out.append(f'<line class="{escape(mark.cls)}" x1="{at:.1f}" x2="{at:.1f}" '
                       f'y1="{TOP}" y2="{TOP + plot_h}" stroke="#c77700" '
                       f'stroke-dasharray="2 2">{title}</line>')  # fmt: skip
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - built above from numbers and escaped text


def usage_svg(data: dict[str, Any], resource: str, lang: str = "en") -> Markup:
    """One resource of `glue.services.usage.usage_graph`'s data: use (blue), the limit in
    force (red), the base (dashed), raises and lowers (lines) and charges (dots); the hover
    texts in `lang` (the scaler's reasons stay as it wrote them)."""
    _ = translator(lang)
    series = data["series"][resource]
    base = data["base"][resource]
    unit = UNITS.get(resource, "")

    def column(index: int) -> list[tuple[float, float]]:
        return [(float(p[0]), float(p[index])) for p in series if p[index] is not None]

    marks = [
        Mark(float(m["t"]), f"mark {m['kind']}",
             f"{m['at']} {term(lang, 'history', m['kind'])} {m['from']} → {m['to']} {unit}: "
             f"{m['reason']}")
        for m in data["marks"][resource]
    ] + [
        Mark(float(c["t"]), "charge", f"{c['at']} {term(lang, 'history', 'charge')} "
             f"{c['amount']}", dot=True)
        for c in data["marks"]["charge"]
    ]  # fmt: skip
    return chart_svg(
        resource,
        _("{resource} use against base and limit in force, {unit}", resource=resource, unit=unit),
        unit,
        (float(data["start"]), float(data["end"])),
        float(data["step"]) * 1.5,
        [Line("limit", "#b42323", 1.5, column(2)), Line("use", "#1f5e99", 2, column(1))],
        reference=(float(base), f"{_('base')} {base} {unit}"),
        marks=marks,
        highest=max([0.0, *(float(m["to"]) for m in data["marks"][resource])]),
    )
