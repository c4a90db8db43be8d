"""Broken trap layers and views (GEN-6, GEN-7): ``exo.impl.Kernel`` with one mistake in
the trap layer or in ``observe_as``, the kind an implementer of the new clauses makes.
Each names its clause and carries a ``WITNESS`` (steps; a ``trap`` step's first argument
names the system call) on which a lockstep replay with the views compared shows it.
``tests/test_trap_view_catalogue.py`` shows the witness diverges, the real kernel does
not, and the kit catches each one."""

from __future__ import annotations

from typing import Any, ClassVar

from exo.impl import Kernel
from exo.impl.kernel import HANDLERS
from exo.interface import FREE, OPERATIONS, TRAPS, Cap, Result, Rights, admit
from exo.kit.explore import two_running_envs
from exo.kit.lockstep import Step

_BOOT: tuple[Step, ...] = tuple((n, tuple(a)) for n, a in two_running_envs())


class BrokenLayer(Kernel):
    """A kernel with one broken trap-layer or view rule."""

    WITNESS: ClassVar[tuple[Step, ...]] = ()
    CLAUSE: ClassVar[str] = ""


class TrapTakesCallerFromArgument(BrokenLayer):
    """GEN-6: a trap given the raw operation's arguments acts for the environment the
    first one names (the caller must come from cur_env; INVALID_ARGUMENT expected)."""

    CLAUSE = "GEN-6"
    WITNESS = (*_BOOT, ("trap", ("alloc", 1, 5)))

    def trap(self, name: str, *args: Any) -> Result:
        sig = OPERATIONS.get(name) if type(name) is str else None
        if sig is not None and name in TRAPS and len(args) == len(sig.args):
            plain = admit(sig, args)
            if plain is not None:
                return HANDLERS[name](self.state, *plain)
        return super().trap(name, *args)


class TrapRunsEvents(BrokenLayer):
    """GEN-6: a trap of a hardware event runs it (only system calls are traps;
    INVALID_ARGUMENT expected)."""

    CLAUSE = "GEN-6"
    WITNESS = (*_BOOT, ("trap", ("set_reg", 0, 7)))

    def trap(self, name: str, *args: Any) -> Result:
        if type(name) is str and name in OPERATIONS and name not in TRAPS:
            return self.apply(name, *args)
        return super().trap(name, *args)


class TrapIdleRunsForNobody(BrokenLayer):
    """GEN-6: a trap with the CPU idle is checked by the system call for environment -1
    (INVALID_ARGUMENT) instead of NOT_RUNNING."""

    CLAUSE = "GEN-6"
    WITNESS = (("env_create", (0, 0)), ("trap", ("alloc", 1)))

    def trap(self, name: str, *args: Any) -> Result:
        if self.state.cur_env == FREE and type(name) is str and name in TRAPS:
            sig = TRAPS[name]
            plain = admit(sig, args)
            if plain is not None and OPERATIONS[name].args[:1] == (("env", "int"),):
                return HANDLERS[name](self.state, FREE, *plain)
        return super().trap(name, *args)


class ViewShowsEveryWord(BrokenLayer):
    """GEN-7: observe_as lists the words of every owned page, not only of the pages the
    environment holds a right to."""

    CLAUSE = "GEN-7"
    WITNESS = (*_BOOT, ("alloc", (0, 2)), ("set_reg", (0, 9)),
               ("tlbwr", (0, 1, Cap(2, 0, int(Rights.READWRITE)), True)), ("store", (1, 0, 0)))

    def observe_as(self, env: int) -> dict[str, Any] | None:
        out = super().observe_as(env)
        if out is not None:
            st = self.state
            out["word"] = {(p, w): x for p in range(st.cfg.n_pages) if st.owner[p] != FREE
                           for w, x in enumerate(st.word[p])}
        return out


class ViewShowsRegistersToAll(BrokenLayer):
    """GEN-7: observe_as shows the registers to every environment, not only to the
    running one."""

    CLAUSE = "GEN-7"
    WITNESS = (*_BOOT, ("set_reg", (0, 9)))

    def observe_as(self, env: int) -> dict[str, Any] | None:
        out = super().observe_as(env)
        if out is not None:
            out["regs"] = dict(enumerate(self.state.regs))
        return out


class ViewHidesOwnRights(BrokenLayer):
    """GEN-7: observe_as leaves out the rights the environment holds (its own row)."""

    CLAUSE = "GEN-7"
    WITNESS = (*_BOOT, ("alloc", (0, 2)))

    def observe_as(self, env: int) -> dict[str, Any] | None:
        out = super().observe_as(env)
        if out is not None:
            out.pop("rights", None)
        return out


class GrantAlsoToNext(BrokenLayer):
    """NI-2: a grant made through the trap also gives READ to the environment after the
    grantee (a right its caller has no authority to hand to anyone but the grantee)."""

    CLAUSE = "NI-2"
    WITNESS = (*_BOOT, ("trap", ("alloc", 2)),
               ("trap", ("grant", Cap(2, 0, int(Rights.READWRITE)), 1, int(Rights.READ))))

    def trap(self, name: str, *args: Any) -> Result:
        res = super().trap(name, *args)
        if name == "grant" and res.status == 0 and len(args) == 3 and type(args[1]) is int:
            page, other = args[0].page, (args[1] + 1) % self.cfg.n_envs
            if other != self.state.cur_env and self.state.rights(other, page) == 0:
                self.state.set_rights(other, page, int(Rights.READ))
        return res


CATALOGUE: dict[str, type[BrokenLayer]] = {cls.__name__: cls for cls in (
    TrapTakesCallerFromArgument, TrapRunsEvents, TrapIdleRunsForNobody,
    ViewShowsEveryWord, ViewShowsRegistersToAll, ViewHidesOwnRights, GrantAlsoToNext)}
"""Every broken trap layer or view by name."""
