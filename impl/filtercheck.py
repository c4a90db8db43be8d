"""NET-1, FLT-2/FLT-3, FLT-6, FLT-8, FLT-9: the packet-filter verifier, NET-1's pair check
(FLT-9's exact overlap of recognized programs, else the Z3 overlap check), FLT-9's
recognizer (the declarative form the demultiplexer merges) and the Z3 check of the
generated demultiplexer, for the implementation.

This adapter is the *only* place ``exo.impl`` touches ``exo.model`` (and ``exo.proofs``):
the verifier (``verify``) and the budgeted Z3 overlap check (``overlap``, whose answer
may be ``Undecided``) are shared with the model
deliberately — the same code, not re-implemented — so the implementation refuses exactly
the programs the model refuses and reports exactly the same overlap witnesses. The
demultiplexer is the implementation's own (it takes a recognized program's atoms from
``declarative_form``, its own reading of the program otherwise); ``check_source``
(FLT-8) proves each module it generates equal to the model's interpreter before it is
used. A test scans the sources of
``impl/`` to keep it that way.
"""

from __future__ import annotations

from exo.model.dfilter import PAIR_WEIGHT, program_overlap, recognized
from exo.model.filters import Overlap, Undecided, overlap, solver_weight, verdict_term, verify
from exo.proofs.demux import check_source
from exo.proofs.demux_merge import merge_problem

__all__ = ["Overlap", "Undecided", "check_source", "declarative_form", "merge_problem",
           "overlap", "prepare_pairs", "program_overlap", "verify"]


def prepare_pairs(program: tuple[tuple[int, int, int, int], ...]) -> None:
    """NET-1: build, at its owner's install, the Z3 term a verified program will bring to
    its pairs with other environments' later filters (when FLT-9 does not recognize it and
    its ``solver_weight`` leaves room under ``PAIR_WEIGHT``), so that building it (up to
    0.6 s for 4,000 instructions) is not paid by another environment's first
    ``filter_install``. No answer depends on it: the term is cached either way."""
    if recognized(program) is None and solver_weight(program) <= PAIR_WEIGHT:
        verdict_term(program)


def declarative_form(program: tuple[tuple[int, int, int, int], ...]
                     ) -> tuple[tuple[tuple[int, int, int, int], ...], ...] | None:
    """FLT-9: the declarative filter a verified program is (``recognize``, cached), as
    plain tuples: its conjunctions, each a tuple of atoms ``(offset, size, mask, value)``;
    None if the program is outside the class (or is no program at all)."""
    try:
        df = recognized(program)
    except (TypeError, ValueError):
        return None
    if df is None:
        return None
    return tuple(tuple((a.offset, a.size, a.mask, a.value) for a in conj) for conj in df)
