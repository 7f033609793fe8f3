"""glue.terraform against the real terraform binary (offline: builtin terraform_data only).

A throwaway stack written into the test's tmp dir proves the wrapper's steps and errors; the
lab stack's own terraform tests (terraform/stacks/lab/tests/) run through the wrapper too.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from glue.catalog import Catalog
from glue.render.terraform import render_tfvars
from glue.terraform import Terraform, TerraformError
from tests.support import models

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform binary not installed"),
]

REPO = Path(__file__).resolve().parents[2]
LAB_STACK = REPO / "terraform" / "stacks" / "lab"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBubbleHostTestKeyOnly test@bubblehost"

THROWAWAY = """
terraform {
  backend "local" {}
}

variable "items" {
  description = "Files to write, keyed by name: content."
  type        = map(string)

  validation {
    condition     = alltrue([for name in keys(var.items) : can(regex("^[a-z]+$", name))])
    error_message = "Item names must be lower case letters."
  }
}

variable "out_dir" {
  description = "Where the files go."
  type        = string
}

variable "fail" {
  description = "Add a resource whose provisioner fails."
  type        = bool
  default     = false
}

variable "token" {
  description = "A value that must never show up in errors."
  type        = string
  default     = ""
  sensitive   = true
}

resource "terraform_data" "item" {
  for_each = var.items

  input = { path = "${var.out_dir}/${each.key}", content = each.value }

  provisioner "local-exec" {
    command     = "printf %s \\"$CONTENT\\" > \\"$TARGET\\""
    environment = { CONTENT = each.value, TARGET = "${var.out_dir}/${each.key}" }
  }

  provisioner "local-exec" {
    when        = destroy
    command     = "rm -f \\"$TARGET\\""
    environment = { TARGET = self.input.path }
  }
}

resource "terraform_data" "boom" {
  for_each = var.fail ? toset(["boom"]) : toset([])

  provisioner "local-exec" {
    command = "echo the-provisioner-broke >&2; exit 3"
  }
}

