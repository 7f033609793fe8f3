"""The operator's fleet settings (ROOT/inventory/group_vars, host_vars): seeded by `bubble init`,
read by Ansible after the toolkit's defaults, by the Terraform firewall, and part of the
version a full converge installs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from glue.errors import BubbleError
from glue.fleet_settings import fleet_version, ftp_passive_ports
from glue.paths import TOOLKIT_DIR, inventory_sources, settings_dir

CliResult = tuple[int, str, str]


def _host_vars(root: Path, host: str) -> dict[str, Any]:
    """What Ansible gives HOST from the -i list a converge passes (ansible-inventory)."""
    argv = [str(Path(sys.executable).with_name("ansible-inventory"))]
    for source in inventory_sources(root):
        argv += ["-i", str(source)]
    done = subprocess.run(
        [*argv, "--host", host], capture_output=True, text=True, stdin=subprocess.DEVNULL,
        env={**os.environ, "ANSIBLE_CONFIG": str(TOOLKIT_DIR / "ansible.cfg")},
        check=False, cwd=TOOLKIT_DIR,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _write(path: Path, settings: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")


def test_init_seeds_every_toolkit_default_commented_out(root: Path) -> None:
    seeded = (settings_dir(root) / "group_vars" / "all.yml").read_text()
    assert yaml.safe_load(seeded) is None  # nothing set: the toolkit's defaults apply
    defaults = yaml.safe_load((TOOLKIT_DIR / "inventory" / "group_vars" / "all.yml").read_text())
    for name in defaults:
        assert f"\n# {name}: " in seeded, name
    assert ftp_passive_ports(root) == {"min": 40000, "max": 40100}
    assert fleet_version("0123456789abcdef", root) == "0123456789abcdef"


@pytest.mark.usefixtures("two_servers")
def test_operator_settings_reach_ansible_over_the_toolkit_defaults(
    root: Path, bubble: Callable[..., CliResult]
) -> None:
    assert bubble("render")[0] == 0
    before = _host_vars(root, "web1")
    assert before["bubble_srv_dir"] == "/srv"  # the toolkit's defaults
    assert before["bubble_ftp_passive_ports"] == {"min": 40000, "max": 40100}
    assert before["bubble_server"]["name"] == "web1"  # the generated data

    settings = settings_dir(root)
    _write(settings / "group_vars" / "all.yml", {
        "account_php_memory_limit": "512M",
        "account_php_max_children": 4,
        "bubble_ftp_passive_ports": {"min": 41000, "max": 41010},
    })  # fmt: skip
    _write(settings / "host_vars" / "web2.yml", {"account_php_max_children": 16})
    web1, web2 = _host_vars(root, "web1"), _host_vars(root, "web2")
    assert web1["account_php_memory_limit"] == web2["account_php_memory_limit"] == "512M"
    assert web1["account_php_max_children"] == 4 and web2["account_php_max_children"] == 16
    assert web1["bubble_ftp_passive_ports"] == {"min": 41000, "max": 41010}
    assert web1["bubble_srv_dir"] == "/srv"  # what the operator did not set stays the default
    assert web2["bubble_server"]["name"] == "web2"
    # The Terraform firewall reads the same setting.
    assert ftp_passive_ports(root) == {"min": 41000, "max": 41010}


def test_a_changed_setting_is_a_new_converge_version(root: Path) -> None:
    toolkit, settings = "0123456789abcdef", settings_dir(root)
    group = settings / "group_vars" / "all.yml"
    group.write_text(group.read_text() + "# an operator's comment\n")
    assert fleet_version(toolkit, root) == toolkit  # comments change nothing on a server
    _write(group, {"account_php_memory_limit": "512M"})
    first = fleet_version(toolkit, root)
    assert first != toolkit and len(first) == 16
    assert fleet_version(toolkit, root) == first
    _write(settings / "host_vars" / "web1.yml", {"account_php_max_children": 16})
    second = fleet_version(toolkit, root)
    assert second not in (toolkit, first)
    assert fleet_version("fedcba9876543210", root) != second  # a new toolkit too


@pytest.mark.parametrize(
    "ports",
    [
        {"min": 41000},
        {"min": 41010, "max": 41000},
        {"min": 21, "max": 40100},
        {"min": 40000, "max": 70000},
        {"min": "40000", "max": 40100},
        {"min": True, "max": 40100},
        "40000-40100",
    ],
)
def test_a_bad_passive_range_is_one_line_naming_the_setting(root: Path, ports: Any) -> None:
    _write(settings_dir(root) / "group_vars" / "all.yml", {"bubble_ftp_passive_ports": ports})
    with pytest.raises(BubbleError, match=r"^bubble_ftp_passive_ports must be") as raised:
        ftp_passive_ports(root)
    assert "\n" not in str(raised.value)


def test_unreadable_settings_name_their_file(root: Path) -> None:
    group = settings_dir(root) / "group_vars" / "all.yml"
    group.write_text("bubble_ftp_passive_ports: {min: 1\n", encoding="utf-8")
    with pytest.raises(BubbleError, match=f"^{group}: not valid YAML"):
        ftp_passive_ports(root)
    group.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(BubbleError, match=f"^{group}: must be a mapping"):
        fleet_version("0123456789abcdef", root)


def test_a_root_without_settings_keeps_the_defaults(root: Path) -> None:
    """Roots made before the operator's settings existed: the toolkit's defaults apply."""
    (settings_dir(root) / "group_vars" / "all.yml").unlink()
    assert ftp_passive_ports(root) == {"min": 40000, "max": 40100}
    assert fleet_version("0123456789abcdef", root) == "0123456789abcdef"


def test_the_cloud_firewall_opens_the_operators_passive_range(root: Path, tmp_path: Path) -> None:
    """modules/server_contract's firewall rules from the setting glue passes (stack_variables)."""
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform binary not installed")
    _write(settings_dir(root) / "group_vars" / "all.yml",
           {"bubble_ftp_passive_ports": {"min": 41000, "max": 41010}})  # fmt: skip
    module = {
        "source": str(TOOLKIT_DIR / "terraform" / "modules" / "server_contract"),
        "servers": {},
        "ssh_public_key": "ssh-ed25519 AAAA test",
        "ftp_passive_ports": "${var.ports}",
    }
    stack = tmp_path / "stack"
    stack.mkdir()
    (stack / "main.tf.json").write_text(json.dumps({
        "variable": {"ports": {"type": "object({min = number, max = number})"}},
        "module": {"server": module},
        "output": {"rules": {"value": "${module.server.firewall_rules}"}},
    }))  # fmt: skip
    ports = json.dumps(ftp_passive_ports(root))
    env = {**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null", "CHECKPOINT_DISABLE": "1"}

    def run(*args: str) -> str:
        done = subprocess.run([terraform, f"-chdir={stack}", *args], env=env, capture_output=True,
                              text=True, check=False, stdin=subprocess.DEVNULL)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("init", "-input=false", "-no-color")
    run("apply", "-auto-approve", "-input=false", "-no-color", f"-var=ports={ports}")
    rules = json.loads(run("output", "-json", "rules"))
    passive = {"name": "ftp-passive", "protocol": "tcp", "from_port": 41000, "to_port": 41010}
    assert [rule for rule in rules if rule["name"] == "ftp-passive"] == [passive]
