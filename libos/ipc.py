"""Inter-process communication at application level (paper: ExOS pipes over shared
memory, LRPC over protected control transfer).

* ``Pipe``: a ring of words on one physical page both processes map. The writer owns
  the page and grants the reader READWRITE (MEM-3). Word 0 is the count of words
  written, word 1 the count read, the rest the ring. Each side switches to its own
  process to touch the page (a library process reads only through its own bindings).
* ``LRPC``: a call from a client process to a server process with ``scall`` (PCT-1).
  The arguments travel in registers, which the kernel neither saves nor clears on a
  transfer (PCT-3). Control lands on the server's synchronous entry, and the slice in
  progress is donated with it. The server's reply goes back the same way.
"""

from __future__ import annotations

from collections.abc import Callable

from exo.interface import Rights
from exo.libos.core import LibOSError
from exo.libos.pagetable import PTE
from exo.libos.vm import REG, Process

HEAD, TAIL, RING = 0, 1, 2


class PipeFull(LibOSError):
    """The ring has no free word."""


class Pipe:
    """A one-way pipe of integers from ``writer`` to ``reader``, both processes of one
    library, over a page the writer allocates and maps at ``vpage`` in both."""

    def __init__(self, writer: Process, reader: Process, vpage: int) -> None:
        self.writer, self.reader, self.vpage = writer, reader, vpage
        writer.store(vpage, HEAD, 0)  # demand-pages the ring's page into the writer
        writer.store(vpage, TAIL, 0)
        pte = writer.table.lookup(vpage)
        if pte is None:  # the writer's own store just mapped it; only a bug gets here
            raise LibOSError(f"the pipe's page {vpage} is not in the writer's table")
        cap = writer.lib.sys_ok(writer.env, "grant", pte.cap, reader.env,
                                int(Rights.READWRITE))
        reader.table.insert(vpage, PTE(pte.page, cap, writable=True, dirty=True))
        self.size = writer.machine.cfg.page_words - RING

    def write(self, value: int) -> None:
        w, v = self.writer, self.vpage
        head, tail = w.load(v, HEAD), w.load(v, TAIL)
        if head - tail >= self.size:
            raise PipeFull(f"{self.size} words waiting")
        w.store(v, RING + head % self.size, value)
        w.store(v, HEAD, head + 1)

    def read(self) -> int | None:
        """The oldest word, or None if the pipe is empty."""
        r, v = self.reader, self.vpage
        head, tail = r.load(v, HEAD), r.load(v, TAIL)
        if head == tail:
            return None
        value = r.load(v, RING + tail % self.size)
        r.store(v, TAIL, tail + 1)
        return value


class LRPC:
    """Lightweight RPC from ``client`` to ``server`` over ``scall``: up to ``n_regs``
    integer arguments in registers, one result back in register ``REG``.
    ``procedure`` is the server's code; it runs while the server is on the CPU."""

    def __init__(self, client: Process, server: Process,
                 procedure: Callable[[list[int]], int]) -> None:
        self.client, self.server, self.procedure = client, server, procedure
        self.calls = 0

    def call(self, *args: int) -> int:
        m, c, s = self.client.machine, self.client, self.server
        c.lib.run(c.env)
        for r, a in enumerate(args):
            m.ok("set_reg", r, a)
        m.sys_ok(c.env, "scall", s.env)  # PCT-1: the server runs, registers as the client set
        state = m.state(s.env)  # the server reads its own processor
        if state.get("cur_env") != s.env:
            raise LibOSError(f"scall({s.env}) left env {state.get('cur_env')} running")
        received = [int(state.get("regs", r)) for r in range(len(args))]
        m.ok("set_reg", REG, self.procedure(received))
        m.sys_ok(s.env, "scall", c.env)  # the reply: control and the slice go back
        self.calls += 1
        state = m.state(c.env)
        if state.get("cur_env") != c.env:
            raise LibOSError(f"scall({c.env}) left env {state.get('cur_env')} running")
        return int(state.get("regs", REG))
