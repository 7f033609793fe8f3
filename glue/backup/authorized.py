"""The backup server's authorized_keys for its borg user: every key runs borg serve only.

A web server's key may only append to its own repository (`--append-only
--restrict-to-repository`): a web server taken over can add archives but never delete or
rewrite one. The control plane's key reaches every repository under the directory and may
prune (not append-only). `restrict` takes away forwarding, ptys and ~/.ssh/rc."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from glue.errors import BubbleError
from glue.models import SERVER_NAME_RE

PUBLIC_KEY_RE = re.compile(r"ssh-ed25519 [A-Za-z0-9+/]+={0,2}(?: [A-Za-z0-9@._-]+)?")
PATH_RE = re.compile(r"/[A-Za-z0-9/._-]+")


def _line(command: list[str], key: str, what: str) -> str:
    if not PUBLIC_KEY_RE.fullmatch(key):
        raise BubbleError(f"{what}: not an ed25519 public key")
    return f'restrict,command="{shlex.join(command)}" {key}'


def authorized_keys(clients: Mapping[str, str], control: str, base: str) -> str:
    """`clients`: web server name -> its public key; `control`: the control plane's key;
    `base`: the directory that holds one repository per web server."""
    if not PATH_RE.fullmatch(base) or ".." in base.split("/"):
        raise BubbleError(f"repositories directory {base!r} is not a plain absolute path")
    lines = [_line(["borg", "serve", "--restrict-to-path", base], control, "control key")]
    for web in sorted(clients):
        if not SERVER_NAME_RE.fullmatch(web):
            raise BubbleError(f"{web!r} is not a server name")
        serve = ["borg", "serve", "--append-only", "--restrict-to-repository", f"{base}/{web}"]
        lines.append(_line(serve, clients[web], f"server {web}"))
    return "\n".join(lines) + "\n"
