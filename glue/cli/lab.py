"""`bubble lab`: real Debian 12 servers on this machine (systemd-nspawn), for tests and demos.

Commands stay thin: the work is in glue.lab, which never imports typer.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TypeVar

import typer

from glue import lab

lab_app = typer.Typer(
    help="Lab servers: real Debian 12 hosts on this machine (systemd-nspawn).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

T = TypeVar("T")


def _guard(action: Callable[[], T]) -> T:
    """A LabError becomes `error: ...` on stderr and exit code 1."""
    try:
        return action()
    except lab.LabError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def _public_key(value: str) -> tuple[str, Path | None]:
    """--ssh-key is the key itself or a .pub file; a private key beside it is used to check."""
    candidate = Path(value)
    if len(value) < 4096 and "\n" not in value and candidate.is_file():
        private = candidate.with_suffix("") if candidate.suffix == ".pub" else None
        return candidate.read_text().strip(), private if private and private.is_file() else None
    return value.strip(), None


@lab_app.command("image")
def image_cmd(
    force: bool = typer.Option(False, "--force", help="Rebuild even if a current image exists."),
) -> None:
    """Build and cache the server image (only when its recipe changed); print where it is."""
    cfg = lab.LabConfig()
    started = time.monotonic()
    path = _guard(lambda: lab.build_image(cfg, force=force))
    typer.echo(f"{path} ({path.stat().st_size // 1024**2} MiB, {time.monotonic() - started:.1f} s)")


@lab_app.command("up")
def up_cmd() -> None:
    """Create the shared pieces: bridge, lab ssh key, server image (built if missing)."""
    cfg = lab.LabConfig()
    root = _guard(lambda: lab.up(cfg))
    typer.echo(f"lab up: bridge {cfg.bridge} {cfg.gateway}, image {root}")


@lab_app.command("status")
def status_cmd(as_json: bool = typer.Option(False, "--json", help="Machine-readable.")) -> None:
    """Bridge, image and every lab server (address, pid, ssh ready)."""
    current = _guard(lambda: lab.status(lab.LabConfig()))
    if as_json:
        sys.stdout.write(json.dumps(asdict(current), indent=2, sort_keys=True) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    bridge = f"up {' '.join(current.bridge_addresses)}" if current.bridge_up else "absent"
    console.print(f"bridge {current.bridge}: {bridge}")
    console.print(f"image: {current.image} ({'present' if current.image_present else 'absent'})")
    table = Table(title="lab servers")
    for column in ("name", "address", "running", "pid", "ssh", "uptime"):
        table.add_column(column)
    for srv in current.servers:
        table.add_row(
            srv.name,
            srv.address,
            "yes" if srv.running else "no",
            str(srv.pid or ""),
            "ready" if srv.ssh_ready else "-",
            f"{srv.uptime_s:.0f} s" if srv.running else "",
        )
    console.print(table)


@lab_app.command("down")
def down_cmd() -> None:
    """Destroy every lab server and the bridge; nothing stays running or mounted."""
    cfg = lab.LabConfig()
    names = _guard(lambda: lab.down(cfg))
    typer.echo(f"lab down: destroyed {len(names)} server(s), bridge {cfg.bridge} removed")


@lab_app.command("server-create")
def server_create_cmd(
    name: str = typer.Argument(..., help="Server name (its hostname)."),
    address: str = typer.Option(..., "--address", help="IPv4 address on the lab bridge."),
    ssh_key: str = typer.Option(
        ..., "--ssh-key", help="Public key for root (the key itself or a .pub file)."
    ),
    disk_gib: int = typer.Option(..., "--disk-gib", help="Size of the btrfs /srv, GiB."),
) -> None:
    """Boot a lab server (idempotent); returns when root can log in over ssh."""
    key, identity = _public_key(ssh_key)
    started = time.monotonic()
    state = _guard(lambda: lab.create_server(name, address, key, disk_gib, identity=identity))
    typer.echo(f"{state.name} {state.address} ssh ready ({time.monotonic() - started:.1f} s)")


@lab_app.command("server-destroy")
def server_destroy_cmd(name: str = typer.Argument(..., help="Server name.")) -> None:
    """Stop a lab server and remove its overlay, disk and cgroups (idempotent)."""
    _guard(lambda: lab.destroy_server(name))
    typer.echo(f"{name} destroyed")


if __name__ == "__main__":
    lab_app()
