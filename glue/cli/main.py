"""The `bubble` command: one Typer sub-app per noun, errors as one clear line + exit code 1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from glue.cli.account import account_app
from glue.cli.common import RootOption, context, progress, say
from glue.cli.confirm import YesOption, confirm
from glue.cli.lab import lab_app
from glue.cli.migrate import migrate
from glue.cli.plan import plan_app
from glue.cli.server import server_app
from glue.cli.wallet import wallet_app
from glue.errors import BubbleError


class BubbleGroup(TyperGroup):
    """Turns a BubbleError anywhere below into `error: ...` on stderr and exit code 1."""

    # typer.Context is the public face of the Context type TyperGroup declares (vendored click).
    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except BubbleError as exc:
            for line in str(exc).splitlines() or ["unknown error"]:
                typer.echo(f"error: {line}", err=True)
            raise typer.Exit(1) from exc


app = typer.Typer(
    cls=BubbleGroup,
    help="Bubblehost: elastic web hosting from a YAML catalog.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # plain help: rendering it with rich costs 0.3 s of start-up
)
app.add_typer(server_app, name="server")
app.add_typer(plan_app, name="plan")
app.add_typer(account_app, name="account")
app.add_typer(wallet_app, name="wallet")
app.add_typer(lab_app, name="lab")
app.command("migrate")(migrate)


@app.callback()
def main(ctx: typer.Context, root: Path | None = RootOption) -> None:
    from glue.services.context import Context
    from glue.settings import Settings

    settings = Settings()
    ctx.obj = Context(root=(root or settings.root).resolve(), settings=settings)


@app.command("init")
def init(directory: Path = typer.Argument(..., help="Where to create the catalog repo.")) -> None:
    """Create a new operator root with the base plan (1GHz / 2GiB / 30GiB)."""
    from glue.services.root import init_root

    init_root(directory)
    say(f"created catalog in {directory} (plan 'base'); next: bubble --root {directory} server add")


@app.command("validate")
def validate(ctx: typer.Context) -> None:
    """Check the whole catalog; list every problem."""
    from glue.services.root import validate as run_validate

    catalog = run_validate(context(ctx))
    say(
        f"catalog valid: {len(catalog.plans)} plans, {len(catalog.servers)} servers, "
        f"{len(catalog.accounts)} accounts"
    )


@app.command("render")
def render(ctx: typer.Context) -> None:
    """Regenerate the Ansible inventory and Terraform variables from catalog + state."""
    from glue.services.root import render as run_render

    c = context(ctx)
    changed = run_render(c, c.catalog())
    say(f"rendered: {len(changed)} file(s) changed" if changed else "rendered: up to date")
    for path in changed:
        say(f"  {path}")


@app.command("apply")
def apply(
    ctx: typer.Context,
    server: list[str] | None = typer.Option(None, "--server", help="Only these servers."),
    full: bool = typer.Option(False, "--full", help="The full site.yml on every server."),
    yes: bool = YesOption,
) -> None:
    """Plan, then create/destroy servers with Terraform and configure them with Ansible."""
    from glue.services.apply import apply as run_apply
    from glue.services.apply import plan_servers

    c = context(ctx)
    with progress() as report:
        plan = plan_servers(c, report)
    with plan:
        for line in plan.summary():
            say(line)
        if plan.losses():
            confirm(f"destroy or replace {plan.losses()}", yes)
        with progress() as report:
            result = run_apply(c, plan, report, server or None, full=full)
    for name in result.created:
        say(f"{name}: configured from scratch ({result.changed.get(name, 0)} changes)")
    for name in result.upgraded:
        changes = result.changed.get(name, 0)
        say(f"{name}: full converge to toolkit {result.toolkit} ({changes} changes)")
    for name in result.updated:
        say(f"{name}: up to date ({result.changed.get(name, 0)} changes)")


def run() -> None:
    app()


if __name__ == "__main__":
    run()
