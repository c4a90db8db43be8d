"""Running obligations: in parallel processes, against the manifest, with reports.

The manifest (``proofs/manifest.json``, committed) records every obligation's expected
verdict and its rlimit budget. A run fails if any obligation is not proved, if a verdict
differs from the manifest, or if the manifest and the obligations disagree (one missing
on either side). Z3 objects are not thread-safe, so parallelism is processes (spawned,
each builds its own formulas).
"""

from __future__ import annotations

import fnmatch
import json
import multiprocessing
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from exo.proofs.building import caching_steps
from exo.proofs.discharge import discharge
from exo.proofs.obligations import BY_NAME, RLIMIT, Obligation, ProofResult, obligations

MANIFEST_NAME = "manifest.json"
BUDGET_FACTOR = 8
"""A budget is this many times the rlimit a proof used when the manifest was written..."""
BUDGET_FLOOR = 1_000_000
"""...and at least this much, so small proofs do not fail on noise."""


class ManifestError(Exception):
    """The manifest cannot be read."""


@dataclass
class Manifest:
    """Expected verdict and rlimit budget of every obligation."""

    entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    def budget(self, name: str) -> int:
        entry = self.entries.get(name)
        return int(entry["rlimit"]) if entry else RLIMIT

    def expected(self, name: str) -> str | None:
        entry = self.entries.get(name)
        return str(entry["expect"]) if entry else None


def default_manifest_path() -> Path:
    """The manifest shipped with the package (``proofs/manifest.json`` in the repository)."""
    return Path(str(resources.files("exo.proofs").joinpath(MANIFEST_NAME)))


MAX_MANIFEST_BYTES = 4 << 20
"""Largest manifest read (4 MiB; the shipped one, 548 entries, is 43 KB)."""

MAX_RLIMIT = (1 << 32) - 1
"""Largest rlimit budget a manifest may name (Z3 keeps it in an unsigned 32-bit int)."""

VERDICTS = ("proved", "counterexample", "unknown", "vacuous")


def load_manifest(path: Path) -> Manifest:
    """Read a manifest: ``{"comment": TEXT (optional), "obligations": {NAME: {"expect":
    VERDICT, "rlimit": 1..MAX_RLIMIT}}}``.

    Anything else raises ``ManifestError`` with one line naming ``path``: a missing file (a
    new manifest is ``exo prove --update-manifest``'s to create, not this function's), a
    folder, an unreadable, oversized, non-UTF-8 or non-JSON file, or a wrong shape (unknown
    keys included). Names of obligations that do not exist are not refused here: ``compare``
    reports them as stale entries.
    """
    from exo.proofs.record import read_json, shown_path

    data = read_json(path, MAX_MANIFEST_BYTES, ManifestError, "manifest")
    where = shown_path(path)
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: not a manifest: expected a JSON object with "
                            f"'obligations', found {type(data).__name__}")
    for key in data:
        if key not in ("comment", "obligations"):
            raise ManifestError(f"{where}: unknown key {key[:40]!r} in the manifest "
                                "(expected: comment, obligations)")
    if "comment" in data and not isinstance(data["comment"], str):
        raise ManifestError(f"{where}: comment: expected a string")
    entries = data.get("obligations")
    if not isinstance(entries, dict):
        found = "nothing" if entries is None else type(entries).__name__
        raise ManifestError(f"{where}: obligations: expected an object of NAME: {{expect, "
                            f"rlimit}}, found {found}")
    for name, entry in entries.items():
        at = f"{where}: obligations[{name[:60]!r}]"
        if not isinstance(entry, dict) or set(entry) != {"expect", "rlimit"}:
            raise ManifestError(f"{at}: entry needs exactly 'expect' and 'rlimit'")
        expect, rlimit = entry["expect"], entry["rlimit"]
        if expect not in VERDICTS:
            shown = repr(expect[:40]) if isinstance(expect, str) else type(expect).__name__
            raise ManifestError(f"{at}.expect: expected one of {', '.join(VERDICTS)}, "
                                f"found {shown}")
        if not isinstance(rlimit, int) or isinstance(rlimit, bool) or \
                not 1 <= rlimit <= MAX_RLIMIT:
            shown = (str(rlimit)[:24] if isinstance(rlimit, int) and not isinstance(rlimit, bool)
                     else type(rlimit).__name__)
            raise ManifestError(f"{at}.rlimit: expected an integer in 1..{MAX_RLIMIT}, "
                                f"found {shown}")
    return Manifest(entries)


def write_manifest(path: Path, results: list[ProofResult]) -> None:
    """Record every result's verdict and a budget of ``BUDGET_FACTOR`` × the rlimit used."""
    entries = {
        r.obligation.name: {
            "expect": r.verdict,
            "rlimit": max(BUDGET_FLOOR, BUDGET_FACTOR * r.rlimit),
        }
        for r in sorted(results, key=lambda r: r.obligation.name)
    }
    payload = {"comment": "Expected verdict and rlimit budget of every proof obligation. "
               "Regenerate with: exo prove --update-manifest", "obligations": entries}
    path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")


def select(pattern: str | None) -> list[Obligation]:
    """Obligations whose name matches ``pattern`` (a glob, or a substring if no glob chars)."""
    obs = obligations()
    if not pattern:
        return obs
    if any(ch in pattern for ch in "*?["):
        return [ob for ob in obs if fnmatch.fnmatchcase(ob.name, pattern)]
    return [ob for ob in obs if pattern in ob.name]


