"""`make demo`: the main job on embedded defaults, shown command by command.

A fresh operator root in a temporary directory (SQLite state), two servers, accounts placed
on the least loaded one each time, a wallet credited, a permanent upgrade bought, the
inventory and Terraform variables rendered.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
from pathlib import Path


def bubble(root: Path, *args: str) -> str:
    argv = [sys.executable, "-m", "glue.cli.main", "--root", str(root), *args]
    print(f"\n$ bubble {shlex.join(args)}", flush=True)
    result = subprocess.run(argv, text=True, capture_output=True, check=False)
    print((result.stdout + result.stderr).rstrip(), flush=True)
    if result.returncode != 0:
        raise SystemExit(f"demo: `bubble {shlex.join(args)}` failed")
    return result.stdout


def catalog_demo(root: Path) -> None:
    subprocess.run([sys.executable, "-m", "glue.cli.main", "init", str(root)], check=True)
    for name, ghz in (("web1", "2"), ("web2", "2.5")):
        bubble(
            root,
            "server",
            "add",
            name,
            "--provider",
            "lab",
            "--cores",
            "2",
            "--core-ghz",
            ghz,
            "--memory",
            "4GiB",
            "--disk",
            "80GiB",
        )
    for name in ("alice", "bob", "carol"):
        bubble(
            root,
            "account",
            "create",
            name,
            "--domain",
            f"{name}.example",
            "--email",
            f"owner@{name}.example",
        )
    bubble(
        root,
        "wallet",
        "credit",
        "alice",
        "100.00",
        "--note",
        "welcome credit",
        "--key",
        "demo-credit-1",
    )
    bubble(root, "account", "upgrade", "alice", "--cpu", "+1GHz")
    bubble(root, "account", "elastic", "alice", "on")
    bubble(root, "account", "set", "bob", "--memory", "3GiB")
    bubble(root, "plan", "set", "base", "--disk", "40GiB")
    bubble(root, "render")
    bubble(root, "server", "list")
    bubble(root, "account", "show", "alice")
    bubble(root, "wallet", "show", "alice")
    print(f"\nGenerated files under {root}:")
    for path in sorted((root / "inventory").rglob("*.yml")) + sorted(
        (root / "terraform").rglob("*.json")
    ):
        print(f"  {path.relative_to(root)}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bubble-demo-") as tmp:
        catalog_demo(Path(tmp) / "ops")


if __name__ == "__main__":
    main()
