"""The `bubble` command: one Typer sub-app per noun; every failure an operator can cause or
fix is one line `error: ...` on stderr.

Exit codes: 0 done; 1 it failed (bad input, a tool, a server, the catalog); 2 the command line
does not parse (unknown command or option, a missing or malformed argument); 3 done, but a
change waits for a server (`account ...`) or a migration finished with warnings. Read
commands print JSON with --json; write commands then print one JSON object of what they did."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from glue.cli.account import account_app
from glue.cli.common import JsonOption, Outcome, RootOption, context, print_json, progress
from glue.cli.confirm import YesOption, confirm
from glue.cli.lab import lab_app
from glue.cli.migrate import migrate
from glue.cli.panel import panel_app
from glue.cli.plan import plan_app
from glue.cli.scaler import scaler_app
from glue.cli.server import server_app
from glue.cli.stress import stress
from glue.cli.wallet import wallet_app
from glue.errors import BubbleError


def _usage_message(exc: UsageError) -> str:
    message = exc.format_message().removeprefix("Invalid value: ")
    if exc.ctx is not None:
        message += f" (see {exc.ctx.command_path} --help)"
    return message


def _last_line(text: str | bytes | None) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    lines = (text or "").strip().splitlines()
    return lines[-1].strip() if lines else ""


def _command_name(cmd: str | Sequence[str]) -> str:
    first = cmd.split()[0] if isinstance(cmd, str) else str(cmd[0])
    return Path(first).name


def _failure(exc: Exception) -> str | None:
    """The one-line message for a failure of the environment (a tool, a file, the state DB);
    None for anything else, which is a bug and keeps its traceback."""
    if isinstance(exc, BubbleError):
        return str(exc)
    migrator = sys.modules.get("migrator.errors")  # loaded only by commands that migrate
    if migrator is not None and isinstance(exc, migrator.MigratorError):
        return str(exc)  # a source or password the migrator refuses: one line
    if isinstance(exc, subprocess.CalledProcessError):
        why = _last_line(exc.stderr) or _last_line(exc.output)
        name = _command_name(exc.cmd)
        return f"{name} failed (exit {exc.returncode})" + (f": {why}" if why else "")
    if isinstance(exc, subprocess.TimeoutExpired):
        return f"{_command_name(exc.cmd)} did not finish within {exc.timeout:.0f} s"
    if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):  # `| head`: quiet
        where = ": ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
        return f"{exc.strerror or exc}" + (f": {where}" if where else "")
    sqlalchemy = sys.modules.get("sqlalchemy.exc")  # loaded only by commands that use the DB
    if sqlalchemy is not None and isinstance(exc, sqlalchemy.OperationalError):
        lines = str(exc.orig).strip().splitlines()  # psycopg: what failed, then a hint
        return f"state DB: {lines[0] if lines else 'unavailable'}"
    return None


def _fail(lines: Sequence[str], code: int) -> typer.Exit:
    for line in lines or ["unknown error"]:
        typer.echo(f"error: {line}", err=True)
    return typer.Exit(code)


@contextmanager
def _one_line_errors() -> Iterator[None]:
    try:
        yield
    except NoArgsIsHelpError:
        raise  # `bubble account` alone: the help, as asked
    except UsageError as exc:
        raise _fail([" ".join(_usage_message(exc).split())], exc.exit_code) from exc
    except Exception as exc:
        message = _failure(exc)
        if message is None:
            raise
        # A BubbleError may list several problems, one per line; others are one line.
        lines = (
            message.splitlines() if isinstance(exc, BubbleError) else [" ".join(message.split())]
        )
        raise _fail(lines, 1) from exc


class BubbleGroup(TyperGroup):
    """Parses and runs every command below it inside `_one_line_errors`."""

    # typer.Context is the public face of the Context type TyperGroup declares (vendored click).
    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        with _one_line_errors():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        with _one_line_errors():
            return super().invoke(ctx)


app = typer.Typer(
    cls=BubbleGroup,
    help="Bubblehost: elastic web hosting from a YAML catalog.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish)
    rich_markup_mode=None,  # plain help: rendering it with rich costs 0.3 s of start-up
)
app.add_typer(server_app, name="server")
app.add_typer(plan_app, name="plan")
app.add_typer(account_app, name="account")
app.add_typer(wallet_app, name="wallet")
app.add_typer(lab_app, name="lab")
app.add_typer(scaler_app, name="scaler")
app.add_typer(panel_app, name="panel")
app.command("migrate")(migrate)
app.command("stress")(stress)


def _version(asked: bool) -> None:
    if asked:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"bubble {version('bubblehost')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            typer.echo("bubble (not installed)")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    root: Path | None = RootOption,
    _: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    from glue.services.context import Context
    from glue.settings import Settings

    settings = Settings()
    ctx.obj = Context(root=(root or settings.root).resolve(), settings=settings)


@app.command("init")
def init(
    directory: Path = typer.Argument(..., help="Where to create the catalog repo."),
    as_json: bool = JsonOption,
) -> None:
    """Create a new operator root with the base plan (1GHz / 2GiB / 30GiB)."""
    from glue.services.root import init_root

    out = Outcome(as_json)
    init_root(directory)
    out.say(
        f"created catalog in {directory} (plan 'base'); next: bubble --root {directory} server add",
        root=str(directory.resolve()),
        plans=["base"],
    )
    out.end()


@app.command("validate")
def validate(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Check the whole catalog; list every problem."""
    from glue.catalog import CatalogError
    from glue.services.root import validate as run_validate

    try:
        catalog = run_validate(context(ctx))
    except CatalogError as exc:
        if not as_json:
            raise
        print_json({"valid": False, "problems": exc.problems})  # like `terraform validate -json`
        raise typer.Exit(1) from exc
    counts = {k: len(v) for k, v in vars(catalog).items() if isinstance(v, dict)}
    out = Outcome(as_json)
    out.say(
        f"catalog valid: {counts['plans']} plans, {counts['servers']} servers, "
        f"{counts['accounts']} accounts",
        valid=True,
        problems=[],
        **counts,
    )
    out.end()


