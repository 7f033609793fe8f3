"""Hetzner Cloud (terraform/stacks/hcloud): type is the server type (e.g. cx32), region the
location (e.g. fsn1); Hetzner assigns the public IPv4 when it creates the server."""

from __future__ import annotations

from glue.providers import Provider


class Hcloud(Provider):
    name = "hcloud"


PROVIDER = Hcloud()
