"""Run every benchmark present (``make bench``): ``python -m benchmarks.run``.

Each benchmark module exposes ``main(argv: list[str] | None = None) -> int`` and writes its
own section of ``docs/benchmarks.md``; a missing module is skipped, a failing one does not
stop the others but makes the exit code non-zero.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import time

MODULES = (
    "benchmarks.probe",
    "benchmarks.judgment",
    "benchmarks.ingest",
    "benchmarks.coverage",
    "benchmarks.api",
    "benchmarks.evaluation",
    "benchmarks.storage",
    "benchmarks.outbox",
)


def main(argv: list[str] | None = None) -> int:
    """Run each benchmark with its default arguments; return the worst exit code."""
    del argv  # no options: each benchmark runs with its defaults
    worst = 0
    for name in MODULES:
        if importlib.util.find_spec(name) is None:
            print(f"== {name}: not present, skipped")
            continue
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        try:
            code = int(importlib.import_module(name).main([]))
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others
            print(f"== {name} failed: {exc!r}")
            code = 1
        print(f"== {name}: exit {code} in {time.perf_counter() - t0:.0f} s", flush=True)
        worst = max(worst, code)
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
