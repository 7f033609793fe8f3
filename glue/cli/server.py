"""`bubble server ...`: the fleet."""

from __future__ import annotations

import typer

from glue.cli.common import JsonOption, Outcome, context, print_json, print_table
from glue.cli.confirm import YesOption, confirm

server_app = typer.Typer(help="Servers: add, list, drain, activate, remove.", no_args_is_help=True)


@server_app.command("add")
def add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Server name (a-z, 0-9, -)."),
    provider: str = typer.Option(..., help="lab, hcloud or aws."),
    cores: int = typer.Option(..., help="CPU cores."),
    core_ghz: str = typer.Option(..., help="Clock per core, e.g. 2.5 or 2500MHz."),
    memory: str = typer.Option(..., help="e.g. 8GiB."),
    disk: str = typer.Option(..., help="e.g. 100GiB."),
    server_type: str = typer.Option("", "--type", help="Provider's server type."),
    region: str = typer.Option("", help="Provider's region."),
    address: str | None = typer.Option(None, help="Fixed IPv4 (lab: assigned when omitted)."),
    role: str = typer.Option("web", help="web (holds accounts) or backup (holds backups)."),
    as_json: bool = JsonOption,
) -> None:
    """Add a server to the catalog."""
    from glue.services.servers import NewServer, add_server

    ghz = core_ghz if core_ghz[-1:].isalpha() else f"{core_ghz}GHz"
    spec = NewServer(provider, cores, ghz, memory, disk, server_type, region, address, role)
    out = Outcome(as_json)
    server = add_server(context(ctx), name, spec)
    where = server.address or "address assigned at apply"
    out.say(f"added server {name} ({server.provider}, {where})", server=name)
    out.facts.update(
        provider=server.provider,
        address=server.address,
        state=server.state.value,
        role=server.role.value,
    )
    out.end()


@server_app.command("list")
def list_(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Servers with state, address and how many accounts each holds."""
    from glue.services.servers import list_servers

    rows = list_servers(context(ctx))
    if as_json:
        print_json(rows)
        return
    print_table(
        "servers",
        ["name", "provider", "role", "state", "address", "accounts", "cores", "GHz/core"],
        [
            [
                r["name"],
                r["provider"],
                r["role"],
                r["state"],
                r["address"],
                r["accounts"],
                r["cores"],
                r["core_mhz"] / 1000,
            ]
            for r in rows
        ],
    )


def _set_state(ctx: typer.Context, name: str, state: str, as_json: bool) -> None:
    from glue.models import ServerState
    from glue.services.servers import set_state

    out = Outcome(as_json)
    set_state(context(ctx), name, ServerState(state))
    out.say(f"server {name} is now {state}", server=name, state=state)
    out.end()


@server_app.command("drain")
def drain(ctx: typer.Context, name: str, as_json: bool = JsonOption) -> None:
    """Stop placing new accounts on the server (its accounts stay)."""
    _set_state(ctx, name, "draining", as_json)


@server_app.command("activate")
def activate(ctx: typer.Context, name: str, as_json: bool = JsonOption) -> None:
    """Let the server take new accounts again."""
    _set_state(ctx, name, "active", as_json)


@server_app.command("remove")
def remove(
    ctx: typer.Context, name: str, yes: bool = YesOption, as_json: bool = JsonOption
) -> None:
    """Remove an empty server from the catalog (`bubble apply` then destroys it)."""
    from glue.services.servers import remove_server

    out = Outcome(as_json)
    confirm(f"remove server {name} (the next `bubble apply` destroys it)", yes)
    remove_server(context(ctx), name)
    out.say(f"removed server {name} from the catalog; `bubble apply` destroys it", server=name)
    out.facts["removed"] = True
    out.end()


@server_app.command(
    "ssh", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def ssh(
    ctx: typer.Context,
    name: str,
    command: list[str] | None = typer.Argument(None, help="Command to run (after --)."),
) -> None:
    """Open a root shell on a server, or run a command there."""
    import shlex
    import subprocess

    from glue.services.servers import require_server

    c = context(ctx)
    server = require_server(c.catalog(), name)
    from glue.remote import ssh_argv

    remote = shlex.join(command) if command else ""
    argv = ssh_argv(c, name, server, remote, tty=not command)
    raise typer.Exit(subprocess.run(argv, check=False).returncode)


@server_app.command("health")
def health(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="One server (default: every server)."),
    probes: bool = typer.Option(True, "--probes/--no-probes", help="ssh, HTTP and sites too."),
    timeout: float = typer.Option(3.0, "--timeout", min=0.1, help="Seconds per probe."),
    as_json: bool = JsonOption,
) -> None:
    """Each server's health: the usage agent's heartbeat, load, memory, disks and failed units,
    and the control plane's probes (ssh, HTTP, every account's site by its own Host)."""
    from glue.services.monitoring import server_health

    rows = server_health(context(ctx), [name] if name else None, probes, timeout)
    if as_json:
        print_json(rows)
        return

    def mib(value: int | None) -> str:
        return "-" if value is None else f"{value // (1024 * 1024)}"

    table = []
    for r in rows:
        age = r["heartbeat_age_s"]
        disks = ", ".join(f"{d['path']} {d['free_percent']}%" for d in r["disks"]) or "-"
        sites = r["sites"]
        answering = sum(isinstance(s, int) and s < 500 for s in sites.values())
        table.append([
            r["server"], "-" if age is None else f"{age:.0f}s", r["load1"],
            f"{mib(r['mem_available_bytes'])}/{mib(r['mem_total_bytes'])}", disks,
            {True: "yes", False: "NO", None: "-"}[r["ssh"]],
            "-" if r["http"] is None else r["http"],
            f"{answering}/{len(sites)}", ", ".join(r["failing"]) or "ok",
        ])  # fmt: skip
    columns = ["server", "heartbeat", "load1", "mem free/total MiB", "disk free", "ssh", "http",
               "sites", "failing"]  # fmt: skip
    print_table("server health", columns, table)


@server_app.command("evacuate")
def evacuate(
    ctx: typer.Context,
    name: str,
    from_backup: bool = typer.Option(
        False, "--from-backup", help="The server is dead: restore its accounts from backups."
    ),
    yes: bool = YesOption,
    as_json: bool = JsonOption,
) -> None:
    """Empty a server: every account moved (live) to where placement puts it; with
    --from-backup, restored from its latest backup elsewhere and the server marked down."""
    from glue.cli.common import progress
    from glue.services.evacuation import evacuate as live
    from glue.services.evacuation import evacuate_from_backup

    how = "restore every account of" if from_backup else "move every account off"
    confirm(f"{how} server {name}", yes)
    with progress() as report:
        rows = (evacuate_from_backup if from_backup else live)(context(ctx), name, report)
    if as_json:
        print_json(rows)
    else:
        print_table(
            f"evacuation of {name}",
            ["account", "to", "address", "downtime s" if not from_backup else "lost s"],
            [
                [r["account"], r.get("to", "-"), r.get("address", r.get("error", "")),
                 (r["downtime_ms"] / 1000 if not from_backup else r.get("lost_seconds", "-"))
                 if r.get("ok", True) else "-"]
                for r in rows
            ],
        )  # fmt: skip
    if any(not r.get("ok", True) for r in rows):
        raise typer.Exit(1)
