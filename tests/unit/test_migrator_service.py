"""The migration service (glue/services/migration.py): everything checked before any byte
moves, the migrator handed glue's ssh target, and its errors shown as one line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from glue.errors import BubbleError
from glue.migration_target import SshTarget
from glue.services.context import Context
from glue.services.migration import MigrationRequest, prepare_migration
from migrator.errors import MigratorError
from tests.support.cli import CliResult

FILES = "sftp://bob@old.example/www"


@pytest.fixture
def account(bubble: Callable[..., CliResult], two_servers: None) -> str:
    code, _, err = bubble("account", "create", "a1", "--domain", "a1.example", "--server", "web2")
    assert code == 0, err
    return "a1"


def test_a_request_becomes_a_plan_with_its_passwords_and_target(root: Path, account: str) -> None:
    request = MigrationRequest(account, files=FILES, ssh_options=("ConnectTimeout=3",))
    migration = prepare_migration(Context(root), request, environ={
        "BUBBLE_MIGRATE_FILES_PASSWORD": "pw"})  # fmt: skip
    plan, runner = migration.plan, migration.runner
    assert plan.account == account and plan.files and plan.files.host == "old.example"
    catalog = Context(root).catalog()
    assert plan.disk_limit_mib == catalog.plans[catalog.accounts[account].plan].base.disk_mib
    assert runner.secrets.by_label == {plan.files.label: "pw"}
    target = runner.target
    assert isinstance(target, SshTarget) and target.account == account
    assert target.address and target.address == catalog.servers["web2"].address
    assert target.ssh_options[-2:] == ("-o", "ConnectTimeout=3")
    assert migration.warnings == []


@pytest.mark.parametrize(
    ("request_", "error", "message"),
    [
        (MigrationRequest("nobody", files=FILES), BubbleError, "nobody"),
        (MigrationRequest("a1"), BubbleError, "nothing to migrate"),
        (MigrationRequest("a1", files="sftp://bob:pw@old.example/www"), MigratorError,
         "no password in the URL"),
        (MigrationRequest("a1", files=FILES), MigratorError, "BUBBLE_MIGRATE_FILES_PASSWORD"),
    ],
)  # fmt: skip
def test_bad_requests_are_refused_in_one_line(
    root: Path, account: str, request_: MigrationRequest, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as err:
        prepare_migration(Context(root), request_, environ={})
    assert message in str(err.value) and "\n" not in str(err.value)
    assert "pw" not in str(err.value).replace("password", "")


def test_the_cli_shows_a_migrator_error_as_one_line(
    bubble: Callable[..., CliResult], account: str
) -> None:
    code, out, err = bubble("migrate", account, "--files", "sftp://bob:hunter2@old.example/www")
    assert code == 1 and out == ""
    (line,) = err.splitlines()
    assert line.startswith("error: ") and "no password in the URL" in line
    assert "hunter2" not in err
