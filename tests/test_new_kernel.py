"""``exo new-kernel`` (exo.kit.skeleton) and its guide, "Write your own kernel".

The kernels as written pass stage 1 of the guide (``--ops ENV``), in Python and in C over
the wire, and the Python one fails stage 2 (the check can fail). The guide's stages are
read from GUIDE.md itself: each ``--ops`` set parses, names exactly the operations the
stages so far add, and passes with the shipped full kernel ``exo.impl:Kernel``; the sets
grow to every operation. Budgets are small: the kit's witness sweep reaches every
reachable cell of a stage anyway.
"""

from __future__ import annotations

import re
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest
from click.testing import CliRunner

from exo.cli.main import main
from exo.interface import OPERATIONS
from exo.kit.bringup import TRAP_OP, parse_ops
from exo.kit.skeleton import (
    GUIDE,
    LANGUAGES,
    SkeletonError,
    Stage,
    guide_text,
    stages,
    write_skeleton,
)
from tests.c_tools import ROOT, needs_kernel_tools

BUDGET = ("--steps", "3", "--examples", "3", "--seed", "1")
EVERYTHING = frozenset(OPERATIONS) | {TRAP_OP}


def _exo(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``exo ARGS`` run from ``cwd``, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "exo.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False)


def _new(tmp_path: Path, lang: str) -> Path:
    directory = tmp_path / f"k-{lang}"
    res = CliRunner().invoke(main, ["new-kernel", str(directory), "--lang", lang])
    assert res.exit_code == 0, res.output
    assert f"--ops {stages()[0].ops}" in res.output
    return directory


def test_stage_1_is_env() -> None:
    assert stages()[0].ops == "ENV"


def test_python_skeleton_passes_stage_1_and_fails_stage_2(tmp_path: Path) -> None:
    directory = _new(tmp_path, "python")
    assert sorted(p.name for p in directory.iterdir()) == ["GUIDE.md", "mykernel.py"]
    assert (directory / GUIDE).read_text(encoding="utf-8") == guide_text()
    first, second = stages()[:2]
    assert first.ops is not None and second.ops is not None
    passed = _exo(directory, "check", "--impl", "mykernel:Kernel", "--ops", first.ops, *BUDGET)
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-3000:]
    assert "conformant" in passed.stdout
    failed = _exo(directory, "check", "--impl", "mykernel:Kernel", "--ops", second.ops,
                  *BUDGET)
    assert failed.returncode == 1, failed.stdout[-3000:] + failed.stderr[-3000:]
    assert "not written yet" in failed.stdout


@needs_kernel_tools
def test_c_skeleton_builds_and_passes_stage_1(tmp_path: Path) -> None:
    directory = _new(tmp_path, "c")
    assert sorted(p.name for p in directory.iterdir()) == ["GUIDE.md", "Makefile", "kernel.c"]
    build = subprocess.run(["make", "-C", str(directory), "CFLAGS=-std=c11 -O2 -Wall -Wextra "
                            "-Wpedantic -Werror"], capture_output=True, text=True,
                           timeout=120, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    ops = stages()[0].ops
    assert ops is not None
    passed = _exo(directory, "check", "--impl-cmd", "./kernel", "--ops", ops, *BUDGET)
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-3000:]


def _set(ops: str | None) -> frozenset[str]:
    return EVERYTHING if ops is None else parse_ops(ops)


def test_guide_stages_grow_to_every_operation_and_match_their_commands() -> None:
    text = guide_text()
    rows = stages(text)
    assert [s.number for s in rows] == list(range(1, len(rows) + 1))
    sets = [_set(s.ops) for s in rows]
    for before, after in pairwise(sets[:-1]):
        assert before < after
    # the last stage, the full kernel, is checked without --ops: every operation and the
    # trap layer (as the stage before it), and the views
    assert rows[-1].ops is None and sets[-2] == sets[-1] == EVERYTHING
    # the "adds" column names, stage by stage, exactly the operations the --ops set adds
    added: set[str] = set()
    for stage, chosen in zip(rows, sets, strict=True):
        added |= set(re.findall(r"`(\w+)", stage.adds)) & OPERATIONS.keys()
        assert added == chosen - {TRAP_OP}, stage
    # every command of the guide checks one stage's set, and every stage has its commands
    commands = re.findall(r"^exo check (--impl(?:-cmd)? \S+)(.*)$", text, re.M)
    used: dict[str, set[str]] = {}
    for impl, rest in commands:
        m = re.search(r"--ops (\S+)", rest)
        used.setdefault(m.group(1) if m else "", set()).add(impl.split()[0])
    assert set(used) == {s.ops or "" for s in rows}
    assert all(kinds == {"--impl", "--impl-cmd"} for kinds in used.values()), used


@pytest.mark.parametrize("stage", stages(), ids=lambda s: f"stage{s.number}")
def test_guide_stage_passes_with_the_full_kernel(stage: Stage) -> None:
    ops = stage.ops
    args = ["check", "--impl", "exo.impl:Kernel", "--steps", "1", "--examples", "1",
            "--seed", "1"]
    res = CliRunner().invoke(main, args + ([] if ops is None else ["--ops", ops]))
    assert res.exit_code == 0, res.output[-3000:]


def test_templates_are_package_data() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    line = next(ln for ln in text.splitlines() if ln.startswith('"exo.kit" = ['))
    for lang, names in LANGUAGES.items():
        for name in names:
            assert f'"skeletons/{lang}/{name}"' in line
    assert f'"skeletons/{GUIDE}"' in line


@pytest.mark.parametrize("args, says", [
    (["--lang", "go"], "'go' is not one of python, c"),
    (["--lang", "c"], "is not empty"),
])
def test_refusals_are_one_line_exit_2(tmp_path: Path, args: list[str], says: str) -> None:
    (tmp_path / "taken.txt").write_text("mine\n")
    res = CliRunner().invoke(main, ["new-kernel", str(tmp_path), *args])
    assert res.exit_code == 2
    assert res.stdout == ""
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("exo: ")
    assert says in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.txt"]


def test_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("")
    with pytest.raises(SkeletonError, match="is not a folder"):
        write_skeleton(target, "python")
    res = CliRunner().invoke(main, ["new-kernel", str(target)])
    assert res.exit_code == 2 and res.stderr.startswith("exo: ")


def test_an_empty_folder_is_used(tmp_path: Path) -> None:
    written = write_skeleton(tmp_path, "python")
    assert written.directory == tmp_path
    assert [p.name for p in written.files] == ["mykernel.py", "GUIDE.md"]
    assert written.first_command.endswith("exo check --impl mykernel:Kernel --ops ENV")
