"""The agent's per-server figures from a fake /proc, and the qgroup table parser."""

from __future__ import annotations

from pathlib import Path

from scaler.agent_host import BtrfsDisk, load, memory, parse_qgroups

QGROUPS = b"""\
Qgroupid    Referenced    Exclusive  Max referenced  Max exclusive Parent   Child   Path
--------    ----------    ---------  --------------  ------------- ------   -----   ----
0/5              16384        16384            none           none -        -       <toplevel>
0/256          3162112      3162112            none           none 1/256    -       alice
1/256          3162112      3162112        20971520           none -        0/256   <0 member>
1/257            16384        16384            none           none -        0/257   <0 member>
"""


def test_qgroup_table_level_one_only() -> None:
    assert parse_qgroups(QGROUPS) == {256: (3162112, 20971520), 257: (16384, None)}


def test_load_and_memory_from_proc(tmp_path: Path) -> None:
    (tmp_path / "loadavg").write_text("0.50 0.25 0.10 3/412 12345\n")
    (tmp_path / "meminfo").write_text(
        "MemTotal:       2048000 kB\nMemFree:  1000 kB\nMemAvailable:   1024000 kB\n"
    )
    assert load(str(tmp_path)) == {
        "load1": 0.5,
        "load5": 0.25,
        "load15": 0.1,
        "procs_running": 3,
        "procs": 412,
    }
    assert memory(str(tmp_path)) == {
        "mem_total_bytes": 2048000 * 1024,
        "mem_available_bytes": 1024000 * 1024,
    }


def test_no_btrfs_no_disk_figures(tmp_path: Path) -> None:
    (tmp_path / "alice").mkdir()
    assert BtrfsDisk(str(tmp_path)).read() == {}
