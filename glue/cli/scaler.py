"""`bubble scaler ...`: run the elastic scaler, and see what it is doing."""

from __future__ import annotations

from pathlib import Path

import typer

from glue.cli.common import (
    JsonOption,
    LogJsonOption,
    Outcome,
    UnitInstallOption,
    UnitTargetRootOption,
    UnitUserOption,
    context,
    daemon_log,
    duration_option,
    print_json,
    say,
    show_or_install_unit,
)
from scaler.service_unit import ENV_FILE

scaler_app = typer.Typer(
    help="The elastic scaler: run, status, unit, influx-setup.", no_args_is_help=True
)


@scaler_app.command("run")
def run(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="One tick, then stop."),
    interval: str = typer.Option("5s", "--interval", help="Time between ticks: 5s, 1m."),
    as_json: bool = LogJsonOption,
) -> None:
    """Read usage, decide, carry changes to the servers and bill, every interval, while this
    scaler holds the lease (a second one waits and takes over when the first dies)."""
    import contextlib

    from scaler.influx import InfluxClient
    from scaler.run import limits_push
    from scaler.run import run as run_scaler

    seconds = _interval(interval)
    daemon_log("bubble.scaler", as_json)
    bubble = context(ctx)
    influx = InfluxClient.from_settings(bubble.settings)
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


@scaler_app.command("influx-setup")
def influx_setup(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Make the InfluxDB 1.x of the BUBBLE_INFLUX_* settings ready: the database, retention
    policies (raw 48 h, 5-minute means 30 days, hourly 13 months) and continuous queries, and
    the agents' write-only user when BUBBLE_INFLUX_AGENT_USERNAME is set; run again, it
    changes nothing. 2.x/3.x (auth token): refused, see the README."""
    from glue.services.influx import setup

    settings = context(ctx).settings
    out = Outcome(as_json)
    changed = setup(settings)
    where = f"InfluxDB {settings.influx_url}, database {settings.influx_database}"
    done = f"made {', '.join(changed)}" if changed else "already set up, nothing changed"
    out.say(f"{where}: {done}", url=settings.influx_url, database=settings.influx_database,
            changed=changed)  # fmt: skip
    out.end()
