"""GEN-6: the trap layer of the optimized kernel. A system call made by user code acts
for the running environment, which the layer reads from the kernel's own ``cur_env``;
the caller cannot name another. Checks in the clause's order: the name (exactly a
``str`` naming a system call of ``exo.interface.TRAPS``), the argument kinds (``admit``),
a running environment (NOT_RUNNING), then the handler's own checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exo.impl.state import KernelState
from exo.interface import Result, trap_call

__all__ = ["trap"]


def trap(st: KernelState, handlers: dict[str, Callable[..., Result]], name: str,
         *args: Any) -> Result:
    """GEN-6: run system call ``name`` of ``handlers`` for ``st.cur_env``."""
    call = trap_call(name, args, st.cur_env)
    if isinstance(call, Result):
        return call
    op, raw = call
    return handlers[op](st, *raw)
