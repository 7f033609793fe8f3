"""Create, start, stop and destroy one lab server (systemd-nspawn, overlayfs, btrfs /srv).

Mounts never touch the host's mount table: nspawn runs in a private mount namespace where a
small wrapper mounts the overlay root and the btrfs /srv (loop, autoclear) first. When nspawn
exits, the namespace and its mounts go with it; nothing stays mounted after a crash and
servers started later never inherit another server's mounts.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from glue.providers.lab import cgroups, customize, image, network, ssh
from glue.providers.lab.config import LabConfig
from glue.providers.lab.errors import LabError
from glue.providers.lab.locks import locked
from glue.providers.lab.proc import cmdline, is_alive, kill, run, wait_dead

NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,30}")
BOOT_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0

# Host side, in the private mount namespace: $1 = the cgroup.procs files to join (this shell
# becomes nspawn, so its descendants inherit them), $2..$7 = lower upper work merged image srv.
# Joining here, not in a preexec_fn, keeps Popen safe in a threaded caller (progress bars).
MOUNT_WRAPPER = """set -e
for procs in $1; do echo $$ >"$procs"; done
shift
mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$4"
mount -o loop "$5" "$6"
btrfs filesystem resize max "$6" >/dev/null
shift 6
exec "$@"
"""

# Container side, PID 1: controllers read-write, so limits set inside are enforced.
INIT_WRAPPER = (
    "for h in cpu cpuacct memory pids; do mount -o remount,bind,rw /sys/fs/cgroup/$h; done; "
    "exec /lib/systemd/systemd"
)


@dataclass
class LabMachine:
    """One lab server as this machine runs it (its state.json): the nspawn process, its loop
    device and cgroups. Not the catalog's `ServerState` (active, draining, down)."""

    name: str
    address: str
    disk_gib: int
    pid: int = 0
    image: str = ""
    loop_device: str = ""
    cgroups: list[str] = field(default_factory=list)
    started_at: float = 0.0


@dataclass(frozen=True)
class ServerPaths:
    root: Path

    @property
    def upper(self) -> Path:
        return self.root / "upper"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def merged(self) -> Path:
        return self.root / "rootfs"

    @property
    def disk(self) -> Path:
        return self.root / "srv.btrfs"

    @property
    def srv(self) -> Path:
        return self.root / "srv"

    @property
    def log(self) -> Path:
        return self.root / "nspawn.log"

    @property
    def pidfile(self) -> Path:
        return self.root / "nspawn.pid"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"


def paths(cfg: LabConfig, name: str) -> ServerPaths:
    return ServerPaths(cfg.servers_dir / name)


def load_state(cfg: LabConfig, name: str) -> LabMachine | None:
    try:
        return LabMachine(**json.loads(paths(cfg, name).state.read_text()))
    except FileNotFoundError:
        return None


def _save_state(cfg: LabConfig, state: LabMachine) -> None:
    target = paths(cfg, state.name).state
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2) + "\n")
    tmp.replace(target)


def server_names(cfg: LabConfig) -> list[str]:
    if not cfg.servers_dir.is_dir():
        return []
    return sorted(p.parent.name for p in cfg.servers_dir.glob("*/state.json"))


def is_running(state: LabMachine | None) -> bool:
    """True if the recorded nspawn process runs (a zombie or a reused pid does not count)."""
    if state is None or state.pid <= 0 or not is_alive(state.pid):
        return False
    # Until the wrapper execs nspawn, argv[0] is unshare or sh; all carry nspawn's arguments.
    return f"--machine={state.name}" in cmdline(state.pid)


def validate(cfg: LabConfig, name: str, address: str, disk_gib: int) -> ipaddress.IPv4Interface:
    if not NAME_RE.fullmatch(name):
        raise LabError("validate", f"name {name!r} must match {NAME_RE.pattern}", name)
    gateway = cfg.gateway_interface
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError as exc:
        raise LabError("validate", f"address {address!r} is not an IPv4 address", name) from exc
    net = gateway.network
    if ip not in net or ip in (net.network_address, net.broadcast_address, gateway.ip):
        raise LabError("validate", f"address {address} is not a host address of {net}", name)
    if disk_gib < 1:
        raise LabError("validate", f"disk size {disk_gib} GiB must be at least 1", name)
    return ipaddress.IPv4Interface(f"{ip}/{net.prefixlen}")


def ensure_up(cfg: LabConfig) -> Path:
    """The shared pieces: lab key, bridge, unpacked image. Returns the image root."""
    cfg.servers_dir.mkdir(parents=True, exist_ok=True)
    ssh.ensure_lab_key(cfg)
    with locked(cfg.locks_dir / "lab.lock"):
        network.ensure_bridge(cfg)
    return image.ensure_rootfs(cfg)


