"""The conformance kit: run your implementation of the exokernel interface in
lockstep with the model (like ``trio.testing``, for users' own implementations).

What an implementation provides
-------------------------------
A *factory* — usually the class itself — called with an ``exo.interface.Config`` (the
sizes) and returning an object with two methods:

``apply(name: str, *args) -> exo.interface.Result``
    Run the operation ``name`` of ``exo.interface.OPERATIONS`` with the model's argument
    order (ints, bools, ``Cap`` capabilities, BPF programs as tuples of
    ``(code, jt, jf, k)``, packets as ``bytes``). The ``Result`` must carry exactly the
    model's ``Status`` — not just "some error" — and the same value (an int, or a ``Cap``
    compared field by field; an ``OVERLAP`` witness may be any packet, in hex, that both
    filters accept — ``exo.kit.conformance.same_outcome``). Errors are values (GEN-1):
    ``apply`` must **never raise**,
    whatever the arguments: negative or huge ints, ``True`` where an int is expected,
    ``None``, strings, the wrong number of arguments, forged or stale capabilities. A
    failed operation leaves the state unchanged (GEN-2).

``observe() -> dict[str, Any]``
    The implementation's state in the model's vocabulary, one entry per field of
    ``exo.model.State`` (except ``cfg``): a scalar for a scalar field (``cur_env``,
    ``now``…), or a dict for a map field, from its key (an int, or a tuple of ints for
    two-index fields such as ``rights[env, page]``) to its value. Missing fields and
    missing keys take the boot value, so a sparse dict of what differs from boot is
    enough. Fields that carry no meaning (an invalid TLB slot's old page, the words of a
    free page…) are ignored (``exo.kit.conformance.canonical``).

What the machine does
---------------------
Every operation is a rule, with arguments mostly in range and sometimes hostile, plus
rules for values of the wrong type and the wrong number of arguments, forged
capabilities, revocation followed by abort, and ``filter_traffic``: install a filter
(small hand-made programs, or real tcpdump programs from ``exo.kit.bpf_samples`` — ports,
arp, the libpcap #430 pair, a division, ``not port 22``), then let packets arrive: a few
raw bytes, or Ethernet frames (IPv4 with options and fragments, IPv6, TCP/UDP/ICMP, ARP)
cut at random lengths and at the edges of header fields, where out-of-bounds aborts
decide the verdict.

Using the kit
-------------
* In your own pytest suite::

      from exo.interface import Config
      from exo.kit import lockstep_machine
      TestMyKernel = lockstep_machine(MyKernel, Config()).TestCase

* From the command line: ``exo check --impl mypackage.kernel:MyKernel``.
* Programmatically: ``run_check(MyKernel, Config(), steps=50, examples=200)``.

After every step the machine asserts that model and implementation returned the same
result (``exo.kit.conformance.same_outcome``), that the observation means the model's state
(``differences(model, abstract(cfg, impl.observe())) == []``); at the end of every
program, that the model still satisfies every invariant (``exo.spec.invariants.check``;
the proofs already cover every reachable state, and the check costs about ten steps). A
failure is shrunk by
Hypothesis to a short program of operation calls. ``ModelImplementation`` is the model
itself behind this interface: a reference, and the kit's own self-test.

Public entry
------------
``run_check``, ``CheckReport``, ``lockstep_machine``, ``Implementation``,
``ModelImplementation``, ``replay``, ``minimize`` and ``write_reproduction``; ``Failure``
and ``Step`` are what the last three take and give.

Inside (one module per concern; each imports only the ones listed before it)
---------------------------------------------------------------------------
* ``text``: how calls, results and errors are written;
* ``conformance``: the contract and the abstraction function (``abstract``,
  ``canonical``, ``differences``, ``same_outcome``);
* ``blame``: what a difference contradicts: the call's clause and the sentences of its
  declarative text the implementation's value breaks (every failure message names them);
* ``lockstep``: one step on both sides and its checks (``Lockstep``, ``Failure``);
* ``replay``: plain replay and minimization; ``reproduction``: the pytest file;
* ``bringup``: ``--ops``, the fields the chosen operations can change;
* ``coverage``: the behaviour cells a run hit (the cells: ``exo.spec.cells``);
* ``witnesses``: the shipped programs that reach every reachable cell;
* ``explore``: random walks and the small programs; ``bpf_samples``: tcpdump's;
* ``values``: argument values and strategies; ``configs``: sizes and swarm groups;
* ``rules`` and ``scenarios``: generation that builds state as a library OS does (and the
  paths its own set-up never takes); ``stale``: resources that change hands, then the call
  that reads what an optimized kernel kept on the side (indexes, caches, context tags);
* ``exos``: library-OS services as lockstep traffic (``--workload exos``);
* ``machine``: the Hypothesis state machine; ``check``: ``run_check``;
* ``lastfailure``: the last failure, kept for ``exo check --replay``;
* ``loader``: ``package.module:Factory`` (kernels in other processes: ``exo.wire``);
* ``skeleton``: the kernel skeletons of ``exo new-kernel`` (``skeletons/``, with the guide
  ``GUIDE.md``).
"""

from exo.kit.check import CheckReport, run_check
from exo.kit.conformance import Implementation
from exo.kit.lockstep import Failure, Step
from exo.kit.machine import lockstep_machine
from exo.kit.replay import minimize, replay
from exo.kit.reproduction import write_reproduction
from exo.model.kernel import ModelImplementation

__all__ = [
    "CheckReport",
    "Failure",
    "Implementation",
    "ModelImplementation",
    "Step",
    "lockstep_machine",
    "minimize",
    "replay",
    "run_check",
    "write_reproduction",
]
