"""`bubble migrate` through Typer: pre-flight only (--check), JSON, passwords from env/file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glue.cli.migrate import migrate_app

from . import servers

pytestmark = pytest.mark.integration


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    for argv in (
        ["init", str(r)],
        ["server", "add", "web1", "--provider", "lab", "--cores", "2", "--core-ghz", "2.5",
         "--memory", "8GiB", "--disk", "100GiB", "--address", "198.18.0.99"],
        ["account", "create", servers.ACCOUNT, "--domain", "shop.example", "--server", "web1",
         "--no-apply"],  # the catalog only: no server answers at 198.18.0.99
    ):  # fmt: skip
        subprocess.run(
            [sys.executable, "-c", "from glue.cli.main import run; run()", "--root", str(r), *argv]
            if argv[0] != "init"
            else [sys.executable, "-c", "from glue.cli.main import run; run()", *argv],
            check=True,
            capture_output=True,
        )
    return r


def test_check_json_and_password_file(root: Path, vsftpd: str, tmp_path: Path) -> None:
    pwfile = tmp_path / "pw"
    pwfile.write_text(f"files={servers.OLD_PASSWORD}\n")
    result = CliRunner().invoke(
        migrate_app,
        [servers.ACCOUNT, "--files", vsftpd, "--check", "--json", "--password-file", str(pwfile)],
        env={"BUBBLE_ROOT": str(root)},
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["check_only"]
    assert report["preflight"]["fits"]
    assert report["preflight"]["parts"][0]["bytes"] > 100 * 1024 * 1024
    assert servers.OLD_PASSWORD not in result.output


def test_wrong_password_one_line_and_password_in_url_refused(root: Path, vsftpd: str) -> None:
    env = {"BUBBLE_ROOT": str(root), "BUBBLE_MIGRATE_FILES_PASSWORD": "wrong"}
    result = CliRunner().invoke(
        migrate_app, [servers.ACCOUNT, "--files", vsftpd, "--check"], env=env
    )
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "login: 530" in errors[0]
    bad = vsftpd.replace(f"{servers.OLD_USER}@", f"{servers.OLD_USER}:secret@")
    result = CliRunner().invoke(migrate_app, [servers.ACCOUNT, "--files", bad, "--check"], env=env)
    assert result.exit_code != 0 and "secret" not in result.output
    assert "no password in the URL" in str(result.exception) + result.output
