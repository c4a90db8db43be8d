"""Thin entry point: the implementation-vs-model benchmark is ``exo bench`` (its rows
are measured by ``exo.cli.bench``, so it works wherever ``exo`` is installed).

    python -m benchmarks.impl [--repeat 5] [--quick] [--json out.json] [--plot demux.png]
"""

from __future__ import annotations

import sys

from exo.cli import main

if __name__ == "__main__":
    main(["bench", *sys.argv[1:]])
