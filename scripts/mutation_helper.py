"""Helpers for scripts/mutation.sh (mutation testing with mutmut; not part of CI).

``stage DIR``
    Mirror the repository's files (tracked and untracked-but-not-ignored, symlinks kept as
    symlinks, so ``exo/model -> ../model`` still resolves inside DIR) into DIR, and rewrite
    the copies of ``model/*.py`` and ``impl/*.py`` so that mutmut can mutate the decorated
    module-level functions. mutmut 3 skips every function that carries a decorator other
    than ``@staticmethod``/``@classmethod``; in this code base that would exclude all 28
    model transitions (``@transition("alloc")`` ...) and the ``@lru_cache`` helpers. The
    rewrite is behaviour-preserving::

        @transition("alloc")                 # mutmut: @transition("alloc") applied below
        def alloc(s, env, page): ...    ->   def alloc(s, env, page): ...
                                             alloc = transition("alloc")(alloc)

    The decorator line becomes a comment and the re-binding takes the first blank line
    after the function, so line numbers stay the same as in the repository wherever the
    function is followed by a blank line (always, in this code base). Names are bound to
    the same objects as with the decorator syntax; only the moment of binding differs,
    and nothing in the module body uses a decorated function between its ``def`` and the
    re-binding. Files are only rewritten in DIR when their content changed, so mutmut's
    per-function result cache survives a re-run.

``names DIR SAMPLE SEED [--pooled] PREFIX ...``
    Print the names of the mutants mutmut generates for the staged files under each
    PREFIX (a folder such as ``exo.model``, or one module such as ``exo.model.cpu``): all
    of them if SAMPLE is 0, else a seeded random sample of SAMPLE names per prefix
    (mutant sampling: the full set is too slow for one core, see
    scripts/mutation-report.md), or with ``--pooled`` one sample of SAMPLE names from all
    prefixes together. Names are computed with mutmut's own generator and cached in
    DIR/.mutant-names.json by file content.

``summary DIR [PREFIX ...]``
    Read DIR/mutants/**/*.py.meta and print, per prefix (default: ``exo.model``,
    ``exo.impl``) and overall, the mutmut status counts and the kill rate.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

REWRITE_DIRS = ("model", "impl")
MARK = "# mutmut: decorator applied below:"


def undecorate(source: str) -> str:
    """``source`` with every decorated module-level function turned into a plain ``def``
    followed by an explicit re-binding through the same decorators (innermost first)."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    inserts: dict[int, str] = {}  # 0-based line index -> text replacing a blank line there
    appends: dict[int, str] = {}  # 0-based line index -> text inserted after that line
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not node.decorator_list:
            continue
        decos = [ast.get_source_segment(source, d) for d in node.decorator_list]
        if any(d is None for d in decos):
            raise ValueError(f"cannot recover decorator source of {node.name}")
        for d in node.decorator_list:
            for ln in range(d.lineno - 1, (d.end_lineno or d.lineno)):
                original = lines[ln].rstrip("\n")
                lines[ln] = f"{MARK} {original.strip()}\n" if ln == d.lineno - 1 else "#\n"
        expr = node.name
        for d in reversed(decos):
            expr = f"({d})({expr})"
        rebind = f"{node.name} = {expr}\n"
        end = node.end_lineno or node.lineno  # 1-based last line of the function
        if end < len(lines) and lines[end].strip() == "":
            inserts[end] = rebind
        else:
            appends[end - 1] = rebind
    out: list[str] = []
    for i, line in enumerate(lines):
        out.append(inserts.get(i, line))
        if i in appends:
            out.append(appends[i])
    result = "".join(out)
    ast.parse(result)  # the rewrite must stay valid Python
    return result


def _repo_files(repo: Path) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo, check=True, capture_output=True,
    ).stdout.decode()
    return sorted(f for f in out.split("\0") if f)


def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.is_file() and not path.is_symlink() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()
    path.write_bytes(data)
    return True


