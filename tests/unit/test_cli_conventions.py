"""What people expect of a CLI like terraform, kubectl or hcloud: --version, completion,
--json everywhere (one object from write commands), exit 2 for a command line that does not
parse and 1 for a failure, tables whole in a pipe, `account exec` with the caller's stdin,
internal commands out of --help."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from glue.cli.main import app
from glue.remote import CONFINE
from tests.support.cli import CliResult, invoke, run

Bubble = Callable[..., CliResult]
# Commands that hand the terminal to a remote program: their output is that program's.
PASSTHROUGH = {"account exec", "server ssh"}


def commands(group: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(path, command) of every command below a (Typer's own click) group."""
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if hasattr(command, "commands"):
            yield from commands(command, f"{path} ")
        else:
            yield path, command


def test_version() -> None:
    from importlib.metadata import version

    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout == f"bubble {version('bubblehost')}\n"


def test_shell_completion_is_offered_and_completes_commands() -> None:
    help_text = invoke("--help").stdout
    assert "--install-completion" in help_text and "--show-completion" in help_text
    env = {"_BUBBLE_COMPLETE": "complete_bash", "COMP_WORDS": "bubble acc", "COMP_CWORD": "1"}
    done = run(env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["account"]


def test_every_command_has_json_output() -> None:
    group = typer.main.get_command(app)
    missing = [
        path
        for path, command in commands(group)
        if path not in PASSTHROUGH
        and not command.hidden
        and "--json" not in {opt for p in command.params for opt in p.opts}
    ]
    assert missing == []


def test_internal_commands_are_hidden_but_work() -> None:
    listed = invoke("lab", "--help").stdout
    assert "server-create" not in listed and "server-destroy" not in listed
    assert "status" in listed
    shown = invoke("lab", "server-create", "--help")
    assert shown.exit_code == 0 and "--ssh-key" in shown.stdout


def test_validate_json(bubble: Bubble, root: Path) -> None:
    code, out, err = bubble("validate", "--json")
    assert (code, err) == (0, "")
    assert json.loads(out) == {"valid": True, "problems": [], "plans": 1, "servers": 0,
                               "accounts": 0}  # fmt: skip
    (root / "catalog/accounts/x.yml").write_text("plan: gold\nserver: web1\ndomains: [x.example]\n")
    code, out, err = bubble("validate", "--json")
    assert code == 1 and err == ""
    report = json.loads(out)
    assert report["valid"] is False
    assert "catalog/accounts/x.yml: plan: unknown plan 'gold' (known: base)" in report["problems"]


@pytest.mark.usefixtures("two_servers")
def test_write_commands_print_one_json_object(bubble: Bubble) -> None:
    code, out, err = bubble("account", "create", "alice", "--domain", "a.example", "--json")
    assert code == 0, err
    created = json.loads(out)
    assert (created["account"], created["server"], created["created"]) == ("alice", "web1", True)
    assert created["reason"].startswith("web1 has the fewest accounts (0)")
    code, out, _ = bubble("account", "set", "alice", "--memory", "3GiB", "--json")
    assert json.loads(out) == {"account": "alice", "overrides": {"memory_mib": 3072}}
    code, out, _ = bubble("wallet", "credit", "alice", "5", "--key", "k1", "--json")
    credit = json.loads(out)
    assert (credit["amount"], credit["balance"], credit["created"]) == ("5.00", "5.00", True)
    code, out, _ = bubble("server", "drain", "web2", "--json")
    assert json.loads(out) == {"server": "web2", "state": "draining"}
    code, out, _ = bubble("plan", "set", "base", "--cpu", "2GHz", "--yes", "--json")
    assert json.loads(out) == {"plan": "base", "following": 0, "servers": ["web1"]}
    code, out, _ = bubble("account", "delete", "alice", "--json")  # --no-apply: recorded
    assert json.loads(out) == {
        "account": "alice", "purge": False, "deleted": False, "state": "removing",
    }  # fmt: skip


def test_a_write_that_waits_prints_its_json_and_exits_3(
    bubble: Bubble, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glue.services import bubbles
    from glue.services.converge import ConvergeResult, Pending

    bubble(
        "server", "add", "cloud2", "--provider", "hcloud", "--type", "cx22", "--region", "fsn1",
        "--cores", "2", "--core-ghz", "2", "--memory", "4GiB", "--disk", "40GiB",
        "--address", "127.0.0.1",
    )  # fmt: skip
    silent = ConvergeResult(pending=[Pending("cloud2", "silent", "ssh: timed out")])
    monkeypatch.setattr(bubbles, "carry", lambda *_: silent)
    result = invoke("account", "create", "a2", "--domain", "a2.example", "--json", root=root)
    assert result.exit_code == 3
    facts = json.loads(result.stdout)
    assert facts["pending"] == [{"server": "cloud2", "why": "silent", "detail": "ssh: timed out"}]
    assert facts["done"] == [] and facts["account"] == "a2"


@pytest.mark.usefixtures("two_servers")
@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("frobnicate",), 2),
        (("account", "set", "x", "--bogus"), 2),
        (("account", "show"), 2),
        (("account", "set", "x", "--processes", "many"), 2),
        (("account", "set", "x"), 2),  # says what to give
        (("account", "show", "nobody"), 1),
        (("wallet", "credit", "nobody", "1.00"), 1),
        (("account", "create", "bad_name", "--domain", "x.example"), 1),
    ],
)
def test_usage_errors_exit_2_and_failures_1(
    bubble: Bubble, args: tuple[str, ...], code: int
) -> None:
    got, _, err = bubble(*args)
    assert got == code, err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1


