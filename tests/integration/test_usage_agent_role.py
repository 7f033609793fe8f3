"""roles/usage_agent installs a working agent: its files, run as the service runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from glue.settings import Settings
from scaler.agent_http import Endpoint
from scaler.influx import InfluxClient
from tests.support.influxd import ADMIN, ADMIN_PASSWORD, running_influxd

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_role_installs_an_agent_that_reports(tmp_path: Path) -> None:
    lib, conf = tmp_path / "lib", tmp_path / "etc" / "agent.conf"
    (tmp_path / "play.yml").write_text(
        "- hosts: localhost\n  connection: local\n  gather_facts: false\n  roles: [usage_agent]\n"
    )
    (tmp_path / "vars.json").write_text(
        json.dumps(
            {
                "usage_agent_lib_dir": str(lib),
                "usage_agent_config_path": str(conf),
                "usage_agent_server": "rolehost",
                "usage_agent_disk": "off",
                "usage_agent_failed_units": False,
                "usage_agent_disk_paths": ["/"],
                "usage_agent_core_mhz": 2000,
                "usage_agent_service_enabled": False,  # no systemd as PID 1 here
                "ansible_python_interpreter": sys.executable,  # not pyenv's shim
            }
        )
    )
    with running_influxd(tmp_path / "influxd") as influxd:
        # The credentials reach the role as converge hands them over: environment.
        settings = Settings(
            influx_url=influxd.url,
            influx_database="rolecheck",
            influx_auth="basic",
            influx_username=ADMIN,
            influx_password=SecretStr(ADMIN_PASSWORD),
        )
        env = {
            **os.environ,
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_NOCOLOR": "1",
            **settings.influx_environment(),
        }
        argv = [
            str(Path(sys.executable).with_name("ansible-playbook")),
            *("-i", str(REPO / "inventory" / "defaults.yml")),  # the fleet settings' defaults
            *("-i", "localhost,", "-e", f"@{tmp_path / 'vars.json'}", str(tmp_path / "play.yml")),
        ]

        def converge() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
                check=False,
            )

        play = converge()
        assert play.returncode == 0, play.stdout[-2000:] + play.stderr[-2000:]
        assert ADMIN_PASSWORD not in play.stdout + play.stderr
        again = converge()
        assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout[-2000:]
        assert sorted(p.name for p in (lib / "scaler").iterdir()) == sorted(
            ["__init__.py", *(p.name for p in (REPO / "scaler").glob("agent*.py"))]
        )
        assert conf.stat().st_mode & 0o777 == 0o600
        assert f"password = {ADMIN_PASSWORD}" in conf.read_text()

        client = InfluxClient(Endpoint(influxd.url, "rolecheck", "basic", ADMIN, ADMIN_PASSWORD))
        client.ensure_retention()
        # As the unit runs it: the system python, the installed copy only (cwd elsewhere).
        agent = subprocess.run(
            ["/usr/bin/python3", "-s", "-m", "scaler.agent", "--config", str(conf), "--once"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={"PATH": os.environ["PATH"], "PYTHONPATH": str(lib)},
            timeout=60,
            check=False,
        )
        assert agent.returncode == 0, agent.stderr
        rows = client.query("SELECT seq FROM agent WHERE server = 'rolehost'")
        assert [r["seq"] for r in rows] == [1]
