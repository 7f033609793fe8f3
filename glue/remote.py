"""Reaching servers: the control plane's ssh key, each provider's ssh options, the
server's address, running a command on a server or as an account inside its bubble.

Host keys are always checked: lab servers through the lab's own known_hosts (it records
each server's keys when it makes them), cloud servers trust-on-first-use into the root's
known_hosts (StrictHostKeyChecking=accept-new), never `no`.
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from glue.errors import BubbleError
from glue.models import Server
from glue.paths import private_dir, private_file, state_dir
from glue.providers import provider
from glue.state.addresses import address_of

if TYPE_CHECKING:
    from glue.services.context import Context

# A command run as an account never outlives this, even if the ssh client is killed.
EXEC_MAX_SECONDS = 3600
CONFINE = "/usr/local/lib/bubblehost/bubble-confine"  # installed by the web role


class RemoteError(BubbleError):
    """ssh to a server failed; the message names the server and the step."""


def ssh_dir(root: Path) -> Path:
    return state_dir(root) / "ssh"


def control_key(root: Path) -> Path:
    """The control plane's ssh key (made once, never leaves state/)."""
    key = private_dir(ssh_dir(root)) / "id_ed25519"
    if not key.exists():
        argv = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bubblehost", "-f", str(key)]
        done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            why = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
            raise RemoteError(f"ssh-keygen could not make the control key {key}: {why[0]}")
        for path in (key, key.with_suffix(".pub")):  # ssh-keygen leaves .pub to the umask
            private_file(path)
    return key


def public_key(root: Path) -> str:
    return control_key(root).with_suffix(".pub").read_text(encoding="utf-8").strip()


def ssh_options(root: Path, server: Server) -> list[str]:
    return provider(server.provider).ssh_options(control_key(root), ssh_dir(root) / "known_hosts")


def require_address(ctx: Context, name: str, server: Server) -> str:
    """The server's address, or one line saying it has none yet."""
    address = address_of(ctx.engine, name, server)
    if not address:
        raise RemoteError(f"server {name}: no address yet (run `bubble apply`)")
    return address


def ssh_argv(ctx: Context, name: str, server: Server, remote: str, tty: bool = False) -> list[str]:
    address = require_address(ctx, name, server)
    flags = ["-t"] if tty else []
    return ["ssh", *flags, *ssh_options(ctx.root, server), f"root@{address}", remote]


def last_line(done: subprocess.CompletedProcess[str]) -> str:
    """What a failed remote command said: its last stderr line, else its exit code."""
    return (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]


def in_bubble(account: str, argv: Sequence[str], max_seconds: int = EXEC_MAX_SECONDS) -> list[str]:
    """The remote command line that runs `argv` as the account: in its slice, in its home,
    under bubble-confine (the seccomp filter its PHP runs under: no nested btrfs subvolumes),
    stopped after `max_seconds` even if the ssh client goes away.

    Sandboxed like its PHP-FPM master: it writes only in its home (inside its disk limit) and in
    private /tmp, /var/tmp, /dev/shm and /run/lock, small tmpfs charged to its slice's memory
    (never in the server's shared world-writable places); its System V IPC and POSIX queues
    are its own.

    systemd expands $VARS in a command line it is given: every `$` of `argv` is doubled, which
    it reads as a literal `$`, so `argv` reaches the account exactly as given."""
    home, tmp, shm = f"/srv/{account}", "64M", "16M"  # the web role's sizes for its PHP
    sandbox = [
        "PrivateDevices=yes", "PrivateIPC=yes", "ProtectSystem=strict", "ProtectHome=yes",
        "ProtectProc=invisible", "NoNewPrivileges=yes", "RestrictSUIDSGID=yes",
        f"ReadWritePaths={home}",
        f"TemporaryFileSystem=/tmp:mode=1777,nosuid,nodev,size={tmp}",
        f"TemporaryFileSystem=/var/tmp:mode=1777,nosuid,nodev,size={tmp}",
        f"TemporaryFileSystem=/dev/shm:mode=1777,nosuid,nodev,noexec,size={shm}",
        "TemporaryFileSystem=/run/lock:mode=1777,nosuid,nodev,noexec,size=1M",
    ]  # fmt: skip
    return [
        "systemd-run", "--quiet", "--wait", "--pipe", "--collect",
        "-p", f"RuntimeMaxSec={max_seconds}",
        *(arg for prop in sandbox for arg in ("-p", prop)),
        f"--slice=acct-{account}.slice", f"--uid={account}",
        f"--working-directory={home}",
        "--", CONFINE, *(arg.replace("$", "$$") for arg in argv),
    ]  # fmt: skip


def account_exec_argv(
    ctx: Context, name: str, server: Server, account: str, command: Sequence[str]
) -> list[str]:
    """ssh + in_bubble running `command` (argv, as typed after `--`) found on the account's
    PATH; stdin is left to ssh, which passes the operator's through to the command."""
    script = f"exec {shlex.join(command)}"  # the shell only finds the program, then is it
    return ssh_argv(ctx, name, server, shlex.join(in_bubble(account, ["sh", "-c", script])))


@contextmanager
def connection_inventory(root: Path, servers: dict[str, Server]) -> Iterator[Path]:
    """A second inventory with how to reach each server from this machine (never committed:
    it names local key paths), beside the generated one that the catalog fully determines.

    Written for one run into a private directory of its own (0700) and removed after it:
    two commands at once, on different servers, each read their own."""
    lines = ["# Written by bubble for this machine's ssh settings. Not generated from the catalog.",
             "all:", "  hosts:"]  # fmt: skip
    for name in sorted(servers):
        options = ssh_options(root, servers[name])
        key = options[options.index("-i") + 1]
        common = " ".join(opt for opt in options if opt not in ("-i", key))
        lines += [
            f"    {name}:",
            "      ansible_user: root",
            f"      ansible_ssh_private_key_file: {key!r}",
            f"      ansible_ssh_common_args: {common!r}",
        ]
    parent = state_dir(root) / "ansible"
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="run-", dir=parent) as private:
        path = Path(private) / "connection.yml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        yield path
