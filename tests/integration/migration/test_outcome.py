"""An honest outcome: a file the old host refuses to the customer (root's, 0600, on a real
vsftpd) is a warning, not a failure: `bubble migrate` ends "verified with warnings", exit 3,
and its JSON names the file and gives each part's seconds and bytes/s."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from glue.cli.migrate import migrate_app
from migrator.target import LocalTarget
from tests.support.cli import invoke

from . import data, servers
from .test_cli import _make_root

pytestmark = pytest.mark.integration


def test_refused_file_ends_verified_with_warnings_exit_3(
    vsftpd_refused: str, target: LocalTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _make_root(tmp_path / "root")
    # The account's server is a local system user here (no ssh, no systemd-run on this
    # machine): the CLI's target is swapped for the same protocol run locally.
    made: list[dict[str, Any]] = []

    def local(**kw: Any) -> LocalTarget:
        made.append(kw)
        return target

    monkeypatch.setattr("migrator.target.SshTarget", local)
    env = {"BUBBLE_ROOT": str(root), "BUBBLE_MIGRATE_FILES_PASSWORD": servers.OLD_PASSWORD}
    args = [servers.ACCOUNT, "--files", vsftpd_refused]
    result = invoke(*args, "--json", env=env, app=migrate_app)
    assert made and made[0]["account"] == servers.ACCOUNT
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["outcome"] == "verified with warnings"
    (part,) = report["parts"]
    assert part["state"] == "verified with warnings"
    assert part["warnings"] == [{"item": data.REFUSED_FILE, "why": "refused by the source"}]
    assert part["copied"] == len(data.REFUSED_FILES)
    assert part["copied_bytes"] == sum(len(c) for c in data.REFUSED_FILES.values())
    assert 0 < part["seconds"] < 60
    rate = part["copied_bytes"] / part["seconds"]  # seconds rounded to the millisecond
    assert abs(part["bytes_per_second"] - rate) <= rate / 100 + 1
    web = target.home / target.web_root
    for rel, content in data.REFUSED_FILES.items():
        assert (web / rel).read_bytes() == content
    assert not (web / data.REFUSED_FILE).exists()

    # The text report says it too, and a re-run (nothing left to copy) ends the same way.
    again = invoke(*args, env=env, app=migrate_app)
    assert again.exit_code == 3, again.output
    assert f"warning: {data.REFUSED_FILE}: refused by the source" in again.stdout
    assert "error:" not in again.output


def test_verified_run_exits_0_with_its_figures(
    vsftpd_refused: str, target: LocalTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same CLI on a subtree without the refused file: plain "verified", exit 0."""
    root = _make_root(tmp_path / "root")
    monkeypatch.setattr("migrator.target.SshTarget", lambda **kw: target)
    env = {"BUBBLE_ROOT": str(root), "BUBBLE_MIGRATE_FILES_PASSWORD": servers.OLD_PASSWORD}
    url = f"{vsftpd_refused}docs/"
    result = invoke(servers.ACCOUNT, "--files", url, "--json", env=env, app=migrate_app)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["outcome"] == "verified" and report["parts"][0]["warnings"] == []
    assert report["parts"][0]["copied"] == 1 and report["parts"][0]["seconds"] > 0
