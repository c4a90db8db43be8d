"""ExOS-lite: library operating systems on the exokernel interface (issue 14).

A library OS here is untrusted application code. It makes its system calls through the
trap layer, ``trap(name, *args)`` (GEN-6), as the environment on the CPU, and reads the
machine through that environment's view, ``observe_as(env)`` (GEN-7): its registers
while it runs, the cause of its upcall, its own records and pages, and what every
environment sees (the owner of each physical page, the slice vector, who runs). Hardware
events and the kernel's own operations keep ``apply``, and so does the loader that sets
up a new environment before it can run. It never reads the whole state. So the same
library runs on the reference model (``exo.kit.ModelImplementation``), on the bundled
``exo.impl.Kernel`` and on any kernel the kit can drive over the wire protocol.

* ``exo.libos.core``: the machine the libraries share (counting kernel calls) and the
  library OS itself: boot, handlers, scheduling onto the CPU, upcalls;
* ``exo.libos.pagetable``: two page-table structures behind one interface (a two-level
  table and a hashed one), as the paper's extensible page tables;
* ``exo.libos.vm``: application-level virtual memory: demand paging from the TLB-miss
  upcall, protection changes, dirty bits from write faults, copy-on-write through
  ``grant`` and the protection fault, pages and the table image on guaranteed mappings;
* ``exo.libos.revoke``: a pager that answers revocation requests, and the repair after
  the abort protocol;
* ``exo.libos.ipc``: a pipe over a shared page, an LRPC over ``scall``;
* ``exo.libos.sched``: a stride scheduler over the slice vector;
* ``exo.libos.net``: a datagram socket with a generated packet filter;
* ``exo.libos.demo``: ``python -m exo.libos.demo``, every service on the model and on
  ``exo.impl``, side by side.
"""
