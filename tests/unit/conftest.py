"""Shared fixtures: a fresh operator root and the CLI run in-process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from glue.services.root import init_root
from tests.support.cli import CliResult, invoke


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("BUBBLE_DATABASE_URL", raising=False)
    return init_root(tmp_path / "ops")


@pytest.fixture
def bubble(root: Path) -> Callable[..., CliResult]:
    """Run `bubble --root ROOT ARGS...`; returns (exit code, stdout, stderr)."""

    def run(*args: str) -> CliResult:
        # Unit tests edit the catalog only; tests/lab carries changes to real servers.
        result = invoke(*args, root=root, env={"BUBBLE_APPLY": "0"}, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return run


@pytest.fixture
def two_servers(bubble: Callable[..., CliResult]) -> None:
    for name, ghz in (("web1", "2"), ("web2", "2.5")):
        code, _, err = bubble(
            "server",
            "add",
            name,
            "--provider",
            "lab",
            "--cores",
            "2",
            "--core-ghz",
            ghz,
            "--memory",
            "8GiB",
            "--disk",
            "100GiB",
        )
        assert code == 0, err
