"""The command line (``exo``): the commands, the console, verify's runner and the
benchmarks. Nothing below it imports it: it stands on the kit (``exo.kit``), the wire
(``exo.wire``), the proofs and the model.

``main`` is the ``exo`` entry point (``exo.cli.main``); each command lives in a module of
its own (``cmd_spec``, ``cmd_verify``, ``cmd_prove``, ``cmd_filter``, ``cmd_check``,
``cmd_fixtures``, ``cmd_serve``, ``cmd_bench``) over ``common``; ``console`` prints
tables and progress; ``verification`` runs ``exo verify``'s checks; ``bench`` and
``bench_wire`` measure the ratios ``exo bench`` prints.
"""

from exo.cli.main import main

__all__ = ["main"]
