"""`bubble monitor ...`: evaluate the alert rules every interval, and its systemd unit."""

from __future__ import annotations

from pathlib import Path

import typer

from glue.cli.common import (
    JsonOption,
    LogJsonOption,
    UnitInstallOption,
    UnitTargetRootOption,
    UnitUserOption,
    context,
    daemon_log,
    duration_option,
    show_or_install_unit,
)
from scaler.service_unit import MONITOR_ENV_FILE

monitor_app = typer.Typer(help="The monitor: run, unit.", no_args_is_help=True)


@monitor_app.command("run")
def run(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="One evaluation, then stop."),
    interval: str = typer.Option("30s", "--interval", help="Time between evaluations."),
    probes: bool = typer.Option(
        True, "--probes/--no-probes", help="Probe ssh, HTTP and sites (else: the agent alone)."
    ),
    as_json: bool = LogJsonOption,
) -> None:
    """Measure, evaluate the rules in catalog/alerts.yml and send the notices due, every
    interval (one monitor at a time: a second one waits for the lease)."""
    import contextlib

    from glue.monitor.run import run as run_monitor
    from scaler.influx import InfluxClient

    seconds = duration_option("--interval", interval)
    daemon_log("bubble.monitor", as_json)
    bubble = context(ctx)
    influx = InfluxClient.from_settings(bubble.settings)
    with contextlib.suppress(KeyboardInterrupt):
        run_monitor(bubble, influx, seconds, once=once, probes=probes)


@monitor_app.command("unit")
def unit(
    ctx: typer.Context,
    install: bool = UnitInstallOption,
    user: str = UnitUserOption,
    interval: str = typer.Option("30s", "--interval", help="Time between evaluations."),
    env_file: Path = typer.Option(
        MONITOR_ENV_FILE, "--env-file", help="Its settings and secrets (root's, 0600)."
    ),
    target_root: Path = UnitTargetRootOption,
    as_json: bool = JsonOption,
) -> None:
    """The systemd unit running `bubble monitor run`: printed, or installed as
    /etc/systemd/system/bubble-monitor.service."""
    from scaler.service_unit import monitor_service

    duration_option("--interval", interval)
    show_or_install_unit(ctx, monitor_service(interval, env_file), install, user, target_root,
                         as_json)  # fmt: skip
