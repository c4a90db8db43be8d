"""The clause index: every numbered clause of spec/*.md and where it lives in the model.

A clause is a level-two heading ``## ID Title`` in one of the Markdown files beside this
module. Its *home* is every function or class of the model (and of the shared interface
and the invariants) whose docstring starts with its id — e.g. ``exo.model.memory.alloc``
starts ``MEM-1 (paper: …)``. ``exo spec`` prints the index; the tests check that every
clause has a home and that every id the code cites exists.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass, field
from importlib import resources

CLAUSE_ID = re.compile(r"\b([A-Z]{2,4}-\d+)\b")
HEADING = re.compile(r"^## ([A-Z]{2,4}-\d+) (.+?)\s*$")
LEADING_IDS = re.compile(r"^\s*([A-Z]{2,4}-\d+(?:\s*/\s*[A-Z]{2,4}-\d+)*)")

ORDER = ("GEN", "ENV", "MEM", "TLB", "CPU", "PCT", "EXC", "REV", "FLT", "NET", "INV", "THM",
         "NI", "WIRE")
"""Clause prefixes in reading order."""

MODULES = (
    "exo.interface",
    "exo.kit.conformance",
    "exo.model.ops",
    "exo.model.state",
    "exo.model.env",
    "exo.model.memory",
    "exo.model.tlb",
    "exo.model.cpu",
    "exo.model.pct",
    "exo.model.exceptions",
    "exo.model.revocation",
    "exo.model.filters",
    "exo.model.trap",
    "exo.model.view",
    "exo.model.dfilter",
    "exo.model.net",
    "exo.spec.invariants",
    "exo.spec.twostate",
    "exo.spec.postconditions",
    "exo.spec.theorems",
    "exo.spec.flows",
    "exo.proofs.demux",
    "exo.proofs.noninterference",
    "exo.wire.codec",
    "exo.wire.client",
    "exo.wire.server",
)
"""Where clause homes are looked for."""


@dataclass
class Clause:
    """One numbered clause of the spec."""

    id: str
    title: str
    file: str
    line: int
    homes: list[str] = field(default_factory=list)

    @property
    def number(self) -> tuple[int, str, int]:
        """Sort key: subsystems in reading order (conventions first, invariants last)."""
        prefix, _, n = self.id.partition("-")
        rank = ORDER.index(prefix) if prefix in ORDER else len(ORDER)
        return rank, prefix, int(n)


class SpecError(Exception):
    """The spec's Markdown cannot be read as clauses (a duplicate id, for instance)."""


def spec_files() -> list[tuple[str, str]]:
    """(file name, text) of every Markdown file of the spec, in name order."""
    root = resources.files("exo.spec")
    out = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".md") and entry.name != "README.md":
            out.append((entry.name, entry.read_text(encoding="utf-8")))
    return out


def sections() -> dict[str, str]:
    """Each clause id's text (heading excluded), from every spec file."""
    out: dict[str, list[str]] = {}
    for _, text in spec_files():
        cur: str | None = None
        for line in text.splitlines():
            m = HEADING.match(line)
            if m:
                cur = m.group(1)
                out[cur] = []
                continue
            if line.startswith("## "):
                cur = None
            if cur is not None:
                out[cur].append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def paragraph(section: str, head: str) -> str:
    """The ``**head.**`` paragraph of a clause (up to the next bold paragraph head)."""
    lines: list[str] = []
    on = False
    for line in section.splitlines():
        if line.startswith("**"):
            on = line.startswith(f"**{head}.**")
        if on:
            lines.append(line)
    return "\n".join(lines)


def parse(files: list[tuple[str, str]]) -> list[Clause]:
    """The clauses of the given Markdown texts; raises SpecError on a duplicate id."""
    clauses: dict[str, Clause] = {}
    for name, text in files:
        for lineno, line in enumerate(text.splitlines(), start=1):
            m = HEADING.match(line)
            if m is None:
                continue
            cid, title = m.group(1), m.group(2)
            if cid in clauses:
                first = clauses[cid]
                raise SpecError(
                    f"{name}:{lineno}: clause {cid} already defined at {first.file}:{first.line}"
                )
            clauses[cid] = Clause(cid, title, name, lineno)
    return sorted(clauses.values(), key=lambda c: c.number)


def homes() -> dict[str, list[str]]:
    """Clause id → qualified names of the functions/classes whose docstring starts with it."""
    found: dict[str, list[str]] = {}
    for modname in MODULES:
        mod = importlib.import_module(modname)
        for name, obj in vars(mod).items():
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if getattr(obj, "__module__", None) != modname:
                continue
            doc = inspect.getdoc(obj) or ""
            m = LEADING_IDS.match(doc)
            if m is None:
                continue
            for cid in re.split(r"\s*/\s*", m.group(1)):
                found.setdefault(cid, []).append(f"{modname}.{name}")
    return found


def cited() -> dict[str, list[str]]:
    """Clause id → modules whose source mentions it anywhere (docstrings, comments)."""
    found: dict[str, list[str]] = {}
    for modname in MODULES:
        src = inspect.getsource(importlib.import_module(modname))
        for cid in sorted(set(CLAUSE_ID.findall(src))):
            found.setdefault(cid, []).append(modname)
    return found


def index() -> list[Clause]:
    """Every clause with its homes filled in."""
    clauses = parse(spec_files())
    where = homes()
    for c in clauses:
        c.homes = sorted(where.get(c.id, []))
    return clauses


def problems() -> list[str]:
    """Broken links between the spec and the code; empty when the index is sound."""
    try:
        clauses = index()
    except SpecError as exc:
        return [str(exc)]
    ids = {c.id for c in clauses}
    out = [f"{c.id} ({c.file}:{c.line}) has no home in the model" for c in clauses if not c.homes]
    for cid, mods in sorted(cited().items()):
        if cid not in ids:
            out.append(f"{cid} is cited in {', '.join(mods)} but is not a clause of spec/")
    return out
