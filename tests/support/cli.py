"""The one way tests drive the `bubble` CLI.

`invoke` runs it in this process (Typer's runner: fast, for what the catalog and the output
say); `run` and `start` run it as a process of its own (exit codes, signals, a terminal or
its absence, exactly as shipped); `Bubble` binds `run` to one operator root and environment,
as the lab tests and benchmarks use it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

import pytest
import typer
from click.testing import Result
from typer.testing import CliRunner

from glue.cli.main import app as bubble_app
from tests.support.lab_env import lab_available

# `bubble` as a process: the module, so it runs from this checkout whatever is installed.
CLI: tuple[str, ...] = (sys.executable, "-m", "glue.cli.main")
# What an in-process run returns to the unit tests: (exit code, stdout, stderr).
CliResult = tuple[int, str, str]


def _argv(args: Sequence[str], root: Path | None) -> list[str]:
    return [*(("--root", str(root)) if root is not None else ()), *args]


def invoke(
    *args: str,
    root: Path | None = None,
    env: Mapping[str, str] | None = None,
    app: typer.Typer = bubble_app,
    catch_exceptions: bool = True,
    input: str | None = None,
) -> Result:
    """`bubble [--root ROOT] ARGS` in this process; `env` is added to this process's own;
    `input` is its stdin."""
    return CliRunner().invoke(
        app, _argv(args, root), input=input, env=dict(env or {}), catch_exceptions=catch_exceptions
    )


def environment(env: Mapping[str, str] | None, *, own_bubble_env: bool = True) -> dict[str, str]:
    """This process's environment plus `env`; without its BUBBLE_* when not `own_bubble_env`."""
    base = {k: v for k, v in os.environ.items() if own_bubble_env or not k.startswith("BUBBLE_")}
    return {**base, **(env or {})}


def run(
    *args: str,
    root: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 600,
    entry: Sequence[str] = CLI,
    own_bubble_env: bool = True,
) -> subprocess.CompletedProcess[str]:
    """`bubble [--root ROOT] ARGS` as a process; the result whatever its exit code.

    stdin is `stdin`'s text, else /dev/null (never the test runner's: ansible refuses a
    non-blocking one). `entry` replaces `python -m glue.cli.main` (e.g. with fault injection).
    """
    return subprocess.run(
        [*entry, *_argv(args, root)],
        env=environment(env, own_bubble_env=own_bubble_env),
        text=True,
        capture_output=True,
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        timeout=timeout,
        check=False,
    )


def start(
    *args: str,
    root: Path | None = None,
    env: Mapping[str, str] | None = None,
    entry: Sequence[str] = CLI,
    output: int | TextIO | None = subprocess.PIPE,
    terminal: int | None = None,
    own_bubble_env: bool = True,
) -> subprocess.Popen[str]:
    """`bubble [--root ROOT] ARGS` left running (the caller waits for it); stdin is the
    `terminal` file descriptor given (a pty), else /dev/null."""
    return subprocess.Popen(
        [*entry, *_argv(args, root)],
        env=environment(env, own_bubble_env=own_bubble_env),
        stdin=subprocess.DEVNULL if terminal is None else terminal,
        stdout=output,
        stderr=output,
        text=True,
    )


def server_args(memory: str, disk: str) -> tuple[str, ...]:
    """`server add` options for a lab server: 2 cores at 2 GHz (so 1 GHz = CPUQuota 50%)."""
    return ("--provider", "lab", "--cores", "2", "--core-ghz", "2", "--memory", memory,
            "--disk", disk)  # fmt: skip


class Bubble:
    """`bubble` as a process against `root`, in the environment `env` adds to this one."""

    def __init__(self, root: Path, env: Mapping[str, str]) -> None:
        self.root = root
        # The whole environment of every run: a BUBBLE_* variable deleted from it stays away.
        self.env = {**os.environ, **env, "BUBBLE_ROOT": str(root)}

    def run(
        self, *args: str, stdin: str | None = None, timeout: float = 1200
    ) -> subprocess.CompletedProcess[str]:
        """The command's result, whatever its exit code."""
        return run(*args, env=self.env, stdin=stdin, timeout=timeout, own_bubble_env=False)

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        """The command's stdout; it must succeed."""
        done = self.run(*args, stdin=stdin)
        if done.returncode != 0:
            raise AssertionError(f"bubble {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def init(self) -> None:
        """`bubble init` of this root."""
        self("init", str(self.root))

    def background(self, *args: str) -> subprocess.Popen[str]:
        """The command left running, its output dropped (the caller waits for it)."""
        return start(*args, env=self.env, output=subprocess.DEVNULL, own_bubble_env=False)

    def json(self, *args: str) -> object:
        return json.loads(self(*args, "--json"))

    def on_server(self, server: str, command: str) -> str:
        """A shell command as root on `server`."""
        return self("server", "ssh", server, "--", "sh", "-c", command)

    def address(self, server: str) -> str:
        """`server`'s address, as `server list` gives it."""
        rows = self.json("server", "list")
        assert isinstance(rows, list)
        return str(next(row["address"] for row in rows if row["name"] == server))

    def as_account(self, account: str, command: str) -> str:
        """A shell command as `account`, in its home and slice."""
        return self("account", "exec", account, "--", "sh", "-c", command)


def fresh_bubble(
    tmp_path_factory: pytest.TempPathFactory, env: Mapping[str, str], prefix: str = "ops"
) -> Bubble:
    """The CLI on a new operator root (`bubble init`) in `env`'s lab; skips without a lab."""
    if not lab_available():
        pytest.skip("lab tests need root and systemd-nspawn")
    bubble = Bubble(tmp_path_factory.mktemp(prefix) / "root", env)
    bubble.init()
    return bubble
