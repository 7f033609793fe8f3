"""What every command group shares: the root's Context, JSON and table output."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:  # imported lazily: `bubble --help` must start fast
    from glue.services.context import Context
    from glue.services.converge import ConvergeResult
    from scaler.service_unit import Service

RootOption = typer.Option(
    None,
    "--root",
    envvar="BUBBLE_ROOT",
    help="Operator root (catalog/, state/). Default: .",
    show_default=False,
)
JsonOption = typer.Option(False, "--json", help="Machine-readable output (JSON on stdout).")


def context(ctx: typer.Context) -> Context:
    """The Context made by the top-level callback (`--root`)."""
    from glue.services.context import Context

    obj = ctx.find_root().obj
    if not isinstance(obj, Context):  # a sub-app invoked on its own (tests, python -m)
        from glue.settings import Settings

        settings = Settings()
        obj = Context(root=Path(settings.root).resolve(), settings=settings)
        ctx.find_root().obj = obj
    return obj


def given(**options: str | int | None) -> dict[str, str | int]:
    """The options the operator actually gave (None = not given)."""
    return {key: value for key, value in options.items() if value is not None}


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


class JsonLines(logging.Formatter):
    """Log records as JSON objects, one a line (`--json` of the long-running commands)."""

    def format(self, record: logging.LogRecord) -> str:
        at = dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat()
        line = {"at": at, "level": record.levelname.lower(), "message": record.getMessage()}
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(line)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A table; every title and cell is printed literally (user text is never markup). On a
    terminal it fits the screen; into a pipe or a file every row is whole, never wrapped."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title))
    for column in columns:
        table.add_column(Text(column))
    for row in rows:
        table.add_row(*(Text("" if cell is None else str(cell)) for cell in row))
    console = Console(highlight=False)
    if not console.is_terminal:  # rich would fit it into 80 columns
        unbounded = console.options.update_width(sys.maxsize)
        console.width = max(console.measure(table, options=unbounded).maximum, len(title))
    console.print(table)


def say(message: str) -> None:
    """One line of human output, printed literally: names, domains and notes hold what
    people typed, and a `[/x]` in them must show as itself, never as rich markup."""
    from rich.console import Console

    Console(highlight=False, soft_wrap=True).print(message, markup=False)


ApplyOption = typer.Option(
    True,
    "--apply/--no-apply",
    envvar="BUBBLE_APPLY",
    help="Carry the change to the server now (--no-apply: only edit the catalog).",
)


@contextmanager
def progress() -> Iterator[Callable[[str], None]]:
    """A spinner showing the current task; main steps stay on screen as lines."""
    from rich.console import Console
    from rich.text import Text

    console = Console(stderr=True, highlight=False)
    with console.status("working") as status:

        def report(message: str) -> None:
            if message.startswith("  "):
                status.update(Text(message.strip()))
            else:
                console.print(Text.assemble(("-", "dim"), " ", message))
                status.update(Text(message))

        yield report


# `bubble account ...` exit code when the change is in the catalog but a built server did
# not answer: `bubble apply` (or the same command) carries it there later.
PENDING_EXIT = 3


@contextmanager
def carrying(what: str) -> Iterator[Callable[[str], None]]:
    """Progress for carrying a change that is already in the catalog to its servers; a
    failure on the way says the change is kept and how to finish it."""
    from glue.errors import BubbleError

    try:
        with progress() as report:
            yield report
    except BubbleError as exc:
        raise BubbleError(
            f"{exc} ({what} in the catalog: run the same command again to finish)"
        ) from exc


class Outcome:
    """What a write command did. For a person: lines as they happen. With --json: nothing on
    stdout until `end()`, then one JSON object of the facts, also when the command ends with
    PENDING_EXIT (the object says what waits and why)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.facts: dict[str, Any] = {}
        self.code = 0

    def say(self, line: str, **facts: Any) -> None:
        """A line for a person (not with --json) and the facts it stands for."""
        if not self.as_json:
            say(line)
        self.facts.update(facts)

    def carried(self, carried: ConvergeResult) -> None:
        """Where a change reached and where it waits: one line per server it did not reach;
        PENDING_EXIT if one is built but did not answer (not built or not configured yet is
        the normal order of things: exit 0)."""
        self.facts["done"] = sorted({*self.facts.get("done", []), *carried.done})
        self.facts.setdefault("pending", []).extend(
            {"server": p.server, "why": p.why, "detail": p.detail} for p in carried.pending
        )
        for pending in carried.pending:
            later = " when it is back" if pending.why in ("down", "silent") else ""
            self.say(f"{pending}: the change waits in the catalog; run `bubble apply`{later}")
        if any(pending.fault for pending in carried.pending):
            self.code = PENDING_EXIT

    def end(self) -> None:
        if self.as_json:
            print_json(self.facts)
        if self.code:
            raise typer.Exit(self.code)


