"""ssh to lab servers: the lab's own key and known_hosts, strict host key checking.

The lab writes every server's host keys into its known_hosts when it generates them, so
even the lab checks host keys strictly; nothing is ever accepted blindly.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from glue.providers.lab.config import LabConfig
from glue.providers.lab.locks import locked
from glue.providers.lab.proc import run


def ensure_lab_key(cfg: LabConfig) -> Path:
    """The lab's own ed25519 key pair (made once), always authorised on lab servers."""
    cfg.ssh_dir.mkdir(parents=True, exist_ok=True)
    cfg.ssh_dir.chmod(0o700)
    with locked(cfg.locks_dir / "ssh-key.lock"):
        if not cfg.ssh_key.exists():
            run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    "bubblehost-lab",
                    "-f",
                    str(cfg.ssh_key),
                ],
                step="lab ssh key",
            )
    return cfg.ssh_key


def lab_public_key(cfg: LabConfig) -> str:
    return cfg.ssh_key.with_suffix(".pub").read_text().strip()


def ssh_options(cfg: LabConfig | None = None, identity: Path | None = None) -> list[str]:
    """ssh(1) options for any lab server: lab known_hosts, strict checking, batch mode.

    identity defaults to the lab's own key; pass the control plane's key to test that one.
    """
    cfg = cfg or LabConfig()
    return [
        "-i",
        str(identity or cfg.ssh_key),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={cfg.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=5",
        "-o",
        "LogLevel=ERROR",
    ]


def ansible_ssh_common_args(cfg: LabConfig | None = None) -> str:
    """The same, as Ansible's ansible_ssh_common_args (the key goes in private_key_file)."""
    cfg = cfg or LabConfig()
    return f"-o UserKnownHostsFile={cfg.known_hosts} -o StrictHostKeyChecking=yes"


def ssh_argv(
    address: str,
    command: Sequence[str] | str,
    cfg: LabConfig | None = None,
    identity: Path | None = None,
    user: str = "root",
) -> list[str]:
    remote = command if isinstance(command, str) else " ".join(command)
    return ["ssh", *ssh_options(cfg, identity), f"{user}@{address}", "--", remote]


def ssh_ok(address: str, cfg: LabConfig, identity: Path | None = None, timeout: float = 10) -> bool:
    """True if root can log in with the key and run `true`."""
    try:
        done = subprocess.run(
            ssh_argv(address, "true", cfg, identity),
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def write_known_hosts(cfg: LabConfig) -> None:
    """Rebuild the lab's known_hosts from every server's own host key lines."""
    cfg.ssh_dir.mkdir(parents=True, exist_ok=True)
    with locked(cfg.locks_dir / "known-hosts.lock"):
        lines: list[str] = []
        for part in sorted(cfg.servers_dir.glob("*/known_hosts")):
            lines.extend(ln for ln in part.read_text().splitlines() if ln.strip())
        tmp = cfg.known_hosts.with_suffix(".tmp")
        tmp.write_text("".join(f"{ln}\n" for ln in lines))
        tmp.replace(cfg.known_hosts)
