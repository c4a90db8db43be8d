"""NET-1: the kit's filter profiles, what a kernel must decide about pairs of filters.

``solver`` (the default): any program may be installed, and a kernel decides every pair
as NET-1 says: FLT-9 for two declarative filters, FLT-6's Z3 check within its budget
otherwise (``exo.filters.program_overlap``).

``declarative``: a kernel without a solver. The kit makes no ``filter_install`` call whose
program passes the verifier (FLT-2, FLT-3) but is not a declarative filter (FLT-9's
``recognize`` gives None): every pair it asks about is then decided by FLT-9 alone, exactly
and without a budget. Programs the verifier refuses, and arguments that are not programs,
are still sent (GEN-1, NET-1.3 are in scope). The cells only the solver's budget reaches
(``UNDECIDED``) are outside the profile: shown as such, neither missing nor counted as
reachable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from exo.interface import OPERATIONS, admit
from exo.kit.text import plain
from exo.model.dfilter import recognized
from exo.model.filters import verify

__all__ = ["DEFAULT", "OUTSIDE", "PROFILES", "admits", "problem"]

PROFILES: tuple[str, ...] = ("solver", "declarative")
DEFAULT = "solver"

OUTSIDE: dict[str, frozenset[str]] = {
    "solver": frozenset(),
    "declarative": frozenset({"filter_install/UNDECIDED", "filter_install/requires/undecided"}),
}
"""The coverage cells each profile leaves out: in ``declarative`` every pair is decided by
FLT-9, which never answers ``UNDECIDED`` (``exo.model.dfilter.program_overlap``)."""


def problem(profile: object) -> str | None:
    """Why ``profile`` is not a profile's name (a line for ``--filters``), or None."""
    if type(profile) is not str or profile not in PROFILES:
        return f"--filters: {profile!r} is not one of {', '.join(PROFILES)}"
    return None


def admits(profile: str, name: str, args: Sequence[Any]) -> bool:
    """Whether the profile makes the call ``name(*args)``: every call but, in
    ``declarative``, a ``filter_install`` of a verified program FLT-9 does not recognize."""
    if profile == DEFAULT or name != "filter_install":
        return True
    received = admit(OPERATIONS[name], tuple(plain(a) for a in args))
    if received is None:  # not a program (GEN-1): the kernel must refuse it, in any profile
        return True
    program = received[1]
    if not program or verify(program):  # the verifier refuses it (NET-1.3)
        return True
    return recognized(program) is not None
