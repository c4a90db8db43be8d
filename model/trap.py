"""GEN-6: the trap layer, the only way user code calls the kernel.

``trap(state, op, *args)`` runs system call ``op`` for the running environment: the layer,
not the caller, says who is calling. A system call that names its caller (``alloc(env,
page)``) gets ``cur_env`` as that argument; ``yield_to``, ``scall`` and ``acall`` already
act for the running environment. With the CPU idle there is no caller: ``NOT_RUNNING``.
Hardware events (``load``, ``store``, ``set_reg``, ``raise_exception``, ``timer_tick``,
``packet_arrive``) and the kernel's own operations (``env_create``, ``env_destroy``,
``revoke_request``, ``abort``) are not traps: they keep their own entry
(``exo.model.REGISTRY``), as do the raw system calls, for the kernel's own use (a loader
that sets up a new environment) and for tests.

The order of checks: ``op`` is exactly a ``str`` naming a system call (else
INVALID_ARGUMENT, value 0); the arguments are exactly of their kinds (GEN-1, else
INVALID_ARGUMENT with the null value); an environment runs (else NOT_RUNNING with the null
value); then the system call's own checks, with the running environment as its caller.
"""

from __future__ import annotations

from typing import Any

from exo.interface import (
    FREE,
    TRAPS,
    Result,
    Status,
    acts_for_caller,
    admit,
    null_value,
)
from exo.logic import If, symbolic_mode
from exo.model.ops import REGISTRY
from exo.model.state import State

__all__ = ["trap"]


def trap(s: State, op: str, *args: Any) -> tuple[State, Result]:
    """GEN-6: system call ``op`` with ``args`` (every argument but ``env``), made by the
    running environment ``s.cur_env``."""
    sig = TRAPS.get(op) if type(op) is str else None
    if sig is None:
        return s, Result(Status.INVALID_ARGUMENT, 0)
    plain = admit(sig, args, symbolic=symbolic_mode())
    null = null_value(sig)
    if plain is None:
        return s, Result(Status.INVALID_ARGUMENT, null)
    idle = s.cur_env == FREE
    if idle is True:  # concretely: no caller, nothing to run
        return s, Result(Status.NOT_RUNNING, null)
    call = (s.cur_env, *plain) if acts_for_caller(op) else plain
    post, res = REGISTRY[op](s, *call)
    return If(idle, s, post), Result(If(idle, int(Status.NOT_RUNNING), res.status),
                                     If(idle, null, res.value))
