"""``run_check``: the kit run as ``exo check`` runs it — the shipped witness programs
first (``exo.kit.witnesses``), then generated programs spread over ``KIT_CONFIGS``; a
failure shrunk by Hypothesis, replayed and minimized (``exo.kit.replay``) and reported in
a ``CheckReport``."""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from hypothesis import Phase, settings
from hypothesis import core as hypothesis_core
from hypothesis.errors import HypothesisException
from hypothesis.internal.conjecture import engine as hypothesis_engine
from hypothesis.internal.conjecture import providers as hypothesis_providers
from hypothesis.internal.constants_ast import Constants
from hypothesis.reporting import with_reporter
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from exo.interface import OPERATIONS, Config
from exo.kit.bringup import TRAP_OP, fields_for
from exo.kit.configs import KIT_CONFIGS, spread
from exo.kit.coverage import UNREACHABLE, Coverage
from exo.kit.lockstep import Factory, Failure, Step
from exo.kit.machine import HEALTH, lockstep_machine
from exo.kit.profiles import DEFAULT, OUTSIDE
from exo.kit.profiles import problem as profile_problem
from exo.kit.replay import minimize, replay
from exo.kit.text import describe, message_line
from exo.kit.witnesses import reach, sweep

__all__ = ["MODES", "SHRINK_EXAMPLES", "CheckReport", "counted_time", "probe_factory",
           "repeatable", "run_check"]

MODES = ("generated", "replay", "replay-search")
"""What a ``CheckReport`` reports on: ``generated``, a ``run_check`` (the witness sweep,
then ``examples`` generated programs of up to ``steps`` steps); ``replay``, the recorded
calls of a failure run once again (``replayed`` calls, nothing generated); and
``replay-search``, a recorded failure's seeded search run again with its budget. Only a
generated run can be called conformant."""


