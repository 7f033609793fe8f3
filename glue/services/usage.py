"""What an account used: its recent samples from InfluxDB, read by the scaler's own query."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from glue.errors import BubbleError
from glue.services.accounts import require_account
from glue.services.context import Context

if TYPE_CHECKING:
    from scaler.influx import InfluxClient


@contextmanager
def _influx(ctx: Context, what: str) -> Iterator[InfluxClient]:
    """The settings' InfluxDB; away, refusing or a bad answer: one BubbleError line."""
    from scaler.agent_http import InfluxRejected, InfluxUnavailable
    from scaler.influx import InfluxClient, InfluxQueryError

    try:
        yield InfluxClient.from_settings(ctx.settings)
    except (InfluxUnavailable, InfluxRejected, InfluxQueryError, ValueError) as exc:
        raise BubbleError(f"usage of {what}: {exc}") from None


def account_usage(
    ctx: Context, name: str, since_s: int, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """The account's samples of the last `since_s` seconds, oldest first (`scaler.metrics.
    samples`); InfluxDB away or refusing: one BubbleError line."""
    from scaler.metrics import Window, samples

    require_account(ctx.catalog(), name, leaving_ok=True)
    at = (now or dt.datetime.now(dt.UTC)).timestamp()
    with _influx(ctx, name) as influx:
        return samples(influx, name, Window(at, since_s))


def current_use(
    ctx: Context, names: list[str], now: dt.datetime | None = None
) -> dict[str, dict[str, int | None]]:
    """What each of `names` (a page of accounts, never the fleet) uses now: its newest sample
    of the last minute (`scaler.metrics.latest`, one query), per resource (cpu, memory, disk,
    processes); an account without one is left out. InfluxDB away: one BubbleError line."""
    from scaler.metrics import Window, latest

    at = (now or dt.datetime.now(dt.UTC)).timestamp()
    with _influx(ctx, f"{len(names)} accounts") as influx:
        return latest(influx, Window(at, 60), names)


# The graph ranges people choose between, in seconds.
RANGES = {"1h": 3600, "24h": 86_400, "30d": 2_592_000}
# Intervals of a graph: the pages' width; the API's bound keeps a 30-day answer small.
POINTS, MAX_POINTS = 240, 1000


def usage_graph(
    ctx: Context, name: str, since_s: int, points: int = POINTS, now: dt.datetime | None = None
) -> dict[str, Any]:
    """What the usage graphs draw for the last `since_s` seconds in about `points` intervals
    (`scaler.metrics.peaks`): per resource (cpu, memory, disk, processes) its base (now) and
    per interval [start + half the step (epoch seconds), highest use, highest limit in force]
    (intervals without a sample left out); the scaler's raises and lowers per resource and the
    charges (`history.account_history`) inside the window. Units: the catalog's (MHz, MiB,
    tasks)."""
    from glue.limits import effective_base
    from glue.models import RESOURCES
    from glue.services.history import account_history
    from scaler.metrics import GRAPHED, Window, peaks

    end = (now or dt.datetime.now(dt.UTC)).timestamp()
    start, step = end - since_s, max(1, -(-since_s // points))
    catalog = ctx.catalog()
    account = require_account(catalog, name, leaving_ok=True)
    base = effective_base(catalog.plans[account.plan], account, ctx.today)
    with _influx(ctx, name) as influx:
        rows = peaks(influx, name, Window(end, since_s), step)
    series = {
        r: [[max(start, row["t"] + step / 2), row[r]["use"], row[r]["limit"]] for row in rows]
        for r in GRAPHED
    }
    marks: dict[str, list[dict[str, Any]]] = {r: [] for r in (*GRAPHED, "charge")}
    for entry in account_history(ctx, name):
        at = dt.datetime.fromisoformat(entry["at"]).timestamp()
        if start <= at <= end:
            kind = "charge" if entry["kind"] == "charge" else entry["resource"]
            if kind in marks:
                marks[kind].append({**entry, "t": at})
    return {
        "account": name, "start": start, "end": end, "step": step,
        "base": {**{r: base.get(r) for r in RESOURCES}, "processes": base.processes},
        "series": series, "marks": marks,
    }  # fmt: skip
