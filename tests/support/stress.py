"""Two sites on one lab server for `bubble stress`: `calm` (a PHP page that works a little,
in its own slice) and `noisy` (the neighbour), on a small plan: the lab test and the bench."""

from __future__ import annotations

from tests.support.cli import Bubble, server_args

PLANS = """\
plans:
  base:
    description: lab stress plan
    base:
      cpu: 500MHz
      memory: 512MiB
      disk: 1GiB
      processes: 256
"""
BASE_CPU_MHZ = 500
# A page that works a little in the account's PHP (its slice, its CPU limit).
PAGE = "<?php $h = ''; for ($i = 0; $i < 2000; $i++) { $h = md5($h . $i); } echo $h, \"\\n\";\n"
SITE, NEIGHBOUR = "calm.example", "noisy.example"
DISK_GIB = 8  # the server's /srv


def two_sites(bubble: Bubble, server: str) -> None:
    """`lab up`, the server and the two accounts built, calm's page in place; the usage agent
    samples every 2 s (a short run has samples)."""
    bubble("lab", "up")
    (bubble.root / "catalog/plans.yml").write_text(PLANS)
    with (bubble.root / "inventory/group_vars/all.yml").open("a") as settings:
        settings.write("\nusage_agent_interval: 2\n")
    bubble("server", "add", server, *server_args(memory="4GiB", disk=f"{DISK_GIB}GiB"))
    for domain in (SITE, NEIGHBOUR):
        bubble("account", "create", domain.split(".")[0], "--domain", domain)
    bubble("apply")
    bubble("account", "exec", "calm", "--", "sh", "-c", "cat > www/index.php", stdin=PAGE)
