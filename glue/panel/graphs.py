"""Usage graphs as inline SVG, drawn on the server (no script, no library, nothing fetched):
use against the base and the limit in force, the scaler's raises and lowers and the charges
marked. Pure: `glue.services.usage.usage_graph`'s data in, markup out; every text escaped."""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

from markupsafe import Markup

WIDTH, HEIGHT = 720, 190
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 10, 24
UNITS = {"cpu": "MHz", "memory": "MiB", "disk": "MiB", "processes": "tasks"}


def _runs(points: list[tuple[float, float]], gap: float) -> list[list[tuple[float, float]]]:
    """Consecutive points; a missing bucket (no sample) breaks the line."""
    runs: list[list[tuple[float, float]]] = []
    for point in points:
        if runs and point[0] - runs[-1][-1][0] <= gap:
            runs[-1].append(point)
        else:
            runs.append([point])
    return runs


def usage_svg(data: dict[str, Any], resource: str) -> Markup:
    start, end = float(data["start"]), float(data["end"])
    series = data["series"][resource]
    base = data["base"][resource]
    marks = data["marks"][resource]
    charges = data["marks"]["charge"]
    highest = max(
        [base, *(v for _, u, lim in series for v in (u, lim) if v is not None),
         *(m["to"] for m in marks)]
    )  # fmt: skip
    top_value = max(1.0, float(highest) * 1.15)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    width = float(data["step"])

    def x(t: float) -> float:
        return LEFT + plot_w * (t - start) / (end - start)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / top_value)

    def lines(column: int, cls: str) -> list[str]:
        points = [(p[0], float(p[column])) for p in series if p[column] is not None]
        return [
            f'<polyline class="{cls}" points="'
            + " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in run) + '"/>'
            for run in _runs(points, width * 1.5)
        ]  # fmt: skip

    unit = UNITS.get(resource, "")
    label = f"{escape(resource)} use against base and limit in force, {unit}"
    out = [
        f'<svg class="usage" id="graph-{escape(resource)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}">',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" '
        'stroke="#d7dce2"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 10}" text-anchor="end" font-size="11">'
        f"{top_value:.0f}</text>",
        f'<text x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end" font-size="11">0 {unit}</text>',
    ]
    for t, anchor in ((start, "start"), (end, "end")):
        shown = dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        out.append(f'<text x="{x(t):.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}" '
                   f'font-size="11">{shown}</text>')  # fmt: skip
    out.append(f'<line class="base" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(base):.1f}" '
               f'y2="{y(base):.1f}" stroke="#2c8a3e" stroke-dasharray="6 4">'
               f"<title>base {base} {unit}</title></line>")  # fmt: skip
    out += [s.replace("<polyline", '<polyline fill="none" stroke="#b42323" stroke-width="1.5"')
            for s in lines(2, "limit")]  # fmt: skip
    out += [s.replace("<polyline", '<polyline fill="none" stroke="#1f5e99" stroke-width="2"')
            for s in lines(1, "use")]  # fmt: skip
    for mark in marks:
        at = x(float(mark["t"]))
        what = f"{mark['kind']} {mark['from']} → {mark['to']} {unit}: {mark['reason']}"
        out.append(f'<line class="mark {escape(mark["kind"])}" x1="{at:.1f}" x2="{at:.1f}" '
                   f'y1="{TOP}" y2="{TOP + plot_h}" stroke="#c77700" stroke-dasharray="2 2">'
                   f"<title>{escape(mark['at'])} {escape(what)}</title></line>")  # fmt: skip
    for charge in charges:
        out.append(f'<circle class="charge" cx="{x(float(charge["t"])):.1f}" '
                   f'cy="{TOP + plot_h - 4}" r="3" fill="#c77700">'
                   f"<title>{escape(charge['at'])} charged {escape(charge['amount'])}</title>"
                   "</circle>")  # fmt: skip
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - built above from numbers and escaped text
