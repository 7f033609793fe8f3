"""`bubble scaler unit`: the systemd unit that runs the scaler, printed and installed."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.cli import CliResult, invoke

SECRET = "influx-pass-never-printed"


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUBBLE_INFLUX_PASSWORD", SECRET)


def test_the_printed_unit_runs_the_scaler_hardened_and_verifies(
    bubble: Callable[..., CliResult], root: Path, tmp_path: Path
) -> None:
    code, out, err = bubble("scaler", "unit", "--interval", "10s")
    assert code == 0, err
    lines = out.splitlines()
    run = next(line for line in lines if line.startswith("ExecStart="))
    assert run.endswith(f"-m glue.cli.main --root {root.resolve()} scaler run --interval 10s")
    writable = f"ReadWritePaths={root.resolve()}/state {root.resolve()}/inventory/generated"
    hardened = ("Restart=always", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes")
    for directive in (*hardened, "EnvironmentFile=/etc/bubblehost/scaler.env", writable):
        assert directive in lines
    assert SECRET not in out + err and "/etc/bubblehost/scaler.env" in err
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here")
    unit = tmp_path / "bubble-scaler.service"
    unit.write_text(out)
    verified = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, check=False)  # fmt: skip
    # verify exits 0 on unknown keys and bad values too: it must say nothing at all.
    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")


def test_install_writes_what_it_prints_and_a_private_env_file(
    bubble: Callable[..., CliResult], tmp_path: Path
) -> None:
    target = tmp_path / "target"
    _, printed, _ = bubble("scaler", "unit")
    code, out, err = bubble("scaler", "unit", "--install", "--target-root", str(target))
    assert code == 0, err
    unit = target / "etc/systemd/system/bubble-scaler.service"
    env = target / "etc/bubblehost/scaler.env"
    assert unit.read_text() == printed and unit.stat().st_mode & 0o777 == 0o644
    assert env.stat().st_mode & 0o777 == 0o600
    assert "#BUBBLE_INFLUX_PASSWORD=" in env.read_text() and SECRET not in env.read_text()
    assert f"created {env} (mode 0600)" in out and "no daemon-reload" in out
    # Again: the operator's env file is kept as it is.
    env.write_text("BUBBLE_INFLUX_PASSWORD=theirs\n")
    code, out, err = bubble("scaler", "unit", "--install", "--target-root", str(target))
    assert code == 0 and f"kept {env}" in out
    code, out, _ = bubble("scaler", "unit", "--json", "--install", "--target-root", str(target))
    assert code == 0 and json.loads(out)["unit"] == printed == unit.read_text()
    assert env.read_text() == "BUBBLE_INFLUX_PASSWORD=theirs\n"


def test_an_env_file_others_can_read_is_refused_and_nothing_written(
    bubble: Callable[..., CliResult], tmp_path: Path
) -> None:
    env = tmp_path / "etc/bubblehost/scaler.env"
    env.parent.mkdir(parents=True)
    env.write_text("BUBBLE_INFLUX_PASSWORD=x\n")
    env.chmod(0o644)
    code, _, err = bubble("scaler", "unit", "--install", "--target-root", str(tmp_path))
    assert (code, err) == (1, f"error: {env}: mode 0644 lets others read it: chmod 600 {env}\n")
    assert not (tmp_path / "etc/systemd").exists()


def test_a_root_systemd_would_split_is_refused(tmp_path: Path) -> None:
    odd = tmp_path / "ops root"
    odd.mkdir()
    result = invoke("scaler", "unit", root=odd)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: the root {str(odd)!r}: only letters, digits and ._/@+:- can go in the unit\n"
    )
