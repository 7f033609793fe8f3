"""`bubble panel ...` bad input: one line naming the wrong thing, nothing written."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from glue.services.accounts import finish_removals
from glue.services.context import Context
from glue.state.schema import panel_tokens, panel_users
from tests.support.cli import invoke

GOOD = "long enough pw"


def test_bad_panel_logins_and_tokens_are_refused(root: Path) -> None:
    def panel(*args: str, password: str = GOOD) -> tuple[int, str]:
        result = invoke("panel", *args, root=root, env={"BUBBLE_PASSWORD": password})
        return result.exit_code, result.stdout + result.stderr

    assert panel("admin", "add", "Bad Name")[1].count("not a valid admin name") == 1
    assert "at least 10 characters" in panel("admin", "add", "ops", password="short")[1]
    assert "unknown account 'ghost'" in panel("customer-password", "ghost")[1]
    assert "give --admin NAME or --account ACCOUNT" in panel("token", "create")[1]
    assert "unknown panel login 'ops'" in panel("token", "create", "--admin", "ops")[1]
    assert panel("admin", "add", "ops")[0] == 0
    code, out = panel("admin", "add", "ops")
    assert code == 1 and "panel login 'ops' already exists" in out
    assert "'ops' is an admin's: use --admin" in panel("token", "create", "--account", "ops")[1]
    assert "--listen" in panel("serve", "--listen", "nowhere")[1]
    with Context(root=root).engine.connect() as connection:
        assert connection.execute(select(panel_users.c.name)).scalars().all() == ["ops"]
        assert connection.execute(select(panel_tokens)).all() == []


def test_the_panel_unit_serves_the_root_and_may_write_its_catalog(
    root: Path, tmp_path: Path
) -> None:
    result = invoke("panel", "unit", "--listen", "127.0.0.1:8099", root=root)
    assert result.exit_code == 0, result.stderr
    lines, top = result.stdout.splitlines(), root.resolve()
    assert next(line for line in lines if line.startswith("ExecStart=")).endswith(
        f"-m glue.cli.main --root {top} panel serve --listen 127.0.0.1:8099"
    )
    writable = f"ReadWritePaths={top}/state {top}/inventory/generated {top}/catalog {top}/.git"
    for directive in (
        writable,
        "EnvironmentFile=/etc/bubblehost/panel.env",
        "ProtectSystem=strict",
    ):
        assert directive in lines
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here")
    unit = tmp_path / "bubble-panel.service"
    unit.write_text(result.stdout)
    verified = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, check=False)  # fmt: skip
    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")


def test_a_removed_account_takes_its_panel_login_with_it(root: Path) -> None:
    """A new account under the same name later inherits no password, session or token."""
    env = {"BUBBLE_PASSWORD": GOOD, "BUBBLE_APPLY": "0"}
    for args in (
        ["server", "add", "web1", "--provider", "lab", "--cores", "2", "--core-ghz", "2",
         "--memory", "8GiB", "--disk", "100GiB"],
        ["account", "create", "alice", "--domain", "alice.example"],
        ["panel", "customer-password", "alice"],
        ["panel", "token", "create", "--account", "alice"],
        ["account", "delete", "alice"],
    ):  # fmt: skip
        result = invoke(*args, root=root, env=env)
        assert result.exit_code == 0, result.stdout + result.stderr
    ctx = Context(root=root)
    # The converge of web1 confirmed the removal:
    assert finish_removals(ctx, ctx.catalog(), ["web1"], lambda _: None) == ["alice"]
    with ctx.engine.connect() as connection:
        assert connection.execute(select(panel_users)).all() == []
        assert connection.execute(select(panel_tokens)).all() == []


def test_an_accounts_token_needs_its_customer_login_and_says_how_to_make_it(root: Path) -> None:
    """A token acts as a panel login (its row names the login): an account without one is
    told the command that makes it, and no token is kept."""
    env = {"BUBBLE_PASSWORD": GOOD, "BUBBLE_APPLY": "0"}
    for args in (
        ["server", "add", "web1", "--provider", "lab", "--cores", "2", "--core-ghz", "2",
         "--memory", "8GiB", "--disk", "100GiB"],
        ["account", "create", "alice", "--domain", "alice.example"],
    ):  # fmt: skip
        assert invoke(*args, root=root, env=env).exit_code == 0
    refused = invoke("panel", "token", "create", "--account", "alice", root=root)
    assert (refused.exit_code, refused.stdout) == (1, "")
    assert refused.stderr.strip() == (
        "error: account 'alice' has no panel login yet: run `bubble panel customer-password "
        "alice` first, then create its token"
    )
    ghost = invoke("panel", "token", "create", "--account", "ghost", root=root)
    assert "unknown account 'ghost'" in ghost.stderr
    with Context(root=root).engine.connect() as connection:
        assert connection.execute(select(panel_tokens)).all() == []
    assert invoke("panel", "customer-password", "alice", root=root, env=env).exit_code == 0
    made = invoke("panel", "token", "create", "--account", "alice", root=root)
    assert made.exit_code == 0 and made.stdout.startswith("bht_")
