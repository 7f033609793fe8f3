"""Lab servers are real: ssh, own hostnames, a shared bridge, ENFORCED limits, clean teardown."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from glue.providers import lab
from tests.support.cli import run
from tests.support.lab_env import isolated_lab, lab_env
from tests.support.lab_server import LabServer, cpu_shares, cpu_stat, slice_cgroup

pytestmark = pytest.mark.lab

ServerFactory = Callable[..., LabServer]


@pytest.fixture(scope="module")
def pair(lab_server: ServerFactory) -> tuple[LabServer, LabServer]:
    return lab_server("labt-a"), lab_server("labt-b")


def test_servers_boot_with_own_hostnames_and_reach_each_other(
    pair: tuple[LabServer, LabServer],
) -> None:
    a, b = pair
    assert a.ssh("hostname").stdout.strip() == "labt-a"
    assert b.ssh("hostname").stdout.strip() == "labt-b"
    assert a.ssh("systemctl is-system-running --wait").stdout.strip() == "running"
    # Over the bridge: ICMP and b's sshd from a.
    a.ssh(f"ping -c 1 -W 2 {b.address}")
    probe = f"import socket; socket.create_connection(('{b.address}', 22), 2).close()"
    a.ssh(f'python3 -c "{probe}"')
    # The same server asked for again: nothing to do, same process.
    before = lab.load_state(a.cfg, a.name)
    lab.create_server(a.name, a.address, lab.lab_public_key(a.cfg), 2, cfg=a.cfg)
    after = lab.load_state(a.cfg, a.name)
    assert before is not None and after is not None and before.pid == after.pid


def test_cpu_quota_is_enforced_and_raised_live(pair: tuple[LabServer, LabServer]) -> None:
    a, _ = pair
    a.ssh(
        "printf '[Slice]\\nCPUAccounting=yes\\nCPUQuota=20%%\\n' >/etc/systemd/system/labhog.slice"
        " && systemctl daemon-reload"
        " && systemd-run --quiet --unit=labhog --slice=labhog.slice -p RuntimeMaxSec=60"
        " sh -c 'while :; do :; done'"
    )
    try:
        usage = slice_cgroup(a, "unified", "labhog.slice")
        throttle = slice_cgroup(a, "cpu", "labhog.slice")
        time.sleep(0.5)
        # The quota is a ceiling in every window; the best window shows it is reached.
        shares_20 = cpu_shares(usage)
        assert max(shares_20) <= 0.25, f"CPUQuota=20% measured {shares_20}"
        assert max(shares_20) >= 0.15, f"CPUQuota=20% measured {shares_20}"
        pid_before = a.ssh("systemctl show -P MainPID labhog.service").stdout.strip()
        a.ssh("systemctl set-property --runtime labhog.slice CPUQuota=60%")
        time.sleep(0.5)
        shares_60 = cpu_shares(usage)
        assert max(shares_60) <= 0.65, f"CPUQuota=60% measured {shares_60}"
        # Raised: well past the old ceiling (how far also depends on what else runs).
        assert max(shares_60) >= 0.40, f"CPUQuota=60% measured {shares_60}"
        # Raised live: the hog kept running, same process; the kernel throttled it all along.
        assert int(cpu_stat(throttle, "nr_throttled")) > 0
        assert a.ssh("systemctl show -P MainPID labhog.service").stdout.strip() == pid_before
        # systemd inside agrees with what the host measured.
        inside = a.ssh("systemctl show -P CPUQuotaPerSecUSec labhog.slice").stdout.strip()
        assert inside == "600ms"
    finally:
        a.ssh("systemctl stop labhog.service; rm -f /etc/systemd/system/labhog.slice", check=False)


def test_memory_max_kills_a_hog(pair: tuple[LabServer, LabServer]) -> None:
    a, _ = pair
    hog = "import time; b = b'x' * (200 * 1024 * 1024); time.sleep(2); print('survived')"
    done = a.ssh(
        f'systemd-run --wait --collect --slice=labmem.slice -p MemoryMax=64M python3 -c "{hog}"',
        check=False,
    )
    assert done.returncode != 0
    assert "survived" not in done.stdout
    # cgroup v1: systemd reports the OOM killer's SIGKILL as result "signal", not "oom-kill".
    assert "status=KILL" in done.stderr or "oom-kill" in done.stderr, done.stderr
    # The same process fits without the limit: the kill was the limit's doing.
    fine = a.ssh(f'systemd-run --quiet --wait --pipe --collect python3 -c "{hog}"', check=False)
    assert fine.stdout.strip() == "survived", fine.stderr


def test_tasks_max_stops_forks(pair: tuple[LabServer, LabServer]) -> None:
    a, _ = pair
    forks = "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 3 & done 2>&1; wait"
    limited = a.ssh(
        f"systemd-run --quiet --wait --pipe --collect -p TasksMax=5 sh -c '{forks}'", check=False
    )
    assert "fork" in (limited.stdout + limited.stderr).lower(), limited
    free = a.ssh(f"systemd-run --quiet --wait --pipe --collect sh -c '{forks}'", check=False)
    assert "fork" not in (free.stdout + free.stderr).lower(), free


def test_btrfs_qgroup_limit_stops_writes(pair: tuple[LabServer, LabServer]) -> None:
    _, b = pair
    assert b.ssh("findmnt -no FSTYPE /srv").stdout.strip() == "btrfs"
    b.ssh(
        "btrfs quota enable /srv && btrfs subvolume create /srv/qt >/dev/null"
        " && btrfs qgroup limit 20M /srv/qt"
    )
    write = "dd if=/dev/urandom of=/srv/qt/{name} bs=1M count={mib} conv=fsync 2>&1"
    over = b.ssh(write.format(name="big", mib=60), check=False)
    assert over.returncode != 0
    assert "quota exceeded" in over.stdout.lower(), over.stdout
    size = int(b.ssh("sync; du -sb /srv/qt | cut -f1").stdout.split()[0])
    assert size <= 21 * 1024 * 1024, f"{size} bytes written past a 20M limit"
    # Raised live, writes go on.
    b.ssh("btrfs qgroup limit 100M /srv/qt && rm /srv/qt/big && sync")
    b.ssh(write.format(name="more", mib=60))


def _cli(cfg: lab.LabConfig, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`bubble lab ARGS` in lab `cfg`."""
    return run("lab", *args, root=root, env=lab_env(cfg, apply=False), timeout=300)


