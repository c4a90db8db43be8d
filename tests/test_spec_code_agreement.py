"""Spec text that states a fact about the code stays equal to the code.

* TLB-6/TLB-7: the concrete index formulas in spec/tlb.md, evaluated, are
  ``exo.interface.tlb_index`` and ``exo.interface.stlb_index``;
* NET-1 and the README: an ``OVERLAP`` witness conforms when the new program and the
  filter in the *lowest* clashing slot both accept it (``exo.kit.conformance.same_outcome``),
  and both texts say so;
* every ``**Model.**`` paragraph of spec/*.md names only functions, classes and constants
  that exist (REV-4 once named the PCT helper for a clearing only ``scall`` does).
"""

from __future__ import annotations

import importlib
import itertools
import re
from pathlib import Path
from typing import Any

import pytest

import exo.interface as interface
from exo.interface import MAX_PACKET, Config, Status, stlb_index, tlb_index
from exo.kit.conformance import same_outcome
from exo.kit.explore import _first_byte_is
from exo.model import REGISTRY, State, initial
from exo.model.filters import evaluate
from exo.model.state import layout

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "spec"


def clause(file: str, cid: str) -> str:
    """The text of clause ``cid`` of spec/``file``, whitespace collapsed."""
    text = (SPEC / file).read_text(encoding="utf-8")
    start = text.index(f"## {cid} ")
    end = text.find("\n## ", start + 1)
    body = text[start:] if end < 0 else text[start:end]
    return " ".join(body.split())


# --------------------------------------------------------------------------- (a) TLB-6/TLB-7


def spec_formula(cid: str, size: str) -> str:
    """The one code span ``(…) mod <size>`` of the clause, as a Python expression in
    ``vpage``, ``cid`` and ``n``."""
    spans = re.findall(rf"`(\([^`]*\)) mod {size}`", clause("tlb.md", cid))
    assert len(spans) == 1, f"{cid}: one concrete formula `(...) mod {size}`, got {spans}"
    expr = spans[0].replace("·", "*")
    assert re.fullmatch(r"[\svpagecid0-9+*()-]+", expr), f"{cid}: not plain arithmetic: {expr}"
    return f"({expr}) % n"


@pytest.mark.parametrize(("cid", "size", "fn"), [
    ("TLB-6", "tlb_size", tlb_index),
    ("TLB-7", "stlb_size", stlb_index),
])
def test_index_formula_in_spec_is_the_function(cid: str, size: str, fn: Any) -> None:
    code = compile(spec_formula(cid, size), f"<{cid}>", "eval")
    for c, vpage, n in itertools.product(range(14), range(40), range(1, 18)):
        got = eval(code, {"__builtins__": {}}, {"cid": c, "vpage": vpage, "n": n})
        assert got == fn(c, vpage, n), (cid, c, vpage, n)


def test_general_names_the_index_functions() -> None:
    text = clause("general.md", "GEN-4")
    assert "`tlb_index`" in text and "`stlb_index`" in text


# --------------------------------------------------------------------------- (b) OVERLAP


def overlap_sentences() -> dict[str, str]:
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    net1 = clause("net.md", "NET-1")
    out = {}
    for where, text in (("README.md", readme), ("NET-1", net1)):
        found = [s for s in re.split(r"(?<=\.) ", text)
                 if "witness" in s and "same_outcome" in s]
        assert len(found) == 1, f"{where}: one sentence on the OVERLAP witness freedom"
        out[where] = found[0]
    return out


@pytest.mark.parametrize("where", ["README.md", "NET-1"])
def test_overlap_freedom_states_the_lowest_slot_rule(where: str) -> None:
    s = overlap_sentences()[where]
    for phrase in ("accepted both by the new program and by the filter in the lowest slot",
                   "`MAX_PACKET`", "65535"):
        assert phrase in s, f"{where}: {phrase!r} missing from {s!r}"
    assert "any packet both filters accept" not in s
    assert "any packet that both filters accept" not in s


