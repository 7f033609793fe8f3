"""`bubble panel ...` bad input: one line naming the wrong thing, nothing written."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

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
