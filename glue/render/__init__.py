"""Rendering: pure functions from (catalog, state) to generated files, written only on change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

from glue.catalog import Catalog
from glue.paths import inventory_dir, tfvars_dir
from glue.render.inventory import render_inventory
from glue.render.terraform import render_tfvars
from glue.yamlio import atomic_write


def render_all(
    catalog: Catalog,
    boosts: Mapping[str, Mapping[str, int]],
    today: dt.date,
    addresses: Mapping[str, str] | None = None,
) -> dict[Path, str]:
    """Every generated file, keyed by its path relative to the root. `addresses`: those the
    providers assigned (the state DB's), for servers whose catalog entry has none."""
    files: dict[Path, str] = {}
    for name, text in render_inventory(catalog, boosts, today, addresses or {}).items():
        files[inventory_dir(Path()) / name] = text
    for name, text in render_tfvars(catalog).items():
        files[tfvars_dir(Path()) / name] = text
    return files


def write_rendered(root: Path, files: Mapping[Path, str]) -> list[Path]:
    """Write what differs, delete generated files that are no longer rendered; return changes.

    Each file is replaced whole (temp file + rename). The caller holds the catalog lock, so
    two renders never interleave; dot files are temp files in flight and never pruned."""
    changed: list[Path] = []
    for rel, text in sorted(files.items()):
        path = root / rel
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            atomic_write(path, text)
            changed.append(rel)
    for directory in (inventory_dir(root), tfvars_dir(root)):
        if not directory.exists():
            continue
        for path in sorted(directory.rglob("*")):
            rel = path.relative_to(root)
            if path.is_file() and rel not in files and not path.name.startswith("."):
                path.unlink()
                changed.append(rel)
    return changed
