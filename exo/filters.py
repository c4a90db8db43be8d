"""The packet-filter tools an implementation of the interface may reuse: the verifier
(FLT-2/FLT-3), the reference interpreter (FLT-4), the budgeted Z3 overlap and difference
checks (FLT-6/FLT-7), the program readers, and the check of a generated demultiplexer
(FLT-8).

These are the objects the model itself runs (``exo.model.filters``, ``exo.proofs.demux``),
not copies: an implementation that calls them refuses exactly the programs the model
refuses and reports exactly the model's overlap witnesses, so ``exo check`` compares
everything else. ``exo.impl`` uses them the same way (``exo.impl.filtercheck``).

A program is a tuple of ``(code, jt, jf, k)`` tuples of plain ``int`` (tcpdump ``-ddd``
order); a packet is ``bytes``.

* ``verify(program) -> list[Rejection]``: every reason to refuse it, in program order;
  empty means accepted. ``filter_install`` refuses a program with any rejection
  (``BAD_PROGRAM``, NET-1's third requirement: after the environment's checks, before
  the slot and the pair check look at it).
* ``evaluate(program, packet) -> int``: what a verified program returns on the packet
  (non-zero: accepted). It never raises on a verified program and any packet: a load
  past the end of the packet rejects it (returns 0), as the kernel does.
* ``overlap(program, others) -> Overlap``: ``None`` if no packet is accepted by
  ``program`` and by one of ``others``; ``(i, packet)`` with a packet both accept
  (replayed on ``evaluate``); or ``UNDECIDED`` when Z3 decides neither within its budget
  (``FILTER_RLIMIT``). ``UNDECIDED`` is not "disjoint": ``filter_install`` refuses with
  ``Status.UNDECIDED`` and changes nothing (FLT-6). Answers are cached per question,
  so the same question always gets the same answer.
* ``program_overlap(a, b) -> Overlap``: the check ``filter_install`` makes of a pair of
  verified programs (NET-1): ``recognize`` both; if both are DFilters, FLT-9 decides
  exactly (``(0, packet)`` or ``None``, never ``UNDECIDED``); else, when
  ``solver_weight(a) + solver_weight(b) <= PAIR_WEIGHT``, ``overlap`` (FLT-6) within
  ``PAIR_RLIMIT``, and ``UNDECIDED`` without asking Z3 for a heavier pair. A kernel
  that uses this gets the model's answers; one without Z3 can implement the FLT-9 half
  and be checked on the solver-free profile (``exo check --filters declarative``).
* ``recognize(program) -> DFilter | None``, ``dfilter_overlap(a, b) -> bytes | None``,
  ``Atom``, ``DFilter``: declarative filters (FLT-9).
* ``difference(a, b)``: a packet on which the two programs return different values,
  ``None`` if they are equal on every packet, or ``UNDECIDED`` (FLT-7).
* ``parse_ddd``, ``parse_dd``, ``parse_any``, ``parse_packet_hex``: read programs as
  ``tcpdump -ddd``/``-dd`` print them (or raw bytes), and packets as hex; a malformed
  input raises ``FilterSyntaxError`` (a ``ValueError``) naming the line.
* ``check_source(source, filters)``: FLT-8, for an implementation that generates Python
  demultiplexing code as ``exo.impl`` does (``filters``: ``(slot, owner, program)``
  triples). Z3 runs the generated text on a symbolic packet; ``None`` means it is proved
  to name the owner of the first accepting filter for every packet and never to raise.
  A replayed counterexample is returned; an exception (``UnsupportedSource``,
  ``BudgetExhausted``, ``ValidationError``) means not proved. Anything but ``None``
  means the module must not be used.

Example::

    >>> from exo.filters import evaluate, overlap, parse_ddd, verify, UNDECIDED
    >>> arp = parse_ddd("4\\n40 0 0 12\\n21 0 1 2054\\n6 0 0 65535\\n6 0 0 0\\n")
    >>> verify(arp)
    []
    >>> evaluate(arp, bytes(12) + b"\\x08\\x06") != 0
    True
    >>> accept_all = ((6, 0, 0, 1),)
    >>> index, packet = overlap(arp, [accept_all])
    >>> index, evaluate(arp, packet) != 0
    (0, True)
"""

from __future__ import annotations

from exo.model.dfilter import PAIR_RLIMIT, PAIR_WEIGHT, Atom, DFilter, program_overlap, recognize
from exo.model.dfilter import overlap as dfilter_overlap
from exo.model.filters import (
    FILTER_RLIMIT,
    MAX_INSNS,
    MAX_PACKET,
    UNDECIDED,
    FilterSyntaxError,
    Overlap,
    Program,
    Rejection,
    Undecided,
    difference,
    evaluate,
    overlap,
    parse_any,
    parse_dd,
    parse_ddd,
    parse_packet_hex,
    solver_weight,
    verify,
)
from exo.proofs.demux import check_source

__all__ = [
    "FILTER_RLIMIT", "MAX_INSNS", "MAX_PACKET", "PAIR_RLIMIT", "PAIR_WEIGHT", "UNDECIDED",
    "Atom", "DFilter",
    "FilterSyntaxError", "Overlap", "Program", "Rejection", "Undecided", "check_source",
    "dfilter_overlap", "difference", "evaluate", "overlap", "parse_any", "parse_dd",
    "parse_ddd", "parse_packet_hex", "program_overlap", "recognize", "solver_weight",
    "verify",
]
