"""The agent's cgroup readers on fake v2 and v1 trees (real files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scaler.agent_cgroup import detect_version, read_accounts
from tests.support.cgroup_tree import v1_account, v1_tree, v2_account, v2_tree


def test_v2_reads_every_figure(tmp_path: Path) -> None:
    root = v2_tree(tmp_path, ["alice", "bob"])
    assert detect_version(str(root)) == 2
    samples = read_accounts(str(root), 2)
    assert sorted(samples) == ["alice", "bob"]
    assert samples["alice"] == {
        "cpu_usage_usec": 1_000_000,
        "cpu_periods": 400,
        "cpu_throttled_periods": 30,
        "cpu_throttled_usec": 250000,
        "cpu_quota_usec": 50000,
        "cpu_period_usec": 100000,
        "mem_bytes": 64 << 20,
        "mem_max_bytes": 256 << 20,
        "mem_max_events": 12,
        "mem_oom_events": 2,
        "mem_oom_kills": 0,
        "mem_pressure_some_usec": 4321,
        "mem_pressure_full_usec": 1234,
        "mem_pressure_some_avg10": 1.5,
        "tasks": 7,
        "tasks_max": 100,
        "io_read_bytes": 1005,
        "io_write_bytes": 2007,
    }


def test_v2_no_limit_means_the_key_is_absent(tmp_path: Path) -> None:
    root = v2_tree(tmp_path, [])
    v2_account(root, "carol", quota="max 100000", memory_max="max", tasks_max="max")
    sample = read_accounts(str(root), 2)["carol"]
    for key in ("cpu_quota_usec", "cpu_period_usec", "mem_max_bytes", "mem_high_bytes"):
        assert key not in sample
    assert "tasks_max" not in sample
    assert sample["tasks"] == 7


def test_only_account_slices_are_read(tmp_path: Path) -> None:
    root = v2_tree(tmp_path, ["alice"])
    (root / "acct.slice" / "acct-Bad-Name.slice").mkdir()
    (root / "acct.slice" / "other.slice").mkdir()
    (root / "acct.slice" / "acct-link.slice").symlink_to(root / "acct.slice" / "acct-alice.slice")
    assert sorted(read_accounts(str(root), 2)) == ["alice"]


def test_missing_files_leave_keys_out_not_zero(tmp_path: Path) -> None:
    root = v2_tree(tmp_path, [])
    slice_dir = v2_account(root, "dave")
    (slice_dir / "io.stat").unlink()
    (slice_dir / "memory.pressure").unlink()
    sample = read_accounts(str(root), 2)["dave"]
    assert "io_read_bytes" not in sample
    assert "mem_pressure_some_usec" not in sample


def test_v1_reads_the_same_keys(tmp_path: Path) -> None:
    root = v1_tree(tmp_path, ["alice"])
    assert detect_version(str(root)) == 1
    assert read_accounts(str(root), 1)["alice"] == {
        "cpu_usage_usec": 2_000_000,
        "cpu_periods": 100,
        "cpu_throttled_periods": 9,
        "cpu_throttled_usec": 3000,
        "cpu_quota_usec": 20000,
        "cpu_period_usec": 100000,
        "mem_bytes": 32 << 20,
        "mem_max_bytes": 128 << 20,
        "mem_max_events": 5,
        "mem_oom_kills": 1,
        "tasks": 3,
        "io_read_bytes": 4096,
        "io_write_bytes": 8192,
    }


def test_v1_unlimited_quota_and_memory(tmp_path: Path) -> None:
    root = v1_tree(tmp_path, [])
    v1_account(root, "bob", quota_us=-1, limit=9223372036854771712)
    sample = read_accounts(str(root), 1)["bob"]
    assert "cpu_quota_usec" not in sample
    assert "mem_max_bytes" not in sample


def test_hybrid_tree_is_read_as_v1(tmp_path: Path) -> None:
    root = v1_tree(tmp_path, ["alice"])
    (root / "unified").mkdir()
    (root / "cgroup.controllers").write_text("")
    assert detect_version(str(root)) == 1


def test_unknown_root_and_version_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="neither a cgroup v2 nor a v1"):
        detect_version(str(tmp_path))
    with pytest.raises(ValueError, match="expected 1 or 2"):
        read_accounts(str(tmp_path), 3)


def test_v1_cpu_use_from_the_unified_tree_when_cpuacct_has_no_unit_groups(
    tmp_path: Path,
) -> None:
    # The lab: cpuacct mounted apart from cpu, systemd makes no unit groups in it; the
    # hybrid's cgroup2 tree keeps usage_usec for every unit.
    root = v1_tree(tmp_path, ["alice"])
    (root / "cpuacct" / "acct.slice" / "acct-alice.slice" / "cpuacct.usage").unlink()
    unified = root / "unified" / "acct.slice" / "acct-alice.slice"
    unified.mkdir(parents=True)
    (unified / "cpu.stat").write_text("usage_usec 7500000\nuser_usec 5000000\n")
    assert read_accounts(str(root), 1)["alice"]["cpu_usage_usec"] == 7_500_000
