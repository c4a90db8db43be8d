"""The ``exo`` command: help with examples, exit codes CI can use, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from exo.cli import main


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_help_lists_commands_and_examples(runner: CliRunner) -> None:
    res = runner.invoke(main, ["--help"])
    assert res.exit_code == 0
    for word in ("verify", "spec", "Examples", "exo verify"):
        assert word in res.output


@pytest.mark.parametrize("cmd", ["verify", "spec"])
def test_each_command_has_help_with_examples(runner: CliRunner, cmd: str) -> None:
    res = runner.invoke(main, [cmd, "--help"])
    assert res.exit_code == 0 and "Examples" in res.output


def _commands() -> list[list[str]]:
    out: list[list[str]] = []
    for name, cmd in main.commands.items():
        out.append([name])
        out += [[name, sub] for sub in getattr(cmd, "commands", {})]
    return out


@pytest.mark.parametrize("path", _commands(), ids=" ".join)
def test_every_help_shows_its_examples_whole(runner: CliRunner, path: list[str]) -> None:
    """No control character in a help text, and every example line under "Examples:"
    is a whole command: quotes balanced, nothing broken across lines (issue 23: exo
    serve's example was cut inside a quoted string)."""
    res = runner.invoke(main, [*path, "--help"], terminal_width=80)
    assert res.exit_code == 0, res.output
    assert not any(ord(ch) < 32 and ch not in "\n" for ch in res.output), repr(res.output)
    text = res.output.split("Examples:", 1)
    if len(text) == 1:
        return
    for line in text[1].split("\n\n", 1)[0].splitlines():
        if line.strip().startswith("exo") or "| exo" in line:
            assert line.count("'") % 2 == 0 and line.count('"') % 2 == 0, line


def test_spec_lists_clauses_with_their_homes(runner: CliRunner) -> None:
    res = runner.invoke(main, ["spec", "MEM", "--json"])
    assert res.exit_code == 0
    rows = json.loads(res.output)
    ids = [r["id"] for r in rows]
    assert "MEM-1" in ids and all(i.startswith("MEM") for i in ids)
    alloc = next(r for r in rows if r["id"] == "MEM-1")
    assert "exo.model.memory.alloc" in alloc["model"]
    assert alloc["file"] == "spec/memory.md"


def test_spec_table(runner: CliRunner) -> None:
    res = runner.invoke(main, ["spec"])
    assert res.exit_code == 0 and "TLB-1" in res.output and "INV-1" in res.output


def test_spec_unknown_prefix_is_a_usage_error(runner: CliRunner) -> None:
    res = runner.invoke(main, ["spec", "NOPE"])
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0 and "NOPE" in res.output


def test_verify_passes_and_writes_json(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "v.json"
    res = runner.invoke(main, ["verify", "--steps", "200", "--no-proofs", "--json", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["passed"] is True
    names = [c["name"] for c in data["checks"]]
    assert "spec index" in names and "boot state (INV-0)" in names and "symbolic run" in names
    assert "generated demux (FLT-8)" in names


def test_verify_fails_with_exit_1_when_a_check_fails(runner: CliRunner,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import exo.cli.verification as v

    monkeypatch.setattr(v, "check_boot_states", lambda: (False, "INV-6 violated"))
    res = runner.invoke(main, ["verify", "--steps", "10", "--no-proofs"])
    assert res.exit_code == 1
    assert "INV-6 violated" in res.output and "FAILED" in res.output


def test_verify_reports_a_wrong_generated_demux(runner: CliRunner,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """FLT-8 in exo verify: a generator that checks one byte too few is refuted."""
    import exo.impl.demux as demux

    real = demux._field_code

    def short(key: Any, var: str, ind: str) -> tuple[list[str], str, str]:
        lines, inner, v = real(key, var, ind)
        return [ln.replace("if n >= 14:", "if n >= 13:") for ln in lines], inner, v

    monkeypatch.setattr(demux, "_field_code", short)
    res = runner.invoke(main, ["verify", "--steps", "10", "--no-proofs"])
    assert res.exit_code == 1
    assert "FLT-8: generated demux gives" in res.output and "IndexError" in res.output


def test_verify_reports_an_invariant_broken_by_a_model_bug(
        runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real bug in the model (Dealloc forgets to break bindings) turns the walk red."""
    import exo.model.memory as memory

    monkeypatch.setattr(memory, "revalidate", lambda s: s)
    res = runner.invoke(main, ["verify", "--steps", "3000", "--no-proofs"])
    assert res.exit_code == 1
    assert "invariant violated" in res.output


def test_verify_bad_option_is_exit_2(runner: CliRunner) -> None:
    res = runner.invoke(main, ["verify", "--steps", "-5"])
    assert res.exit_code == 2


def test_verify_unwritable_json_is_one_line_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    res = runner.invoke(main, ["verify", "--steps", "5", "--no-proofs",
                               "--json", str(tmp_path / "missing" / "v.json")])
    assert res.exit_code == 2
    assert "cannot write" in res.output
