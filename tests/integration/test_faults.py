"""Faults on the way to a server give one line naming the server and the step."""

from __future__ import annotations

from pathlib import Path

import pytest

from glue.ansible import AnsibleError, run_playbook
from glue.remote import RemoteError
from glue.services.context import Context
from glue.services.converge import converged_version
from tests.support.models import cloud_server

pytestmark = pytest.mark.integration

PLAYBOOK = """
- name: A play that fails on purpose
  hosts: all
  gather_facts: false
  tasks:
    - name: Step that works
      ansible.builtin.command: "true"
      changed_when: false
    - name: Step that breaks
      ansible.builtin.fail:
        msg: the disk is on fire
"""


def test_a_failing_task_names_server_task_and_reason(tmp_path: Path) -> None:
    playbook = tmp_path / "broken.yml"
    playbook.write_text(PLAYBOOK)
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  hosts:\n    web9:\n      ansible_connection: local\n"
        "      ansible_python_interpreter: /usr/bin/python3\n"
    )
    tasks: list[str] = []
    with pytest.raises(AnsibleError) as info:
        run_playbook(str(playbook), [inventory], on_task=tasks.append)
    message = str(info.value)
    assert "\n" not in message
    assert "server web9, task 'Step that breaks': the disk is on fire" in message
    assert tasks == ["Step that works", "Step that breaks"]


def test_an_unreachable_server_is_named(tmp_path: Path) -> None:
    playbook = tmp_path / "ping.yml"
    playbook.write_text(PLAYBOOK)
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  hosts:\n    web8:\n      ansible_host: 127.0.0.1\n      ansible_port: 1\n"
    )
    with pytest.raises(AnsibleError, match=r"server web8, task '.*': unreachable: "):
        run_playbook(str(playbook), [inventory])


def test_ssh_that_never_answers_names_the_server(tmp_path: Path) -> None:
    server = cloud_server(address="127.0.0.1")
    with pytest.raises(RemoteError, match=r"^server web7: ssh did not answer within 2 s \("):
        converged_version(Context(tmp_path), "web7", server, timeout=2)
