"""The optimized kernel: one mutable state, the 29 operations dispatched by name.

``Kernel(cfg).apply(name, *args)`` runs operation ``name`` of ``exo.interface.OPERATIONS``
with the model's arguments, statuses, values and state effects (GEN-1); the arguments go
through ``exo.interface.admit``, the same exact-type check as the model's ``transition``
wrapper (Z3 terms refused here), so anything not exactly of its kind gives
INVALID_ARGUMENT with the null value; every operation checks all its preconditions before
it mutates anything, so a failure leaves the state unchanged (GEN-2). ``observe()`` renders the
state in the model's vocabulary for ``exo.kit.conformance.abstract``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exo.impl import cpu, env, exceptions, memory, net, pct, revocation, tlb
from exo.impl.state import KernelState
from exo.impl.trap import trap
from exo.impl.view import observe_as
from exo.interface import OPERATIONS, Config, Result, Status, admit, null_value

HANDLERS: dict[str, Callable[..., Result]] = {
    "env_create": env.env_create,
    "env_destroy": env.env_destroy,
    "set_exception_context": env.set_exception_context,
    "set_interrupt_context": env.set_interrupt_context,
    "set_protected_entry": env.set_protected_entry,
    "alloc": memory.alloc,
    "dealloc": memory.dealloc,
    "grant": memory.grant,
    "load": memory.load,
    "store": memory.store,
    "tlbwr": tlb.tlbwr,
    "tlbvadelete": tlb.tlbvadelete,
    "cid_switch": tlb.cid_switch,
    "gm_set": tlb.gm_set,
    "gm_clear": tlb.gm_clear,
    "slice_alloc": cpu.slice_alloc,
    "slice_free": cpu.slice_free,
    "yield_to": cpu.yield_to,
    "timer_tick": cpu.timer_tick,
    "set_reg": cpu.set_reg,
    "scall": pct.scall,
    "acall": pct.acall,
    "raise_exception": exceptions.raise_exception,
    "revoke_request": revocation.revoke_request,
    "abort": revocation.abort,
    "filter_install": net.filter_install,
    "filter_remove": net.filter_remove,
    "packet_arrive": net.packet_arrive,
    "packet_take": net.packet_take,
}
"""Every operation of the shared interface by name (the same names as ``OPERATIONS``)."""


class Kernel:
    """GEN-1: the optimized implementation of the exokernel interface."""

    def __init__(self, cfg: Config | None = None, check_demux: bool = True) -> None:
        """``check_demux``: prove every generated demultiplexer equal to the reference
        with Z3 before it classifies a packet (FLT-8); off only to measure without it."""
        self.cfg = cfg or Config()
        self.state = KernelState(self.cfg, check_demux)

    def apply(self, name: str, *args: Any) -> Result:
        """GEN-1/GEN-2: run operation ``name``; never raises, a failure changes nothing.
        ``name`` must be exactly a ``str`` (a subclass could hash or compare as it likes),
        the arguments exactly of their kinds (``admit``, no Z3 terms)."""
        sig = OPERATIONS.get(name) if type(name) is str else None
        if sig is None:
            return Result(Status.INVALID_ARGUMENT, 0)
        plain = admit(sig, args)
        if plain is None:
            return Result(Status.INVALID_ARGUMENT, null_value(sig))
        return HANDLERS[name](self.state, *plain)

    def trap(self, name: str, *args: Any) -> Result:
        """GEN-6: system call ``name`` made by the running environment (``exo.impl.trap``);
        never raises, a failure changes nothing."""
        return trap(self.state, HANDLERS, name, *args)

    def observe(self) -> dict[str, Any]:
        """The state in the model's field vocabulary (``exo.kit.conformance``)."""
        return self.state.observe()

    def observe_as(self, env: int) -> dict[str, Any] | None:
        """GEN-7: what environment ``env`` sees (``exo.impl.view``); None for a value that
        is not exactly an ``int`` naming an environment slot."""
        return observe_as(self.state, env)