def _work(task: tuple[str, int]) -> ProofResult:
    name, budget = task
    return discharge(BY_NAME[name], budget)


def run_parallel(selected: list[Obligation], manifest: Manifest, jobs: int,
                 on_result: Callable[[ProofResult], None] | None = None) -> list[ProofResult]:
    """Discharge ``selected`` in ``jobs`` processes (1: in this process)."""
    tasks = [(ob.name, manifest.budget(ob.name)) for ob in selected]
    results: list[ProofResult] = []
    stream: Iterator[ProofResult]
    if jobs <= 1 or len(tasks) <= 1:
        with caching_steps():
            stream = map(_work, tasks)
            for res in stream:
                results.append(res)
                if on_result is not None:
                    on_result(res)
        return results
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(processes=jobs) as pool:
        for batch in pool.imap_unordered(work_group, groups(selected, manifest),
                                         chunksize=1):
            for res in batch:
                results.append(res)
                if on_result is not None:
                    on_result(res)
    return results


def groups(selected: list[Obligation], manifest: Manifest) -> list[list[tuple[str, int]]]:
    """``selected`` as independent jobs (name, budget), one group per operation, the
    largest first: a worker builds an operation's step once and states every obligation
    about it on the same terms (obligations.stepped). ``exo prove --scheduler`` hands
    the same groups to a Dask cluster."""
    out: dict[str, list[tuple[str, int]]] = {}
    for ob in selected:
        out.setdefault(ob.op or ob.name, []).append((ob.name, manifest.budget(ob.name)))
    return sorted(out.values(), key=len, reverse=True)


def work_group(tasks: list[tuple[str, int]]) -> list[ProofResult]:
    """Discharge one group of ``groups`` (in a worker process, or on a cluster)."""
    with caching_steps():
        return [_work(task) for task in tasks]


def default_jobs() -> int:
    """The machine's cores."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else (os.cpu_count() or 1))


@dataclass
class Mismatch:
    """A difference between a run and the manifest."""

    name: str
    problem: str


def compare(results: list[ProofResult], manifest: Manifest, complete: bool
            ) -> list[Mismatch]:
    """Differences from the manifest. ``complete``: the run covered every obligation, so
    manifest entries with no obligation (stale) and obligations with no entry count."""
    out: list[Mismatch] = []
    ran = {r.obligation.name for r in results}
    for r in results:
        want = manifest.expected(r.obligation.name)
        if want is None:
            out.append(Mismatch(r.obligation.name, "not in the manifest"))
        elif want != r.verdict:
            out.append(Mismatch(r.obligation.name, f"expected {want}, got {r.verdict}"))
    if complete:
        for name in sorted(set(manifest.entries) - ran):
            out.append(Mismatch(name, "in the manifest but no such obligation"))
    return out


def junit_xml(results: list[ProofResult], mismatches: list[Mismatch]) -> str:
    """JUnit XML: one test case per obligation (classname = its kind), failures for
    anything not proved or not as the manifest says."""
    bad = {m.name: m.problem for m in mismatches}
    suite = ET.Element("testsuite", name="exo.proofs", tests=str(len(results)),
                       failures=str(sum(1 for r in results
                                        if not r.ok or r.obligation.name in bad)),
                       errors="0", skipped="0",
                       time=f"{sum(r.seconds for r in results):.3f}")
    for r in sorted(results, key=lambda r: r.obligation.name):
        case = ET.SubElement(suite, "testcase", classname=f"exo.proofs.{r.obligation.kind}",
                             name=r.obligation.name, time=f"{r.seconds:.3f}")
        ET.SubElement(case, "properties")
        props = case.find("properties")
        assert props is not None
        ET.SubElement(props, "property", name="rlimit", value=str(r.rlimit))
        ET.SubElement(props, "property", name="clause", value=r.obligation.clause)
        if not r.ok or r.obligation.name in bad:
            msg = r.verdict if r.ok else f"{r.verdict}: {r.detail}"
            if r.obligation.name in bad:
                msg += f" (manifest: {bad[r.obligation.name]})"
            fail = ET.SubElement(case, "failure", message=msg, type=r.verdict)
            fail.text = json.dumps(r.counterexample, indent=1) if r.counterexample else msg
    for m in mismatches:
        if m.name not in {r.obligation.name for r in results}:
            case = ET.SubElement(suite, "testcase", classname="exo.proofs.manifest",
                                 name=m.name, time="0")
            ET.SubElement(case, "failure", message=m.problem, type="manifest")
            suite.set("tests", str(int(suite.get("tests", "0")) + 1))
            suite.set("failures", str(int(suite.get("failures", "0")) + 1))
    text: str = ET.tostring(suite, encoding="unicode", xml_declaration=True)
    return text


def results_json(results: list[ProofResult], mismatches: list[Mismatch]) -> dict[str, Any]:
    """The run as JSON: one record per obligation, and the manifest differences."""
    return {
        "passed": all(r.ok for r in results) and not mismatches,
        "obligations": [
            {"name": r.obligation.name, "kind": r.obligation.kind,
             "clause": r.obligation.clause, "verdict": r.verdict,
             "seconds": round(r.seconds, 4), "rlimit": r.rlimit, "detail": r.detail}
            for r in sorted(results, key=lambda r: r.obligation.name)
        ],
        "manifest_mismatches": [{"name": m.name, "problem": m.problem} for m in mismatches],
    }
