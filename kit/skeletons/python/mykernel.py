"""My exokernel: a starting point written by ``exo new-kernel``.

What is here: the processor environments (spec/env.md, ENV-1..ENV-5), written for real,
and ``observe()`` (spec/observe.md, GEN-5) for the state they keep. Every other operation
is not written yet: calling it raises ``NotImplementedError``, which ``exo check`` reports
as a failure, so a stage that includes it fails until you write it. Read GUIDE.md for the
order in which to add them; each stage names the ``--ops`` to check it with.

Check this file as it is (from the folder that holds it):

    exo check --impl mykernel:Kernel --ops ENV

Every operation's positional arguments, its result and its null value on failure are in
spec/signatures.md (``exo spec ENV`` lists the clauses and where the spec files are).
"""

from __future__ import annotations

from typing import Any

from exo.interface import (
    FREE,
    NO_ENTRY,
    NUM_EXCEPTIONS,
    OPERATIONS,
    Config,
    Result,
    Status,
    Vector,
    admit,
    null_value,
)

OK = Status.OK
INVALID = Status.INVALID_ARGUMENT


class Kernel:
    """The kernel under test. ``exo check`` builds one per program with a ``Config`` (the
    sizes of the machine, GEN-4) and calls ``apply`` and ``observe``."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        # ENV-1: which environment slots are alive, and the context id of each.
        self.env_alive: list[bool] = [False] * cfg.n_envs
        self.env_cid: list[int] = [FREE] * cfg.n_envs  # FREE (-1) while dead
        self.cid_env: list[int] = [FREE] * cfg.n_cids  # the live env using the id, or FREE
        # ENV-3..ENV-5: entry[env, vector]; a key left out is NO_ENTRY (-1).
        self.entry: dict[tuple[int, int], int] = {}

    # ------------------------------------------------------------------ the contract

    def apply(self, name: str, *args: Any) -> Result:
        """Run operation ``name`` (GEN-1: errors are values, never exceptions).

        The name and the arguments' kinds are checked first, with ``admit``: the exact-type
        check the model itself uses (a bool is not an int, a float is nothing). The kit
        sends such arguments on purpose. Each operation then checks its ranges and its
        other requirements in the order its clause lists them (GEN-2, GEN-3)."""
        if type(name) is not str or name not in OPERATIONS:
            return Result(INVALID, 0)
        sig = OPERATIONS[name]
        admitted = admit(sig, args)
        if admitted is None:
            return Result(INVALID, null_value(sig))
        method = getattr(self, name, None)
        if method is None:
            raise NotImplementedError(
                f"{name} ({sig.clause}) is not written yet: see spec/signatures.md"
                f"#op-{name} and the clause {sig.clause}")
        result: Result = method(*admitted)
        return result

    def observe(self) -> dict[str, Any]:
        """GEN-5 (spec/observe.md): the state in the model's vocabulary, in sparse form.
        A field or key left out stands for its boot value, so only what differs from boot
        is listed. Add the fields of each stage as you write it. Values are exactly of
        the table's type: an enumeration member (``Rights.READWRITE``, ``ExcKind.TLB_MISS``)
        is not an ``int`` there, so keep ``int(...)`` of it in the state."""
        alive = [e for e in range(self.cfg.n_envs) if self.env_alive[e]]
        return {
            "env_alive": {e: True for e in alive},
            "env_cid": {e: self.env_cid[e] for e in alive},
            "cid_env": {c: e for c, e in enumerate(self.cid_env) if e != FREE},
            "entry": dict(self.entry),
        }

    # ------------------------------------------------------------------ helpers

    def _env_in_range(self, env: int) -> bool:
        n_envs: int = self.cfg.n_envs
        return 0 <= env < n_envs

    def _entry_ok(self, entry: int) -> bool:
        """GEN-3: an entry point is NO_ENTRY or an address in [0, addr_limit)."""
        addr_limit: int = self.cfg.addr_limit
        return entry == NO_ENTRY or 0 <= entry < addr_limit

    def _set_entry(self, env: int, vector: int, entry: int) -> None:
        if entry == NO_ENTRY:
            self.entry.pop((env, vector), None)
        else:
            self.entry[env, vector] = entry

    # ------------------------------------------------------------------ ENV (spec/env.md)

    def env_create(self, env: int, cid: int) -> Result:
        """ENV-1: ``env_create(env, cid) -> int``; OK with the value ``env``."""
        if not self._env_in_range(env):
            return Result(INVALID, 0)
        if not 0 <= cid < self.cfg.n_cids:
            return Result(INVALID, 0)
        if self.env_alive[env]:
            return Result(Status.ENV_EXISTS, 0)
        if self.cid_env[cid] != FREE:
            return Result(Status.IN_USE, 0)
        self.env_alive[env] = True
        self.env_cid[env] = cid
        self.cid_env[cid] = env
        # ENV-1 also resets the new environment's entry points (and, once you have them,
        # its guaranteed mappings, excess time, revocation request, repossession vector
        # and receive ring). A dead environment already holds none of them.
        for vector in range(len(Vector)):
            self.entry.pop((env, vector), None)
        return Result(OK, env)

    def env_destroy(self, env: int) -> Result:
        """ENV-2: ``env_destroy(env) -> int``; OK with the value 0.

        This one grows with every stage: ENV-2 lists everything an environment gives
        back. Memory (stage 2): its pages become free with their generation one higher,
        every right on them drops, its own rights drop. CPU (stage 3): its slices become
        free, its excess time 0, and if it was running the CPU idles (cur_env and hw_cid
        FREE). TLB (stage 5): its guaranteed mappings go, and every binding that lost its
        authority is broken (TLB-9). REV and NET: its request, repossession vector,
        filters and ring are cleared."""
        if not self._env_in_range(env):
            return Result(INVALID, 0)
        if not self.env_alive[env]:
            return Result(Status.NO_SUCH_ENV, 0)
        self.env_alive[env] = False
        self.cid_env[self.env_cid[env]] = FREE
        self.env_cid[env] = FREE
        for vector in range(len(Vector)):
            self.entry.pop((env, vector), None)
        return Result(OK, 0)

    def set_exception_context(self, env: int, exc: int, entry: int) -> Result:
        """ENV-3: the handler for exception kind ``exc`` (vectors 0..5)."""
        if not self._env_in_range(env):
            return Result(INVALID, 0)
        if not 0 <= exc < NUM_EXCEPTIONS:
            return Result(INVALID, 0)
        if not self._entry_ok(entry):
            return Result(INVALID, 0)
        if not self.env_alive[env]:
            return Result(Status.NO_SUCH_ENV, 0)
        self._set_entry(env, exc, entry)
        return Result(OK, 0)

    def set_interrupt_context(self, env: int, which: int, entry: int) -> Result:
        """ENV-4: the start-of-slice (which 0, vector 6) or end-of-slice (which 1,
        vector 7) entry."""
        return self._set_pair(env, which, entry, Vector.SLICE_START)

    def set_protected_entry(self, env: int, which: int, entry: int) -> Result:
        """ENV-5: the synchronous (which 0, vector 8) or asynchronous (which 1, vector 9)
        entry of protected control transfers."""
        return self._set_pair(env, which, entry, Vector.PCT_SYNC)

    def _set_pair(self, env: int, which: int, entry: int, first: int) -> Result:
        """ENV-4 and ENV-5 check the same things in the same order."""
        if not self._env_in_range(env):
            return Result(INVALID, 0)
        if not 0 <= which < 2:
            return Result(INVALID, 0)
        if not self._entry_ok(entry):
            return Result(INVALID, 0)
        if not self.env_alive[env]:
            return Result(Status.NO_SUCH_ENV, 0)
        self._set_entry(env, first + which, entry)
        return Result(OK, 0)

    # ------------------------------------------------------------------ next stages
    # Add one method per operation, named as the operation, taking its arguments in the
    # order of spec/signatures.md (``apply`` finds it by name). Stage 2 of GUIDE.md:
    #
    #   def alloc(self, env: int, page: int) -> Result:       # MEM-1, returns a Cap
    #   def dealloc(self, env: int, cap: Cap) -> Result:      # MEM-2
    #   def grant(self, env: int, cap: Cap, grantee: int, rights: int) -> Result:  # MEM-3
