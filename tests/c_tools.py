"""What the tests of the C kernel (examples/c-kernel) need to build it: ``make``, a C
compiler and Jansson's headers. Without them the tests are skipped, except in CI, which
must install them (``.ci/run``): there a missing tool is an error, not a skip."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "examples" / "c-kernel"

KERNEL_TOOLS = shutil.which("make") is not None and shutil.which("cc") is not None and Path(
    "/usr/include/jansson.h").exists()

if not KERNEL_TOOLS and os.environ.get("CI"):
    raise RuntimeError("CI must install make, cc and libjansson-dev (see .ci/run)")

needs_kernel_tools = pytest.mark.skipif(not KERNEL_TOOLS,
                                        reason="needs make, cc and libjansson-dev")
"""The mark of a test module that builds the C kernel."""