output "items" {
  value = { for name, item in terraform_data.item : name => item.output.path }
}
"""


@pytest.fixture
def throwaway(tmp_path: Path) -> tuple[Terraform, Path]:
    stack = tmp_path / "throwaway"
    stack.mkdir()
    (stack / "main.tf").write_text(THROWAWAY)
    out = tmp_path / "out"
    out.mkdir()
    return Terraform(stack, tmp_path / "state" / "throwaway"), out


def plan_and_apply(tf: Terraform, var_file: Path | None, variables: dict[str, object]) -> None:
    """The only way the wrapper applies: a saved plan, applied as it is."""
    plan = tf.state_dir / "test.tfplan"
    tf.plan(var_file, variables, out=plan)
    tf.apply(plan)


def _assert_one_line(error: TerraformError) -> None:
    text = str(error)
    assert "\n" not in text
    assert text.startswith(f"terraform {error.step} failed for stack {error.stack}: ")


def test_lifecycle_init_plan_apply_output_destroy(
    throwaway: tuple[Terraform, Path], tmp_path: Path
) -> None:
    tf, out = throwaway
    var_file = tmp_path / "items.tfvars.json"
    var_file.write_text(json.dumps({"items": {"alpha": "one", "beta": "two"}}))
    variables = {"out_dir": str(out)}

    tf.init()
    plan = tmp_path / "items.tfplan"
    assert tf.plan(var_file, variables, out=plan) is True
    shown = tf.show(plan)
    assert sorted((c["index"], c["change"]["actions"]) for c in shown["resource_changes"]) == [
        ("alpha", ["create"]),
        ("beta", ["create"]),
    ]
    tf.apply(plan)
    assert (out / "alpha").read_text() == "one"
    assert (out / "beta").read_text() == "two"
    assert tf.output() == {"items": {"alpha": str(out / "alpha"), "beta": str(out / "beta")}}
    assert tf.plan(var_file, variables) is False

    # State and Terraform's data live under state_dir; the stack dir stays clean.
    assert tf.state_file.is_file()
    assert tf.data_dir.is_dir()
    assert sorted(p.name for p in tf.stack_dir.iterdir()) == ["main.tf"]

    # Maps passed with -var (JSON-encoded) instead of the var file.
    assert tf.plan(None, {"out_dir": str(out), "items": {"alpha": "one"}}) is True

    tf.destroy(var_file, variables)
    assert sorted(out.iterdir()) == []
    assert tf.output() == {}
    assert tf.plan(var_file, variables) is True


def test_a_saved_plan_is_applied_exactly_and_never_when_stale(
    throwaway: tuple[Terraform, Path], tmp_path: Path
) -> None:
    """What was shown is what is applied: variables changed after planning change nothing,
    and a plan made before another apply is refused instead of undoing that apply."""
    tf, out = throwaway
    tf.init()
    var_file = tmp_path / "items.tfvars.json"
    var_file.write_text(json.dumps({"items": {"alpha": "one"}}))
    first, second = tmp_path / "first.tfplan", tmp_path / "second.tfplan"
    tf.plan(var_file, {"out_dir": str(out)}, out=first)
    tf.plan(var_file, {"out_dir": str(out)}, out=second)
    var_file.write_text(json.dumps({"items": {"beta": "two"}}))
    tf.apply(first)
    assert sorted(p.name for p in out.iterdir()) == ["alpha"]
    with pytest.raises(TerraformError) as caught:
        tf.apply(second)
    assert caught.value.step == "apply"
    assert "Saved plan is stale" in caught.value.message
    _assert_one_line(caught.value)
    assert sorted(p.name for p in out.iterdir()) == ["alpha"]


def test_output_before_apply_is_empty(throwaway: tuple[Terraform, Path]) -> None:
    tf, _ = throwaway
    tf.init()
    assert tf.output() == {}


def test_validation_failure_raises_with_step_and_message(
    throwaway: tuple[Terraform, Path],
) -> None:
    tf, out = throwaway
    tf.init()
    secret = "s3cr3t-never-printed"
    with pytest.raises(TerraformError) as caught:
        tf.plan(None, {"items": {"Bad_Name": "x"}, "out_dir": str(out), "token": secret})
    error = caught.value
    assert (error.stack, error.step) == ("throwaway", "plan")
    assert "Invalid value for variable" in error.message
    assert "Item names must be lower case letters." in error.message
    assert secret not in str(error)
    _assert_one_line(error)


def test_provisioner_failure_raises_from_apply(throwaway: tuple[Terraform, Path]) -> None:
    tf, out = throwaway
    tf.init()
    variables = {"items": {"alpha": "one"}, "out_dir": str(out), "fail": True}
    with pytest.raises(TerraformError) as caught:
        plan_and_apply(tf, None, variables)
    error = caught.value
    assert error.step == "apply"
    assert "the-provisioner-broke" in error.message
    assert "exit status 3" in error.message
    _assert_one_line(error)
    # The resources that did succeed are in the state; destroy still works.
    assert (out / "alpha").read_text() == "one"
    tf.destroy(None, variables)
    assert not (out / "alpha").exists()


def test_missing_variable_raises_from_plan(throwaway: tuple[Terraform, Path]) -> None:
    tf, _ = throwaway
    tf.init()
    with pytest.raises(TerraformError) as caught:
        tf.plan(None, {"items": {}})
    assert caught.value.step == "plan"
    assert "No value for required variable" in caught.value.message
    assert "out_dir" in caught.value.message


def test_broken_configuration_raises_from_init(tmp_path: Path) -> None:
    stack = tmp_path / "broken"
    stack.mkdir()
    (stack / "main.tf").write_text('resource "terraform_data" "x" {\n  input = \n}\n')
    tf = Terraform(stack, tmp_path / "state")
    with pytest.raises(TerraformError) as caught:
        tf.init()
    assert (caught.value.stack, caught.value.step) == ("broken", "init")
    assert "main.tf:" in caught.value.message
    _assert_one_line(caught.value)


def test_missing_var_file_and_stack_raise(tmp_path: Path) -> None:
    tf = Terraform(tmp_path / "nowhere", tmp_path / "state")
    with pytest.raises(TerraformError, match="stack directory not found"):
        tf.init()
    with pytest.raises(TerraformError, match="var file not found"):
        tf.plan(tmp_path / "missing.tfvars.json")


def test_lab_stack_terraform_test(tmp_path: Path) -> None:
    """terraform/stacks/lab/tests/*.tftest.hcl: the variable validation rejects bad names,
    sizes, addresses and keys; the apply run checks for_each keys and outputs."""
    tf = Terraform(LAB_STACK, tmp_path / "state" / "lab")
    tf.init()
    tf.test()
    assert not (LAB_STACK / ".terraform").exists()


def test_lab_stack_runs_the_lab_cli_contract(tmp_path: Path) -> None:
    """The lab stack calls `bubble lab server-create/-destroy` with the argv of
    docs/interfaces.md. bubble_command is a recorder here (booting lab servers needs root and
    systemd-nspawn: tests/lab covers that), so this checks exactly what the stack passes."""
    record = tmp_path / "argv.jsonl"
    recorder = (
        f"import json, sys; open({str(record)!r}, 'a').write(json.dumps(sys.argv[1:]) + chr(10))"
    )
    servers = {
        "web1": {
            "type": "lab",
            "region": "lab",
            "cores": 2,
            "core_mhz": 2000,
            "memory_mib": 4096,
            "disk_gib": 40,
            "address": "198.18.0.11",
        }
    }
    var_file = tmp_path / "lab.tfvars.json"
    var_file.write_text(json.dumps({"servers": servers}))
    variables: dict[str, object] = {
        "ssh_public_key": SSH_KEY,
        "bubble_command": [sys.executable, "-c", recorder],
    }
    tf = Terraform(LAB_STACK, tmp_path / "state" / "lab")
    tf.init()
    assert tf.plan(var_file, variables) is True
    plan_and_apply(tf, var_file, variables)
    assert tf.output() == {"servers": {"web1": {"address": "198.18.0.11"}}}
    assert tf.plan(var_file, variables) is False

    # A bigger disk means a new server: destroy then create.
    servers["web1"]["disk_gib"] = 50
    var_file.write_text(json.dumps({"servers": servers}))
    plan_and_apply(tf, var_file, variables)
    tf.destroy(var_file, variables)

    create = ["lab", "server-create", "--address", "198.18.0.11", "--ssh-key", SSH_KEY]
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert calls == [
        [*create, "--disk-gib", "40", "web1"],
        ["lab", "server-destroy", "web1"],
        [*create, "--disk-gib", "50", "web1"],
        ["lab", "server-destroy", "web1"],
    ]


def test_lab_stack_accepts_the_rendered_tfvars(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """glue.render.terraform's lab.tfvars.json (with its "//" header) plans cleanly."""
    catalog = Catalog(root=tmp_path).with_server(
        "web1", models.server(memory="4GiB", disk="40GiB", address="198.18.0.11")
    )
    var_file = tmp_path / "lab.tfvars.json"
    var_file.write_text(render_tfvars(catalog)["lab.tfvars.json"])
    tf = Terraform(LAB_STACK, tmp_path / "state" / "lab")
    tf.init()
    with caplog.at_level(logging.WARNING, logger="glue.terraform"):
        assert tf.plan(var_file, {"ssh_public_key": SSH_KEY, "bubble_command": ["true"]}) is True
    assert caplog.records == []  # no "undeclared variable" warning for the header


@pytest.fixture
def moto_s3(tmp_path: Path) -> Iterator[str]:
    """A moto S3 server on loopback (AWS API double), stopped by PID."""
    server = Path(sys.executable).parent / "moto_server"
    if not server.exists():
        pytest.skip("moto_server not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (tmp_path / "moto.log").open("w")
    process = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("moto_server did not start")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def test_s3_backend_keeps_state_in_the_bucket(tmp_path: Path, moto_s3: str) -> None:
    credentials = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url=moto_s3,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    s3.create_bucket(Bucket="bubble-state")

    stack = tmp_path / "s3stack"
    stack.mkdir()
    (stack / "main.tf").write_text(THROWAWAY.replace('backend "local" {}', 'backend "s3" {}'))
    out = tmp_path / "out"
    out.mkdir()
    tf = Terraform(
        stack,
        tmp_path / "state" / "s3stack",
        backend_config={
            "bucket": "bubble-state",
            "key": "s3stack/terraform.tfstate",
            "region": "us-east-1",
            "use_path_style": "true",
            "skip_credentials_validation": "true",
            "skip_requesting_account_id": "true",
            "skip_metadata_api_check": "true",
            "skip_region_validation": "true",
        },
        env={**credentials, "AWS_ENDPOINT_URL_S3": moto_s3},
    )
    variables = {"items": {"alpha": "one"}, "out_dir": str(out)}
    tf.init()
    plan_and_apply(tf, None, variables)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="bubble-state")["Contents"]]
    assert keys == ["s3stack/terraform.tfstate"]
    state = json.loads(s3.get_object(Bucket="bubble-state", Key=keys[0])["Body"].read())
    assert [r["type"] for r in state["resources"]] == ["terraform_data"]
    assert not tf.state_file.exists()
    assert tf.output() == {"items": {"alpha": str(out / "alpha")}}
    tf.destroy(None, variables)
    assert not (out / "alpha").exists()