def _loop_devices(disk: Path) -> list[str]:
    if not disk.exists():
        return []
    out = run(["losetup", "-j", str(disk)], step="list loop devices")
    return [line.split(":", 1)[0] for line in out.splitlines() if line.strip()]


def _detach_loops(name: str, disk: Path) -> None:
    # The loop is autoclear: it normally vanishes with the server's mount namespace.
    for attempt in range(30):
        devices = _loop_devices(disk)
        if not devices:
            return
        if attempt >= 10:
            for dev in devices:
                subprocess.run(["losetup", "-d", dev], capture_output=True, check=False)
        time.sleep(0.1)
    left = _loop_devices(disk)
    if left:
        raise LabError("detach loop device", f"{' '.join(left)} still attached", name)


def _teardown(cfg: LabConfig, name: str, state: LabMachine | None, *, ours: bool = False) -> None:
    """Stop the server's processes, free its loop device and cgroups (files stay).

    ours: state.pid is the child just started here (its argv may not be nspawn's yet).
    """
    dirs = [Path(p) for p in state.cgroups] if state else []
    dirs += [d for d in cgroups.plan(name) if d not in dirs]
    owned = state is not None and state.pid > 0 and (ours or is_running(state))
    if state is not None and owned:
        # nspawn turns SIGTERM into SIGRTMIN+3 for the server's systemd: a clean poweroff.
        kill(state.pid, signal.SIGTERM)
        if not wait_dead(state.pid, STOP_TIMEOUT):
            kill(state.pid, signal.SIGKILL)
    cgroups.kill_all(dirs)
    if state is not None and owned and not wait_dead(state.pid, 10):
        raise LabError("stop", f"nspawn pid {state.pid} does not exit", name)
    _detach_loops(name, paths(cfg, name).disk)
    cgroups.remove(name, dirs)


def _prepare_disk(name: str, disk: Path, disk_gib: int) -> None:
    want = disk_gib * 1024**3
    if not disk.exists():
        with disk.open("wb") as handle:
            handle.truncate(want)
        run(["mkfs.btrfs", "-q", "-L", "srv", str(disk)], step="mkfs.btrfs /srv", server=name)
        return
    have = disk.stat().st_size
    if want < have:
        raise LabError(
            "grow /srv", f"disk is {have // 1024**3} GiB; shrinking is unsupported", name
        )
    if want > have:
        # Grown sparse here; the mount wrapper's `resize max` makes btrfs use it.
        with disk.open("r+b") as handle:
            handle.truncate(want)


def _start(cfg: LabConfig, state: LabMachine, lower: Path) -> int:
    p = paths(cfg, state.name)
    dirs = cgroups.plan(state.name)
    cgroups.create(state.name, dirs)
    state.cgroups = [str(d) for d in dirs]
    argv = [
        "unshare", "--mount", "--propagation", "private",
        "/bin/sh", "-c", MOUNT_WRAPPER, "lab-mounts",
        " ".join(str(d / "cgroup.procs") for d in dirs),
        str(lower), str(p.upper), str(p.work), str(p.merged), str(p.disk), str(p.srv),
        "systemd-nspawn", "-D", str(p.merged), f"--machine={state.name}",
        "--register=no", "--keep-unit", f"--network-bridge={cfg.bridge}",
        "--resolv-conf=off", "--timezone=off", "--link-journal=no", "--console=read-only",
        "--kill-signal=SIGRTMIN+3", f"--bind={p.srv}:/srv",
        "/bin/sh", "-c", INIT_WRAPPER,
    ]  # fmt: skip
    with p.log.open("ab") as log:
        # A session of its own: the server outlives the command that started it.
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    p.pidfile.write_text(f"{child.pid}\n")
    return child.pid


def _log_tail(cfg: LabConfig, name: str) -> str:
    try:
        lines = [ln for ln in paths(cfg, name).log.read_text(errors="replace").splitlines() if ln]
    except FileNotFoundError:
        return "no log"
    return lines[-1] if lines else "empty log"


def _wait_ssh(cfg: LabConfig, state: LabMachine, identity: Path | None) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        # Our own fresh child: its argv is briefly empty while it execs, so no argv check.
        if not is_alive(state.pid):
            raise LabError("boot", f"nspawn exited: {_log_tail(cfg, state.name)}", state.name)
        if ssh.ssh_ok(state.address, cfg, identity, timeout=5):
            return
        time.sleep(0.2)
    raise LabError("wait for ssh", f"no ssh as root after {BOOT_TIMEOUT:.0f} s", state.name)


