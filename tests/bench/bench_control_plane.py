"""Control plane at fleet scale: 10,000 accounts on 200 servers.

Targets (issue 2): validate + render under 5 s, one placement under 0.5 s, CLI start-up
under 0.3 s. Baselines: plain yaml.safe_load of the same files (what validation adds),
counting accounts per server and taking the least (what placement adds to that),
`python -c pass` (interpreter start).

Issue 9: `account set` on one account goes through the converge service, which renders only
the files of the one server it touches (hosts.yml and that server's host_vars); the baseline
is the whole render every account change did before, measured in the same run. Ansible is
left out (a runner that finds every server ready and changes nothing).
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import yaml

from glue.ansible import PlaybookResult
from glue.catalog import load_catalog
from glue.models import Server
from glue.placement import choose_server
from glue.render import render_all, write_rendered
from glue.services.accounts import set_overrides
from glue.services.context import Context
from glue.services.converge import Operation, Pending, converge
from glue.services.root import init_root, render_current

SERVERS, ACCOUNTS = 200, 10_000
TODAY = dt.date(2026, 11, 22)


def generate(
    root: Path, accounts: int = ACCOUNTS, servers: int = SERVERS, *, cores: int = 8,
    all_elastic: bool = False,
) -> None:  # fmt: skip
    """The fleet as catalog files; `all_elastic`: every account elastic, none with overrides
    (bench_scaler's fleet), else a third elastic and a seventh with its own cpu."""
    init_root(root)
    lines = ["servers:"]
    for i in range(servers):
        lines.append(
            f"  web{i:03d}: {{provider: lab, cores: {cores}, core_ghz: 2.5GHz, memory: 128GiB, "
            f"disk: 4TiB, address: 198.18.{i // 250}.{i % 250 + 2}}}"
        )
    (root / "catalog" / "servers.yml").write_text("\n".join(lines) + "\n")
    directory = root / "catalog" / "accounts"
    for i in range(accounts):
        extra = "overrides: {cpu: 2GHz}\n" if i % 7 == 0 and not all_elastic else ""
        elastic = all_elastic or i % 3 == 0
        (directory / f"a{i:05d}.yml").write_text(
            f"plan: base\nserver: web{i % servers:03d}\ndomains: [a{i:05d}.example]\n"
            f"email: owner{i}@example.com\nelastic: {str(elastic).lower()}\n{extra}"
        )


def timed(action: Callable[[], object], repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def line(name: str, seconds: float, baseline: float, target: float | None) -> str:
    verdict = "" if target is None else (" ok" if seconds < target else " OVER TARGET")
    goal = "" if target is None else f" (target < {target:g} s){verdict}"
    return f"{name:<34} {seconds:8.3f} s  = {seconds / baseline:6.1f} x baseline{goal}"


class AnsibleLeftOut:
    """Every server ready, every playbook a no-op: the bench measures the control plane."""

    def probe(self, name: str, server: Server) -> Pending | None:
        return None

    def converged_version(self, name: str, server: Server, timeout: float) -> str | None:
        return None

    def mark_converged(self, name: str, server: Server, version: str) -> None:
        return None

    def play(self, name: str, servers: dict[str, Server], extra_vars: object) -> PlaybookResult:
        return PlaybookResult(name)


def account_set(root: Path) -> list[str]:
    """`account set a00001 --memory ...` then its limits carried: the whole render (before
    issue 9) against the converge service's render of the one server it touches."""
    ctx = Context(root=root, today=TODAY)
    render_current(ctx)  # the fleet is rendered: each change writes only what it alters
    catalog = ctx.catalog()
    server = catalog.accounts["a00001"].server
    counts: dict[str, tuple[int, int]] = {}

    def whole() -> None:
        set_overrides(ctx, "a00001", {"memory": "3GiB"}, clear=False)
        current, written = render_current(ctx)
        counts["whole"] = (len(render_all(current, {}, TODAY)), len(written))

    def one_server() -> None:
        set_overrides(ctx, "a00001", {"memory": "4GiB"}, clear=False)
        result = converge(ctx, ctx.catalog(), Operation.LIMITS, lambda _: None,
                          accounts=["a00001"], runner=AnsibleLeftOut())  # fmt: skip
        rendered = render_all(catalog, {}, TODAY, servers=[server])
        counts["one"] = (len(rendered), len(result.rendered))

    whole_s, one_s = timed(whole), timed(one_server)
    render_whole = timed(lambda: render_all(catalog, {}, TODAY))
    render_one = timed(lambda: render_all(catalog, {}, TODAY, servers=[server]), repeat=3)

    def files(key: str) -> str:
        return f"{counts[key][0]:5d} files rendered, {counts[key][1]} written"

    return [
        line("baseline: account set, whole render", whole_s, whole_s, None) + f"  {files('whole')}",
        line("account set, converge one server", one_s, whole_s, None) + f"  {files('one')}",
        line("baseline: render every server", render_whole, render_whole, None),
        line("render the one server touched", render_one, render_whole, None)
        + f"  ({render_whole / render_one:.0f} x faster)",
    ]


def run() -> list[str]:
    out = [f"control plane: {ACCOUNTS} accounts on {SERVERS} servers"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "fleet"
        generate(root)
        files = sorted((root / "catalog").rglob("*.yml"))
        parse_only = timed(lambda: [yaml.safe_load(p.read_text()) for p in files])
        validate = timed(lambda: load_catalog(root))
        catalog = load_catalog(root)

        def render() -> None:
            write_rendered(root, render_all(catalog, {}, TODAY))

        render_s = timed(render)
        out.append(line("baseline: yaml.safe_load all files", parse_only, parse_only, None))
        out.append(line("validate (load + check)", validate, parse_only, None))
        out.append(line("render (inventory + tfvars)", render_s, parse_only, None))
        out.append(line("validate + render", validate + render_s, parse_only, 5.0))

        base = catalog.plans["base"].base

        def fewest() -> str:
            counts = Counter(a.server for a in catalog.accounts.values())
            return min(catalog.servers, key=lambda name: (counts[name], name))

        bare = timed(fewest, repeat=5)
        place = timed(lambda: choose_server(catalog, base, TODAY), repeat=3)
        out.append(line("baseline: count accounts, take min", bare, bare, None))
        out.append(line("placement of one more account", place, bare, 0.5))
        out += account_set(root)

    interpreter = timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), 5)
    bubble = str(Path(sys.executable).with_name("bubble"))
    startup = timed(lambda: subprocess.run([bubble, "--help"], check=True, capture_output=True), 5)
    out.append(line("baseline: python -c pass", interpreter, interpreter, None))
    out.append(line("bubble --help (start-up)", startup, interpreter, 0.3))
    return out


if __name__ == "__main__":
    print("\n".join(run()))
