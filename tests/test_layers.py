"""The layer order of the architecture: imports only run down it, and never in a cycle.

    floor (exo, exo.logic, exo.interface) <- model, impl (siblings) <- spec <- proofs, kit
    <- wire <- cli

(proofs and kit side by side: neither imports the other), with the filter facade exo.filters
(the model's filter tools, which the declarative spec reads), the library OS exo.libos and
the compatibility shim exo._moved placed as ALLOWED says, and the named exceptions
(EXCEPTIONS). Every import found by
`ast` in the source text is an arrow, lazy ones and those under TYPE_CHECKING included. An arrow
back up the table, an import cycle, or a module no layer claims fails. The checker is pure
functions over {module name: source text}, so the last tests plant faults and see them caught.
"""

from __future__ import annotations

import ast
import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parents[1]

# Which layers each layer may import (besides itself).
ALLOWED: dict[str, frozenset[str]] = {
    "floor": frozenset(),
    "model": frozenset({"floor"}),
    "impl": frozenset({"floor"}),
    "facade": frozenset({"floor", "model"}),
    "spec": frozenset({"floor", "model", "facade"}),
    "proofs": frozenset({"floor", "model", "facade", "spec", "impl"}),
    "libos": frozenset({"floor", "model", "impl"}),
    "kit": frozenset({"floor", "model", "facade", "impl", "spec", "libos"}),
    "wire": frozenset({"floor", "model", "facade", "impl", "spec", "libos", "kit"}),
    "cli": frozenset({"floor", "model", "impl", "spec", "proofs", "facade", "libos", "kit",
                      "wire"}),
}
ALLOWED["compat"] = frozenset(ALLOWED)  # the shim may import every layer...
COMPAT_IMPORTERS = frozenset({"exo"})  # ...and only the floor package (which installs it) it

# The layer of a module is that of its longest matching prefix; the root `exo` matches only
# itself, so a new folder (exo.newthing) has no layer until it is placed here.
LAYER_OF: dict[str, str] = {
    "exo": "floor", "exo.logic": "floor", "exo.interface": "floor", "exo.limits": "floor",
    "exo.model": "model", "exo.impl": "impl", "exo.spec": "spec", "exo.proofs": "proofs",
    "exo.filters": "facade", "exo._moved": "compat", "exo.libos": "libos",
    "exo.kit": "kit", "exo.wire": "wire", "exo.cli": "cli",
}

# The named exceptions: (importer, imported) -> why: the filter checks that run at
# filter-install time, not only in proofs (the verifier, NET-1's pair check of FLT-9 and
# FLT-6, the Z3 check of a generated demux, FLT-8).
EXCEPTIONS: dict[tuple[str, str], str] = {
    **{(src, dst): "the packet-filter verifier adapter: the only place exo.impl touches "
       "exo.model and exo.proofs, until filters are decidable without Z3"
       for src, dst in [("exo.impl.filtercheck", "exo.model.filters"),
                        ("exo.impl.filtercheck", "exo.model.dfilter"),
                        ("exo.impl.filtercheck", "exo.proofs.demux"),
                        ("exo.impl.filtercheck", "exo.proofs.demux_merge")]},
    ("exo.filters", "exo.proofs.demux"): "the public filter facade re-exports the FLT-8 "
    "check of a generated demux (check_source) beside the model's filter tools",
}

# Package -> folder; pyproject's [tool.setuptools.package-dir] is read on top of these.
FOLDERS: dict[str, str] = {"exo": "exo", **{f"exo.{d}": d for d in (
    "model", "impl", "spec", "proofs", "libos", "kit", "wire", "cli")}}


class Arrow(NamedTuple):
    source: str
    target: str
    line: int


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in LAYER_OF and (prefix != "exo" or module == "exo"):
            return LAYER_OF[prefix]
    return None


def discover(repo: Path = REPO) -> dict[str, list[Path]]:
    """Module name -> the files defining it, walking the real folders (never the symlinks)."""
    folders = dict(FOLDERS)
    pyproject = repo / "pyproject.toml"
    if pyproject.exists():
        setup = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]
        folders.update(setup.get("package-dir", {}))
    found: dict[str, list[Path]] = {}
    for package, folder in folders.items():
        top = repo / folder
        if not top.is_dir() or top.is_symlink():
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            here = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if not (here / d).is_symlink()
                                 and (here / d / "__init__.py").exists())
            for filename in sorted(f for f in filenames if f.endswith(".py")):
                rel = (here / filename).relative_to(top).with_suffix("").parts
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                paths = found.setdefault(".".join((package, *rel)), [])
                if here / filename not in paths:
                    paths.append(here / filename)
    return found


def _packages(known: Iterable[str]) -> set[str]:
    return {".".join(m.split(".")[:n]) for m in known for n in range(1, m.count(".") + 1)}


def arrows(sources: Mapping[str, str], known: Iterable[str] | None = None) -> list[Arrow]:
    """Every import of a module inside `exo`, relative ones resolved; `from P import m` is an
    arrow to the submodule P.m when that module is known, else to P."""
    known_set = set(sources if known is None else known) | set(sources)
    packages = _packages(known_set)
    found: set[Arrow] = set()
    for module, text in sources.items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base, package = node.module or "", module.split(".")
                if node.level:
                    package = package if module in packages else package[:-1]
                    if node.level - 1 >= len(package):
                        continue  # beyond the top: not an arrow into exo
                    up = package[: len(package) - (node.level - 1)]
                    base = ".".join([*up, base] if base else up)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known_set else base
                           for a in node.names]
            else:
                continue
            found.update(Arrow(module, t, node.lineno) for t in targets
                         if t == "exo" or t.startswith("exo."))
    return sorted(found)


