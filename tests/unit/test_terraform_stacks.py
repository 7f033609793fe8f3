"""Static checks of the Terraform stacks against the contract in docs/interfaces.md.

The stacks are parsed with python-hcl2 (the hcloud and aws stacks cannot be initialised offline:
their providers live in the unreachable registry), so these checks cover all three alike.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest

from glue.catalog import Catalog
from glue.render.terraform import render_tfvars
from tests.support import models

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"
MODULE = TERRAFORM / "modules" / "server_contract"
STACKS = {
    "lab": {"servers", "ssh_public_key", "bubble_command", "ftp_passive_ports"},
    "hcloud": {"servers", "ssh_public_key", "ftp_passive_ports"},
    "aws": {"servers", "ssh_public_key", "ftp_passive_ports"},
}
SERVER_ATTRIBUTES = {"type", "region", "cores", "core_mhz", "memory_mib", "disk_gib", "address"}
SERVER_RESOURCES = {
    "lab": "terraform_data",
    "hcloud": "hcloud_server",
    "aws": "aws_instance",
}


def _unquote(value: Any) -> Any:
    """python-hcl2 keeps quotes on labels and string values; drop them and its markers."""
    if isinstance(value, dict):
        return {
            _unquote(k): _unquote(v)
            for k, v in value.items()
            if k not in ("__is_block__", "__comments__")
        }
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _load_dir(directory: Path) -> dict[str, list[Any]]:
    """All top-level blocks of a directory's .tf files, by block type."""
    merged: dict[str, list[Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as handle:
            parsed = _unquote(hcl2.load(handle))
        for kind, blocks in parsed.items():
            merged.setdefault(kind, []).extend(blocks)
    return merged


def _labelled(blocks: list[Any]) -> dict[str, Any]:
    """{label: body} for blocks with one label (variable, output, module)."""
    result: dict[str, Any] = {}
    for block in blocks:
        for label, body in block.items():
            assert label not in result, f"{label} declared twice"
            result[label] = body
    return result


def _resources(config: dict[str, list[Any]]) -> dict[tuple[str, str], Any]:
    result: dict[tuple[str, str], Any] = {}
    for block in config.get("resource", []):
        for rtype, named in block.items():
            for name, body in named.items():
                result[(rtype, name)] = body
    return result


def _object_attributes(type_expression: str) -> set[str]:
    match = re.fullmatch(r"\$\{map\(object\(\{(.*)\}\)\)\}", type_expression.strip())
    assert match, f"servers must be map(object({{...}})), got {type_expression}"
    return {part.split("=")[0].strip() for part in match.group(1).split(",")}


def _conditions(variable: dict[str, Any]) -> list[str]:
    return [v["condition"] for v in variable.get("validation", [])]


@pytest.fixture(scope="module", params=sorted(STACKS))
def stack(request: pytest.FixtureRequest) -> tuple[str, dict[str, list[Any]]]:
    name: str = request.param
    return name, _load_dir(TERRAFORM / "stacks" / name)


def test_every_stack_has_the_four_files() -> None:
    for name in STACKS:
        files = {p.name for p in (TERRAFORM / "stacks" / name).glob("*.tf")}
        assert files == {"main.tf", "variables.tf", "outputs.tf", "versions.tf"}, name


def test_stack_declares_exactly_the_contract_variables(stack: tuple[str, Any]) -> None:
    name, config = stack
    variables = _labelled(config["variable"])
    assert set(variables) == STACKS[name]
    for var_name, body in variables.items():
        assert body.get("type"), f"{name}: variable {var_name} has no type"
        assert body.get("description"), f"{name}: variable {var_name} has no description"
        assert body.get("validation"), f"{name}: variable {var_name} has no validation"


def test_servers_type_is_the_contract_object(stack: tuple[str, Any]) -> None:
    _, config = stack
    servers = _labelled(config["variable"])["servers"]
    assert _object_attributes(servers["type"]) == SERVER_ATTRIBUTES


def test_stack_validation_includes_the_module_validation(stack: tuple[str, Any]) -> None:
    """The module holds the shared rules; each stack repeats them (Terraform cannot import
    validation), so any drift between the copies fails here."""
    name, config = stack
    module_vars = _labelled(_load_dir(MODULE)["variable"])
    stack_vars = _labelled(config["variable"])
    for var_name, module_body in module_vars.items():
        assert module_body["type"] == stack_vars[var_name]["type"], f"{name}: {var_name} type"
        missing = set(_conditions(module_body)) - set(_conditions(stack_vars[var_name]))
        assert not missing, f"{name}: {var_name} lacks the module's validation {missing}"


def test_resources_use_for_each_never_count(stack: tuple[str, Any]) -> None:
    name, config = stack
    resources = _resources(config)
    assert resources
    for address, body in resources.items():
        assert "count" not in body, f"{name}: {address} uses count"
    servers = [body for (rtype, _), body in resources.items() if rtype == SERVER_RESOURCES[name]]
    assert len(servers) == 1, f"{name}: expected one {SERVER_RESOURCES[name]} resource"
    assert servers[0]["for_each"] in ("${var.servers}", "${module.contract.servers}")
    for block in config.get("data", []):
        for dtype, named in block.items():
            for dname, body in named.items():
                assert "count" not in body, f"{name}: data.{dtype}.{dname} uses count"


def test_outputs_servers(stack: tuple[str, Any]) -> None:
    name, config = stack
    outputs = _labelled(config["output"])
    assert set(outputs) == {"servers"}, name
    assert "address" in outputs["servers"]["value"]
    assert outputs["servers"].get("description")


def test_backend_is_local_and_configurable(stack: tuple[str, Any]) -> None:
    name, config = stack
    (settings,) = config["terraform"]
    backends = settings["backend"]
    assert [next(iter(b)) for b in backends] == ["local"], name
    assert backends[0]["local"] == {}, f"{name}: the path comes from -backend-config"


def test_cloud_stacks_pin_their_provider() -> None:
    for name, source in (("hcloud", "hetznercloud/hcloud"), ("aws", "hashicorp/aws")):
        (settings,) = _load_dir(TERRAFORM / "stacks" / name)["terraform"]
        providers = settings["required_providers"][0]
        (provider,) = providers.values()
        assert provider["source"] == source
        assert provider["version"]


def test_lab_stack_uses_only_builtin_things() -> None:
    config = _load_dir(TERRAFORM / "stacks" / "lab")
    assert {rtype for rtype, _ in _resources(config)} == {"terraform_data"}
    assert "provider" not in config
    (settings,) = config["terraform"]
    assert "required_providers" not in settings


def _documented_tfvars() -> dict[str, Any]:
    text = (REPO / "docs" / "interfaces.md").read_text()
    section = text.split("## Terraform", 1)[1]
    match = re.search(r"```json\n(.*?)```", section, re.DOTALL)
    assert match, "docs/interfaces.md lost its tfvars example"
    document: dict[str, Any] = json.loads(match.group(1))
    return document


def test_documented_tfvars_match_the_variables() -> None:
    document = _documented_tfvars()
    assert set(document) == {"servers"}
    for stack_name in STACKS:
        servers = _labelled(_load_dir(TERRAFORM / "stacks" / stack_name)["variable"])["servers"]
        attributes = _object_attributes(servers["type"])
        for server_name, server in document["servers"].items():
            assert re.fullmatch(r"[a-z][a-z0-9-]{0,62}", server_name)
            assert set(server) == attributes, f"{stack_name}: {server_name}"


def test_terraform_fmt_is_clean() -> None:
    if shutil.which("terraform") is None:
        pytest.skip("terraform binary not installed")
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-no-color", str(TERRAFORM)],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null", "CHECKPOINT_DISABLE": "1"},
        check=False,
    )
    assert result.returncode == 0, f"not fmt-clean: {result.stdout.split()}"


