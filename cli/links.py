"""What checks each clause: the links of ``exo spec CLAUSE --links`` and the reference site.

It reads both the proofs and the kit, so it lives in the layer above them.

For a clause id, ``clause_links`` gathers, from the installed package alone (no checkout
needed):

- its text (spec/*.md), its rows of the signature table (spec/signatures.md) and the
  operations it defines;
- the conjuncts of the declarative text that state it (``exo.proofs.declarative``), with
  the sentences they cite;
- its proof obligations, with the verdict the manifest expects (proofs/manifest.json): the
  obligations that cite it, and for an operation's clause every obligation about that
  operation (its invariant steps, its postconditions, its theorems, its flows);
- its coverage cells (``exo.kit.coverage.all_cells``);
- the shipped witness programs that hit those cells, each with the name of the fixture
  ``exo fixtures build`` writes for it (``witness-NN``);
- the broken kernels of the test catalogues that break it (kit/catalogue.json, an index
  of tests/catalogue*.py written by ``python scripts/catalogue_index.py``;
  ``tests/test_links.py`` fails when it drifts from the catalogues).

``field_clauses`` gives, for each field of the state, the clauses whose operations change
it (the table of GEN-5, spec/observe.md, read by ``exo.kit.bringup``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from exo.interface import OPERATIONS

__all__ = ["CATALOGUE_FILE", "CatalogueLink", "CellLink", "ClauseLinks", "ConjunctLink",
           "ObligationLink", "WitnessLink", "all_links", "catalogue", "clause_links",
           "clause_text", "field_clauses", "op_clauses", "witness_program"]

CATALOGUE_FILE = "catalogue.json"
"""The catalogue index in ``exo.kit`` (package data)."""


@dataclass(frozen=True)
class ConjunctLink:
    """One conjunct of the declarative text: its name (``dealloc/deallocated/owner``), its
    operation, the sentences of this clause it states, and the module of its text."""

    name: str
    op: str
    sentences: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class ObligationLink:
    """One proof obligation: name, kind (``step``, ``post``, ...), the clause it cites and
    the verdict the manifest expects (``proved``, or ``unlisted``)."""

    name: str
    kind: str
    clause: str
    expect: str


@dataclass(frozen=True)
class CellLink:
    """One coverage cell (``exo check``'s table)."""

    id: str
    kind: str
    text: str


@dataclass(frozen=True)
class WitnessLink:
    """A shipped witness program (kit/witnesses.json) that hits some of the clause's cells:
    its index, its fixture's name, its length and the clause's cells it hits."""

    index: int
    fixture: str
    steps: int
    cells: tuple[str, ...]


@dataclass(frozen=True)
class CatalogueLink:
    """A broken kernel of the test catalogues: its class name, its catalogue (``impl``,
    ``optimizer``, ``trap-view``) and the mistake it makes."""

    name: str
    layer: str
    says: str


@dataclass(frozen=True)
class ClauseLinks:
    """A clause and everything that states or checks it."""

    id: str
    title: str
    file: str
    line: int
    homes: tuple[str, ...]
    text: str
    signature: str | None
    ops: tuple[str, ...]
    conjuncts: tuple[ConjunctLink, ...]
    obligations: tuple[ObligationLink, ...]
    cells: tuple[CellLink, ...]
    witnesses: tuple[WitnessLink, ...]
    catalogue: tuple[CatalogueLink, ...]


# --------------------------------------------------------------------------- the parts


@lru_cache(maxsize=1)
def _clauses() -> dict[str, Any]:
    from exo.spec.clauses import index

    return {c.id: c for c in index()}


@lru_cache(maxsize=1)
def _files() -> dict[str, list[str]]:
    from exo.spec.clauses import spec_files

    return {name: text.splitlines() for name, text in spec_files()}


def clause_text(clause_id: str) -> str:
    """The clause's Markdown section as written in spec/, heading included (up to the next
    level-two heading). LookupError for an id that is no clause."""
    c = _clauses().get(clause_id)
    if c is None:
        raise LookupError(f"no clause {clause_id!r}; 'exo spec' lists them")
    lines = _files()[c.file]
    out = [lines[c.line - 1]]
    for line in lines[c.line:]:
        if line.startswith("## ") or line.startswith("# "):
            break
        out.append(line)
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out)


@lru_cache(maxsize=1)
def _signature_rows() -> dict[str, str]:
    """Operation -> its row of the Operations table of spec/signatures.md (the row whose
    anchor is ``op-NAME``, as clauses link it)."""
    from exo.spec.signatures import FILE

    return {op: line for line in _files()[FILE] for op in OPERATIONS
            if line.startswith(f'| <a id="op-{op}"></a>')}


@lru_cache(maxsize=1)
def _signature_header() -> str:
    from exo.spec.signatures import FILE

    lines = _files()[FILE]
    at = lines.index("## Operations")
    head = [x for x in lines[at + 1:] if x.startswith("|")][:2]
    return "\n".join(head)


def op_clauses() -> dict[str, str]:
    """Each operation and the clause that defines it (``OpSig.clause``)."""
    return {op: sig.clause for op, sig in OPERATIONS.items()}


