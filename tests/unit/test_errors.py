"""Whatever an operator gets wrong, `bubble` answers with one line `error: ...` and an exit
code, writes nothing, and never shows a traceback or a Click usage box."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import typer

from glue.cli.main import _one_line_errors
from tests.support.cli import CliResult, invoke, run

Bubble = Callable[..., CliResult]


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in (root / "catalog").rglob("*.yml")}


def one_error_line(code: int, out: str, err: str, message: str) -> None:
    assert code in (1, 2), (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and message in lines[0], lines[0]
    for noise in ("Usage:", "Traceback", "Try '"):
        assert noise not in out + err


@pytest.fixture
def alice(bubble: Bubble, two_servers: None) -> None:
    assert bubble("account", "create", "alice", "--domain", "alice.example")[0] == 0
    assert bubble("account", "create", "bob", "--domain", "bob.example")[0] == 0


@pytest.mark.usefixtures("alice")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        # what Click and typer.BadParameter used to answer with a usage box
        (("account", "set", "alice"), "give --cpu, --memory, --disk, --processes or --clear"),
        (("account", "elastic", "alice", "maybe"), "'maybe': say on or off"),
        (("account", "set", "alice", "--processes", "many"), "'--processes'"),
        (("plan", "set", "base"), "give at least one of --cpu"),
        (("account", "show"), "Missing argument 'name'"),
        (("account", "frobnicate"), "No such command 'frobnicate'"),
        (("--rooot", "x", "validate"), "No such option: --rooot"),
        # amounts that are not money, or too much of it
        (("wallet", "credit", "alice", ".inf"), "'.inf' is not an amount of money"),
        (("wallet", "credit", "alice", "inf"), "'inf' is not an amount of money"),
        (("wallet", "credit", "alice", "nan"), "'nan' is not an amount of money"),
        (("wallet", "credit", "alice", "1e3"), "'1e3' is not an amount of money"),
        (("wallet", "credit", "alice", "\u0663"), "is not an amount of money"),  # Arabic 3
        (("wallet", "credit", "alice", "10000000000.01"), "is more than 10000000000.00"),
        (("wallet", "credit", "alice", "9" * 40), "is more than 10000000000.00"),
        (
            ("account", "upgrade", "alice", "--cpu", f"+{10**12}GHz"),
            "is more than one entry may hold",
        ),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    bubble: Bubble, root: Path, args: tuple[str, ...], message: str
) -> None:
    before = snapshot(root)
    code, out, err = bubble(*args)
    one_error_line(code, out, err, message)
    assert snapshot(root) == before
    assert json.loads(bubble("wallet", "show", "alice", "--json")[1])["entries"] == []


@pytest.mark.usefixtures("alice")
def test_one_key_on_two_accounts_is_refused_by_name(bubble: Bubble) -> None:
    assert bubble("wallet", "credit", "alice", "5", "--key", "k")[0] == 0
    code, out, err = bubble("wallet", "credit", "bob", "5", "--key", "k")
    one_error_line(code, out, err, "key 'k' was already used for a different entry")
    assert "(credit of 5.00 on alice)" in err
    assert json.loads(bubble("wallet", "show", "bob", "--json")[1])["balance"] == "0.00"


@pytest.mark.usefixtures("alice")
def test_markup_in_user_text_prints_as_written(bubble: Bubble, root: Path) -> None:
    plans = root / "catalog" / "plans.yml"
    plans.write_text(plans.read_text().replace("description: 'The", "description: '[/x] [bold]The"))
    code, out, err = bubble("plan", "show", "base")
    assert code == 0, err
    assert "[/x] [bold]The base plan" in out
    assert bubble("wallet", "credit", "alice", "5", "--note", "[/x][red]")[0] == 0
    code, out, err = bubble("wallet", "show", "alice")
    assert code == 0, err
    assert "[/x][red]" in out


def test_non_finite_numbers_in_the_catalog_are_named(bubble: Bubble, root: Path) -> None:
    plans = root / "catalog" / "plans.yml"
    plans.write_text(plans.read_text().replace("yearly_price: '60.00'", "yearly_price: .inf", 1))
    code, out, err = bubble("validate")
    assert code == 1 and "Traceback" not in out + err
    assert err.strip() == (
        "error: catalog/plans.yml: plans.base.upgrade.cpu.yearly_price: '.inf' is not an amount"
        " of money (at most 2 decimal places) (got '.inf')"
    )


def test_a_failed_tool_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as info, _one_line_errors():
        subprocess.run(
            ["sh", "-c", "echo starting; echo 'disk on fire' >&2; exit 3"],
            check=True,
            capture_output=True,
            text=True,
        )
    assert info.value.exit_code == 1
    assert capsys.readouterr().err == "error: sh failed (exit 3): disk on fire\n"


def test_a_file_problem_is_one_line(tmp_path: Path, bubble: Bubble) -> None:
    (tmp_path / "file").write_text("")
    code, out, err = bubble("init", str(tmp_path / "file" / "ops"))
    one_error_line(code, out, err, f"Not a directory: {tmp_path / 'file' / 'ops'}")


@pytest.mark.usefixtures("alice")
def test_an_unreachable_state_db_is_one_line(root: Path) -> None:
    result = invoke(
        "wallet", "show", "alice",
        root=root,
        env={"BUBBLE_DATABASE_URL": "postgresql://bubble:sekret@127.0.0.1:1/none"},
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.startswith("error: state DB: ") and "Connection refused" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "sekret" not in result.stderr


def test_a_bug_keeps_its_traceback() -> None:
    with pytest.raises(KeyError), _one_line_errors():
        raise KeyError("a bug")


def test_a_mistyped_root_is_not_an_empty_valid_catalog(tmp_path: Path) -> None:
    done = run("validate", root=tmp_path / "nowhere")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: no catalog at {tmp_path / 'nowhere' / 'catalog'} "
        f"(run `bubble init {tmp_path / 'nowhere'}`, or give --root)"
    )
