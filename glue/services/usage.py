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
