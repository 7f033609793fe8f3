"""Benchmarks: `make bench` (python -m tests.bench). Figures are printed beside a baseline
measured in the same run, as ratios, so they mean the same on a slower or busier machine."""