def apply_limits_now(ctx: typer.Context, servers: Sequence[str], out: Outcome) -> None:
    """Carry changed limits to these servers, live, with progress shown."""
    from glue.services.bubbles import carry
    from glue.services.converge import Operation

    with carrying("the new limits are") as report:
        carried = carry(context(ctx), Operation.LIMITS, servers, report)
    if carried.done:
        out.say(f"limits in force on {', '.join(carried.done)}")
    out.carried(carried)


# `bubble scaler unit` and `bubble panel unit`
UnitInstallOption = typer.Option(
    False, "--install", help="Write it (and a 0600 EnvironmentFile if missing); reload."
)
UnitUserOption = typer.Option("", "--user", help="The user it runs as (the root's owner).")
UnitTargetRootOption = typer.Option(
    Path("/"), "--target-root", help="Install under this directory instead of /."
)


def show_or_install_unit(
    ctx: typer.Context, service: Service, install: bool, user: str, target_root: Path,
    as_json: bool,
) -> None:  # fmt: skip
    """`bubble scaler unit` / `bubble panel unit`: the service's systemd unit printed (stdout
    is the unit alone: `> FILE` works), or installed with its EnvironmentFile."""
    import pwd

    from scaler.service_unit import UNIT_DIR, UnitSpec, unit_text
    from scaler.service_unit import install as install_unit

    root = context(ctx).root.resolve()
    owner = user or pwd.getpwuid(root.stat().st_uid).pw_name
    spec = UnitSpec(root=root, user=owner, service=service)
    text, path, env_file = unit_text(spec), f"/{UNIT_DIR / service.name}", service.env_file
    if not install and as_json:
        print_json({"unit": text, "path": path, "env_file": str(env_file)})
        return
    if not install:
        sys.stdout.write(text)
        typer.echo(f"install: bubble {service.group} unit --install (writes {path}); "
                   f"settings and secrets: {env_file} (root's, 0600)", err=True)  # fmt: skip
        return
    done = install_unit(spec, text, target_root)
    if as_json:
        print_json({"unit": text, "path": str(done.unit), "env_file": str(done.env_file),
                    "env_created": done.env_created, "reloaded": done.reloaded})  # fmt: skip
        return
    say(f"wrote {done.unit}")
    say(f"{'created' if done.env_created else 'kept'} {done.env_file} (mode 0600): "
        "put the InfluxDB and database settings and secrets there")  # fmt: skip
    say("systemd reloaded" if done.reloaded else "not this machine's /: no daemon-reload")
    say(f"start it: systemctl enable --now {service.name}")


def duration_option(option: str, text: str, example: str = "5s or 1m") -> int:
    """Whole seconds of a duration option (`5s`, `2m`, `1h30m`), at least 1; else one line
    naming the option."""
    from glue.errors import BubbleError
    from scaler.influx import duration_seconds

    try:
        seconds = duration_seconds(text)
    except ValueError:
        seconds = 0
    if seconds < 1:
        raise BubbleError(f"{option} {text!r}: a duration of at least 1s, e.g. {example}")
    return seconds
