"""Run every benchmark whose parts are present; print their figures."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = (
    "bench_control_plane",
    "bench_lab",
    "bench_migration",
    "bench_agent",
    "bench_scaler",
    "bench_monitor",
    "bench_panel",
    "bench_stress",
    "bench_backup",
)


def main() -> int:
    for name in BENCHMARKS:
        try:
            module = importlib.import_module(f"tests.bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tests.bench.{name}":
                raise
            continue
        print(f"== {name}", flush=True)
        for text in module.run():
            print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
