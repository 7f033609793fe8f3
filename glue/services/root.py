"""Whole-root operations: create a new operator root, validate, render."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Collection
from pathlib import Path

from glue.catalog import Catalog, load_catalog, plans_path, save_plans
from glue.errors import BubbleError
from glue.models import Plan
from glue.monitor.rules import AlertsConfig, alerts_path, load_alerts, save_alerts
from glue.paths import TOOLKIT_DIR, settings_dir
from glue.render import render_all, write_rendered
from glue.services.context import Context
from glue.state.addresses import recorded_addresses
from glue.state.boosts import boosts_at

BASE_PLAN = {
    "description": "The base plan: 1 GHz, 2 GiB RAM, 30 GiB SSD",
    "base": {"cpu": "1GHz", "memory": "2GiB", "disk": "30GiB", "processes": 256},
    "elastic": {
        "cpu": {"step": "500MHz", "ceiling": "4GHz", "hourly_price": "0.02"},
        "memory": {"step": "512MiB", "ceiling": "8GiB", "hourly_price": "0.01"},
        "disk": {"step": "5GiB", "ceiling": "100GiB", "hourly_price": "0.01"},
    },
    "upgrade": {
        "cpu": {"step": "1GHz", "yearly_price": "60.00"},
        "memory": {"step": "1GiB", "yearly_price": "24.00"},
        "disk": {"step": "10GiB", "yearly_price": "12.00"},
    },
}

ROOT_GITIGNORE = "# Local state of the control plane: never committed.\nstate/\n"

SETTINGS_HEADER = """\
---
# Fleet settings of this root, for every server (Ansible's group `all`): uncomment and change
# what you need; anything not set here keeps the toolkit's default (its inventory/group_vars/
# all.yml, copied below as it was at `bubble init`). One server's own values go in
# inventory/host_vars/SERVER.yml. After a change, `bubble apply` runs the full site.yml.
"""


def settings_seed() -> str:
    """SETTINGS_HEADER and, commented out, the toolkit's defaults after their first paragraph
    (which speaks about the toolkit's own file)."""
    defaults = (TOOLKIT_DIR / "inventory" / "group_vars" / "all.yml").read_text(encoding="utf-8")
    body = defaults.split("\n\n", 1)[1]
    lines = [line if not line or line.startswith("#") else f"# {line}" for line in body.split("\n")]
    return SETTINGS_HEADER + "\n" + "\n".join(lines)


def init_root(directory: Path) -> Path:
    """A new operator root: catalog with the base plan and the alert rules, fleet settings
    to edit (commented defaults), gitignored state/, a git repository."""
    if plans_path(directory).exists():
        raise BubbleError(f"{directory} already has a catalog (catalog/plans.yml)")
    base = Plan.model_validate(BASE_PLAN)
    (directory / "catalog" / "accounts").mkdir(parents=True, exist_ok=True)
    (directory / "catalog" / "accounts" / ".gitkeep").touch()
    save_plans(Catalog(directory, plans={"base": base}))
    if not alerts_path(directory).exists():
        save_alerts(directory, AlertsConfig())  # the defaults, written out to be changed
    settings = settings_dir(directory) / "group_vars" / "all.yml"
    if not settings.exists():
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(settings_seed(), encoding="utf-8")
    gitignore = directory / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text(ROOT_GITIGNORE, encoding="utf-8")
    git = shutil.which("git")
    if git and not (directory / ".git").exists():
        subprocess.run([git, "init", "-q", str(directory)], check=True)
    return directory


def validate(ctx: Context) -> Catalog:
    catalog = load_catalog(ctx.root)
    load_alerts(ctx.root)
    return catalog


def render(ctx: Context, catalog: Catalog, servers: Collection[str] | None = None) -> list[Path]:
    """Regenerate inventory and Terraform variables from `catalog` (the caller's, already
    loaded: with 10,000 accounts a load is seconds) and the state DB; return what changed.
    With `servers`: only hosts.yml and those servers' host_vars (a change on them).

    The caller holds the catalog lock and loaded `catalog` under it (inside `ctx.editing()`):
    so two renders never interleave, and none writes an older catalog over a newer one."""
    addresses = recorded_addresses(ctx.engine)
    files = render_all(catalog, boosts_at(ctx.engine), ctx.today, addresses, servers)
    return write_rendered(ctx.root, files, prune=servers is None)


def render_current(ctx: Context) -> tuple[Catalog, list[Path]]:
    """The catalog as it is now, rendered under the catalog lock; for commands that render
    without changing the catalog themselves."""
    with ctx.editing() as catalog:
        return catalog, render(ctx, catalog)
