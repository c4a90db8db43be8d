"""``exo spec CLAUSE`` and ``--links`` (exo.cli.links): a clause's text and what checks it,
read from the installed package."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from exo.cli import main
from exo.cli.links import (
    all_links,
    catalogue,
    clause_links,
    clause_text,
    field_clauses,
    op_clauses,
    witness_program,
)
from exo.kit.witnesses import shipped
from exo.spec.clauses import index, sections

ROOT = Path(__file__).resolve().parent.parent


def test_every_clause_has_its_text_and_links() -> None:
    ids = [c.id for c in index()]
    got = all_links()
    assert [c.id for c in got] == ids
    texts = sections()
    for c in got:
        assert c.text.startswith(f"## {c.id} {c.title}")
        assert texts[c.id].strip() in c.text  # the section as written, nothing else
    with pytest.raises(LookupError):
        clause_links("MEM-99")
    with pytest.raises(LookupError):
        clause_text("nope")


def test_mem2_links_name_what_checks_it() -> None:
    c = clause_links("MEM-2")
    assert c.ops == ("dealloc",)
    assert c.signature is not None and "`dealloc(env, cap) -> int`" in c.signature
    assert "exo.model.memory.dealloc" in c.homes
    names = {x.name for x in c.conjuncts}
    assert "dealloc/deallocated/owner" in names
    assert all(x.source == "exo.spec.declarative.memory" for x in c.conjuncts)
    obs = {x.name: x for x in c.obligations}
    assert {"post/dealloc/sound", "post/dealloc/complete", "step/dealloc/INV-5"} <= set(obs)
    assert obs["post/dealloc/sound"].expect == "proved"
    assert not any("alloc/" in n and "dealloc" not in n for n in obs)  # not alloc's
    assert {"dealloc/OK", "dealloc/requires/owner"} <= {x.id for x in c.cells}
    assert {"DeallocKeepsStlb", "DeallocLeavesGranteeTlb"} <= {x.name for x in c.catalogue}
    assert c.witnesses
    for w in c.witnesses:  # each witness really hits the cells it is listed for
        program = shipped()[w.index]
        assert set(w.cells) <= set(program.cells)
        assert w.fixture == f"witness-{w.index:02d}" and w.steps == len(program.steps)
    cfg, steps = witness_program(c.witnesses[0].index)
    assert cfg["n_envs"] >= 1 and any(name == "dealloc" for name, _ in steps)
    with pytest.raises(LookupError):
        witness_program(len(shipped()))


def test_obligation_verdicts_are_the_manifests() -> None:
    manifest = json.loads((ROOT / "proofs" / "manifest.json").read_text())["obligations"]
    seen = {ob.name: ob.expect for c in all_links() for ob in c.obligations}
    assert seen and all(manifest[n]["expect"] == v for n, v in seen.items())


def test_fields_and_operations_map_to_clauses() -> None:
    ops = op_clauses()
    assert ops["dealloc"] == "MEM-2" and ops["alloc"] == "MEM-1"
    fields = field_clauses()
    assert "MEM-2" in fields["owner"] and "MEM-1" in fields["owner"]
    assert all(cid in {c.id for c in index()} for cs in fields.values() for cid in cs)


def test_the_catalogue_index_is_current(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                       ) -> None:
    """kit/catalogue.json is what scripts/catalogue_index.py writes from the catalogues;
    a stale copy is reported."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import catalogue_index
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert catalogue_index.main(["x", "--check"]) == 0
    stale = tmp_path / "catalogue.json"
    stale.write_text(catalogue_index.text().replace('"MEM-2"', '"MEM-1"'), encoding="utf-8")
    monkeypatch.setattr(catalogue_index, "OUT", stale)
    monkeypatch.setattr(catalogue_index, "ROOT", tmp_path)
    assert catalogue_index.main(["x", "--check"]) == 1
    known = {c.id for c in index()}
    assert all(cid in known for cid, _ in catalogue())


def test_cli_prints_a_clause_and_its_links() -> None:
    run = CliRunner().invoke(main, ["spec", "MEM-2"])
    assert run.exit_code == 0, run.output
    assert run.output.startswith("## MEM-2 Dealloc")
    assert "dealloc(env, cap) -> int    [syscall]" in run.output
    assert "exo spec MEM-2 --links" in run.output
    run = CliRunner().invoke(main, ["spec", "mem-2", "--links"])
    assert run.exit_code == 0, run.output
    for part in ("Conjuncts of the declarative text: ", "post/dealloc/sound  proved",
                 "dealloc/requires/owner  [requires]", "witness-", "DeallocKeepsStlb (impl)"):
        assert part in run.output
    run = CliRunner().invoke(main, ["spec", "MEM-2", "--links", "--json"])
    data = json.loads(run.output)
    assert data["id"] == "MEM-2" and data["obligations"] and data["catalogue"]
    run = CliRunner().invoke(main, ["spec", "MEM", "--links"])
    assert run.exit_code == 2 and run.output.count("\n") == 1 and "one clause id" in run.output
    run = CliRunner().invoke(main, ["spec", "MEM-2", "--html", "x"])
    assert run.exit_code == 2 and "--html" in run.output


def test_cli_site_refuses_a_folder_it_did_not_write(tmp_path: Path) -> None:
    """``exo spec --html DIR`` on a folder holding something else: one line, exit 2, the
    folder untouched (the build itself is tests/test_site.py's)."""
    (tmp_path / "mine.txt").write_text("keep me", encoding="utf-8")
    run = CliRunner().invoke(main, ["spec", "--html", str(tmp_path)])
    assert run.exit_code == 2 and run.output.count("\n") == 1, run.output
    assert "not empty and holds no earlier site" in run.output
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


def test_a_clause_prints_from_an_installed_package(tmp_path: Path) -> None:
    """``exo spec MEM-2`` from the wheel's files alone, run outside the checkout."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    str(tmp_path / "wheel"), str(ROOT)], check=True, capture_output=True)
    site = tmp_path / "site"
    with zipfile.ZipFile(next((tmp_path / "wheel").glob("*.whl"))) as z:
        z.extractall(site)
    out = subprocess.run(
        [sys.executable, "-P", "-c",
         "import exo, sys; print(exo.__file__, file=sys.stderr); "
         "from exo.cli import main; main(['spec', 'MEM-2', '--links'])"],
        cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stderr.startswith(str(site))  # the unpacked wheel's exo, not the checkout's
    assert out.stdout.startswith("## MEM-2 Dealloc: give an owned page back")
    assert "DeallocKeepsStlb" in out.stdout and "post/dealloc/sound  proved" in out.stdout
