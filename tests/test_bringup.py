"""exo check --ops (issue 11): an implementation brought up a few operations at a time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from exo.interface import OPERATIONS, Config
from exo.kit.bringup import changed_by, fields_for, parse_ops
from exo.kit.check import run_check
from exo.model.state import SCALARS, layout
from tests.memonly import MemOnly, MemOnlyLeaky

EXO = str(Path(sys.executable).parent / "exo")
MEMORY = frozenset({"env_create", "alloc", "dealloc", "grant"})


def test_ops_names_clause_ids_and_prefixes() -> None:
    assert parse_ops("alloc, dealloc") == {"alloc", "dealloc"}
    assert parse_ops("MEM-1,ENV-1") == {"alloc", "env_create"}
    assert parse_ops("NET") == {"filter_install", "filter_remove", "packet_arrive",
                                "packet_take"}
    for bad in ("allok", "MEM-9", "", " , "):
        with pytest.raises(ValueError, match="--ops"):
            parse_ops(bad)


def test_the_table_covers_every_field_and_names_real_operations() -> None:
    table = changed_by()
    assert set(table) == set(SCALARS) | set(layout(Config()))
    assert all(ops <= OPERATIONS.keys() for ops in table.values())
    assert {"owner", "gen", "rights", "env_alive"} <= fields_for(MEMORY)
    assert "tlb_valid" not in fields_for(frozenset({"alloc", "grant", "env_create"}))


def test_a_memory_only_kernel_conforms_on_its_operations() -> None:
    report = run_check(MemOnly, Config(n_envs=3, n_pages=3), steps=30, examples=80,
                       seed=4, ops=MEMORY)
    assert report.passed, report.text()
    assert report.coverage is not None
    hit = report.coverage.counts
    for cell in ("alloc/OK", "dealloc/OK", "grant/OK", "env_create/IN_USE"):
        assert hit.get(cell, 0) > 0, cell
    assert all(c.split("/")[0] in MEMORY for c in hit if not c.startswith("case/"))


def test_without_ops_the_same_kernel_is_not_conformant() -> None:
    report = run_check(MemOnly, Config(n_envs=3, n_pages=3), steps=30, examples=40, seed=4)
    assert not report.passed


def test_a_memory_bug_is_still_caught_with_ops() -> None:
    report = run_check(MemOnlyLeaky, Config(n_envs=3, n_pages=3), steps=30, examples=200,
                       seed=4, ops=MEMORY)
    assert not report.passed and "rights" in report.error, report.text()


def test_cli_ops(tmp_path: Path) -> None:
    root = str(Path(__file__).parent.parent)
    proc = subprocess.run([EXO, "check", "--impl", "tests.memonly:MemOnly", "--ops",
                           "ENV-1,MEM-1,MEM-2,MEM-3", "--config", "n_envs=3,n_pages=3",
                           "--examples", "40", "--steps", "20", "--seed", "1"],
                          cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    bad = subprocess.run([EXO, "check", "--ops", "allok"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--ops: 'allok'" in bad.stderr


def test_boot_gives_no_capability_when_alloc_is_not_made() -> None:
    """With ``--ops`` that leave out ``alloc`` (ENV,NET), the two_envs_mapped scenario's
    allocations are not made, and no value of theirs enters the capability bundle: a
    later rule on a capability got the int 0 and raised in the kit itself
    (``'int' object has no attribute 'page'``)."""
    from exo.impl import Kernel
    from exo.interface import Cap
    from exo.kit.machine import lockstep_machine

    machine: Any = lockstep_machine(Kernel, Config(), parse_ops("ENV,NET"))
    assert machine.boot(machine(), scenario="two_envs_mapped", swarm=()).values == ()
    full: Any = lockstep_machine(Kernel, Config())
    caps = full.boot(full(), scenario="two_envs_mapped", swarm=()).values
    assert len(caps) == 2 and all(type(c) is Cap for c in caps)