@pytest.mark.usefixtures("two_servers")
def test_tables_are_not_wrapped_in_a_pipe(bubble: Bubble) -> None:
    domains = [f"shop-{i}.example" for i in range(12)]
    args = [arg for domain in domains for arg in ("--domain", domain)]
    assert bubble("account", "create", "alice", *args)[0] == 0
    code, out, _ = bubble("account", "list")
    assert code == 0
    rows = [line for line in out.splitlines() if "alice" in line]
    assert len(rows) == 1 and " ".join(domains) in rows[0]


FAKE_SSH = f"""#!{sys.executable}
# ssh as the lab has it, minus the server: run what follows bubble-confine here, with systemd's
# reading of `$$` as `$`.
import os, shlex, sys
remote = shlex.split(sys.argv[-1])
argv = [a.replace("$$", "$") for a in remote[remote.index({CONFINE!r}) + 1:]]
os.execvp(argv[0], argv)
"""


def test_account_exec_passes_stdin_and_the_command_through(bubble: Bubble, root: Path,
                                                           tmp_path: Path) -> None:  # fmt: skip
    bubble(
        "server", "add", "web1", "--provider", "lab", "--cores", "2", "--core-ghz", "2",
        "--memory", "8GiB", "--disk", "100GiB",
    )  # fmt: skip
    assert bubble("account", "create", "alice", "--domain", "alice.example")[0] == 0
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(FAKE_SSH)
    (bin_dir / "ssh").chmod(stat.S_IRWXU)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}

    def execute(*command: str, stdin: str) -> subprocess.CompletedProcess[str]:
        return run("account", "exec", "alice", "--", *command, root=root, env=env, stdin=stdin)

    assert execute("cat", stdin="hi\n").stdout == "hi\n"
    done = execute("sh", "-c", 'read line; echo "got $line"; exit 7', stdin="it\n")
    assert (done.stdout, done.returncode) == ("got it\n", 7)
    quoted = execute("printf", "%s|", "a b", "it's", "$HOME", "${USER}", stdin="")
    assert quoted.stdout == "a b|it's|$HOME|${USER}|"
