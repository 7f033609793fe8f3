"""Lab fixtures: real Debian 12 servers (systemd-nspawn) shared by every lab test.

`lab_server(name, address=None)` boots a server (idempotent, so a name can be asked for
twice) and returns a LabServer with .name, .address, .ssh(cmd). Every server made through it
is destroyed when the session ends; the bridge and image stay for the next session.
Pick names no other test uses (e.g. a prefix of your area: "ans-web1", "mig-old").
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator

import pytest

from glue.providers import lab
from tests.support.lab_server import LabServer, free_address


@pytest.fixture(scope="session")
def lab_config() -> lab.LabConfig:
    """The lab as configured by BUBBLE_LAB_* (defaults: docs/interfaces.md), made ready."""
    if os.geteuid() != 0 or shutil.which("systemd-nspawn") is None:
        pytest.skip("lab tests need root and systemd-nspawn")
    cfg = lab.LabConfig()
    lab.up(cfg)  # builds the image the first time (a few minutes), then cached
    return cfg


@pytest.fixture(scope="session")
def lab_server(lab_config: lab.LabConfig) -> Iterator[Callable[..., LabServer]]:
    """Factory: lab_server(name, address=None, disk_gib=2, ssh_key=None) -> LabServer."""
    made: dict[str, LabServer] = {}

    def make(
        name: str, address: str | None = None, disk_gib: int = 2, ssh_key: str | None = None
    ) -> LabServer:
        if name in made and address in (None, made[name].address):
            return made[name]
        # A server left by an interrupted session keeps its address (create is idempotent).
        left = lab.load_state(lab_config, name)
        chosen = address or (left.address if left else free_address(lab_config))
        key = ssh_key or lab.lab_public_key(lab_config)
        lab.create_server(name, chosen, key, disk_gib, cfg=lab_config)
        made[name] = LabServer(name, chosen, lab_config)
        return made[name]

    yield make
    errors = []
    for name in reversed(list(made)):
        try:
            lab.destroy_server(name, lab_config)
        except lab.LabError as exc:
            errors.append(str(exc))
    assert not errors, "; ".join(errors)
