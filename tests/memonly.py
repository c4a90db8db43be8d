"""A memory-only kernel, as an implementer might write first: environments (ENV-1) and
pages (MEM-1..MEM-3) and nothing else. ``exo check --ops env_create,alloc,dealloc,grant``
brings it up (tests/test_bringup.py); without ``--ops`` the kit rejects it at once."""

from __future__ import annotations

from typing import Any

from exo.interface import NULL_CAP, OPERATIONS, Cap, Config, Result, Rights, Status, admit

READWRITE = int(Rights.READWRITE)


class MemOnly:
    """ENV-1 and MEM-1..MEM-3 with plain dicts; every other operation: INVALID_ARGUMENT."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.alive: dict[int, int] = {}  # env -> cid
        self.owner: dict[int, int] = {}
        self.gen: dict[int, int] = {}
        self.rights: dict[tuple[int, int], int] = {}
        self.words: set[int] = set()

    def apply(self, name: str, *args: Any) -> Result:
        sig = OPERATIONS.get(name) if type(name) is str else None
        if sig is None or name not in ("env_create", "alloc", "dealloc", "grant"):
            return Result(Status.INVALID_ARGUMENT, 0)
        plain = admit(sig, args)
        if plain is None:
            return Result(Status.INVALID_ARGUMENT, NULL_CAP if sig.result == "cap" else 0)
        handler = getattr(self, "_" + name)
        result: Result = handler(*plain)
        return result

    def _env_ok(self, env: int) -> bool:
        return bool(0 <= env < self.cfg.n_envs)

    def _page_ok(self, page: int) -> bool:
        return bool(0 <= page < self.cfg.n_pages)

    def _cap_ok(self, env: int, cap: Cap) -> bool:
        return bool(self._page_ok(cap.page) and cap.gen == self.gen.get(cap.page, 0)
                    and 1 <= cap.rights <= 2
                    and self.rights.get((env, cap.page), 0) >= cap.rights)

    def _env_create(self, env: int, cid: int) -> Result:
        if not self._env_ok(env) or not 0 <= cid < self.cfg.n_cids:
            return Result(Status.INVALID_ARGUMENT, 0)
        if env in self.alive:
            return Result(Status.ENV_EXISTS, 0)
        if cid in self.alive.values():
            return Result(Status.IN_USE, 0)
        self.alive[env] = cid
        return Result(Status.OK, env)

    def _alloc(self, env: int, page: int) -> Result:
        if not self._env_ok(env) or not self._page_ok(page):
            return Result(Status.INVALID_ARGUMENT, NULL_CAP)
        if env not in self.alive:
            return Result(Status.NO_SUCH_ENV, NULL_CAP)
        if page in self.owner:
            return Result(Status.IN_USE, NULL_CAP)
        self.owner[page] = env
        self.rights[env, page] = READWRITE
        return Result(Status.OK, Cap(page, self.gen.get(page, 0), READWRITE))

    def _dealloc(self, env: int, cap: Cap) -> Result:
        if not self._env_ok(env) or not self._page_ok(cap.page):
            return Result(Status.INVALID_ARGUMENT, 0)
        if env not in self.alive:
            return Result(Status.NO_SUCH_ENV, 0)
        if self.owner.get(cap.page) != env:
            return Result(Status.NOT_OWNER, 0)
        if not self._cap_ok(env, cap):
            return Result(Status.BAD_CAPABILITY, 0)
        del self.owner[cap.page]
        self.gen[cap.page] = self.gen.get(cap.page, 0) + 1
        self.rights = {k: v for k, v in self.rights.items() if k[1] != cap.page}
        return Result(Status.OK, 0)

    def _grant(self, env: int, cap: Cap, grantee: int, rights: int) -> Result:
        if not (self._env_ok(env) and self._env_ok(grantee) and self._page_ok(cap.page)
                and 1 <= rights <= 2):
            return Result(Status.INVALID_ARGUMENT, NULL_CAP)
        if env not in self.alive or grantee not in self.alive:
            return Result(Status.NO_SUCH_ENV, NULL_CAP)
        if not self._cap_ok(env, cap):
            return Result(Status.BAD_CAPABILITY, NULL_CAP)
        if rights > cap.rights:
            return Result(Status.NO_PERMISSION, NULL_CAP)
        old = self.rights.get((grantee, cap.page), 0)
        self.rights[grantee, cap.page] = max(old, rights)
        return Result(Status.OK, Cap(cap.page, self.gen.get(cap.page, 0), rights))

    def observe(self) -> dict[str, Any]:
        return {
            "env_alive": dict.fromkeys(self.alive, True),
            "env_cid": dict(self.alive),
            "cid_env": {cid: env for env, cid in self.alive.items()},
            "owner": dict(self.owner), "gen": dict(self.gen), "rights": dict(self.rights),
        }


class MemOnlyLeaky(MemOnly):
    """MEM-2 broken: dealloc leaves the grantees' rights."""

    def _dealloc(self, env: int, cap: Cap) -> Result:
        kept = {k: v for k, v in self.rights.items() if k[0] != env}
        result = super()._dealloc(env, cap)
        if result.status == Status.OK:
            self.rights.update({k: v for k, v in kept.items() if k[1] == cap.page})
        return result
