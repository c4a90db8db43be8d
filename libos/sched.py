"""Scheduling at application level (paper: ExOS builds its own scheduler on the slice
vector, CPU-1..CPU-5): a stride scheduler. The library owns some slices of the vector;
whenever one of them begins, the environment that owns it is started at its
start-of-slice entry (CPU-5) and the library's scheduler, running there, gives the rest
of the slice to the process whose pass is lowest (``yield_to``, CPU-3). Each process's
pass advances by its stride, ``STRIDE_ONE / tickets``, so over time each gets slices in
proportion to its tickets."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from exo.interface import Outcome
from exo.libos.core import LibOS, LibOSError

STRIDE_ONE = 1 << 20
"""The numerator of every stride (large, so integer strides keep the ratios)."""


@dataclass
class Task:
    env: int
    tickets: int
    pass_: int = 0

    @property
    def stride(self) -> int:
        return STRIDE_ONE // self.tickets


class StrideScheduler:
    """The stride scheduler of library ``lib`` over its processes ``tasks``."""

    def __init__(self, lib: LibOS, tasks: list[Task]) -> None:
        self.lib, self.tasks = lib, tasks
        self.shares: Counter[int] = Counter()  # env -> slices it got
        self.history: list[int] = []  # the env given each slice, in order

    def pick(self) -> Task:
        """The lowest pass (ties: the first in ``tasks``)."""
        return min(self.tasks, key=lambda t: t.pass_)

    def run(self, slices: int) -> None:
        """Drive the clock through ``slices`` slices of this library: at each one's
        start, yield it to the chosen task and let it run to its end."""
        m = self.lib.machine
        envs = {t.env for t in self.tasks}
        given = 0
        for _ in range(slices * (m.cfg.n_slices + 1) * (m.cfg.slice_ticks + 1) + 1):
            if given == slices:
                return
            res = m.tick()
            if res.value != Outcome.NEXT_SLICE:
                continue
            cur = m.state(self.tasks[0].env).get("cur_env")  # public: who runs
            if cur not in envs:
                continue  # another library's slice, or an idle one
            task = self.pick()
            if task.env != cur:
                m.sys_ok(cur, "yield_to", task.env)  # the scheduler, running in ``cur``
            task.pass_ += task.stride
            self.shares[task.env] += 1
            self.history.append(task.env)
            given += 1
        raise LibOSError("the library's slices did not come round")
