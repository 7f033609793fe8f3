"""The lab as a provider: servers on this machine, on the lab's own network and host keys.

Unlike a cloud, the lab's addresses are decided at `server add` (the first free one of the
lab's network, kept in the catalog like anything people decide) and handed to the stack, and
the bridge and image must exist before Terraform boots a server.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Set
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glue.errors import BubbleError
from glue.providers import Provider
from glue.providers.lab.config import LabConfig
from glue.providers.lab.control import up
from glue.providers.lab.ssh import ssh_options

if TYPE_CHECKING:
    from glue.models import Server

FIRST_HOST = 11  # .1 is the host's bridge address; .2-.10 stay free for lab services


def bubble_command() -> list[str]:
    """How Terraform's lab stack calls back into this CLI (same interpreter, same venv)."""
    return [sys.executable, "-m", "glue.cli.main"]


class Lab(Provider):
    name = "lab"
    default_type = "lab"
    default_region = "lab"

    def allocate_address(self, taken: Set[str]) -> str:
        """The first free address of the lab's network (BUBBLE_LAB_GATEWAY, 198.18.0.1/24)."""
        network = LabConfig().gateway_interface.network
        for offset in range(FIRST_HOST, network.num_addresses - 1):
            candidate = str(network.network_address + offset)
            if candidate not in taken:
                return candidate
        raise BubbleError(f"the lab network {network} has no free address left")

    def tfvars(self, server: Server) -> dict[str, Any]:
        return {"address": server.address or ""}

    def stack_variables(self) -> dict[str, Any]:
        return {"bubble_command": bubble_command()}

    def before_apply(self, report: Callable[[str], None]) -> None:
        up()
        report("lab: bridge and image ready")

    def ssh_options(self, key: Path, known_hosts: Path) -> list[str]:
        return ssh_options(identity=key)  # the lab's known_hosts: every key known, strictly


PROVIDER = Lab()
