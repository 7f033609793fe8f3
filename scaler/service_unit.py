"""The systemd units of the toolkit's long-running commands on the control machine: `bubble
scaler run` (`bubble scaler unit`), `bubble panel serve` (`bubble panel unit`) and `bubble
monitor run` (`bubble monitor unit`).

A unit carries no secret: the InfluxDB password or token and a PostgreSQL URL with its
password go in the EnvironmentFile (root's, 0600), which systemd reads before it drops to the
service's user. It writes only what its Service names under the operator root (state/: DB,
locks, logs; the rendered inventory; the panel also the catalog and its git repository);
Ansible's temporary files and ssh control sockets go to the unit's private /tmp, so the rest
of the system (home directories included) stays read-only to it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from glue.errors import BubbleError
from glue.paths import TOOLKIT_DIR

NAME = "bubble-scaler.service"
UNIT_DIR = Path("etc/systemd/system")  # under the target root
ENV_FILE = Path("/etc/bubblehost/scaler.env")
PANEL_ENV_FILE = Path("/etc/bubblehost/panel.env")
MONITOR_ENV_FILE = Path("/etc/bubblehost/monitor.env")
# The settings that are secrets: only ever in the EnvironmentFile.
SECRETS = ("BUBBLE_INFLUX_PASSWORD", "BUBBLE_INFLUX_TOKEN", "BUBBLE_DATABASE_URL",
           "BUBBLE_SMTP_PASSWORD")  # fmt: skip
SETTINGS = ("BUBBLE_INFLUX_URL", "BUBBLE_INFLUX_DATABASE", "BUBBLE_INFLUX_AUTH",
            "BUBBLE_INFLUX_USERNAME", "BUBBLE_INFLUX_PASSWORD_FILE")  # fmt: skip
# Paths and names written into the unit unquoted: nothing systemd would expand (% $),
# split (spaces) or unquote (quotes, backslashes).
_PLAIN = re.compile(r"[A-Za-z0-9._/@+:-]+")
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


@dataclass(frozen=True)
class Service:
    """What differs between the toolkit's services: the rest of the unit is the same."""

    group: str  # its command group: `bubble GROUP unit` writes bubble-GROUP.service
    description: str
    args: tuple[str, ...]  # the bubble command after `--root ROOT`
    writable: tuple[str, ...]  # what it writes, under the root
    env_file: Path

    @property
    def name(self) -> str:
        return f"bubble-{self.group}.service"


def scaler_service(interval: str = "5s", env_file: Path = ENV_FILE) -> Service:
    return Service("scaler", "Bubblehost elastic scaler (bubble scaler run)",
                   ("scaler", "run", "--interval", interval),
                   ("state", "inventory/generated"), env_file)  # fmt: skip


def monitor_service(interval: str = "30s", env_file: Path = MONITOR_ENV_FILE) -> Service:
    """The monitor writes only the state DB (alerts) and reads the catalog."""
    return Service("monitor", "Bubblehost monitor and alerts (bubble monitor run)",
                   ("monitor", "run", "--interval", interval), ("state",), env_file)  # fmt: skip


def panel_service(listen: str, env_file: Path = PANEL_ENV_FILE) -> Service:
    """The panel commits its catalog changes (catalog/, .git) and carries them to servers."""
    return Service("panel", "Bubblehost panel (bubble panel serve)",
                   ("panel", "serve", "--listen", listen),
                   ("state", "inventory/generated", "catalog", ".git"), env_file)  # fmt: skip


@dataclass(frozen=True)
class UnitSpec:
    root: Path  # the operator root
    user: str
    service: Service = field(default_factory=scaler_service)
    python: Path = Path(sys.executable)
    toolkit: Path = TOOLKIT_DIR

    @property
    def env_file(self) -> Path:
        return self.service.env_file


def _plain(what: str, value: str) -> str:
    if not _PLAIN.fullmatch(value):
        raise BubbleError(f"{what} {value!r}: only letters, digits and ._/@+:- can go in the unit")
    return value


def _absolute(what: str, path: Path) -> str:
    if not path.is_absolute():
        raise BubbleError(f"{what} {str(path)!r}: an absolute path")
    return _plain(what, str(path))


def unit_text(spec: UnitSpec) -> str:
    """The unit file's contents."""
    if not _USER.fullmatch(spec.user):
        raise BubbleError(f"--user {spec.user!r}: a user name (lower case, digits, _ and -)")
    root = _absolute("the root", spec.root)
    env = _absolute("--env-file", spec.env_file)
    python, toolkit = _absolute("python", spec.python), _absolute("the toolkit", spec.toolkit)
    service = spec.service
    command = " ".join(_plain(f"the {service.group} option", arg) for arg in service.args)
    writable = " ".join(f"{root}/{path}" for path in service.writable)
    return f"""\
# Written by `bubble {service.group} unit --install`;
# `bubble {service.group} unit` prints what it would write.
[Unit]
Description={service.description}
Wants=network-online.target
After=network-online.target postgresql.service influxdb.service

[Service]
Type=exec
User={spec.user}
# Secrets (InfluxDB password or token, a PostgreSQL URL) only here: root's file, mode 0600.
EnvironmentFile={env}
Environment=PYTHONPATH={toolkit}
Environment=ANSIBLE_LOCAL_TEMP=/tmp/ansible-local
Environment=ANSIBLE_SSH_CONTROL_PATH_DIR=/tmp/ansible-cp
ExecStart={python} -m glue.cli.main --root {root} {command}
# SIGTERM is a clean stop: the scaler releases its lease, the panel finishes its requests.
KillSignal=SIGTERM
TimeoutStopSec=120
Restart=always
RestartSec=5
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths={writable}
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
SystemCallArchitectures=native
CapabilityBoundingSet=

[Install]
WantedBy=multi-user.target
"""


def env_template(service: Service) -> str:
    """A new EnvironmentFile: every setting named, no value of a secret."""
    lines = [f"# bubble {service.group} settings (systemd EnvironmentFile; root's, mode 0600)."]
    lines += [f"#{name}=" for name in SETTINGS]
    lines += ["# Secrets: set them here, nowhere else (never on a command line)."]
    lines += [f"#{name}=" for name in SECRETS]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Installed:
    unit: Path
    env_file: Path
    env_created: bool
    reloaded: bool


def install(spec: UnitSpec, text: str, target_root: Path = Path("/")) -> Installed:
    """Write the unit under `target_root` (atomically), create the EnvironmentFile (0600)
    unless it exists (an existing one must be private), and daemon-reload when the target is
    this machine's own /."""
    env = target_root / spec.env_file.relative_to("/")
    env_created = False
    if env.exists():
        mode = env.stat().st_mode & 0o777
        if mode & 0o077:
            raise BubbleError(f"{env}: mode {mode:04o} lets others read it: chmod 600 {env}")
    else:
        env.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        fd = os.open(env, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(env_template(spec.service))
        env_created = True
    unit = target_root / UNIT_DIR / spec.service.name
    unit.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    with tempfile.NamedTemporaryFile("w", dir=unit.parent, delete=False, encoding="utf-8") as tmp:
        tmp.write(text)
    written = Path(tmp.name)
    written.chmod(0o644)
    written.replace(unit)
    reloaded = target_root.resolve() == Path("/")
    if reloaded:
        subprocess.run(["systemctl", "daemon-reload"], check=True, stdin=subprocess.DEVNULL,
                       capture_output=True)  # fmt: skip
    return Installed(unit, env, env_created, reloaded)
