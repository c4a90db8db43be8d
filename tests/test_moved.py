"""Code written against the module names of before the layout change (issue 21) still runs.

``exo.testing``, ``exo.protocol``, ``exo.lockstep``… moved into ``exo.kit``, ``exo.wire``
and ``exo.cli``; ``exo._moved`` keeps the old names importable with a
``DeprecationWarning``, each name the very object of its new home. An outside kernel's
test suite and a reproduction file written by the old ``write_reproduction`` are the
users this protects.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from exo import _moved

PUBLIC_BEFORE: dict[str, tuple[str, ...]] = {
    # the names each old module's __all__ (or its documented use) offered
    "exo.testing": ("CheckReport", "ModelImplementation", "Packet", "Program", "frames",
                    "load_factory", "lockstep_machine", "run_check", "CMD_PREFIX",
                    "observation", "NAMED_PROGRAMS", "LockstepMachine"),
    "exo.lockstep": ("KINDS", "OUTCOME_OPS", "Failure", "Lockstep", "Step", "describe",
                     "minimize", "replay", "show_result", "write_reproduction"),
    "exo.conformance": ("Implementation", "abstract", "canonical", "differences",
                        "malformed", "same_outcome", "same_result"),
    "exo.coverage": ("Cell", "Coverage", "CASES", "UNREACHABLE", "all_cells", "cells_of",
                     "spec_cells"),
    "exo.protocol": ("VERSION", "STEP_TIMEOUT", "OUTCOME_OPS", "WireError", "WireKernel",
                     "Wire", "serve", "encode", "decode", "encode_int", "decode_int",
                     "encode_result", "decode_result", "encode_state", "decode_state",
                     "goodbye", "request", "config_json"),
    "exo.fixtures": ("build", "run", "run_one", "load", "junit", "FixtureError"),
    "exo.kitgen": ("GROUPS", "KIT_CONFIGS", "PREFIX_GROUP", "LibosRules", "on"),
    "exo.bringup": ("parse_ops", "fields_for", "changed_by"),
    "exo.witnesses": ("Witness", "shipped", "sweep", "encode", "decode"),
    "exo.lastfailure": ("LastFailure", "load", "save", "database"),
    "exo.explore": ("random_walk", "two_running_envs", "PROGRAMS"),
    "exo.kit_exos": ("WORKLOADS", "ExosWorkload", "run_service", "SERVICES"),
    "exo.bpf_samples": ("SAMPLES",),
    "exo.console": ("console", "print_table", "progress"),
    "exo.verification": ("check_spec_index", "check_proofs"),
    "exo.bench": ("run", "table", "port_filter", "udp_packet"),
    "exo.bench_wire": ("rows", "STAGES"),
}


def _fresh(name: str) -> object:
    sys.modules.pop(name, None)
    with pytest.warns(DeprecationWarning, match=f"{name} has moved"):
        return importlib.import_module(name)


@pytest.mark.parametrize("old", sorted(_moved.MOVED))
def test_old_module_imports_with_a_warning_and_the_same_objects(old: str) -> None:
    module = _fresh(old)
    homes = [importlib.import_module(h) for h in _moved.MOVED[old]]
    for name in PUBLIC_BEFORE[old]:
        value = getattr(module, name)
        first = next(h for h in homes if name in vars(h))
        assert value is vars(first)[name], f"{old}.{name} is not {first.__name__}.{name}"


def test_every_old_module_is_listed() -> None:
    assert set(PUBLIC_BEFORE) == set(_moved.MOVED)


def test_new_names_import_without_a_warning() -> None:
    code = textwrap.dedent("""
        import warnings
        warnings.simplefilter("error")
        import exo.kit, exo.wire, exo.cli
        from exo.kit import run_check, Implementation, replay, write_reproduction
        from exo.wire import WireKernel, load_factory, serve
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_a_reproduction_file_of_the_old_writer_still_runs(tmp_path: Path) -> None:
    """The header the old ``exo.lockstep.write_reproduction`` wrote, with its imports
    (``exo.lockstep.replay``, ``exo.testing.load_factory``): it still fails on a broken
    kernel and passes on the bundled one."""
    template = textwrap.dedent('''
        import pytest

        from exo.interface import Cap, Config  # noqa: F401
        from exo.lockstep import replay
        from exo.testing import load_factory

        IMPL = {impl!r}
        CFG = Config(n_envs=2, n_pages=2)
        FIELDS = None
        STEPS = [("env_create", (0, 0)), ("alloc", (0, 1)), ("dealloc", (0, Cap(1, 0, 3)))]


        def test_reproduction() -> None:
            failure = replay(load_factory(IMPL), CFG, STEPS, FIELDS)
            if failure is not None:
                pytest.fail(f"step {{failure.index}}: {{failure.message}}", pytrace=False)
    ''')
    (tmp_path / "broken.py").write_text(textwrap.dedent("""
        from exo.impl import Kernel
        from exo.interface import Result, Status

        class Broken(Kernel):
            def apply(self, name, *args):
                if name == "dealloc":
                    return Result(Status.OK, 0)
                return super().apply(name, *args)
    """))
    for impl, code in (("exo.impl:Kernel", 0), ("broken:Broken", 1)):
        test = tmp_path / f"test_old_{code}.py"
        test.write_text(template.format(impl=impl))
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "-W", "ignore::DeprecationWarning", str(test)],
            cwd=tmp_path, capture_output=True, text=True, timeout=300,
            env={**os.environ, "PYTHONPATH": str(tmp_path)})
        assert proc.returncode == code, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_the_finder_leaves_other_names_alone() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module("exo.no_such_module")
