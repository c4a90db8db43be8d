"""The C kernel of examples/c-kernel, the first kernel outside Python: it builds, it
passes the kit over the wire, every operation, in the declarative filter profile (it has
no solver: ``exo check --filters declarative``) and every fixture of that profile, its planted bug
(``make BROKEN=1``) is caught, and its timing mode answers.

Skipped where no C compiler or Jansson is installed, except in CI (``CI`` set), where a
missing toolchain is a failure: .ci/run installs it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from exo.cli.bench_wire import C_FILTERS
from exo.interface import Config, Status
from exo.kit.check import run_check
from exo.wire import fixtures
from exo.wire.client import WireKernel
from tests.c_tools import SRC, needs_kernel_tools

pytestmark = needs_kernel_tools


def _build(out: Path, broken: bool) -> Path:
    name = "exo-c-kernel-broken" if broken else "exo-c-kernel"
    target = out / name
    subprocess.run(["make", "-s", "-C", str(SRC), f"TARGET={target}",
                    *(["BROKEN=1"] if broken else [])], check=True)
    assert target.exists()
    return target


@pytest.fixture(scope="module")
def kernels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("c-kernel")
    return {"good": _build(out, False), "broken": _build(out, True)}


def test_the_c_kernel_passes_the_kit_over_the_wire(kernels: dict[str, Path]) -> None:
    report = run_check(WireKernel.factory(str(kernels["good"])), None, steps=30,
                       examples=40, seed=3, filters=C_FILTERS)
    WireKernel.close_all()
    assert report.passed, report.error
    assert report.complete, report.missing


def test_the_broken_build_is_caught_with_a_shrunk_program(kernels: dict[str, Path]
                                                          ) -> None:
    report = run_check(WireKernel.factory(str(kernels["broken"])), None, steps=30,
                       examples=40, seed=3, filters=C_FILTERS)
    WireKernel.close_all()
    assert not report.passed
    assert "tlb_" in (report.error or "")
    assert report.program  # the shrunk failing program


def test_the_c_kernel_passes_every_fixture_of_its_profile(kernels: dict[str, Path],
                                                          tmp_path: Path) -> None:
    index = fixtures.build(tmp_path, seed=0, extra=5, generated=6, filters=C_FILTERS)
    outcomes = fixtures.run(tmp_path, WireKernel.factory(str(kernels["good"])))
    broken = fixtures.run(tmp_path, WireKernel.factory(str(kernels["broken"])))
    WireKernel.close_all()
    assert len(outcomes) == len(index["fixtures"])
    assert all(o.passed for o in outcomes), [o.detail for o in outcomes if not o.passed][:3]
    assert any(not o.passed for o in broken)


def test_integers_beyond_64_bits_are_held_exactly(kernels: dict[str, Path]) -> None:
    """CPU-6: a register holds any integer; a store and a load carry it through memory,
    and a revocation deadline past 2^64 is kept and reported (WIRE-6's {"int": ...})."""
    k = WireKernel([str(kernels["good"])], Config(n_envs=2, n_slices=2, slice_ticks=5))
    steps: list[tuple[str, tuple[Any, ...]]] = [
        ("env_create", (0, 0)), ("alloc", (0, 1)), ("slice_alloc", (0, 1)),
        ("set_interrupt_context", (0, 0, 256)), ("timer_tick", ())]
    for name, args in steps:
        assert k.apply(name, *args).status == Status.OK, name
    cap = k.apply("alloc", 0, 2).value
    big = 2**70 + 1
    for name, args in [("tlbwr", (0, 7, cap, True)), ("set_reg", (1, -big)),
                       ("store", (7, 3, 1)), ("load", (7, 3, 2)),
                       ("revoke_request", (0, 0, 1, 2**64))]:
        assert k.apply(name, *args).status == Status.OK, name
    seen = k.observe()
    WireKernel.close_all()
    assert seen["regs"][1] == seen["regs"][2] == -big
    assert seen["word"][(2, 3)] == -big
    assert seen["rev_deadline"][0] == 2**64


def test_the_timing_mode_prints_its_medians(kernels: dict[str, Path]) -> None:
    out = subprocess.run([str(kernels["good"]), "--bench", "--quick"], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    got = json.loads(out)
    assert all(got[k] > 0 for k in ("tlb_hit_ns", "stlb_refill_ns", "dealloc8_ns",
                                    "demux10_ns", "demux100_ns", "demux1000_ns"))
    broken = subprocess.run([str(kernels["broken"]), "--bench", "--quick"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert broken.returncode == 1 and "dealloc left bindings" in broken.stderr