def bad_arrows(sources: Mapping[str, str], known: Iterable[str] | None = None,
               ) -> list[tuple[Arrow, str]]:
    """Arrows the layer table forbids, each with why."""
    bad: list[tuple[Arrow, str]] = []
    for arrow in arrows(sources, known):
        src, dst = layer_of(arrow.source), layer_of(arrow.target)
        if src is None or src == dst or (arrow.source, arrow.target) in EXCEPTIONS:
            continue  # an unlayered importer is test_every_module_has_a_layer's finding
        if dst is None:
            bad.append((arrow, f"{arrow.target} has no layer"))
        elif (arrow.source not in COMPAT_IMPORTERS if dst == "compat"
              else dst not in ALLOWED[src]):
            bad.append((arrow, f"{src} may not import {dst}"))
    return bad


def cycles(graph: Iterable[Arrow]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    succ: dict[str, list[str]] = {}
    for a in graph:
        succ.setdefault(a.source, []).append(a.target)
        succ.setdefault(a.target, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    for root in sorted(succ):
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
            if i < len(succ[node]):
                work.append((node, i + 1))
                nxt = succ[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component, stack[stack.index(node):] = stack[stack.index(node):], []
                if len(component) > 1:
                    found.append(sorted(component))
            if work:  # back in the parent
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
    return sorted(found)


def describe(arrow: Arrow, why: str, where: Mapping[str, list[Path]]) -> str:
    files = where.get(arrow.source)
    place = files[0].relative_to(REPO) if files else arrow.source
    return f"{place}:{arrow.line}: {arrow.source} -> {arrow.target} ({why})"


FILES = discover()
SOURCES = {module: paths[0].read_text() for module, paths in FILES.items()}


def test_no_upward_import() -> None:
    bad = [describe(a, why, FILES) for a, why in bad_arrows(SOURCES)]
    assert not bad, "imports running back up the layers:\n" + "\n".join(bad)


def test_no_import_cycles() -> None:
    graph = arrows(SOURCES)
    report = [" <-> ".join(c) + "".join(f"\n    {describe(a, 'in the cycle', FILES)}"
                                        for a in graph if {a.source, a.target} <= set(c))
              for c in cycles(graph)]
    assert not report, "import cycles:\n" + "\n".join(report)


def test_every_module_has_a_layer() -> None:
    assert layer_of("exo.newfolder.x") is None and layer_of("exo.kit.x") == "kit"
    problems = [f"{m} ({', '.join(str(p.relative_to(REPO)) for p in paths)}) has no layer"
                for m, paths in FILES.items() if layer_of(m) is None]
    problems += [f"{m} is defined twice: {', '.join(str(p.relative_to(REPO)) for p in paths)}"
                 for m, paths in FILES.items() if len(paths) > 1]
    assert not problems, "place these in LAYER_OF:\n" + "\n".join(problems)


def _pick(prefix: str, preferred: str) -> str:
    """`preferred` if it exists, else some real module under `prefix`, else a synthetic one."""
    mine = sorted(m for m in SOURCES if m.startswith(prefix + "."))
    return preferred if preferred in SOURCES else (mine[0] if mine else prefix + ".planted")


def _planted(module: str, code: str) -> tuple[list[tuple[Arrow, str]], int]:
    """The arrows that planting `code` (inside a function) in `module` newly makes bad."""
    text = f"{SOURCES.get(module, '')}\n\ndef _planted() -> None:\n    {code}\n"
    line = text.count("\n")  # the planted line is the last one
    sources = {**SOURCES, module: text}
    before = set(bad_arrows(SOURCES))
    return [b for b in bad_arrows(sources) if b not in before], line


def test_planted_faults_are_caught() -> None:
    cli = "exo.cli.main" if "exo.cli.main" in SOURCES else "exo.cli"
    memory = _pick("exo.model", "exo.model.memory")
    for code in ("from exo.cli import main", "from ..cli import main"):  # (a), (e)
        new, line = _planted(memory, code)
        assert new == [(Arrow(memory, cli, line), "model may not import cli")], (code, new)
    kit = _pick("exo.kit", "exo.kit.coverage")  # (b)
    new, line = _planted(kit, "import exo.wire")
    assert new == [(Arrow(kit, "exo.wire", line), "kit may not import wire")]
    state = _pick("exo.impl", "exo.impl.state")  # (d)
    new, line = _planted(state, "import exo.model")
    assert new == [(Arrow(state, "exo.model", line), "impl may not import model")]
    shim = {"exo.kit.check": "from exo import _moved\n"}  # only `exo` may import the shim
    assert [why for _, why in bad_arrows(shim, {*shim, "exo._moved"})] == [
        "kit may not import compat"]
    assert bad_arrows({"exo": "from exo import _moved\n", "exo._moved": "import exo.cli\n"}) == []
    adapter = {"exo.impl.filtercheck": "from exo.model import filters, memory\n"}
    assert [a.target for a, _ in bad_arrows(adapter, {*adapter, "exo.model.filters",
                                                      "exo.model.memory"})] == ["exo.model.memory"]


def test_planted_cycle_is_caught() -> None:  # (c)
    pair = {"exo.kit.a": "def f() -> None:\n    from exo.kit import b\n",
            "exo.kit.b": "from . import a\n"}
    assert bad_arrows(pair) == []  # same layer: fine for the layers...
    before = cycles(arrows(SOURCES))
    assert [c for c in cycles(arrows({**SOURCES, **pair})) if c not in before] == [
        ["exo.kit.a", "exo.kit.b"]]
    assert cycles(arrows({"exo.kit": "from exo.kit import check\n",
                          "exo.kit.check": "import exo.kit\n"})) == [["exo.kit", "exo.kit.check"]]