def stage(repo: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    changed = rewritten = 0
    for rel in _repo_files(repo):
        src, dst = repo / rel, dest / rel
        if src.is_symlink():
            target = os.readlink(src)
            if dst.is_symlink() and os.readlink(dst) == target:
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            if dst.is_symlink() or dst.is_file():
                dst.unlink()
            elif dst.is_dir():
                shutil.rmtree(dst)
            os.symlink(target, dst)
            changed += 1
            continue
        if not src.is_file():  # deleted in the working tree but still tracked
            continue
        data = src.read_bytes()
        if rel.endswith(".py") and rel.split("/")[0] in REWRITE_DIRS:
            new = undecorate(data.decode()).encode()
            rewritten += new != data
            data = new
        changed += _write_if_changed(dst, data)
    print(f"staged {repo} -> {dest}: {changed} file(s) updated, "
          f"{rewritten} file(s) with decorated functions rewritten")


def _mutant_names(dest: Path, prefix: str) -> list[str]:
    """Every mutant mutmut generates for the staged files of ``prefix`` (exo.model ...)."""
    import hashlib
    import json

    from mutmut.mutation.file_mutation import mutate_file_contents
    from mutmut.utils.format_utils import get_mutant_name

    cache_path = dest / ".mutant-names.json"
    cache: dict[str, list] = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    names: list[str] = []
    folder = Path(*prefix.split("."))
    module = (dest / folder).with_suffix(".py")
    files = [module] if module.is_file() else sorted((dest / folder).glob("*.py"))
    for path in files:
        rel = path.relative_to(dest)
        code = path.read_text()
        digest = hashlib.sha256(code.encode()).hexdigest()
        hit = cache.get(str(rel))
        if hit is None or hit[0] != digest:
            mutated = mutate_file_contents(str(rel), code)
            hit = [digest, [get_mutant_name(rel, m) for m in mutated.mutant_names]]
            cache[str(rel)] = hit
        names.extend(hit[1])
    cache_path.write_text(json.dumps(cache))
    return names


def names(dest: Path, sample: int, seed: int, prefixes: list[str]) -> None:
    import random

    if prefixes[0] == "--pooled":  # one sample drawn from the mutants of all prefixes
        pool = sorted(n for p in prefixes[1:] for n in _mutant_names(dest, p))
        chosen = pool if sample <= 0 or sample >= len(pool) else \
            sorted(random.Random(f"{seed}:pooled").sample(pool, sample))
        print("\n".join(chosen))
        return
    for prefix in prefixes:
        everything = sorted(_mutant_names(dest, prefix))
        chosen = everything if sample <= 0 or sample >= len(everything) else \
            sorted(random.Random(f"{seed}:{prefix}").sample(everything, sample))
        print("\n".join(chosen))


def _statuses(dest: Path) -> dict[str, str]:
    """mutant name -> mutmut status, from the .meta files mutmut writes."""
    import json

    from mutmut.stats import status_by_exit_code

    result: dict[str, str] = {}
    for meta in sorted((dest / "mutants").rglob("*.py.meta")):
        data = json.loads(meta.read_text())
        for name, code in data["exit_code_by_key"].items():
            result[name] = status_by_exit_code[code]
    return result


COLUMNS = ("killed", "survived", "timeout", "suspicious", "no tests", "segfault",
           "skipped", "caught by type check", "not checked")


def summary(dest: Path, prefixes: list[str]) -> int:
    statuses = _statuses(dest)
    if not statuses:
        print(f"no mutmut results under {dest / 'mutants'}", file=sys.stderr)
        return 1
    groups = [(p, {n: s for n, s in statuses.items() if n.startswith(p + ".")}) for p in prefixes]
    if len(prefixes) > 1:
        chosen = {n: s for _, g in groups for n, s in g.items()}
        groups.append(("overall", chosen))
    head = f"{'':<10} {'total':>6} " + " ".join(f"{c.replace(' ', '_'):>9}" for c in COLUMNS)
    print(head + f" {'kill rate':>10}")
    for label, g in groups:
        c = Counter(g.values())
        # Denominator: every mutant that was actually run against at least one test, i.e.
        # total minus "no tests", "skipped", "not checked" (and "interrupted"). A timeout
        # counts as detected (the mutant made the tests hang), as mutmut's badge does.
        tested = len(g) - c["no tests"] - c["skipped"] - c["not checked"] \
            - c["check was interrupted by user"]
        detected = c["killed"] + c["timeout"]
        rate = f"{100 * detected / tested:9.1f}%" if tested else "       n/a"
        ci = ""
        if tested and c["not checked"]:  # a sample: 95% Wilson interval for the full set
            lo, hi = _wilson(detected, tested)
            ci = f"  (sample of {len(g) - c['not checked']}; 95% CI {lo:.1f}-{hi:.1f}%)"
        print(f"{label:<10} {len(g):>6} " + " ".join(f"{c[k]:>9}" for k in COLUMNS)
              + f" {rate}{ci}")
    print("kill rate = (killed + timeout) / (total - no_tests - skipped - not_checked), i.e."
          " over the mutants that were run against at least one test")
    return 0


def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return 100 * (centre - half), 100 * (centre + half)


def proofs(dest: Path) -> None:
    """Make the staged copy select the proofs alone: ``tests/mutation_proofs.py`` (every
    obligation, grouped by operation) replaces the [tool.mutmut] test selection."""
    path = dest / "pyproject.toml"
    text = path.read_text()
    start = text.index("pytest_add_cli_args_test_selection = [")
    end = text.index("\n]\n", start) + 3
    new = text[:start] + 'pytest_add_cli_args_test_selection = ["tests/mutation_proofs.py"]\n' \
        + text[end:]
    if new != text:
        path.write_text(new)
    print(f"{path}: test selection is tests/mutation_proofs.py (the proofs alone)")


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "stage":
        stage(Path(__file__).resolve().parent.parent, Path(argv[1]).resolve())
        return 0
    if len(argv) >= 5 and argv[0] == "names":
        names(Path(argv[1]), int(argv[2]), int(argv[3]), argv[4:])
        return 0
    if len(argv) >= 2 and argv[0] == "proofs":
        proofs(Path(argv[1]).resolve())
        return 0
    if len(argv) >= 2 and argv[0] == "summary":
        return summary(Path(argv[1]), argv[2:] or ["exo.model", "exo.impl"])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
