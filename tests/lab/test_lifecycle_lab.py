"""An account's life against a real server that is missing, failing or down, through the
`bubble` CLI only: a change for a server never built says so at once; a failed server step
is finished by running the same command again; a delete while the server is down stays in
the catalog (domains reserved) until `bubble apply` or the same command carries it out;
a CPU limit an admin sets through the panel's API is in force on the server, measured.

An isolated lab of its own (directory, bridge, subnet), torn down at the end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.support.cli import Bubble, fresh_bubble, server_args
from tests.support.influxd import free_port
from tests.support.lab_env import isolated_lab, lab_env
from tests.support.lab_server import LabServer, cpu_share, slice_cgroup
from tests.support.panel import PASSWORD, Client

pytestmark = pytest.mark.lab

LAB = isolated_lab("life", 5)
LAB_ENV = lab_env(LAB)
SERVER = "life1"
LAB_SERVER = server_args(memory="8GiB", disk="200GiB")


@pytest.fixture(scope="module")
def bubble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bubble]:
    cli = fresh_bubble(tmp_path_factory, LAB_ENV, "life")
    cli("server", "add", SERVER, *LAB_SERVER)
    try:
        yield cli
    finally:
        cli.run("lab", "down", "--yes")


def account(bubble: Bubble, name: str) -> dict[str, object]:
    data = bubble.json("account", "show", name)
    assert isinstance(data, dict)
    return data


def lab_call(function: str, *args: object) -> None:
    """glue.providers.lab.FUNCTION(*args) with this module's isolated lab settings."""
    with pytest.MonkeyPatch.context() as env:
        for key, value in LAB_ENV.items():
            env.setenv(key, value)
        from glue.providers import lab

        getattr(lab, function)(*args)


def restart(bubble: Bubble) -> None:
    """Power the server on again, its disks as they were (what Terraform made it with)."""
    servers = json.loads(bubble("server", "list", "--json"))
    address = str(servers[0]["address"])
    key = (bubble.root / "state/ssh/id_ed25519.pub").read_text().strip()
    bubble("lab", "server-create", "--address", address, "--ssh-key", key, "--disk-gib", "200",
           SERVER)  # fmt: skip


def test_changes_for_a_server_never_built_are_said_at_once(bubble: Bubble) -> None:
    pending = (
        f"server {SERVER} is not built yet: the change waits in the catalog; run `bubble apply`"
    )
    started = time.monotonic()
    out = bubble("account", "create", "alice", "--domain", "alice.example")
    assert out.splitlines() == [
        f"created account alice on {SERVER}: {SERVER} has the fewest accounts (0) (0% committed)",
        pending,
    ]
    out = bubble("account", "set", "alice", "--cpu", "2GHz")
    assert out.splitlines() == ["account alice: overrides set in the catalog", pending]
    assert time.monotonic() - started < 30
    bubble("apply")
    quota = "systemctl show acct-alice.slice -p CPUQuotaPerSecUSec --value"
    assert bubble.on_server(SERVER, quota).strip() == "1s"  # 2 GHz on 2 GHz cores


def test_a_cpu_limit_set_in_the_panel_is_in_force_on_the_server(bubble: Bubble) -> None:
    admin = Bubble(bubble.root, {**LAB_ENV, "BUBBLE_PASSWORD": PASSWORD})
    admin("panel", "admin", "add", "root")
    token = admin("panel", "token", "create", "--admin", "root").strip()
    url = f"http://127.0.0.1:{free_port()}"
    panel = bubble.background("panel", "serve", "--listen", url.removeprefix("http://"))
    hog = f"hog-panel-{int(time.time())}"
    try:
        client, deadline = Client(url, token=token), time.monotonic() + 30
        while True:
            try:
                client.request("GET", "/login")
                break
            except OSError:
                assert panel.poll() is None and time.monotonic() < deadline, "no panel"
                time.sleep(0.2)
        # 400 MHz on 2 GHz cores: CPUQuota 20%, carried to the server after the answer.
        changed = client.request("PATCH", "/api/v1/accounts/alice/limits", body={"cpu": "400MHz"})
        assert changed.status == 200 and changed.json()["in_force"]["cpu_mhz"] == 400
        quota = "systemctl show acct-alice.slice -p CPUQuotaPerSecUSec --value"
        deadline = time.monotonic() + 60
        while bubble.on_server(SERVER, quota).strip() != "200ms":
            assert time.monotonic() < deadline, "the panel's change never reached the server"
            time.sleep(1)
        bubble.on_server(SERVER, f"systemd-run --quiet --unit={hog} --slice=acct-alice.slice "
                                 "--uid=alice -p RuntimeMaxSec=60 --collect -- "
                                 "sh -c 'while :; do :; done'")  # fmt: skip
        usage = slice_cgroup(LabServer(SERVER, "", LAB), "unified", f"{hog}.service")
        share = cpu_share(usage)
        assert 0.14 <= share <= 0.25, f"400 MHz (20%) measured {share:.0%} of a core"
    finally:
        bubble.run("server", "ssh", SERVER, "--", "systemctl", "stop", f"{hog}.service")
        panel.terminate()
        panel.wait(10)