def create(
    name: str,
    address: str,
    ssh_key: str,
    disk_gib: int,
    *,
    identity: Path | None = None,
    cfg: LabConfig | None = None,
) -> LabMachine:
    """Boot server NAME (idempotent) and return once root can ssh in.

    ssh_key is a public key authorised for root beside the lab's own key. Readiness is
    checked with identity (the private half of ssh_key) when given, else the lab's key.
    """
    cfg = cfg or LabConfig()
    iface = validate(cfg, name, address, disk_gib)
    lower = ensure_up(cfg)
    keys = [ssh.lab_public_key(cfg), ssh_key.strip()]
    p = paths(cfg, name)
    with locked(cfg.locks_dir / f"server-{name}.lock"):
        state = load_state(cfg, name)
        if state is not None and is_running(state):
            if state.address != address:
                msg = f"running with address {state.address}, not {address}; destroy it first"
                raise LabError("create", msg, name)
            _sync_keys(cfg, state, keys)
            _wait_ssh(cfg, state, identity)
            return state
        for other in server_names(cfg):
            seen = load_state(cfg, other)
            if other != name and seen is not None and seen.address == address:
                raise LabError("create", f"address {address} belongs to server {other}", name)
        _teardown(cfg, name, state)
        for directory in (p.upper, p.work, p.merged, p.srv):
            directory.mkdir(parents=True, exist_ok=True)
        state = LabMachine(name=name, address=address, disk_gib=disk_gib, image=lower.name)
        _save_state(cfg, state)
        _prepare_disk(name, p.disk, disk_gib)
        layer = customize.Layer(lower, p.upper, name)
        customize.write_secrets_once(layer)
        customize.write_identity(layer, iface, cfg.gateway_interface.ip, keys)
        p.known_hosts.write_text(
            "".join(f"{ln}\n" for ln in customize.host_key_lines(layer, address))
        )
        ssh.write_known_hosts(cfg)
        try:
            state.pid = _start(cfg, state, lower)
            state.started_at = time.time()
            _save_state(cfg, state)
            _wait_ssh(cfg, state, identity)
        except BaseException:
            _teardown(cfg, name, state, ours=True)
            raise
        state.loop_device = " ".join(_loop_devices(p.disk))
        _save_state(cfg, state)
        return state


def _sync_keys(cfg: LabConfig, state: LabMachine, keys: list[str]) -> None:
    """On a running server, rewrite root's authorized_keys over ssh if they changed."""
    wanted = "".join(f"{k}\n" for k in keys)
    current = paths(cfg, state.name).upper / "root/.ssh/authorized_keys"
    if current.exists() and current.read_text() == wanted:
        return
    script = "umask 077; mkdir -p /root/.ssh; cat >/root/.ssh/authorized_keys"
    run(ssh.ssh_argv(state.address, script, cfg), step="update authorized_keys",
        server=state.name, input_text=wanted)  # fmt: skip


def stop(name: str, cfg: LabConfig | None = None) -> None:
    """Power the server off and free its loop device and cgroups; its disks stay."""
    cfg = cfg or LabConfig()
    with locked(cfg.locks_dir / f"server-{name}.lock"):
        _teardown(cfg, name, load_state(cfg, name))


def destroy(name: str, cfg: LabConfig | None = None) -> None:
    """Stop the server and remove everything of it (idempotent)."""
    cfg = cfg or LabConfig()
    if not NAME_RE.fullmatch(name):
        raise LabError("validate", f"name {name!r} must match {NAME_RE.pattern}", name)
    with locked(cfg.locks_dir / f"server-{name}.lock"):
        _teardown(cfg, name, load_state(cfg, name))
        root = paths(cfg, name).root
        if root.exists():
            shutil.rmtree(root)
    if cfg.ssh_dir.is_dir():
        ssh.write_known_hosts(cfg)


def leader_pid(state: LabMachine) -> int | None:
    """PID (host view) of the server's systemd, for nsenter; None if not running."""
    if not is_running(state):
        return None
    try:
        children = Path(f"/proc/{state.pid}/task/{state.pid}/children").read_text().split()
    except FileNotFoundError:
        return None
    return int(children[0]) if children else None


def uptime(state: LabMachine) -> float:
    return time.time() - state.started_at if state.started_at else 0.0


__all__ = [
    "LabMachine",
    "create",
    "destroy",
    "ensure_up",
    "is_running",
    "load_state",
    "server_names",
    "stop",
]
