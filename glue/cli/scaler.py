"""`bubble scaler ...`: run the elastic scaler, and see what it is doing."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer

from glue.cli.common import (
    JsonLines,
    JsonOption,
    UnitInstallOption,
    UnitTargetRootOption,
    UnitUserOption,
    context,
    duration_option,
    print_json,
    say,
    show_or_install_unit,
)
from scaler.service_unit import ENV_FILE

scaler_app = typer.Typer(help="The elastic scaler: run, status, unit.", no_args_is_help=True)


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

    from scaler.influx import InfluxClient
    from scaler.run import limits_push
    from scaler.run import run as run_scaler

    seconds = _interval(interval)
    handler = logging.StreamHandler(sys.stdout if as_json else sys.stderr)
    handler.setFormatter(JsonLines() if as_json else logging.Formatter("%(asctime)s %(message)s"))
    log = logging.getLogger("bubble.scaler")  # its own lines only (not alembic's, say)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    bubble = context(ctx)
    influx = InfluxClient.from_settings(bubble.settings)
    # systemd stops with SIGTERM: end like Ctrl-C, through run's `finally` (lease released).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt):
        run_scaler(bubble, influx, limits_push(bubble), interval_s=seconds, once=once)


def _interval(text: str) -> int:
    return duration_option("--interval", text)


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


@scaler_app.command("unit")
def unit(
    ctx: typer.Context,
    install: bool = UnitInstallOption,
    user: str = UnitUserOption,
    interval: str = typer.Option("5s", "--interval", help="Time between ticks: 5s, 1m."),
    env_file: Path = typer.Option(
        ENV_FILE, "--env-file", help="Where its settings and secrets are (root's, 0600)."
    ),
    target_root: Path = UnitTargetRootOption,
    as_json: bool = JsonOption,
) -> None:
    """The systemd unit running `bubble scaler run` on this machine: printed, or installed
    as /etc/systemd/system/bubble-scaler.service."""
    from scaler.service_unit import scaler_service

    _interval(interval)
    show_or_install_unit(ctx, scaler_service(interval, env_file), install, user, target_root,
                         as_json)  # fmt: skip
