"""Terraform variables per provider stack: `PROVIDER.tfvars.json` with the `servers` map.

The ssh key and the lab's bubble command are passed at apply time, not rendered: they belong
to the machine that applies, not to the catalog.
"""

from __future__ import annotations

import json
from typing import Any

from glue.catalog import Catalog
from glue.models import Server
from glue.paths import GENERATED_HEADER
from glue.providers import provider


def server_vars(server: Server) -> dict[str, Any]:
    return {
        "type": server.type,
        "region": server.region,
        "cores": server.cores,
        "core_mhz": server.core_mhz,
        "memory_mib": server.memory_mib,
        "disk_gib": -(-server.disk_mib // 1024),
        **provider(server.provider).tfvars(server),
    }


def render_tfvars(catalog: Catalog) -> dict[str, str]:
    by_provider: dict[str, dict[str, Any]] = {}
    for name in sorted(catalog.servers):
        server = catalog.servers[name]
        by_provider.setdefault(server.provider, {})[name] = server_vars(server)
    return {
        f"{provider}.tfvars.json": json.dumps(
            {"//": GENERATED_HEADER, "servers": servers}, indent=2, sort_keys=True
        )
        + "\n"
        for provider, servers in sorted(by_provider.items())
    }
