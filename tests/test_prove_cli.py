"""``exo prove`` and ``exo replay``: the runner, the manifest, JUnit/JSON reports, and
counterexamples a user can read and replay."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

import exo.model.memory as memory
from exo.cli import main
from exo.proofs.runner import default_manifest_path, load_manifest, select


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_prove_selection_reports_json_and_valid_junit(runner: CliRunner, tmp_path: Path) -> None:
    js, xml = tmp_path / "p.json", tmp_path / "p.xml"
    res = runner.invoke(main, ["prove", "-j", "1", "-k", "step/alloc", "--json", str(js),
                               "--junit", str(xml)])
    assert res.exit_code == 0, res.output
    data = json.loads(js.read_text())
    names = [o["name"] for o in data["obligations"]]
    assert names and all("step/alloc" in n for n in names) and data["passed"] is True
    assert all(o["verdict"] == "proved" and o["rlimit"] > 0 for o in data["obligations"])
    suite = ET.parse(xml).getroot()
    assert suite.tag == "testsuite" and suite.get("failures") == "0"
    assert int(suite.get("tests", "0")) == len(names) == len(suite.findall("testcase"))
    assert "obligation" in res.output and "proved" in res.output


def test_prove_glob_pattern(runner: CliRunner) -> None:
    assert {ob.name for ob in select("thm/THM-3/*")} == {"thm/THM-3/scall", "thm/THM-3/acall"}
    res = runner.invoke(main, ["prove", "-j", "1", "-k", "thm/THM-3/*"])
    assert res.exit_code == 0 and "2/2 proved" in res.output


def test_prove_unknown_pattern_is_exit_2(runner: CliRunner) -> None:
    res = runner.invoke(main, ["prove", "-k", "no/such/obligation"])
    assert res.exit_code == 2 and res.output.count("\n") == 1


def test_manifest_covers_exactly_the_obligations() -> None:
    manifest = load_manifest(default_manifest_path())
    assert set(manifest.entries) == {ob.name for ob in select(None)}
    assert all(e["expect"] == "proved" for e in manifest.entries.values())


def test_manifest_difference_fails_the_run(runner: CliRunner, tmp_path: Path) -> None:
    stale = tmp_path / "m.json"
    stale.write_text(json.dumps({"obligations": {
        "step/gm_clear/INV-1": {"expect": "counterexample", "rlimit": 2_000_000}}}))
    res = runner.invoke(main, ["prove", "-j", "1", "-k", "step/gm_clear/INV-1",
                               "--manifest", str(stale)])
    assert res.exit_code == 1
    assert "expected counterexample, got proved" in res.output


def test_unreadable_manifest_is_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "m.json"
    bad.write_text("{not json")
    res = runner.invoke(main, ["prove", "-k", "init/INV-1", "--manifest", str(bad)])
    assert res.exit_code == 2 and "unreadable manifest" in res.output


def test_counterexample_is_printed_saved_and_replayable(
        runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hand-broken Dealloc (no binding broken) makes exo prove fail with a readable,
    saved counterexample; exo replay confirms it on the broken model (exit 1) and shows it
    gone on the real one (exit 0)."""
    cex_dir = tmp_path / "cex"
    with monkeypatch.context() as m:
        m.setattr(memory, "revalidate", lambda s: s)
        res = runner.invoke(main, ["prove", "-j", "1", "-k", "step/dealloc/INV-1",
                                   "--cex-dir", str(cex_dir)])
        assert res.exit_code == 1
        assert "counterexample" in res.output and "INV-1 violated at slot=" in res.output
        assert "pre-state" in res.output and "step: dealloc(" in res.output
        saved = cex_dir / "step__dealloc__INV-1.json"
        assert saved.exists()
        again = runner.invoke(main, ["replay", str(saved)])
        assert again.exit_code == 1 and "VIOLATED" in again.output
    fixed = runner.invoke(main, ["replay", str(saved)])
    assert fixed.exit_code == 0 and "holds" in fixed.output


@pytest.mark.parametrize("content", ["", "{}", "[1, 2]", '{"format": "other"}'])
def test_replay_bad_file_is_one_line_exit_2(runner: CliRunner, tmp_path: Path,
                                            content: str) -> None:
    f = tmp_path / "c.json"
    f.write_text(content)
    res = runner.invoke(main, ["replay", str(f)])
    assert res.exit_code == 2 and res.output.count("\n") == 1


def test_replay_missing_file_is_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    res = runner.invoke(main, ["replay", str(tmp_path / "nope.json")])
    assert res.exit_code == 2 and "cannot read" in res.output


def test_update_manifest_refuses_a_selection(runner: CliRunner) -> None:
    res = runner.invoke(main, ["prove", "-k", "init", "--update-manifest"])
    assert res.exit_code == 2 and "drop -k" in res.output