@dataclass
class CheckReport:
    """What ``run_check`` found: passed, or the shrunk failing program and why; and what
    was run (``mode``, the budget, the scope), so that a verdict never claims more."""

    passed: bool
    examples: int  # programs the run was to generate (0 for a replay of calls)
    steps: int  # steps per generated program (0 for a replay of calls)
    program: str = ""
    error: str = ""
    runs: int = 0
    coverage: Coverage | None = None
    config: Config | None = None  # the configuration of the failing run (or the last)
    trace: list[Step] | None = None  # the failing calls, replayed and minimized
    failure: Failure | None = None  # what the replay of ``trace`` found first
    fields: frozenset[str] | None = None  # the observe() fields compared (--ops)
    seconds_to_find: float | None = None  # from the start to the first failing example
    seconds_to_shrink: float | None = None  # from then to the verdict (shrink, minimize)
    found_by: str = ""  # a failure's finder: "sweep" (the witness programs) or "search"
    missing: list[str] = field(default_factory=list)  # reachable cells of the scope not hit
    mode: str = "generated"  # one of MODES
    seed: int | None = None  # the seed the programs were generated from
    ops: frozenset[str] | None = None  # the operations called (--ops); None: all of them
    filters: str = DEFAULT  # the filter profile (exo.kit.profiles)
    configs: list[Config] = field(default_factory=list)  # the sizes run (or replayed)
    shares: list[int] = field(default_factory=list)  # examples due per configuration
    ran: list[int] = field(default_factory=list)  # programs started per configuration
    replayed: int = 0  # mode "replay": how many recorded calls were run again
    calls: int = 0  # lockstep calls made by generated programs (shrinking included)

    @property
    def complete(self) -> bool:
        """Every reachable cell of the run's scope was exercised."""
        return not self.missing

    @property
    def conformant(self) -> bool | None:
        """False if a difference was found; True for a generated run that found none and
        exercised every reachable cell of its scope (False if it left one); None for a
        replay that found none: it ran a recorded failure again, no conformance check."""
        if not self.passed:
            return False
        if self.mode != "generated":
            return None
        return self.complete

    @property
    def verdict(self) -> str:
        """``conformant``, ``incomplete`` (no difference found, but a reachable cell of
        the scope was never exercised: not a conformance claim), ``not conformant``, or
        for a replay ``no difference`` (the recorded failure did not happen again)."""
        if not self.passed:
            return "not conformant"
        if self.mode != "generated":
            return "no difference"
        return "conformant" if self.complete else "incomplete"

    @property
    def excluded_ops(self) -> list[str]:
        """The operations a run restricted by ``ops`` never called (sorted)."""
        return sorted(set(OPERATIONS) - self.ops) if self.ops is not None else []

    def budget(self) -> str:
        """What was run, in words: ``5 examples x 10 steps (seed 7) over 3
        configurations`` (and how many programs were started, if not as many) or ``12
        recorded calls replayed``."""
        if self.mode == "replay":
            return f"{self.replayed} recorded calls replayed"
        seed = f" (seed {self.seed})" if self.seed is not None else ""
        sizes = len(self.configs)
        over = (f" over {sizes} configuration{'s' if sizes != 1 else ''}" if sizes else "")
        started = (f", {self.runs} programs started" if self.passed and self.configs
                   and self.runs != self.examples else "")
        return f"{self.examples} examples x {self.steps} steps{seed}{over}{started}"

    def scope(self) -> str:
        """The restrictions of the run, in words ("" for none): the operations left out
        by ``ops`` and the filter profile if it is not the default."""
        parts = []
        if self.ops is not None:
            called = len(self.ops & OPERATIONS.keys())
            trap = " and the trap layer" if TRAP_OP in self.ops else ""
            if self.excluded_ops:
                parts.append(f"only {called} of {len(OPERATIONS)} operations called{trap} "
                             f"(--ops; excluded: {', '.join(self.excluded_ops)}) and only "
                             "the fields they change compared")
            else:
                parts.append(f"all {called} operations called{trap} (--ops names every one)")
        if self.filters != DEFAULT:
            outside = len(OUTSIDE.get(self.filters, frozenset()))
            parts.append(f"filter profile {self.filters} ({outside} cells outside it)")
        return "; ".join(parts)

    def as_json(self) -> dict[str, Any]:
        """The report as ``exo check --json`` writes it: the verdict, what was run (the
        mode; the budget of a generated run or the number of calls replayed) and the
        scope (the operations included and excluded, the filter profile, the sizes).
        ``examples`` and ``steps`` are given only for what generated programs."""
        generated = self.mode != "replay"
        return {
            "mode": self.mode,
            "conformant": self.conformant,
            "verdict": self.verdict,
            "examples": self.examples if generated else None,
            "steps": self.steps if generated else None,
            "seed": self.seed if generated else None,
            "budget": {"examples": self.examples, "steps": self.steps, "seed": self.seed,
                       "programs_run": self.runs,
                       "configs": [{"config": _config_json(c), "examples": share,
                                    "programs_run": ran} for c, share, ran in
                                   zip(self.configs, self.shares, self.ran, strict=False)]}
            if generated else None,
            "replay": {"calls": self.replayed,
                       "configs": [_config_json(c) for c in self.configs]}
            if self.mode == "replay" else None,
            "ops": None if self.ops is None else {"included": sorted(self.ops),
                                                  "excluded": self.excluded_ops},
            "filters": self.filters,
            "outside_filters": sorted(OUTSIDE.get(self.filters, frozenset())),
            "found_by": self.found_by or None,
            "missing": self.missing,
            "error": self.error,
            "program": self.program,
            "coverage": self.coverage.as_json() if self.coverage is not None else None,
        }

    def text(self) -> str:
        scope = f"; {self.scope()}" if self.scope() else ""
        if self.passed and self.mode == "replay":
            return (f"no difference: {self.budget()}{scope} (not a conformance verdict: "
                    "nothing was generated)")
        if self.passed and not self.complete:
            return (f"incomplete: {self.budget()} found no difference{scope}, but "
                    f"{len(self.missing)} reachable cells of the run's scope were never "
                    f"exercised: {', '.join(self.missing)}")
        if self.passed and self.mode != "generated":
            return f"no difference: {self.budget()}{scope} (the recorded search again)"
        if self.passed:
            return f"conformant: {self.budget()}{scope}"
        out = f"NOT conformant: {self.error}\n\nshrunk failing program:\n{self.program}"
        if self.trace is not None and self.failure is not None:
            calls = "\n".join(f"  {describe(n, a)}" for n, a in self.trace)
            out += (f"\n\nthe same failure in {len(self.trace)} calls (replayed and "
                    f"minimized, config {self.config!r}):\n{calls}\n{self.failure.message}")
        return out


