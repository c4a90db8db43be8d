"""Thin entry point: the implementation-vs-model benchmark lives in the package as
``exo.bench`` (so ``exo bench`` works wherever ``exo`` is installed).

    python -m benchmarks.impl [--repeat 5] [--quick] [--json out.json] [--plot demux.png]
"""

from __future__ import annotations

from exo.bench import main

if __name__ == "__main__":
    raise SystemExit(main())
