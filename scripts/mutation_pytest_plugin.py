"""pytest plugin loaded only by mutmut runs (``pytest_add_cli_args`` in pyproject's
``[tool.mutmut]``, see scripts/mutation.sh); the normal test suite never loads it.

* Hypothesis is made deterministic (``derandomize``) and stateless (no example database),
  so a mutant's verdict does not depend on the run's random seed or on examples that
  an earlier mutant saved; the deadline is off because mutmut's trampolines slow every
  mutated function down, and a deadline miss would count as a kill.
* mutmut forks every mutant's test run from a process that has already run the suite
  (to map tests to functions), so ``functools.lru_cache`` tables in ``exo.*`` arrive
  filled with results of the *unmutated* code. A mutant inside a cached function (or a
  function only reached through one) would then be hidden behind the cache and survive
  for no good reason. Every such cache is emptied at the start of each session.
"""

from __future__ import annotations

import sys
from typing import Any

from hypothesis import HealthCheck, settings

settings.register_profile(
    "mutation",
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)
settings.load_profile("mutation")


def _clear_exo_caches() -> int:
    cleared = 0
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "exo" or name.startswith("exo.")):
            continue
        for obj in list(vars(module).values()):
            if isinstance(obj, type):  # a cache class, not a cache
                continue
            clear = getattr(obj, "cache_clear", None)
            if callable(clear):
                clear()
                cleared += 1
    return cleared


def pytest_sessionstart(session: Any) -> None:
    _clear_exo_caches()


def pytest_collection_finish(session: Any) -> None:
    # Collection imports test modules, which may import (and at import time call) more of
    # exo; empty the caches again once everything is imported, before the first test.
    _clear_exo_caches()