SHRINK_EXAMPLES = 300
"""How many programs Hypothesis may run while it shrinks a failure. Its own limit is 300
seconds (a failing program of 50 steps with packet filters took that long); a limit in
seconds would also make the shrunk program depend on the machine's load, so the kit
counts programs instead (about 8 s at the bundled kernel's speed). Step deletion on a
plain replay (``exo.kit.replay.minimize``: chunks, then single steps and pairs, at most
``MINIMIZE_CALLS`` calls) finishes the job."""


class _ProgramClock:
    """What Hypothesis's engine reads as its clock during ``run_check``: ``perf_counter``
    counts the programs started (so its shrinking deadline, ``MAX_SHRINKING_SECONDS``
    later, is a number of programs); ``monotonic`` is the real one (it only ends the
    search for more bugs, which the kit never asks for)."""

    def __init__(self, count: list[int]) -> None:
        self.count = count

    def perf_counter(self) -> float:
        return float(self.count[0])

    def monotonic(self) -> float:
        return time.monotonic()


def probe_factory(factory: Callable[[Config], Any], cfg: Config | None = None) -> None:
    """``ValueError`` (a usage error, one line) unless ``factory`` builds, for ``cfg``
    (default: the kit's first configuration), something with ``apply`` and ``observe``.
    Only the first configuration is probed: a factory that builds it and fails on a
    later one (a kernel process that hangs at its second reset) fails the run instead,
    which reports it at that configuration (exit 1, not 2)."""
    try:
        probe = factory(cfg if cfg is not None else KIT_CONFIGS[0])
    except Exception as exc:
        raise ValueError(f"cannot build an implementation with {_name(factory)}(cfg): "
                         f"{type(exc).__name__}: {exc}") from exc
    missing = [m for m in ("apply", "observe") if not callable(getattr(probe, m, None))]
    if missing:
        raise ValueError(f"{_name(factory)}(cfg) has no {' or '.join(missing)} method; "
                         "see 'exo.kit' for the interface")


