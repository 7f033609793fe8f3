"""The operator's fleet settings as glue needs them: the FTP passive ports for the cloud
firewalls, and the settings' share of the version a full converge installs.

Ansible reads the settings itself (glue.paths.inventory_sources); glue reads group `all` the
way Ansible merges it: the toolkit's defaults, then the operator's, a top-level key of the
operator's replacing the toolkit's. Per-server host_vars never reach a firewall (one firewall
serves every server of a stack).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from glue.errors import BubbleError
from glue.paths import TOOLKIT_DIR, settings_dir

PORT_RANGE = (1024, 65535)  # never a privileged port, never past the last one


def _vars_files(group_vars: Path) -> list[Path]:
    """Ansible's files for group `all`: all, all.yml, all.yaml, all.json, all/ (sorted)."""
    found = [group_vars / f"all{ext}" for ext in ("", ".yml", ".yaml", ".json")]
    files = [path for path in found if path.is_file()]
    if (group_vars / "all").is_dir():
        files += sorted(p for p in (group_vars / "all").rglob("*") if p.is_file())
    return files


def _load(path: Path) -> dict[str, Any]:
    """One settings file as a mapping ({} for a file of comments only)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise BubbleError(f"{path}: not valid YAML{where}") from None
    if data is not None and not isinstance(data, dict):
        raise BubbleError(f"{path}: must be a mapping of settings")
    return data or {}


def _group_all(root: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for base in (TOOLKIT_DIR / "inventory", settings_dir(root)):
        for path in _vars_files(base / "group_vars"):
            merged.update(_load(path))
    return merged


def ftp_passive_ports(root: Path) -> dict[str, int]:
    """bubble_ftp_passive_ports, {"min": first, "max": last}, checked: the Terraform stacks
    open exactly the range vsftpd and nftables use."""
    ports = _group_all(root).get("bubble_ftp_passive_ports")
    low, high = PORT_RANGE
    if (
        isinstance(ports, dict)
        and set(ports) == {"min", "max"}
        and all(type(ports[k]) is int for k in ports)
        and low <= ports["min"] <= ports["max"] <= high
    ):
        return {"min": ports["min"], "max": ports["max"]}
    raise BubbleError(
        f"bubble_ftp_passive_ports must be {{min: N, max: M}}, {low} <= N <= M <= {high}"
        f" (fleet settings in {settings_dir(root) / 'group_vars'}): got {ports!r}"
    )


def fleet_version(toolkit_version: str, root: Path) -> str:
    """The version a full converge of ROOT installs: the toolkit's, combined with the settings
    in the operator's group_vars/ and host_vars/ (a changed setting is a new version; a changed
    comment is not). Without any operator setting it is the toolkit's own."""
    base = settings_dir(root)
    files = [p for part in ("group_vars", "host_vars") for p in (base / part).rglob("*")]
    settings = {
        path.relative_to(base).as_posix(): data
        for path in files
        if path.is_file() and (data := _load(path))
    }
    if not settings:
        return toolkit_version
    document = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(f"{toolkit_version}\0{document}".encode()).hexdigest()[:16]
