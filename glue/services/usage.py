"""What an account used: its recent samples from InfluxDB, read by the scaler's own query."""

from __future__ import annotations

import datetime as dt
from typing import Any

from glue.errors import BubbleError
from glue.services.accounts import require_account
from glue.services.context import Context


def account_usage(
    ctx: Context, name: str, since_s: int, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """The account's samples of the last `since_s` seconds, oldest first (`scaler.metrics.
    samples`); InfluxDB away or refusing: one BubbleError line."""
    from scaler.agent_http import InfluxRejected, InfluxUnavailable
    from scaler.influx import InfluxClient, InfluxQueryError
    from scaler.metrics import Window, samples

    require_account(ctx.catalog(), name, leaving_ok=True)
    at = (now or dt.datetime.now(dt.UTC)).timestamp()
    try:
        influx = InfluxClient.from_settings(ctx.settings)
        return samples(influx, name, Window(at, since_s))
    except (InfluxUnavailable, InfluxRejected, InfluxQueryError, ValueError) as exc:
        raise BubbleError(f"usage of {name}: {exc}") from None


# The graph ranges people choose between, in seconds.
RANGES = {"1h": 3600, "24h": 86_400, "30d": 2_592_000}


def usage_graph(
    ctx: Context, name: str, since_s: int, buckets: int = 240, now: dt.datetime | None = None
) -> dict[str, Any]:
    """What the usage graphs draw for the last `since_s` seconds: per resource its base (now),
    and per time bucket the highest use and limit in force the samples saw (epoch seconds,
    None where no sample fell); the scaler's raises and lowers per resource and the charges
    (`history.account_history`) inside the window. Units: the catalog's (MHz, MiB)."""
    from glue.limits import effective_base
    from glue.models import RESOURCES
    from glue.services.history import account_history

    end = (now or dt.datetime.now(dt.UTC)).timestamp()
    start, width = end - since_s, since_s / buckets
    catalog = ctx.catalog()
    account = require_account(catalog, name, leaving_ok=True)
    base = effective_base(catalog.plans[account.plan], account, ctx.today)
    series: dict[str, list[list[Any]]] = {
        r: [[start + (i + 0.5) * width, None, None] for i in range(buckets)] for r in RESOURCES
    }
    for sample in account_usage(ctx, name, since_s, now):
        at = dt.datetime.fromisoformat(sample["at"]).timestamp()
        index = min(buckets - 1, max(0, int((at - start) / width)))
        for resource in RESOURCES:
            point = series[resource][index]
            for column, value in ((1, sample[resource]["use"]), (2, sample[resource]["limit"])):
                if value is not None:
                    point[column] = value if point[column] is None else max(point[column], value)
    marks: dict[str, list[dict[str, Any]]] = {r: [] for r in (*RESOURCES, "charge")}
    for entry in account_history(ctx, name):
        at = dt.datetime.fromisoformat(entry["at"]).timestamp()
        if start <= at <= end:
            kind = "charge" if entry["kind"] == "charge" else entry["resource"]
            if kind in marks:
                marks[kind].append({**entry, "t": at})
    return {
        "account": name, "start": start, "end": end,
        "base": {r: base.get(r) for r in RESOURCES}, "series": series, "marks": marks,
    }  # fmt: skip