def run_check(
    factory: Factory,
    cfg: Config | None = None,
    steps: int = 50,
    examples: int = 100,
    on_progress: Callable[[int], None] | None = None,
    derandomize: bool = False,
    seed: int | None = None,
    ops: frozenset[str] | None = None,
    shrink_examples: int = SHRINK_EXAMPLES,
    workload: str | None = None,
    unreachable: frozenset[str] = frozenset(),
    filters: str = DEFAULT,
    probed: bool = False,
    sweep: bool = True,
    calls: list[int] | None = None,
) -> CheckReport:
    """Run the lockstep machine for ``examples`` programs of up to ``steps`` steps.

    ``on_progress(n)`` is told how many programs have run (at most ``examples``; shrinking
    a failure runs more). ``seed`` makes the run repeatable: the same seed, implementation
    and budget generate the same programs, shrink them the same way (``shrink_examples``
    programs at most) and report the same failure, whatever the machine's load and the
    working folder hold. ``ops``: bring-up mode (``lockstep_machine``); the cells of other
    operations are excluded from coverage. ``unreachable``: cells the caller proved no
    state of the run's sizes can produce (``exo check --config``), besides
    ``exo.kit.coverage.UNREACHABLE``. ``filters``: the filter profile
    (``exo.kit.profiles``; "declarative" for a kernel without a solver). A run that passes
    but leaves a reachable cell of its scope unhit is ``incomplete``
    (``CheckReport.missing``).
    Raises ``ValueError`` if ``factory`` cannot
    build something with ``apply`` and ``observe`` (a usage error, not a conformance
    failure: ``probe_factory``), unless ``probed`` (the caller has probed it: a failure
    to build is then the run's, reported as not conformant).
    """
    why = profile_problem(filters)
    if why is not None:
        raise ValueError(why)
    configs = [cfg] if cfg is not None else list(KIT_CONFIGS)
    if not probed:
        probe_factory(factory, configs[0])
    shares = spread(examples, len(configs))
    coverage = Coverage(ops=ops, unreachable=UNREACHABLE | unreachable, profile=filters,
                        outside=OUTSIDE[filters])
    if ops is not None:  # what the operations reach: the witness programs cut to them
        reached = reach(ops, tuple(configs), filters)
        coverage.beyond = frozenset(c.id for c in coverage.in_scope() if c.id not in reached)
    report = CheckReport(passed=True, examples=examples, steps=steps, coverage=coverage,
                         seed=seed, ops=ops, filters=filters, configs=list(configs),
                         shares=list(shares), ran=[0] * len(configs))
    count = [0]
    calls = calls if calls is not None else [0]
    calls_before = calls[0]

    def started() -> None:
        count[0] += 1
        if on_progress is not None and count[0] <= examples:
            on_progress(count[0])

    start = time.perf_counter()
    failed_at: list[float] = []
    with counted_time(count, shrink_examples), repeatable(seed):
        if sweep and _swept(factory, configs, report, failed_at, ops, filters):
            _timed(report, start, failed_at)
            return report
        for i, (c, share) in enumerate(zip(configs, shares, strict=True)):
            if share == 0:
                continue
            before = count[0]
            base = lockstep_machine(factory, c, ops, workload, filters)
            traces: list[list[Step]] = []
            machine = type(base.__name__, (base,), {"on_start": staticmethod(started),
                                                    "coverage": coverage, "traces": traces,
                                                    "failed_at": failed_at,
                                                    "step_count": calls})
            report.config = c
            passed = _run_machine(machine, share, steps, derandomize, report)
            report.ran[i] = count[0] - before
            if not passed:
                if traces:
                    _minimized(factory, c, traces[-1], report,
                               fields_for(ops) if ops is not None else None)
                break
    report.runs = count[0]
    report.calls = calls[0] - calls_before
    report.missing = [c.id for c in coverage.missing()]
    _timed(report, start, failed_at)
    if on_progress is not None and report.passed:
        on_progress(examples)
    return report


@contextmanager
def counted_time(count: list[int], shrink_examples: int = SHRINK_EXAMPLES) -> Iterator[None]:
    """Inside, Hypothesis's engine reads ``count[0]`` (the programs started so far) as
    its clock (``_ProgramClock``): what it generates and how long it shrinks are the
    same on a fast machine and a slow one, at most ``shrink_examples`` programs of
    shrinking. Put back on leaving."""
    shrink_limit = hypothesis_engine.MAX_SHRINKING_SECONDS
    engine_time = getattr(hypothesis_engine, "time")  # noqa: B009 (not exported)
    hypothesis_engine.MAX_SHRINKING_SECONDS = max(1, int(shrink_examples))
    setattr(hypothesis_engine, "time", _ProgramClock(count))  # noqa: B010 (a module global)
    try:
        yield
    finally:
        hypothesis_engine.MAX_SHRINKING_SECONDS = shrink_limit
        setattr(hypothesis_engine, "time", engine_time)  # noqa: B010


@contextmanager
def repeatable(seed: int | None) -> Iterator[None]:
    """Same seed, same run: inside, Hypothesis draws from ``seed`` (if given) and not from
    the working folder's "local constants" (``_without_local_constants``); both are put
    back on leaving."""
    forced: Any = hypothesis_core.global_force_seed
    hypothesis_core.global_force_seed = seed if seed is not None else forced  # type: ignore[assignment]
    local_constants = _without_local_constants()
    try:
        yield
    finally:
        hypothesis_core.global_force_seed = forced
        _restore_local_constants(local_constants)


def _without_local_constants() -> Any:
    """Same seed, same run: Hypothesis also draws "local constants" read from the source
    of every non-library module loaded in the process, through a cache in the working
    folder (``.hypothesis/constants``), so what a seed generates would depend on which
    modules happen to be loaded and on what that folder holds. The kit draws from its
    own strategies only: the local pool is empty during ``run_check`` (the old reader is
    returned, for ``_restore_local_constants``)."""
    old = hypothesis_providers._get_local_constants
    hypothesis_providers._get_local_constants = _no_constants
    hypothesis_providers.CONSTANTS_CACHE.cache.clear()
    return old


