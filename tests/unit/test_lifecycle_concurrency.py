"""Commands at once never clobber each other's files: many processes create accounts and
render, others write connection inventories for different servers, a reader checks every
generated file it sees is whole; at the end the generated files are exactly the catalog's."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import yaml

from glue.catalog import load_catalog
from glue.paths import GENERATED_HEADER, inventory_dir, state_dir, tfvars_dir
from glue.remote import connection_inventory, control_key
from glue.render import render_all
from glue.services.context import Context
from tests.support.models import cloud_server

RENDERERS, RENDERS = 5, 4
CONNECTORS, CONNECTIONS = 5, 15
SERVERS = {
    f"web{i}": cloud_server(memory="64GiB", disk="2000GiB", address=f"192.0.2.{i}")
    for i in range(1, 5)
}


def create_and_render(root: Path, worker: int) -> int:
    from glue.services.accounts import create_account
    from glue.services.root import render_current

    ctx = Context(root=root)
    for step in range(RENDERS):
        name = f"w{worker}x{step}"
        create_account(ctx, name, [f"{name}.example"])
        catalog, _ = render_current(ctx)
        assert name in catalog.accounts
    return worker


def connect(root: Path, worker: int) -> list[str]:
    """Each run's inventory names exactly its own servers, from its first read to its last."""
    names = sorted(SERVERS)
    mine = {n: SERVERS[n] for n in names[worker % 4 :: 2]} or {names[0]: SERVERS[names[0]]}
    seen = []
    for _ in range(CONNECTIONS):
        with connection_inventory(root, mine) as path:
            first = path.read_text()
            time.sleep(0.005)
            hosts = yaml.safe_load(path.read_text())["all"]["hosts"]
            assert path.read_text() == first
            assert sorted(hosts) == sorted(mine), (worker, sorted(hosts))
            assert all(h["ansible_user"] == "root" for h in hosts.values())
            assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
            seen.append(str(path))
        assert not path.exists()
    return seen


def read_generated(root: Path, seconds: float) -> int:
    """Every generated file, read while the others render: always whole."""
    deadline, reads = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        for path in inventory_dir(root).rglob("*.yml"):
            if path.name.startswith("."):
                continue
            try:
                text = path.read_text()
            except FileNotFoundError:
                continue  # pruned between listing and reading
            assert text.startswith(f"# {GENERATED_HEADER}\n"), path
            data = yaml.safe_load(text)
            assert "bubble_accounts" in data or "all" in data, path
            reads += 1
    return reads


@pytest.fixture
def fleet(root: Path) -> Path:
    from glue.catalog import save_servers

    save_servers(load_catalog(root).__class__(root, load_catalog(root).plans, SERVERS, {}))
    control_key(root)  # made once, before the processes start
    return root


def test_concurrent_renders_and_connections_never_clobber(fleet: Path) -> None:
    root = fleet
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(RENDERERS + CONNECTORS + 1, mp_context=context) as pool:
        reader = pool.submit(read_generated, root, 4.0)
        renders = [pool.submit(create_and_render, root, w) for w in range(RENDERERS)]
        connections = [pool.submit(connect, root, w) for w in range(CONNECTORS)]
        assert sorted(f.result(timeout=300) for f in renders) == list(range(RENDERERS))
        paths = [p for f in connections for p in f.result(timeout=300)]
        assert reader.result(timeout=300) > 0
    assert len(set(paths)) == len(paths) == CONNECTORS * CONNECTIONS
    catalog = load_catalog(root)
    assert len(catalog.accounts) == RENDERERS * RENDERS
    expected = render_all(catalog, {}, Context(root=root).today)
    on_disk = {
        path.relative_to(root): path.read_text()
        for directory in (inventory_dir(root), tfvars_dir(root))
        for path in directory.rglob("*")
        if path.is_file()
    }
    assert on_disk == expected  # the last render was of the latest catalog; no temp files
    assert list((state_dir(root) / "ansible").iterdir()) == []