def _install(s: State, env: int, program: Any) -> tuple[State, Any]:
    new, res = REGISTRY["filter_install"](s, env, program)
    return new, res


def test_overlap_witness_must_satisfy_the_lowest_clashing_filter() -> None:
    """Two filters of env 0 overlap env 1's new accept-everything filter: slot 0 accepts
    first byte 1 only, slot 1 accepts everything. The clash is slot 0, so a witness must
    be accepted by slot 0's program: ``01`` conforms, ``02`` (accepted by the new program
    and by slot 1 only) does not."""
    s = initial(Config())
    for name, args in (("env_create", [0, 0]), ("env_create", [1, 1])):
        s, res = REGISTRY[name](s, *args)
        assert res.status == Status.OK
    narrow, everything = _first_byte_is(1), ((0x06, 0, 0, 1),)
    s, res = _install(s, 0, narrow)
    assert (res.status, res.value) == (Status.OK, 0)
    s, res = _install(s, 0, everything)
    assert (res.status, res.value) == (Status.OK, 1)
    before = s
    _, expected = _install(before, 1, everything)
    assert expected.status == Status.OVERLAP
    model_witness = bytes.fromhex(expected.value)
    assert evaluate(narrow, model_witness) != 0  # the model's own witness: slot 0's

    def conforms(value: Any) -> bool:
        got = type(expected)(Status.OVERLAP, value)
        return same_outcome(before, "filter_install", (1, everything), expected, got)

    assert conforms(expected.value)
    assert conforms("01")
    assert conforms("01" + "ff" * 10)
    assert evaluate(everything, b"\x02") != 0 and evaluate(narrow, b"\x02") == 0
    assert not conforms("02")  # both accept it, but not the lowest clashing filter
    assert not conforms("01" + "00" * MAX_PACKET)  # too long
    assert not conforms("not hex")


# --------------------------------------------------------------------------- (c) pointers


def model_paragraphs() -> list[tuple[str, str]]:
    out = []
    for path in sorted(SPEC.glob("*.md")):
        if path.name == "README.md":
            continue
        for para in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
            if para.lstrip().startswith("**Model.**"):
                out.append((path.name, para))
    return out


def resolve(dotted: str) -> Any:
    """Import the longest module prefix of ``dotted`` and get the rest as attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def references() -> list[tuple[str, str]]:
    refs = []
    for file, para in model_paragraphs():
        for span in re.findall(r"`([^`]+)`", para):
            if re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", span):
                refs.append((file, span))
    return refs


def test_model_paragraphs_are_found() -> None:
    files = {f for f, _ in model_paragraphs()}
    assert {"memory.md", "tlb.md", "pct.md", "revocation.md", "net.md"} <= files
    assert len(references()) > 100


def _exists(span: str) -> bool:
    candidates = ([span] if span.startswith("exo.")
                  else [f"exo.{span}", f"exo.model.{span}", f"exo.spec.{span}"])
    if "." not in span:  # a bare name: a constant of the interface, or a state field
        return hasattr(interface, span) or span in layout(Config()) or hasattr(
            initial(Config()), span)
    for c in candidates:
        try:
            resolve(c)
        except (ImportError, AttributeError):
            continue
        return True
    return False


def test_every_model_pointer_resolves() -> None:
    broken = sorted({(f, span) for f, span in references() if not _exists(span)})
    assert broken == [], f"**Model.** pointers to nothing: {broken}"


def test_rev4_names_where_pct_clears_a_repossession_record() -> None:
    """Only a synchronous call (scall, PCT-1) donates the slice and so clears the callee's
    repossession record; REV-4's pointer names it."""
    text = clause("revocation.md", "REV-4")
    model = text[text.index("**Model.**"):]
    assert "`exo.model.pct.scall`" in model
    assert "`exo.model.pct.acall` donates nothing" in model
