"""`bubble alerts ...`: what fires, what fired, silences, rules, channels, SMTP."""

from __future__ import annotations

import sys

import typer

from glue.cli.common import JsonOption, Outcome, context, print_json, print_table, say

alerts_app = typer.Typer(
    help="Alerts: firing now (no subcommand), history, silence, rule set, grouping, channel, smtp.",
    invoke_without_command=True,
)
rule_app = typer.Typer(help="The alert rules in catalog/alerts.yml.", no_args_is_help=True)
channel_app = typer.Typer(help="Where notices go: e-mail or webhooks.", no_args_is_help=True)
grouping_app = typer.Typer(
    help="How notices are grouped per server (catalog/alerts.yml).", no_args_is_help=True
)
alerts_app.add_typer(rule_app, name="rule")
alerts_app.add_typer(grouping_app, name="grouping")
alerts_app.add_typer(channel_app, name="channel")


def _show(rows: list[dict[str, object]], title: str, as_json: bool) -> None:
    if as_json:
        print_json(rows)
        return
    columns = ["rule", "severity", "server", "account", "since", "resolved_at", "summary"]
    table = [[r[c] for c in columns] for r in rows]
    print_table(title, columns, table)


@alerts_app.callback()
def firing(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """The alerts firing now: rule, severity, server, account, since."""
    if ctx.invoked_subcommand is not None:
        return
    from glue.services.monitoring import firing_alerts

    rows = firing_alerts(context(ctx))
    if as_json:
        print_json(rows)
        return
    if not rows:
        say("no alert is firing")
        return
    columns = ["rule", "severity", "server", "account", "since", "summary"]
    table = []
    for row in rows:
        notes = [n for n in ("silenced", "inhibited") if row[n]]
        cells = [row[c] for c in columns]
        if notes:
            cells[-1] = f"({', '.join(notes)}) {cells[-1]}"
        table.append(cells)
    print_table("firing alerts", columns, table)


@alerts_app.command("history")
def history(
    ctx: typer.Context,
    limit: int = typer.Option(100, "--limit", min=1, help="How many, newest first."),
    as_json: bool = JsonOption,
) -> None:
    """The alerts that fired (and when they resolved), newest first."""
    from glue.services.monitoring import alert_history

    _show(alert_history(context(ctx), limit), "alert history", as_json)


@alerts_app.command("silence")
def silence(
    ctx: typer.Context,
    target: str = typer.Argument(..., help="A rule name or a server name."),
    duration: str = typer.Option(..., "--for", help="How long: 30m, 2h, 1d."),
    reason: str = typer.Option(..., "--reason", help="Why (shown with the silence)."),
    as_json: bool = JsonOption,
) -> None:
    """Hold the notices of a rule's or a server's alerts until the silence expires."""
    from glue.services.monitoring import silence as add

    out = Outcome(as_json)
    done = add(context(ctx), target, duration, reason)
    out.say(f"silenced {target} until {done['until']}: {done['reason']}", **done)
    out.end()


@alerts_app.command("silences")
def silences(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """The silences in force."""
    from glue.services.monitoring import active_silences

    rows = active_silences(context(ctx))
    if as_json:
        print_json(rows)
        return
    print_table("silences", ["matcher", "until", "reason"],
                [[r["matcher"], r["until"], r["reason"]] for r in rows])  # fmt: skip


@rule_app.command("set")
def rule_set(
    ctx: typer.Context,
    rule: str = typer.Argument(..., help="The rule, e.g. disk-low."),
    for_: str | None = typer.Option(None, "--for", help="How long past `fire` before firing."),
    clear_for: str | None = typer.Option(None, "--clear-for", help="How long back to clear."),
    fire: float | None = typer.Option(None, "--fire", help="The threshold that fires."),
    clear: float | None = typer.Option(None, "--clear", help="The threshold that clears."),
    critical: float | None = typer.Option(None, "--critical", help="Past this: critical."),
    severity: str | None = typer.Option(None, "--severity", help="warning or critical."),
    repeat: str | None = typer.Option(None, "--repeat", help="Notify again every ... firing."),
    enabled: bool | None = typer.Option(None, "--enabled/--disabled", help="On or off."),
    full_within: str | None = typer.Option(
        None, "--full-within", help="disk-low: predicted full within this: a warning."
    ),
    full_within_under: float | None = typer.Option(
        None, "--full-within-under", help="disk-low: ... counted while under this % free."
    ),
    full_within_critical: str | None = typer.Option(
        None, "--full-within-critical", help="disk-low: predicted full within this: critical."
    ),
    full_within_critical_under: float | None = typer.Option(
        None, "--full-within-critical-under", help="disk-low: ... while under this % free."
    ),
    min_free_mib: int | None = typer.Option(
        None, "--min-free-mib", help="disk-low: fewer MiB free than this: a warning."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Change a rule's knobs (validated, then written to catalog/alerts.yml)."""
    from glue.errors import BubbleError
    from glue.services.monitoring import set_rule

    given = {
        "for": for_, "clear_for": clear_for, "fire": fire, "clear": clear,
        "critical": critical, "severity": severity, "repeat": repeat, "enabled": enabled,
        "full_within": full_within, "full_within_under": full_within_under,
        "full_within_critical": full_within_critical,
        "full_within_critical_under": full_within_critical_under, "min_free_mib": min_free_mib,
    }  # fmt: skip
    changes = {k: v for k, v in given.items() if v is not None}
    if not changes:
        raise BubbleError("nothing to change: give --for, --fire, --clear, ... (see --help)")
    out = Outcome(as_json)
    done = set_rule(context(ctx), rule, changes)
    shown = ", ".join(
        f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in changes.items()
    )
    out.say(f"rule {rule}: {shown}", **done)
    out.end()


@grouping_app.command("set")
def grouping_set(
    ctx: typer.Context,
    wait: str | None = typer.Option(None, "--wait", help="A new group waits this for company."),
    interval: str | None = typer.Option(
        None, "--interval", help="A notified group waits this before the next notice."
    ),
    repeat: str | None = typer.Option(None, "--repeat", help="Firing alerts re-sent every ..."),
    as_json: bool = JsonOption,
) -> None:
    """Change the grouping's waits (validated, then written to catalog/alerts.yml)."""
    from glue.errors import BubbleError
    from glue.services.monitoring import set_grouping

    given = {"group_wait": wait, "group_interval": interval, "repeat": repeat}
    changes = {k: v for k, v in given.items() if v is not None}
    if not changes:
        raise BubbleError("nothing to change: give --wait, --interval or --repeat")
    out = Outcome(as_json)
    done = set_grouping(context(ctx), changes)
    out.say("grouping: " + ", ".join(f"{k} {v}" for k, v in done.items()), **done)
    out.end()


@grouping_app.command("show")
def grouping_show(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """The grouping's waits in force."""
    from glue.services.monitoring import grouping

    shown = grouping(context(ctx))
    if as_json:
        print_json(shown)
        return
    print_table("alert grouping", ["knob", "value"], [[k, v] for k, v in shown.items()])


@channel_app.command("add")
def channel_add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The channel's name (a-z, 0-9, -)."),
    email: str | None = typer.Option(None, "--email", help="Send to this address (SMTP)."),
    webhook: str | None = typer.Option(
        None, "--webhook", help="A Slack-compatible webhook URL; `-` reads it from stdin."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Add a channel. A webhook's URL is kept in state/alerts/ (0600), not the catalog."""
    from glue.services.monitoring import add_channel

    if webhook == "-":
        webhook = sys.stdin.readline().strip()
    out = Outcome(as_json)
    done = add_channel(context(ctx), name, email, webhook)
    where = email or "a webhook (URL kept in state/alerts/)"
    out.say(f"channel {name}: {where}", **done)
    out.end()


@channel_app.command("remove")
def channel_remove(
    ctx: typer.Context, name: str = typer.Argument(...), as_json: bool = JsonOption
) -> None:
    """Remove a channel."""
    from glue.services.monitoring import remove_channel

    out = Outcome(as_json)
    remove_channel(context(ctx), name)
    out.say(f"channel {name} removed", channel=name)
    out.end()


@channel_app.command("list")
def channel_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """The channels (no secret is shown)."""
    from glue.services.monitoring import channels

    config = channels(context(ctx))
    rows = [
        {"channel": n, "kind": "email" if c.email else "webhook", "email": c.email}
        for n, c in sorted(config.channels.items())
    ]
    if as_json:
        print_json(rows)
        return
    print_table("channels", ["channel", "kind", "email"],
                [[r["channel"], r["kind"], r["email"]] for r in rows])  # fmt: skip


@alerts_app.command("smtp")
def smtp(
    ctx: typer.Context,
    host: str | None = typer.Option(None, "--host", help="The SMTP server."),
    port: int | None = typer.Option(None, "--port", help="Its port (587)."),
    starttls: bool | None = typer.Option(None, "--starttls/--no-starttls", help="STARTTLS."),
    username: str | None = typer.Option(None, "--username", help="Login name."),
    sender: str | None = typer.Option(None, "--sender", help="The From address."),
    ca_file: str | None = typer.Option(None, "--ca-file", help="A private CA for STARTTLS."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the login password from stdin (kept 0600 in state/)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """The SMTP server for e-mail notices; the password never goes on the command line."""
    from glue.services.monitoring import set_smtp

    settings = {
        "host": host, "port": port, "starttls": starttls, "username": username,
        "sender": sender, "ca_file": ca_file,
    }  # fmt: skip
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    out = Outcome(as_json)
    done = set_smtp(context(ctx), {k: v for k, v in settings.items() if v is not None}, password)
    out.say(f"smtp: {done['host']}:{done['port']} from {done['sender']}", **done)
    out.end()
