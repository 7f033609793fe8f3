"""`bubble panel ...`: the web panel (API and pages) and its logins and tokens."""

from __future__ import annotations

from pathlib import Path

import typer

from glue.cli.account import PasswordFileOption, _password
from glue.cli.common import (
    JsonLines,
    JsonOption,
    Outcome,
    UnitInstallOption,
    UnitTargetRootOption,
    UnitUserOption,
    context,
    print_json,
    show_or_install_unit,
)

panel_app = typer.Typer(
    help="The web panel: serve it; admins, customer logins and API tokens.", no_args_is_help=True
)
admin_app = typer.Typer(help="Panel admins.", no_args_is_help=True)
token_app = typer.Typer(help="API bearer tokens.", no_args_is_help=True)
panel_app.add_typer(admin_app, name="admin")
panel_app.add_typer(token_app, name="token")


def _listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise typer.BadParameter(f"{text!r}: give HOST:PORT, e.g. 127.0.0.1:8080",
                                 param_hint="--listen")  # fmt: skip
    return host.strip("[]"), int(port)


@panel_app.command("serve")
def serve(
    ctx: typer.Context,
    listen: str = typer.Option("127.0.0.1:8080", help="Address and port to listen on."),
    apply: bool = typer.Option(
        True,
        "--apply/--no-apply",
        envvar="BUBBLE_APPLY",
        help="Carry limit and state changes made in the panel to their servers (--no-apply: "
        "the catalog only, `bubble apply` later).",
    ),
    proxy: str = typer.Option(
        "127.0.0.1",
        "--trusted-proxy",
        help="Addresses whose X-Forwarded-Proto/-For are believed (the TLS proxy; '' for none).",
    ),
    certfile: Path | None = typer.Option(None, "--tls-cert", help="Serve https with this cert."),
    keyfile: Path | None = typer.Option(None, "--tls-key", help="... and this private key."),
    as_json: bool = typer.Option(
        False, "--json", help="Log lines as JSON objects on stdout (one per line)."
    ),
) -> None:
    """Serve the panel (API under /api/v1, pages at /) until stopped."""
    import logging
    import sys

    import uvicorn

    from glue.panel.app import create_app

    host, port = _listen(listen)
    if (certfile is None) != (keyfile is None):
        raise typer.BadParameter("give both --tls-cert and --tls-key", param_hint="--tls-cert")
    handler = logging.StreamHandler(sys.stdout if as_json else sys.stderr)
    handler.setFormatter(JsonLines() if as_json else logging.Formatter("%(asctime)s %(message)s"))
    for name in ("bubble.panel", "uvicorn", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    c = context(ctx)
    c.engine  # noqa: B018  the state DB opened (and migrated) before the first request
    uvicorn.run(
        create_app(c, apply=apply), host=host, port=port, proxy_headers=bool(proxy),
        forwarded_allow_ips=proxy or None, ssl_certfile=certfile, ssl_keyfile=keyfile,
        log_config=None, server_header=False,
    )  # fmt: skip


@panel_app.command("unit")
def unit(
    ctx: typer.Context,
    install: bool = UnitInstallOption,
    user: str = UnitUserOption,
    listen: str = typer.Option("127.0.0.1:8080", help="Address and port to listen on."),
    env_file: Path = typer.Option(
        Path("/etc/bubblehost/panel.env"),
        "--env-file",
        help="Where its settings and secrets are (root's, 0600).",
    ),
    target_root: Path = UnitTargetRootOption,
    as_json: bool = JsonOption,
) -> None:
    """The systemd unit running `bubble panel serve` on this machine (behind the operator's
    TLS proxy): printed, or installed as /etc/systemd/system/bubble-panel.service."""
    from scaler.service_unit import panel_service

    _listen(listen)
    show_or_install_unit(ctx, panel_service(listen, env_file), install, user, target_root,
                         as_json)  # fmt: skip


@admin_app.command("add")
def admin_add(
    ctx: typer.Context,
    name: str,
    totp: bool = typer.Option(False, "--totp", help="Require a TOTP code (authenticator app)."),
    password_file: Path | None = PasswordFileOption,
    as_json: bool = JsonOption,
) -> None:
    """Add a panel admin (password from a file, BUBBLE_PASSWORD or a prompt)."""
    from glue.panel.auth import add_admin

    out = Outcome(as_json)
    secret = add_admin(context(ctx).engine, name, _password(password_file), totp)
    out.say(f"panel admin {name} added", admin=name)
    if secret:
        import pyotp

        uri = pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name="Bubblehost")
        out.say(f"TOTP secret (shown once; add it to the authenticator app): {uri}",
                totp_uri=uri)  # fmt: skip
    out.end()


@panel_app.command("customer-password")
def customer_password(
    ctx: typer.Context,
    account: str,
    password_file: Path | None = PasswordFileOption,
    as_json: bool = JsonOption,
) -> None:
    """Set the panel password of an account's customer (its login is the account name)."""
    from glue.panel.auth import set_customer_password
    from glue.services.accounts import require_account

    c = context(ctx)
    require_account(c.catalog(), account)
    out = Outcome(as_json)
    set_customer_password(c.engine, account, _password(password_file))
    out.say(f"panel login {account}: password set", account=account)
    out.end()


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    admin: str | None = typer.Option(None, "--admin", help="A token acting as this admin."),
    account: str | None = typer.Option(None, "--account", help="... or as this account."),
    as_json: bool = JsonOption,
) -> None:
    """Create an API bearer token and print it once (only its hash is kept). A token acts as
    a panel login: an account's needs its customer login first (`panel customer-password`)."""
    from glue.errors import BubbleError
    from glue.panel.auth import ADMIN, create_token, principal
    from glue.services.accounts import require_account

    if (admin is None) == (account is None):
        raise typer.BadParameter("give --admin NAME or --account ACCOUNT", param_hint="--admin")
    c = context(ctx)
    who = principal(c.engine, admin or account or "")
    if who is None and account is not None:
        require_account(c.catalog(), account)
        raise BubbleError(f"account {account!r} has no panel login yet: run `bubble panel "
                          f"customer-password {account}` first, then create its token")  # fmt: skip
    if who is None:
        raise BubbleError(f"unknown panel login {admin!r}: add it with `bubble panel admin add "
                          f"{admin}` first")  # fmt: skip
    if (who.role == ADMIN) != (admin is not None):
        kind, option = ("an admin", "--admin") if who.admin else ("a customer", "--account")
        raise BubbleError(f"panel login {who.name!r} is {kind}'s: use {option}")
    token = create_token(c.engine, who)
    if as_json:
        print_json({"token": token, "login": who.name, "role": who.role})
    else:
        typer.echo(token)