@lru_cache(maxsize=1)
def _conjuncts() -> dict[str, tuple[ConjunctLink, ...]]:
    from exo.proofs.declarative import conjunct_index
    from exo.spec.declarative import SUBSYSTEMS

    home: dict[str, str] = {}
    for sub in SUBSYSTEMS:
        mod = __import__(f"exo.spec.declarative.{sub}", fromlist=["TEXTS"])
        for op in getattr(mod, "TEXTS", {}):
            home[op] = f"exo.spec.declarative.{sub}"
    return {cid: tuple(ConjunctLink(c.name, c.op,
                                    tuple(dict.fromkeys(x.sentence for x in c.cites
                                                        if x.clause == cid)),
                                    home.get(c.op, ""))
                       for c in found)
            for cid, found in conjunct_index().items()}


@lru_cache(maxsize=1)
def _manifest() -> dict[str, str]:
    text = resources.files("exo.proofs").joinpath("manifest.json").read_text(encoding="utf-8")
    return {name: str(entry.get("expect", "?"))
            for name, entry in json.loads(text)["obligations"].items()}


@lru_cache(maxsize=1)
def _obligations() -> tuple[ObligationLink, ...]:
    from exo.proofs.obligations import obligations

    expect = _manifest()
    out = [ObligationLink(ob.name, ob.kind, ob.clause, expect.get(ob.name, "unlisted"))
           for ob in obligations()]
    return tuple(out)


def _op_of(name: str) -> str | None:
    """The operation an obligation is about, read from its name (``step/alloc/INV-3``,
    ``post/alloc/sound``, ``thm/THM-2/abort``, ``ni/store/respect``)."""
    for part in name.split("/")[1:]:
        if part in OPERATIONS:
            return part
    return None


@lru_cache(maxsize=1)
def _all_cells() -> dict[str, Any]:
    from exo.kit.coverage import all_cells

    return {c.id: c for c in all_cells()}


@lru_cache(maxsize=1)
def _witnesses() -> tuple[Any, ...]:
    from exo.kit.witnesses import shipped

    return shipped()


def witness_program(index: int) -> tuple[dict[str, int], list[tuple[str, list[Any]]]]:
    """The configuration and the calls of shipped witness ``index`` (arguments as JSON,
    as kit/witnesses.json has them). LookupError for an index out of range."""
    from dataclasses import asdict

    from exo.kit.witnesses import encode

    shipped = _witnesses()
    if type(index) is not int or not 0 <= index < len(shipped):
        raise LookupError(f"no witness {index!r}: there are {len(shipped)}")
    w = shipped[index]
    return asdict(w.cfg), [(name, [encode(a) for a in args]) for name, args in w.steps]


@lru_cache(maxsize=1)
def catalogue() -> tuple[tuple[str, CatalogueLink], ...]:
    """(clause, entry) for every broken kernel of the test catalogues (kit/catalogue.json)."""
    text = resources.files("exo.kit").joinpath(CATALOGUE_FILE).read_text(encoding="utf-8")
    return tuple((cid, CatalogueLink(e["name"], e["layer"], e["says"]))
                 for e in json.loads(text)["entries"] for cid in e["clauses"])


def clause_links(clause_id: str) -> ClauseLinks:
    """Everything that states or checks ``clause_id``; LookupError for an unknown id."""
    c = _clauses().get(clause_id)
    if c is None:
        raise LookupError(f"no clause {clause_id!r}; 'exo spec' lists them")
    ops = tuple(op for op, sig in OPERATIONS.items() if sig.clause == clause_id)
    rows = [_signature_rows()[op] for op in ops if op in _signature_rows()]
    signature = "\n".join([_signature_header(), *rows]) if rows else None
    obligations = tuple(ob for ob in _obligations()
                        if ob.clause == clause_id or _op_of(ob.name) in ops)
    cells = tuple(CellLink(x.id, x.kind, x.text) for x in _all_cells().values()
                  if x.clause == clause_id)
    ids = {x.id for x in cells}
    witnesses = []
    for i, w in enumerate(_witnesses()):
        hit = tuple(x for x in w.cells if x in ids)
        if hit:
            witnesses.append(WitnessLink(i, f"witness-{i:02d}", len(w.steps), hit))
    return ClauseLinks(
        id=c.id, title=c.title, file=c.file, line=c.line, homes=tuple(c.homes),
        text=clause_text(clause_id), signature=signature, ops=ops,
        conjuncts=_conjuncts().get(clause_id, ()), obligations=obligations, cells=cells,
        witnesses=tuple(witnesses),
        catalogue=tuple(e for cid, e in catalogue() if cid == clause_id))


def all_links() -> list[ClauseLinks]:
    """``clause_links`` of every clause, in reading order."""
    return [clause_links(cid) for cid in _clauses()]


def field_clauses() -> dict[str, tuple[str, ...]]:
    """Each field of the observation (GEN-5) and the clauses of the operations that may
    change it, in reading order."""
    from exo.kit.bringup import changed_by

    order = {cid: i for i, cid in enumerate(_clauses())}
    by_op = op_clauses()
    return {f: tuple(sorted({by_op[op] for op in ops if op in by_op},
                            key=lambda cid: order.get(cid, len(order))))
            for f, ops in changed_by().items()}
