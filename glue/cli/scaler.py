"""`bubble scaler ...`: run the elastic scaler, and see what it is doing."""

from __future__ import annotations

import datetime as dt
import json
import logging

import typer

from glue.cli.common import JsonOption, context, print_json, say

scaler_app = typer.Typer(help="The elastic scaler: run, status.", no_args_is_help=True)


@scaler_app.command("run")
def run(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="One tick, then stop."),
    interval: str = typer.Option("5s", "--interval", help="Time between ticks: 5s, 1m."),
    as_json: bool = typer.Option(
        False, "--json", help="Log lines as JSON objects on stdout (one per line)."
    ),
) -> None:
    """Read usage, decide, carry changes to the servers and bill, every interval, while this
    scaler holds the lease (a second one waits and takes over when the first dies)."""
    import contextlib
    import signal
    import sys

    from glue.errors import BubbleError
    from scaler.influx import InfluxClient, duration_seconds
    from scaler.run import limits_push
    from scaler.run import run as run_scaler

    try:
        seconds = duration_seconds(interval)
    except ValueError:
        seconds = 0
    if seconds < 1:
        raise BubbleError(f"--interval {interval!r}: a duration of at least 1s, e.g. 5s or 1m")
    handler = logging.StreamHandler(sys.stdout if as_json else sys.stderr)
    handler.setFormatter(_JsonLines() if as_json else logging.Formatter("%(asctime)s %(message)s"))
    log = logging.getLogger("bubble.scaler")  # its own lines only (not alembic's, say)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    bubble = context(ctx)
    influx = InfluxClient.from_settings(bubble.settings)
    # systemd stops with SIGTERM: end like Ctrl-C, through run's `finally` (lease released).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt):
        run_scaler(bubble, influx, limits_push(bubble), interval_s=seconds, once=once)


class _JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        at = dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat()
        line = {"at": at, "level": record.levelname.lower(), "message": record.getMessage()}
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(line)


@scaler_app.command("status")
def status(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Lease holder, last tick, boosts in force and the last hour's decisions."""
    from scaler.run import status as scaler_status

    data = scaler_status(context(ctx))
    if as_json:
        print_json(data)
        return
    counts = ", ".join(f"{n} {kind}" for kind, n in data["last_hour"].items())
    say(f"lease: {data['holder'] or 'nobody'} (until {data['lease_expires_at']})")
    say(f"last tick: {data['last_tick'] or 'never'}")
    say(f"boosts in force: {data['boosts_in_force']}; last hour: {counts}")
