"""The lab bridge: every lab server's host0 is a veth port of it; the host is the gateway."""

from __future__ import annotations

import json
import subprocess

from glue.providers.lab.config import LabConfig
from glue.providers.lab.proc import run


def bridge_exists(cfg: LabConfig) -> bool:
    done = subprocess.run(
        ["ip", "link", "show", "dev", cfg.bridge],
        capture_output=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return done.returncode == 0


def bridge_addresses(cfg: LabConfig) -> list[str]:
    out = run(["ip", "-j", "addr", "show", "dev", cfg.bridge], step="bridge: read addresses")
    links = json.loads(out or "[]")
    return [
        f"{info['local']}/{info['prefixlen']}"
        for link in links
        for info in link.get("addr_info", [])
        if info.get("family") == "inet"
    ]


def ensure_bridge(cfg: LabConfig) -> None:
    """Create the bridge with the gateway address and bring it up (idempotent)."""
    step = f"bridge {cfg.bridge}"
    if not bridge_exists(cfg):
        run(["ip", "link", "add", cfg.bridge, "type", "bridge"], step=step)
    if str(cfg.gateway_interface) not in bridge_addresses(cfg):
        run(["ip", "addr", "add", str(cfg.gateway_interface), "dev", cfg.bridge], step=step)
    run(["ip", "link", "set", cfg.bridge, "up"], step=step)


def remove_bridge(cfg: LabConfig) -> None:
    if bridge_exists(cfg):
        run(["ip", "link", "del", cfg.bridge], step=f"bridge {cfg.bridge}: delete")