def _no_constants() -> Any:
    return Constants()


def _restore_local_constants(old: Any) -> None:
    hypothesis_providers._get_local_constants = old
    hypothesis_providers.CONSTANTS_CACHE.cache.clear()


def _timed(report: CheckReport, start: float, failed_at: list[float]) -> None:
    """Split a failing run's time at its first failure: search, then shrinking."""
    if report.passed or not failed_at:
        return
    report.seconds_to_find = failed_at[0] - start
    report.seconds_to_shrink = time.perf_counter() - failed_at[0]


def _minimized(factory: Factory, cfg: Config, trace: list[Step], report: CheckReport,
               fields: frozenset[str] | None) -> None:
    """Replay the shrunk example's calls outside Hypothesis; if the failure shows, delete
    single steps while it persists (``exo.kit.replay.minimize``) and keep the result."""
    try:
        failure = replay(factory, cfg, trace, fields)
        if failure is None:
            return
        report.trace, report.failure = minimize(factory, cfg, trace, failure, fields=fields)
        report.fields = fields
    except ValueError:
        return  # calls that cannot be replayed as plain values: keep Hypothesis's program


def _swept(factory: Factory, configs: list[Config], report: CheckReport,
           failed_at: list[float], ops: frozenset[str] | None, filters: str) -> bool:
    """Replay the shipped witness programs (``exo.kit.witnesses``) first, cut to the
    run's operations, filter profile and sizes: every run reaches every reachable cell of
    its scope. True if one of them failed (``report`` filled in, the calls minimized)."""
    assert report.coverage is not None
    fields = fields_for(ops) if ops is not None else None
    found = sweep(factory, report.coverage, configs, ops=ops, fields=fields,
                  filters=filters)
    if found is None:
        return False
    witness, calls, failure = found
    failed_at.append(time.perf_counter())
    report.passed = False
    report.config = witness.cfg
    report.error = failure.message.splitlines()[0]
    report.program = (f"(witness program of kit/witnesses.json, {len(calls)} calls; "
                      "the replayed and minimized calls follow)")
    report.found_by = "sweep"
    report.fields = fields
    try:
        report.trace, report.failure = minimize(factory, witness.cfg, calls, failure,
                                                fields=fields)
    except ValueError:
        report.trace, report.failure = calls, failure
    return True


def _run_machine(machine: type[RuleBasedStateMachine], examples: int, steps: int,
                 derandomize: bool, report: CheckReport) -> bool:
    """Run one configuration's machine; on a failure fill ``report`` and return False."""
    lines: list[object] = []
    options = settings(
        max_examples=examples, stateful_step_count=max(steps, 1), deadline=None,
        suppress_health_check=HEALTH, database=None, print_blob=False,
        report_multiple_bugs=False, derandomize=derandomize,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
    )
    try:
        with with_reporter(lines.append):
            run_state_machine_as_test(machine, settings=options)
    except HypothesisException as exc:
        # Hypothesis's own complaints (e.g. flaky): still a failure, say what it said
        report.passed, report.found_by = False, "search"
        report.error = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
        report.program = _program_text(lines, exc)
    except Exception as exc:
        report.passed, report.found_by = False, "search"
        report.error = message_line(exc)
        report.program = _program_text(lines, exc)
    return report.passed


def _program_text(lines: list[object], exc: BaseException) -> str:
    """The falsifying program Hypothesis printed (reporter lines or exception notes)."""
    notes = [str(n) for n in getattr(exc, "__notes__", [])]
    text = [str(x) for x in lines] + notes
    steps = [ln for chunk in text for ln in chunk.splitlines()
             if ln.startswith(("state", "caps_", "Falsifying"))
             or ln.lstrip().startswith(("state.", "caps_"))]
    noise = ("Falsifying", "state.conforms()", "state.teardown()")
    steps = [ln for ln in steps if not ln.strip().startswith(noise)]
    if steps:
        return "\n".join(steps)
    if text:
        return "\n".join(text)
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def _config_json(cfg: Config) -> dict[str, int]:
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}


def _name(factory: Any) -> str:
    return str(getattr(factory, "__qualname__", None) or repr(factory))
