"""The lab provider: real Debian 12 servers on this machine (systemd-nspawn).

Public API; see docs/interfaces.md for the contract with Terraform's lab stack. `PROVIDER`
is its answer to glue.providers.Provider.
"""

from glue.providers.lab.config import LabConfig
from glue.providers.lab.control import LabStatus, ServerStatus, down, status, up
from glue.providers.lab.errors import LabError
from glue.providers.lab.image import build as build_image
from glue.providers.lab.image import image_paths
from glue.providers.lab.influx import InfluxStatus
from glue.providers.lab.influx import environment as influx_environment
from glue.providers.lab.influx import up as influx_up
from glue.providers.lab.provider import PROVIDER
from glue.providers.lab.server import LabMachine, is_running, leader_pid, load_state, server_names
from glue.providers.lab.server import create as create_server
from glue.providers.lab.server import destroy as destroy_server
from glue.providers.lab.server import stop as stop_server
from glue.providers.lab.ssh import (
    ansible_ssh_common_args,
    ensure_lab_key,
    lab_public_key,
    ssh_argv,
    ssh_options,
)

__all__ = [
    "PROVIDER",
    "InfluxStatus",
    "LabConfig",
    "LabError",
    "LabMachine",
    "LabStatus",
    "ServerStatus",
    "ansible_ssh_common_args",
    "build_image",
    "create_server",
    "destroy_server",
    "down",
    "ensure_lab_key",
    "image_paths",
    "influx_environment",
    "influx_up",
    "is_running",
    "lab_public_key",
    "leader_pid",
    "load_state",
    "server_names",
    "ssh_argv",
    "ssh_options",
    "status",
    "stop_server",
    "up",
]