def test_cli_server_outlives_cli_and_down_leaves_nothing(
    lab_config: lab.LabConfig, tmp_path: Path
) -> None:
    # An isolated lab (own dir, bridge, subnet): `down` here cannot touch other tests' servers.
    cfg = isolated_lab("t0", 77, directory=tmp_path / "lab", cache=lab_config.cache)
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    created = _cli(
        cfg, tmp_path, "server-create", "labt-down", "--address", "198.18.77.10",
        "--ssh-key", str(key) + ".pub", "--disk-gib", "1",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    # The CLI has exited; the server runs on and the given key logs in.
    state = lab.load_state(cfg, "labt-down")
    assert state is not None and lab.is_running(state)
    ok = subprocess.run(
        lab.ssh_argv("198.18.77.10", "hostname", cfg, identity=key),
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.stdout.strip() == "labt-down", ok.stderr
    status = _cli(cfg, tmp_path, "status", "--json")
    assert '"ssh_ready": true' in status.stdout, status.stdout
    assert any(str(cfg.dir) in line for line in _losetup())

    down = _cli(cfg, tmp_path, "down", "--yes")
    assert down.returncode == 0, down.stderr
    assert not lab.is_running(state)
    assert not any(str(cfg.dir) in line for line in Path("/proc/mounts").read_text().splitlines())
    assert not any(str(cfg.dir) in line for line in _losetup())
    assert all(not Path(p).exists() for p in state.cgroups)
    leftovers = list(Path("/sys/fs/cgroup").glob("*/**/bubblelab-labt-down"))
    assert not leftovers, leftovers
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    assert cfg.bridge not in links.stdout
    assert "vb-labt-down" not in links.stdout
    # No process of that server survives (zombies left by the non-reaping PID 1 are dead).
    assert not _live_processes_mentioning("--machine=labt-down")
    # down is idempotent.
    assert _cli(cfg, tmp_path, "down", "--yes").returncode == 0
    assert _cli(cfg, tmp_path, "server-destroy", "labt-down").returncode == 0


def _losetup() -> list[str]:
    out = subprocess.run(["losetup", "-a"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def _live_processes_mentioning(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().split(") ", 1)[1][0]
        except OSError:
            continue
        if marker.encode() in argv and state != "Z":
            found.append(int(entry.name))
    return found


def test_errors_name_the_server_and_step(lab_config: lab.LabConfig) -> None:
    with pytest.raises(lab.LabError, match=r"^lab server labt-x: validate: address 10\.0\.0\.5"):
        lab.create_server("labt-x", "10.0.0.5", "ssh-ed25519 AAAA", 1, cfg=lab_config)
    with pytest.raises(lab.LabError, match=r"^lab server Bad_Name: validate: name"):
        lab.create_server("Bad_Name", "198.18.0.200", "ssh-ed25519 AAAA", 1, cfg=lab_config)
