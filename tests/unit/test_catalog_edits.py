"""`bubble` writes to the catalog keep what people wrote: comments, blank lines, key order
and the spelling of values it did not change; the git diff shows only the change."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from glue.catalog import load_catalog
from glue.yamlio import update_yaml
from tests.support.cli import CliResult

Bubble = Callable[..., CliResult]

ALICE = """\
# Alice's shop: she pays by invoice.
---
plan: base
server: web1   # moved here in 2026

domains:
- alice.example   # the main site
state: active
elastic: false
overrides:
  # bumped for the sale
  memory: 2048MiB
  cpu: 1GHz
created: 2026-12-02
"""

SERVERS = """\
# The fleet. Ask ops before adding a server.
---
servers:

  # the first one
  web1:
    provider: lab
    cores: 2
    core_ghz: 2GHz  # measured
    memory: 8GiB
    disk: 100GiB
    state: active
    type: lab
    region: lab
    address: 198.18.0.11

  web2:
    provider: lab
    type: lab
    region: lab
    cores: 2
    core_ghz: 2500MHz
    memory: 8GiB
    disk: 100GiB
    state: active
    address: 198.18.0.12
"""


def git(root: Path, *args: str) -> str:
    argv = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.test", *args]
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def committed(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / "catalog" / name).write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "by hand")


def changed_lines(root: Path, name: str) -> tuple[list[str], list[str]]:
    """(removed, added) lines of the uncommitted diff of catalog/NAME."""
    diff = git(root, "diff", "--unified=0", "--", f"catalog/{name}").splitlines()
    body = [line for line in diff if not line.startswith(("---", "+++", "@@", "diff", "index"))]
    return [x[1:] for x in body if x[0] == "-"], [x[1:] for x in body if x[0] == "+"]


@pytest.fixture
def fleet(bubble: Bubble, root: Path) -> None:
    committed(root, {"servers.yml": SERVERS, "accounts/alice.yml": ALICE})
    assert bubble("validate")[0] == 0


@pytest.mark.usefixtures("fleet")
def test_account_set_changes_one_line(bubble: Bubble, root: Path) -> None:
    code, _, err = bubble("account", "set", "alice", "--memory", "3GiB", "--no-apply")
    assert code == 0, err
    assert changed_lines(root, "accounts/alice.yml") == (["  memory: 2048MiB"], ["  memory: 3GiB"])
    assert load_catalog(root).accounts["alice"].overrides.memory_mib == 3072


@pytest.mark.usefixtures("fleet")
def test_new_keys_go_in_model_order_and_the_rest_stays(bubble: Bubble, root: Path) -> None:
    assert bubble("account", "set", "alice", "--disk", "40GiB", "--no-apply")[0] == 0
    assert bubble("account", "elastic", "alice", "on")[0] == 0
    removed, added = changed_lines(root, "accounts/alice.yml")
    assert (removed, added) == (["elastic: false"], ["elastic: true", "  disk: 40GiB"])
    text = (root / "catalog/accounts/alice.yml").read_text()
    assert text.startswith("# Alice's shop: she pays by invoice.\n---\n")
    assert "server: web1   # moved here in 2026\n\ndomains:\n" in text


@pytest.mark.usefixtures("fleet")
def test_clearing_overrides_removes_only_them(bubble: Bubble, root: Path) -> None:
    assert bubble("account", "set", "alice", "--clear", "--no-apply")[0] == 0
    removed, added = changed_lines(root, "accounts/alice.yml")
    assert added == [] and removed[0] == "overrides:" and "  memory: 2048MiB" in removed
    assert "# the main site" in (root / "catalog/accounts/alice.yml").read_text()


@pytest.mark.usefixtures("fleet")
def test_servers_yml_edit_is_the_changed_line(bubble: Bubble, root: Path) -> None:
    assert bubble("server", "drain", "web2")[0] == 0
    assert changed_lines(root, "servers.yml") == (["    state: active"], ["    state: draining"])
    code, _, err = bubble(
        "server", "add", "web3", "--provider", "lab", "--cores", "4", "--core-ghz", "3",
        "--memory", "16GiB", "--disk", "200GiB", "--address", "198.18.0.13",
    )  # fmt: skip
    assert code == 0, err
    removed, added = changed_lines(root, "servers.yml")
    assert removed == ["    state: active"] and added[1] == "  web3:"
    text = (root / "catalog/servers.yml").read_text()
    assert text.startswith("# The fleet. Ask ops before adding a server.\n---\nservers:\n\n")
    assert "  # the first one\n  web1:\n" in text and "core_ghz: 2500MHz" in text


def test_plans_yml_edit_is_the_changed_line(bubble: Bubble, root: Path) -> None:
    plans = root / "catalog/plans.yml"
    text = plans.read_text().replace("processes: 256", "processes: 256  # php-fpm + cron")
    committed(
        root,
        {"plans.yml": text.replace("    base:\n", "    # what every account gets\n    base:\n")},
    )
    assert bubble("plan", "set", "base", "--memory", "3GiB", "--yes", "--no-apply")[0] == 0
    assert changed_lines(root, "plans.yml") == (["      memory: 2GiB"], ["      memory: 3GiB"])
    assert "    # what every account gets\n" in plans.read_text()


def test_an_edit_that_would_not_read_back_is_a_full_write(bubble: Bubble, root: Path) -> None:
    """A file spelling a field by its other name (memory_mib): editing `memory` beside it
    would say it twice; the write is then the canonical file, still valid."""
    committed(root, {"servers.yml": SERVERS, "accounts/alice.yml": ALICE.replace(
        "  memory: 2048MiB", "  memory_mib: 2048")})  # fmt: skip
    assert bubble("account", "set", "alice", "--memory", "3GiB", "--no-apply")[0] == 0
    assert load_catalog(root).accounts["alice"].overrides.memory_mib == 3072
    assert "memory_mib" not in (root / "catalog/accounts/alice.yml").read_text()


@pytest.mark.parametrize("word", ["on", "yes", "1:20", "0.5", "null", "2026-12-02"])
def test_new_text_is_quoted_where_yaml_11_would_read_something_else(word: str) -> None:
    edited = update_yaml("a: x  # keep\n", {"a": "x"}, {"a": "x", "b": word})
    assert edited == f"a: x  # keep\nb: '{word}'\n"


def test_list_indentation_follows_the_file() -> None:
    old = {"d": ["a"]}
    assert update_yaml("d:\n- a\n", old, {"d": ["a", "b"]}) == "d:\n- a\n- b\n"
    assert update_yaml("d:\n    - a\n", old, {"d": ["b"]}) == "d:\n    - b\n"
