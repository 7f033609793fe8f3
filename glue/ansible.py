"""Running ansible-playbook: explicit flags, the JSON-lines callback read event by event
(progress while it runs, every failure with its host, task and message), exit code checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glue.errors import BubbleError
from glue.paths import TOOLKIT_DIR, open_private, private_dir


class AnsibleError(BubbleError):
    """A playbook failed; the message names the playbook, the server, the task and why."""


@dataclass
class PlaybookResult:
    playbook: str
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # host, task, message
    started: set[str] = field(default_factory=set)  # ids of the tasks begun

    def changed(self, host: str | None = None) -> int:
        hosts = [host] if host else list(self.stats)
        return sum(self.stats.get(h, {}).get("changed", 0) for h in hosts)


def _message(result: Mapping[str, Any]) -> str:
    if result.get("_ansible_no_log"):
        return "(output hidden: no_log)"
    for key in ("msg", "stderr", "module_stderr", "reason"):
        value = result.get(key)
        if value:
            text = str(value).strip()
            return " ".join(text.splitlines()[-3:]) if key != "msg" else " ".join(text.split())
    return "failed"


def run_playbook(
    playbook: str,
    inventories: Sequence[Path],
    *,
    limit: Sequence[str] | None = None,
    check: bool = False,
    diff: bool = False,
    tags: Sequence[str] | None = None,
    extra_vars: Mapping[str, Any] | None = None,
    on_task: Callable[[str], None] | None = None,
    log_path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> PlaybookResult:
    """Run TOOLKIT/playbooks/PLAYBOOK; raise AnsibleError unless every host succeeded.
    `env` is added to the process environment (secrets go there, never on argv)."""
    argv = [str(Path(sys.executable).with_name("ansible-playbook"))]
    for inventory in inventories:
        argv += ["-i", str(inventory)]
    argv.append(str(TOOLKIT_DIR / "playbooks" / playbook))
    if limit:
        argv += ["--limit", ",".join(limit)]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    if tags:
        argv += ["--tags", ",".join(tags)]
    process_env = {
        **os.environ,
        **(env or {}),
        "ANSIBLE_CONFIG": str(TOOLKIT_DIR / "ansible.cfg"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.jsonl",
        "ANSIBLE_NOCOLOR": "1",
    }
    result = PlaybookResult(playbook)
    with tempfile.TemporaryDirectory(prefix="bubble-ansible-") as tmp:
        if extra_vars:
            # A file, not the command line: extra vars may hold names that `ps` should not show.
            vars_file = Path(tmp) / "extra.json"
            vars_file.write_text(json.dumps(extra_vars), encoding="utf-8")
            vars_file.chmod(0o600)
            argv += ["-e", f"@{vars_file}"]
        if log_path:  # the log holds server names, task output and failures: root's only
            private_dir(log_path.parent)
        log = open_private(log_path) if log_path else None
        try:
            proc = subprocess.Popen(
                argv, env=process_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                stdin=subprocess.DEVNULL, cwd=TOOLKIT_DIR,
            )  # fmt: skip
            assert proc.stdout is not None and proc.stderr is not None
            for line in proc.stdout:
                if log:
                    log.write(line)
                _event(line, result, on_task)
            stderr = proc.stderr.read()
            code = proc.wait()
        finally:
            if log:
                log.close()
    if code != 0 or result.failures:
        raise AnsibleError(_summary(playbook, code, result, stderr))
    return result


def _event(line: str, result: PlaybookResult, on_task: Callable[[str], None] | None) -> None:
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return  # warnings and deprecations printed around the JSON lines
    kind = event.get("_event", "")
    # A task begins once per play under the linear strategy, once per host under Mitogen's.
    if kind in ("v2_playbook_on_task_start", "v2_runner_on_start"):
        task = event["task"]
        if task["id"] not in result.started and on_task:
            on_task(task["name"])
        result.started.add(task["id"])
    elif kind in ("v2_runner_on_failed", "v2_runner_on_unreachable"):
        for host, res in event.get("hosts", {}).items():
            if kind == "v2_runner_on_failed" and res.get("_ansible_ignore_errors"):
                continue
            task = event.get("task", {}).get("name", "?")
            prefix = "unreachable: " if kind.endswith("unreachable") else ""
            result.failures.append((host, task, prefix + _message(res)))
    elif kind == "v2_playbook_on_stats":
        result.stats = {h: dict(s) for h, s in event.get("stats", {}).items()}


def _summary(playbook: str, code: int, result: PlaybookResult, stderr: str) -> str:
    if result.failures:
        host, task, message = result.failures[0]
        more = (
            f" (and {len(result.failures) - 1} more failures)" if len(result.failures) > 1 else ""
        )
        return f"ansible {playbook}: server {host}, task '{task}': {message}{more}"
    tail = " ".join(stderr.strip().splitlines()[-2:]) or f"exit code {code}"
    return f"ansible {playbook}: {tail}"
