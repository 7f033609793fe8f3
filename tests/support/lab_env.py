"""Where a lab test's servers live: the shared lab, or one of its own (directory, bridge and
subnet), so that `bubble lab down` in one module touches no other module's servers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from glue.providers.lab import LabConfig


def lab_available() -> bool:
    """Lab servers need root and systemd-nspawn."""
    return os.geteuid() == 0 and shutil.which("systemd-nspawn") is not None


def isolated_lab(
    name: str, octet: int, *, directory: Path | None = None, cache: Path | None = None
) -> LabConfig:
    """Lab `name` on 198.18.OCTET.0/24 with bridge bubble-NAME: give each module its own.
    The image cache is the shared one unless `cache` is given."""
    own = LabConfig(
        dir=directory or Path(f"/var/lib/bubblehost/lab-{name}"),
        bridge=f"bubble-{name}",
        gateway=f"198.18.{octet}.1/24",
    )
    return own if cache is None else own.model_copy(update={"cache": cache})


def lab_env(cfg: LabConfig, *, apply: bool = True) -> dict[str, str]:
    """The environment of a `bubble` process working in lab `cfg` (BUBBLE_LAB_*); with
    `apply`, catalog changes go to the servers at once (BUBBLE_APPLY=1)."""
    env = {
        "BUBBLE_LAB_DIR": str(cfg.dir),
        "BUBBLE_LAB_CACHE": str(cfg.cache),
        "BUBBLE_LAB_BRIDGE": cfg.bridge,
        "BUBBLE_LAB_GATEWAY": cfg.gateway,
    }
    if apply:
        env["BUBBLE_APPLY"] = "1"
    return env
