"""Whole-lab operations: up (shared pieces), status, down (everything, idempotent)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from glue.providers.lab import image, influx, network, server, ssh
from glue.providers.lab.config import LabConfig
from glue.providers.lab.locks import locked


@dataclass(frozen=True)
class ServerStatus:
    name: str
    address: str
    pid: int
    running: bool
    ssh_ready: bool
    uptime_s: float


@dataclass(frozen=True)
class LabStatus:
    bridge: str
    bridge_up: bool
    bridge_addresses: list[str]
    image: str
    image_present: bool
    influx: influx.InfluxStatus
    servers: list[ServerStatus] = field(default_factory=list)


def up(cfg: LabConfig | None = None) -> Path:
    """Bridge, lab key and unpacked image (built first if needed); returns the image root."""
    return server.ensure_up(cfg or LabConfig())


def status(cfg: LabConfig | None = None) -> LabStatus:
    cfg = cfg or LabConfig()
    exists = network.bridge_exists(cfg)
    servers = []
    for name in server.server_names(cfg):
        state = server.load_state(cfg, name)
        if state is None:
            continue
        running = server.is_running(state)
        servers.append(
            ServerStatus(
                name=name,
                address=state.address,
                pid=state.pid if running else 0,
                running=running,
                ssh_ready=running and ssh.ssh_ok(state.address, cfg, timeout=5),
                uptime_s=round(server.uptime(state), 1) if running else 0.0,
            )
        )
    tarball = image.image_paths(cfg).tarball
    return LabStatus(
        bridge=cfg.bridge,
        bridge_up=exists,
        bridge_addresses=network.bridge_addresses(cfg) if exists else [],
        image=str(tarball),
        image_present=tarball.exists(),
        influx=influx.status(cfg),
        servers=servers,
    )


def down(cfg: LabConfig | None = None) -> list[str]:
    """Destroy every lab server, stop the lab's InfluxDB, remove the bridge. Returns the
    servers destroyed.

    The image cache (tarball and unpacked root) stays: it is a cache, not a running piece.
    """
    cfg = cfg or LabConfig()
    names = server.server_names(cfg)
    # Directories without a state file are debris of an interrupted create.
    if cfg.servers_dir.is_dir():
        names += [p.name for p in cfg.servers_dir.iterdir() if p.is_dir() and p.name not in names]
    for name in sorted(set(names)):
        server.destroy(name, cfg)
    influx.down(cfg)
    with locked(cfg.locks_dir / "lab.lock"):
        network.remove_bridge(cfg)
    return sorted(set(names))
