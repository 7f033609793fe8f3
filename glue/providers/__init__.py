"""Where servers come from: everything that differs between providers, behind `Provider`.

Every module or package directly under glue/providers/ is one provider, named after it, with
its Terraform stack in terraform/stacks/<name>/ and a `PROVIDER` instance: a new provider is a
new module and its stack, nothing else. Modules are imported on first use (the lab provider
pulls in its whole machinery), so knowing the names costs no import.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Set
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glue.errors import BubbleError

if TYPE_CHECKING:
    from glue.models import Server


class Provider:
    """One provider's answers. The defaults are a cloud's: the operator names the server type
    and region, the provider assigns the address when it creates the server, and its host keys
    are trusted on first use."""

    name = ""
    default_type = ""  # `server add` without --type / --region: "" means the operator must say
    default_region = ""

    def allocate_address(self, taken: Set[str]) -> str | None:
        """The address a new server gets at `server add` (None: the provider assigns one)."""
        return None

    def tfvars(self, server: Server) -> dict[str, Any]:
        """The provider's fields of a server in its stack's `servers` variable."""
        return {"address": ""}  # assigned at creation, learnt from the stack's output

    def stack_variables(self) -> dict[str, Any]:
        """Variables of its stack beyond `servers` and `ssh_public_key`, given at plan time."""
        return {}

    def before_apply(self, report: Callable[[str], None]) -> None:
        """What must exist before its stack is applied."""

    def ssh_options(self, key: Path, known_hosts: Path) -> list[str]:
        """ssh(1) options reaching its servers with the control key; `known_hosts` is the
        root's, where a cloud server's host key is recorded on first use (never `no`)."""
        return [
            "-i", str(key),
            "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", "StrictHostKeyChecking=accept-new",
            "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=10",
            "-o", "LogLevel=ERROR",
        ]  # fmt: skip


# name -> its provider, None until first used.
REGISTRY: dict[str, Provider | None] = {m.name: None for m in pkgutil.iter_modules(__path__)}
PROVIDERS = REGISTRY.keys()  # a live view: what the catalog may name


def provider(name: str) -> Provider:
    if name not in REGISTRY:
        raise BubbleError(f"unknown provider {name!r} (known: {', '.join(sorted(PROVIDERS))})")
    found = REGISTRY[name]
    if found is None:
        found = REGISTRY[name] = importlib.import_module(f"{__name__}.{name}").PROVIDER
    return found
