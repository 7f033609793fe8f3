"""`make demo`: the main job on embedded defaults, shown command by command.

Part 1, the catalog: a fresh operator root (SQLite state), two servers, accounts placed on
the least loaded one each time, a wallet credited, a permanent upgrade bought, rendering.
Part 2, the lab (as root, with systemd-nspawn): the same on two real lab servers (and a
backup server) brought up by `bubble apply`, each account's site answering over HTTP; then
backups: every account backed up, a deleted file restored byte-identical, alice moved live to
the other web server (the downtime measured and printed); then monitoring: nginx stopped
on web1, the alert arriving at a webhook receiver on this machine, and its resolved notice
once nginx is started again (the rule made short for it, then restored). The lab stays up
afterwards; the demo prints how to look at it and how to take it down. Running the demo
again first takes down the previous demo's lab.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

LAB_ROOT = Path(os.environ.get("BUBBLE_DEMO_ROOT", "/var/lib/bubblehost/demo"))
PHP_PAGE = (
    '<?php printf("%s: PHP as user %s in %s\\n", $_SERVER["HTTP_HOST"], '
    'posix_getpwuid(posix_geteuid())["name"], '
    'explode("/", trim(shell_exec("cat /proc/self/cgroup")))[2] ?? "?");'
)


def bubble(root: Path, command: str, shown: str | None = None, stdin: str = "") -> str:
    """Run `bubble --root ROOT COMMAND` (split like a shell would); show it and its output."""
    args = shlex.split(command)
    argv = [sys.executable, "-m", "glue.cli.main", "--root", str(root), *args]
    print(f"\n$ bubble {shown or command}", flush=True)
    wide = {**os.environ, "COLUMNS": "160"}  # rich tables, not cut at 80 columns in a pipe
    result = subprocess.run(
        argv, text=True, input=stdin, capture_output=True, check=False, env=wide
    )
    print((result.stdout + result.stderr).rstrip(), flush=True)
    if result.returncode != 0:
        raise SystemExit(f"demo: `bubble {command}` failed")
    return result.stdout


def catalog_demo(root: Path) -> None:
    subprocess.run([sys.executable, "-m", "glue.cli.main", "init", str(root)], check=True)
    server = "--provider lab --cores 2 --memory 4GiB --disk 80GiB"
    bubble(root, f"server add web1 {server} --core-ghz 2")
    bubble(root, f"server add web2 {server} --core-ghz 2.5")
    # Part 1 edits the catalog only (--no-apply): these servers exist on paper.
    for name in ("alice", "bob", "carol"):
        bubble(root, f"account create {name} --domain {name}.example --no-apply")
    bubble(root, "wallet credit alice 100.00 --note 'welcome credit' --key demo-credit-1")
    bubble(root, "account upgrade alice --cpu +1GHz --no-apply")
    bubble(root, "account elastic alice on")
    bubble(root, "account set bob --memory 3GiB --no-apply")
    bubble(root, "plan set base --disk 40GiB --no-apply --yes")
    bubble(root, "render")
    bubble(root, "server list")
    bubble(root, "account show alice")
    bubble(root, "wallet show alice")
    print(f"\nGenerated files under {root}:")
    for path in sorted((root / "inventory").rglob("*.yml")) + sorted(
        (root / "terraform").rglob("*.json")
    ):
        print(f"  {path.relative_to(root)}")


def lab_demo(root: Path) -> None:
    if root.exists():
        print(f"\n(taking down the previous demo in {root})")
        subprocess.run(
            [sys.executable, "-m", "glue.cli.main", "--root", str(root), "lab", "down", "--yes"],
            check=False,
        )
        shutil.rmtree(root)
    subprocess.run([sys.executable, "-m", "glue.cli.main", "init", str(root)], check=True)
    server = "--provider lab --cores 2 --core-ghz 2 --memory 4GiB --disk 80GiB"
    bubble(root, f"server add web1 {server}")
    bubble(root, f"server add web2 {server}")
    # The backup server: placement never puts accounts on it; each web server pushes there.
    bubble(root, "server add store --provider lab --cores 1 --core-ghz 2 --memory 2GiB "
                 "--disk 40GiB --role backup")  # fmt: skip
    bubble(root, "apply")
    sites = {}
    for name in ("alice", "bob", "carol"):
        out = bubble(root, f"account create {name} --domain {name}.example")
        sites[name] = out.split(" on ", 1)[1].split(":", 1)[0]
        page = f"cat > www/index.php <<'EOF'\n{PHP_PAGE}\nEOF"
        shown = f"account exec {name} -- sh -c 'cat > www/index.php <<EOF ...'"
        bubble(root, f"account exec {name} -- sh -c {shlex.quote(page)}", shown)
    rows = json.loads(bubble(root, "server list --json"))
    addresses = {row["name"]: row["address"] for row in rows}
    print("\nWhere each site answers:")
    for name, server_name in sites.items():
        _show_site(name, server_name, addresses[server_name])
    backup_demo(root, sites, addresses)
    monitor_demo(root)
    print(f"\nThe lab is up. Look around: bubble --root {root} server ssh web1")
    print(f"Take it down:    bubble --root {root} lab down --yes")


def _show_site(name: str, server_name: str, address: str) -> None:
    url = f"http://{address}/"
    answer = subprocess.run(
        ["curl", "-sS", "--max-time", "10", "-H", f"Host: {name}.example", url],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    print(f"  {name}.example on {server_name}: curl -H 'Host: {name}.example' {url}")
    print(f"      -> {answer}")


def backup_demo(root: Path, sites: dict[str, str], addresses: dict[str, str]) -> None:
    """Every demo account backed up to the backup server, a deleted file restored (its
    checksum the same before and after), and alice moved to the other web server while her
    site runs: the move prints the downtime it measured."""
    print("\nBackups, a restore and a move:")
    bubble(root, "backup run")
    bubble(root, "backup list alice")
    digest = "sha256sum www/index.php"
    before = bubble(root, f"account exec alice -- {digest}")
    bubble(root, "account exec alice -- rm www/index.php")
    bubble(root, "backup restore alice --path www/index.php")
    after = bubble(root, f"account exec alice -- {digest}")
    same = "byte-identical" if after == before else "NOT identical"
    print(f"  (www/index.php restored: {same} to the file before it was deleted)")
    if after != before:
        raise SystemExit("demo: the restored file differs from the one deleted")
    target = "web2" if sites["alice"] == "web1" else "web1"
    bubble(root, f"account move alice --to {target}")
    bubble(root, "account move alice --finish")
    _show_site("alice", target, addresses[target])


def monitor_demo(root: Path) -> None:
    """nginx stopped on web1: `bubble monitor run` evaluates every 2 s and the alert arrives
    at a Slack-compatible webhook receiver here, then its resolved notice. The rule's
    for-duration and the grouping's waits are made short for the demo, then restored."""
    from glue.demo_receiver import receiving
    from glue.monitor.rules import format_duration, load_alerts

    rule = "service-failing"
    config = load_alerts(root)
    was = format_duration(config.rules[rule].for_s)
    waits = {"group_wait": config.grouping.group_wait_s,
             "group_interval": config.grouping.group_interval_s}  # fmt: skip
    with receiving() as hook:
        print("\nMonitoring: a webhook receiver listens on", hook.url)
        add = "alerts channel add demo --webhook -"
        bubble(root, add, f"{add}   (the URL on stdin: kept in state/)", hook.url + "\n")
        bubble(root, f"alerts rule set {rule} --for 4s")
        _grouping(root, dict.fromkeys(waits, 0))
        argv = [sys.executable, "-m", "glue.cli.main", "--root", str(root),
                "monitor", "run", "--interval", "2s"]  # fmt: skip
        monitor = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        print("$ bubble monitor run --interval 2s   (in the background)")
        try:
            for step, state in (("stop", "FIRING"), ("start", "RESOLVED")):
                seen = len(hook.texts)
                bubble(root, f"server ssh web1 -- systemctl {step} nginx")
                got = hook.wait(state, rule, 60, seen)
                if got is None:
                    print(f"  (no {state} notice within 60 s: see bubble alerts)")
                else:
                    print(f"  webhook received after {got[0]:.0f} s:")
                    print("    " + got[1].replace("\n", "\n    "))
                if step == "stop":
                    bubble(root, "alerts")
        finally:
            monitor.terminate()
            monitor.wait(30)
    bubble(root, "alerts history")
    bubble(root, f"alerts rule set {rule} --for {was}")
    _grouping(root, waits)
    print(f"(restored: {rule} for {was}, and the grouping's waits)")


def _grouping(root: Path, seconds: dict[str, int]) -> None:
    from glue.monitor.rules import format_duration

    wait, interval = (format_duration(seconds[k]) for k in ("group_wait", "group_interval"))
    bubble(root, f"alerts grouping set --wait {wait} --interval {interval}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bubble-demo-") as tmp:
        catalog_demo(Path(tmp) / "ops")
    if os.geteuid() != 0 or shutil.which("systemd-nspawn") is None:
        print("\n(skipping the lab part: it needs root and systemd-nspawn)")
        return
    lab_demo(LAB_ROOT)


if __name__ == "__main__":
    main()