def rendered_tfvars() -> dict[str, dict[str, Any]]:
    """glue.render.terraform's files for a catalog with one lab and one hcloud server."""
    catalog = (
        Catalog(root=REPO)
        .with_server("web1", models.server(memory="4GiB", disk="40GiB", address="198.18.0.11"))
        .with_server(
            "cloud-1",
            models.cloud_server(
                type="cx32", cores=4, core_ghz="2.4GHz", memory="8GiB", disk="80GiB"
            ),
        )
    )
    files: dict[str, str] = render_tfvars(catalog)
    return {name: json.loads(text) for name, text in files.items()}


def test_rendered_tfvars_match_the_variables() -> None:
    files = rendered_tfvars()
    assert set(files) == {"lab.tfvars.json", "hcloud.tfvars.json"}
    for file_name, document in files.items():
        stack_name = file_name.removesuffix(".tfvars.json")
        # "//" is the generated-file header: Terraform ignores it in .tfvars.json.
        assert set(document) - {"//"} == {"servers"}
        servers = _labelled(_load_dir(TERRAFORM / "stacks" / stack_name)["variable"])["servers"]
        attributes = _object_attributes(servers["type"])
        for server in document["servers"].values():
            assert set(server) == attributes, file_name
    assert files["lab.tfvars.json"]["servers"]["web1"]["address"] == "198.18.0.11"
    assert files["hcloud.tfvars.json"]["servers"]["cloud-1"]["address"] == ""
