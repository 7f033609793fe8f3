"""Hooks for every suite: the timings summary (tests/support/timings.py)."""

pytest_plugins = ["tests.support.timings"]
