"""Predicates every subsystem of the implementation shares (the model's ``ops`` room).

Each operation checks its preconditions in the order its clause lists them (the first
failing check gives the status) and mutates the state only once all have passed (GEN-2).
"""

from __future__ import annotations

from exo.impl.state import KernelState
from exo.interface import NO_ENTRY, Cap, Result, Rights, Status

OK = Result(Status.OK, 0)


def fail(status: Status, value: object = 0) -> Result:
    """GEN-2: a failing status with the operation's null value."""
    return Result(status, value)


def in_range(k: int, n: int) -> bool:
    """``0 <= k < n``."""
    return 0 <= k < n


def rights_ok(r: int) -> bool:
    """MEM-6: ``r`` is READ or READWRITE, a right a capability may carry."""
    return Rights.READ <= r <= Rights.READWRITE


def cap_valid(k: KernelState, e: int, cap: Cap) -> bool:
    """MEM-6: ``cap`` is current and held: right generation, and ``e`` holds its rights."""
    p = cap.page
    return (in_range(p, k.cfg.n_pages) and cap.gen == k.gen[p] and rights_ok(cap.rights)
            and k.rights(e, p) >= cap.rights)


def needed(write: bool) -> int:
    """MEM-6: the right an access or mapping needs: READWRITE to write, READ otherwise."""
    return int(Rights.READWRITE) if write else int(Rights.READ)


def entry_ok(k: KernelState, entry: int) -> bool:
    """GEN-3: an entry address is NO_ENTRY (-1, unregister) or below ``addr_limit``."""
    return entry == NO_ENTRY or in_range(entry, k.cfg.addr_limit)
