"""Providers behind one interface: each provider's answers, and a fourth provider that is
only a `Provider` registered under its name works through the catalog, `server add`, the
Terraform variables and ssh."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator, Set
from pathlib import Path
from typing import Any

import pytest

from glue.catalog import Catalog
from glue.errors import BubbleError
from glue.models import Server
from glue.providers import PROVIDERS, REGISTRY, Provider, provider
from glue.remote import control_key, ssh_argv, ssh_dir, ssh_options
from glue.render.terraform import render_tfvars
from glue.services.context import Context
from glue.services.fleet_plan import stack_variables
from glue.services.servers import NewServer, add_server, list_servers
from glue.state.addresses import record_addresses

GLUE = Path(__file__).resolve().parents[2] / "glue"
SIZES = {"cores": 2, "core_ghz": "2GHz", "memory": "4GiB", "disk": "40GiB"}


def option(options: list[str], name: str) -> str:
    """The value of `-o NAME=value` among ssh options."""
    (value,) = [o.split("=", 1)[1] for o in options if o.startswith(f"{name}=")]
    return value


def test_the_providers_are_the_modules_of_glue_providers() -> None:
    assert sorted(PROVIDERS) == ["aws", "hcloud", "lab"]
    for name in PROVIDERS:
        assert provider(name).name == name
    with pytest.raises(BubbleError, match=r"^unknown provider 'moon' \(known: aws, hcloud, lab\)$"):
        provider("moon")


def test_no_provider_branch_outside_glue_providers() -> None:
    branch = re.compile(r"""(==|!=|\bin)\s*\(?["'](lab|hcloud|aws)["']""")
    found = [
        f"{path.relative_to(GLUE)}: {line.strip()}"
        for path in sorted(GLUE.rglob("*.py"))
        if "providers" not in path.relative_to(GLUE).parts
        for line in path.read_text().splitlines()
        if branch.search(line)
    ]
    assert found == []


def test_the_lab_allocates_addresses_and_boots_its_servers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUBBLE_LAB_GATEWAY", "198.18.77.1/24")
    monkeypatch.setenv("BUBBLE_LAB_DIR", str(tmp_path / "lab"))
    lab = provider("lab")
    assert (lab.default_type, lab.default_region) == ("lab", "lab")
    assert lab.allocate_address(set()) == "198.18.77.11"
    assert lab.allocate_address({"198.18.77.11", "198.18.77.13"}) == "198.18.77.12"
    taken = {f"198.18.77.{n}" for n in range(11, 255)}
    with pytest.raises(BubbleError, match=r"^the lab network 198.18.77.0/24 has no free address"):
        lab.allocate_address(taken)
    server = Server(provider="lab", address="198.18.77.11", **SIZES)  # type: ignore[arg-type]
    assert lab.tfvars(server) == {"address": "198.18.77.11"}
    assert lab.stack_variables()["bubble_command"][1:] == ["-m", "glue.cli.main"]
    options = lab.ssh_options(tmp_path / "key", tmp_path / "root_known_hosts")
    assert options[:2] == ["-i", str(tmp_path / "key")]
    assert option(options, "StrictHostKeyChecking") == "yes"
    assert option(options, "UserKnownHostsFile") == str(tmp_path / "lab" / "ssh" / "known_hosts")


@pytest.mark.parametrize("name", ["hcloud", "aws"])
def test_a_cloud_assigns_addresses_and_is_trusted_on_first_use(name: str, tmp_path: Path) -> None:
    cloud = provider(name)
    assert (cloud.default_type, cloud.default_region) == ("", "")
    assert cloud.allocate_address(set()) is None
    server = Server(provider=name, type="t", region="r", **SIZES)  # type: ignore[arg-type]
    assert cloud.tfvars(server) == {"address": ""}
    assert cloud.stack_variables() == {}
    cloud.before_apply(lambda line: pytest.fail(f"nothing to prepare, got {line!r}"))
    options = cloud.ssh_options(tmp_path / "key", tmp_path / "known_hosts")
    assert options[:2] == ["-i", str(tmp_path / "key")]
    assert option(options, "StrictHostKeyChecking") == "accept-new"
    assert option(options, "UserKnownHostsFile") == str(tmp_path / "known_hosts")


def test_the_catalog_names_only_known_providers() -> None:
    error = r"provider\n  Value error, must be one of aws, hcloud, lab"
    with pytest.raises(ValueError, match=error):
        Server.model_validate({"provider": "moon", **SIZES})


class Moon(Provider):
    """A fourth provider: its own defaults, addresses, tfvars, stack variables and ssh."""

    name = "moon"
    default_type = "crater"
    default_region = "mare"

    def allocate_address(self, taken: Set[str]) -> str:
        return next(a for a in ("192.0.2.1", "192.0.2.2") if a not in taken)

    def tfvars(self, server: Server) -> dict[str, Any]:
        return {"address": server.address or "", "gravity": "low"}

    def stack_variables(self) -> dict[str, Any]:
        return {"rocket": "saturn-v"}

    def before_apply(self, report: Callable[[str], None]) -> None:
        report("moon: launched")

    def ssh_options(self, key: Path, known_hosts: Path) -> list[str]:
        return ["-i", str(key), "-o", f"UserKnownHostsFile={known_hosts}.moon"]


@pytest.fixture
def moon(monkeypatch: pytest.MonkeyPatch) -> Iterator[Provider]:
    monkeypatch.setitem(REGISTRY, "moon", Moon())
    yield provider("moon")  # monkeypatch removes it after: PROVIDERS is a live view


def test_a_fourth_provider_works_end_to_end(root: Path, moon: Provider) -> None:
    assert "moon" in PROVIDERS
    ctx = Context(root=root)
    first = add_server(ctx, "m1", NewServer(provider="moon", **SIZES))  # type: ignore[arg-type]
    second = add_server(ctx, "m2", NewServer(provider="moon", **SIZES))  # type: ignore[arg-type]
    assert (first.type, first.region, first.address) == ("crater", "mare", "192.0.2.1")
    assert second.address == "192.0.2.2"

    catalog: Catalog = ctx.catalog()
    files = render_tfvars(catalog)
    assert set(files) == {"moon.tfvars.json"}
    tfvars = json.loads(files["moon.tfvars.json"])["servers"]["m1"]
    assert tfvars["gravity"] == "low" and tfvars["address"] == "192.0.2.1"
    assert tfvars["type"] == "crater" and tfvars["cores"] == 2
    assert stack_variables(ctx, "moon")["rocket"] == "saturn-v"

    options = ssh_options(root, catalog.servers["m1"])
    assert options == ["-i", str(control_key(root)), "-o",
                       f"UserKnownHostsFile={ssh_dir(root) / 'known_hosts'}.moon"]  # fmt: skip
    argv = ssh_argv(ctx, "m1", catalog.servers["m1"], "uptime")
    assert argv == ["ssh", *options, "root@192.0.2.1", "uptime"]


def test_ssh_and_listings_reach_a_cloud_server_at_its_recorded_address(root: Path) -> None:
    ctx = Context(root=root)
    spec = NewServer(provider="hcloud", type="cx22", region="fsn1", **SIZES)  # type: ignore[arg-type]
    server = add_server(ctx, "c1", spec)
    assert server.address is None
    with pytest.raises(BubbleError, match=r"^server c1: no address yet \(run `bubble apply`\)$"):
        ssh_argv(ctx, "c1", server, "true")
    assert [row["address"] for row in list_servers(ctx)] == [None]

    record_addresses(ctx.engine, "hcloud", {"c1": "203.0.113.7"}, dt.datetime.now(dt.UTC))
    assert ssh_argv(ctx, "c1", server, "true")[-2:] == ["root@203.0.113.7", "true"]
    assert [row["address"] for row in list_servers(ctx)] == ["203.0.113.7"]
    assert "address" not in (root / "catalog" / "servers.yml").read_text()