@app.command("render")
def render(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Regenerate the Ansible inventory and Terraform variables from catalog + state."""
    from glue.services.root import render_current

    out = Outcome(as_json)
    _, changed = render_current(context(ctx))
    out.say(f"rendered: {len(changed)} file(s) changed" if changed else "rendered: up to date")
    for path in changed:
        out.say(f"  {path}")
    out.facts["changed"] = [str(path) for path in changed]
    out.end()


@app.command("apply")
def apply(
    ctx: typer.Context,
    server: list[str] | None = typer.Option(None, "--server", help="Only these servers."),
    full: bool = typer.Option(False, "--full", help="The full site.yml on every server."),
    yes: bool = YesOption,
    as_json: bool = JsonOption,
) -> None:
    """Plan, then create/destroy servers with Terraform and configure them with Ansible."""
    from glue.services.apply import apply as run_apply
    from glue.services.fleet_plan import plan_servers

    c = context(ctx)
    out = Outcome(as_json)
    with progress() as report:
        plan = plan_servers(c, report)
    with plan:
        for line in plan.summary():
            out.say(line)
        out.facts["plan"] = plan.summary()
        if plan.losses():
            confirm(f"destroy or replace {plan.losses()}", yes)
        with progress() as report:
            result = run_apply(c, plan, report, server or None, full=full)
    for name in result.created:
        out.say(f"{name}: configured from scratch ({result.changed.get(name, 0)} changes)")
    for name in result.upgraded:
        changes = result.changed.get(name, 0)
        out.say(f"{name}: full converge to toolkit {result.toolkit} ({changes} changes)")
    for name in result.updated:
        out.say(f"{name}: up to date ({result.changed.get(name, 0)} changes)")
    out.facts.update(
        toolkit=result.toolkit,
        created=list(result.created),
        upgraded=list(result.upgraded),
        updated=list(result.updated),
        changes=dict(result.changed),
    )
    out.end()


def run() -> None:
    app(prog_name="bubble")  # also under `python -m glue.cli.main`: help and completion say bubble


if __name__ == "__main__":
    run()
