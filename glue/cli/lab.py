"""`bubble lab`: real Debian 12 servers on this machine (systemd-nspawn), for tests and demos.

Commands stay thin: the work is in glue.providers.lab, which never imports typer.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import typer

from glue.cli.common import JsonOption, Outcome, context, print_json, print_table, progress, say
from glue.cli.confirm import YesOption, confirm

# glue.providers.lab is imported inside each command: `bubble --help` must not pay for it.
lab_app = typer.Typer(
    help="Lab servers: real Debian 12 hosts on this machine (systemd-nspawn).",
    no_args_is_help=True,
)


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
    as_json: bool = JsonOption,
) -> None:
    """Build and cache the server image (only when its recipe changed); print where it is."""
    from glue.providers import lab

    cfg = lab.LabConfig()
    out = Outcome(as_json)
    started = time.monotonic()
    path = lab.build_image(cfg, force=force)
    size, seconds = path.stat().st_size // 1024**2, round(time.monotonic() - started, 1)
    out.say(f"{path} ({size} MiB, {seconds:.1f} s)", image=str(path), mib=size, seconds=seconds)
    out.end()


@lab_app.command("up")
def up_cmd(as_json: bool = JsonOption) -> None:
    """Create the shared pieces: bridge, lab ssh key, server image (built if missing), and
    the lab's InfluxDB (auth on, database and retention made); print what to export."""
    from glue.providers import lab
    from glue.services.influx import setup
    from glue.settings import Settings

    cfg = lab.LabConfig()
    out = Outcome(as_json)
    root = lab.up(cfg)
    out.say(f"lab up: bridge {cfg.bridge} {cfg.gateway}, image {root}", bridge=cfg.bridge)
    out.facts.update(gateway=str(cfg.gateway), image=str(root))
    url = lab.influx_up(cfg)
    env = lab.influx_environment(cfg)
    # The settings the control plane will use, the password read from its 0600 file.
    settings = Settings.model_validate(
        {key.removeprefix("BUBBLE_").lower(): val for key, val in env.items()}
    )
    # Database, retention and the agents' own user (WRITE on the database alone), as
    # `bubble scaler influx-setup` makes them on an operator's InfluxDB.
    changed = setup(settings)
    made = f" ({', '.join(changed)})" if changed else ""
    out.say(f"lab InfluxDB: {url}, database {settings.influx_database}{made}", influx_url=url)
    out.say("for the control plane (scaler, usage agents), export:")
    for key, val in env.items():
        out.say(f"  export {key}={val}")
    out.facts.update(influx_environment=env)
    out.end()


@lab_app.command("status")
def status_cmd(as_json: bool = JsonOption) -> None:
    """Bridge, image and every lab server (address, pid, ssh ready)."""
    from glue.providers import lab

    current = lab.status(lab.LabConfig())
    if as_json:
        print_json(asdict(current))
        return
    bridge = f"up {' '.join(current.bridge_addresses)}" if current.bridge_up else "absent"
    say(f"bridge {current.bridge}: {bridge}")
    say(f"image: {current.image} ({'present' if current.image_present else 'absent'})")
    influx = current.influx
    running = f"running, pid {influx.pid}" if influx.running else "stopped"
    say(f"influxdb {influx.url}: {running} (password in {influx.password_file})")
    print_table(
        "lab servers",
        ["name", "address", "running", "pid", "ssh", "uptime"],
        [
            [
                srv.name,
                srv.address,
                "yes" if srv.running else "no",
                srv.pid or "",
                "ready" if srv.ssh_ready else "-",
                f"{srv.uptime_s:.0f} s" if srv.running else "",
            ]
            for srv in current.servers
        ],
    )


@lab_app.command("down")
def down_cmd(ctx: typer.Context, yes: bool = YesOption, as_json: bool = JsonOption) -> None:
    """Destroy the root's lab servers (terraform destroy), then every lab server, the lab's
    InfluxDB and the bridge; nothing stays running or mounted."""
    from glue.providers import lab
    from glue.services.fleet_plan import destroy_stack

    cfg = lab.LabConfig()
    out = Outcome(as_json)
    servers = lab.server_names(cfg)
    if servers:
        confirm(f"destroy {len(servers)} lab server(s) in {cfg.dir}: {', '.join(servers)}", yes)
    with progress() as report:
        destroy_stack(context(ctx), "lab", report)
    # terraform destroy has removed the root's servers already: count them with the rest.
    names = sorted(set(servers) | set(lab.down(cfg)))
    destroyed = f"destroyed {len(names)} server(s), InfluxDB stopped, bridge {cfg.bridge} removed"
    out.say(f"lab down: {destroyed}", destroyed=list(names), bridge=cfg.bridge)
    out.end()


# The two commands Terraform's lab stack runs (terraform/stacks/lab): not for people, so not
# in --help; `bubble apply` is how a lab server is made.
@lab_app.command("server-create", hidden=True)
def server_create_cmd(
    name: str = typer.Argument(..., help="Server name (its hostname)."),
    address: str = typer.Option(..., "--address", help="IPv4 address on the lab bridge."),
    ssh_key: str = typer.Option(
        ..., "--ssh-key", help="Public key for root (the key itself or a .pub file)."
    ),
    disk_gib: int = typer.Option(..., "--disk-gib", help="Size of the btrfs /srv, GiB."),
) -> None:
    """Boot a lab server (idempotent); returns when root can log in over ssh."""
    from glue.providers import lab

    key, identity = _public_key(ssh_key)
    started = time.monotonic()
    state = lab.create_server(name, address, key, disk_gib, identity=identity)
    typer.echo(f"{state.name} {state.address} ssh ready ({time.monotonic() - started:.1f} s)")


@lab_app.command("server-destroy", hidden=True)
def server_destroy_cmd(name: str = typer.Argument(..., help="Server name.")) -> None:
    """Stop a lab server and remove its overlay, disk and cgroups (idempotent)."""
    from glue.providers import lab

    lab.destroy_server(name)
    typer.echo(f"{name} destroyed")