def test_a_create_that_failed_on_the_server_is_finished_by_the_same_command(
    bubble: Bubble,
) -> None:
    # A plain file where bob's home subvolume must go: the server step fails half-way.
    bubble.on_server(SERVER, "touch /srv/bob")
    failed = bubble.run("account", "create", "bob", "--domain", "bob.example")
    assert failed.returncode == 1
    error = failed.stderr.strip().splitlines()[-1]
    assert error.startswith("error: ansible accounts.yml: server life1, task ")
    assert error.endswith("(account bob is in the catalog: run the same command again to finish)")
    assert account(bubble, "bob")["server"] == SERVER
    other = bubble.run("account", "create", "bob", "--domain", "bob.example", "--plan", "gold")
    assert other.returncode == 1
    assert "already exists on life1 with other settings: plan base (asked: gold)" in other.stderr
    bubble.on_server(SERVER, "rm /srv/bob")
    out = bubble("account", "create", "bob", "--domain", "bob.example")
    assert out.splitlines() == [
        f"account bob: already in the catalog on {SERVER}, as asked",
        f"account bob is live on {SERVER}",
    ]
    assert bubble.on_server(SERVER, "id -un bob").strip() == "bob"
    assert (
        bubble.on_server(SERVER, "btrfs subvolume show /srv/bob >/dev/null && echo yes").strip()
        == "yes"
    )


def test_a_delete_while_the_server_is_down_waits_and_keeps_the_domains(bubble: Bubble) -> None:
    bubble("account", "create", "carol", "--domain", "carol.example")
    # A tenant's trap for the archive: 1 TiB of holes with a few bytes at its end (SEEK_DATA
    # must find them: a file with no block at all could be skipped without looking).
    sparse = "truncate -s 1T www/huge.bin; echo end >> www/huge.bin"
    bubble.as_account("alice", f"echo keep-me > www/precious.txt; {sparse}")
    lab_call("stop_server", SERVER)
    try:
        started = time.monotonic()
        for name, extra in (("alice", ()), ("bob", ("--purge", "--yes"))):
            done = bubble.run("account", "delete", name, *extra)
            assert done.returncode == 3, done.stderr
            last = done.stdout.splitlines()[-1]
            assert last.startswith(f"server {SERVER} does not answer (ssh: ")
            assert last.endswith("run `bubble apply` when it is back")
        assert time.monotonic() - started < 60
        assert account(bubble, "alice")["state"] == "removing"
        assert account(bubble, "bob")["state"] == "purging"
        taken = bubble.run("account", "create", "dave", "--domain", "alice.example")
        assert taken.returncode == 1
        assert "'alice.example' already belongs to account 'alice' (being removed" in taken.stderr
    finally:
        restart(bubble)
    # The same command again finishes the job: every removal waiting on that server.
    started = time.monotonic()
    out = bubble("account", "delete", "bob", "--purge", "--yes")
    assert out.splitlines()[-1] == "deleted account bob (purged)"
    assert time.monotonic() - started < 120  # reading the 1 TiB through would take hours
    listed = json.loads(bubble("account", "list", "--json"))
    assert [row["name"] for row in listed] == ["carol"]
    gone = "id {0} >/dev/null 2>&1 || test -e /etc/nginx/conf.d/acct-{0}.conf || echo gone"
    for name in ("alice", "bob"):
        assert bubble.on_server(SERVER, gone.format(name)).strip() == "gone", name
    archives = bubble.on_server(SERVER, "ls /srv/.archive").split()
    assert [a.split("-")[0] for a in archives] == ["alice"]  # bob was purged
    # The trap archived as what it is (its size, its last bytes), the archive a few KiB.
    tarball = f"/srv/.archive/{archives[0]}/files.tar.gz"
    look = (
        f"stat -c %s {tarball}; d=$(mktemp -d); tar -xzf {tarball} -C $d alice/www/huge.bin;"
        f" tail -c 4 $d/alice/www/huge.bin; rm -r $d; tar -tvzf {tarball} alice/www/huge.bin"
    )
    size, end, listed = bubble.on_server(SERVER, look).splitlines()
    assert int(size) < 64 * 1024 and end == "end", (size, end)
    assert listed.split()[2] == str(2**40 + 4), listed
    bubble("account", "create", "dave", "--domain", "alice.example")


def test_a_delete_recorded_in_the_catalog_is_carried_out_by_apply(bubble: Bubble) -> None:
    # Never built on the server: its removal there is a no-op that succeeds.
    bubble("account", "create", "erin", "--domain", "erin.example", "--no-apply")
    out = bubble("account", "delete", "erin")
    assert (
        out.splitlines()[-1] == "deleted account erin (archived under /srv/.archive on its server)"
    )
    out = bubble("account", "delete", "carol", "--no-apply")
    assert "removal recorded in the catalog (removing)" in out
    assert bubble.on_server(SERVER, "id -un carol").strip() == "carol"  # still there
    bubble("apply")
    assert not (bubble.root / "catalog/accounts/carol.yml").exists()
    assert bubble.on_server(SERVER, "id carol >/dev/null 2>&1 || echo gone").strip() == "gone"
    assert (
        bubble.on_server(SERVER, "systemctl is-active php-fpm-acct@dave.service").strip()
        == "active"
    )
