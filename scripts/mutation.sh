#!/usr/bin/env bash
# Mutation testing of the reference model (model/) and the implementation (impl/) with
# mutmut 3. Manual use only: CI neither installs nor runs it. Report: scripts/mutation-report.md.
#
#   pip install -e '.[test,mutation]'          # or: pip install 'mutmut>=3.3'
#   scripts/mutation.sh [all|model|impl] [MAX_CHILDREN]   # run, then print the summary
#   scripts/mutation.sh summary                # only print the summary of the last run
#   scripts/mutation.sh mutmut ARGS...         # any mutmut command inside the staging copy,
#                                              # e.g. `mutmut results`, `mutmut show NAME`,
#                                              # `mutmut run 'exo.model.memory.x_alloc*'`
#
# What it does:
#  1. Mirrors the repository into .mutation/ (git-ignored; override with MUTATION_DIR) with
#     scripts/mutation_helper.py. In that copy the decorated module-level functions of
#     model/ and impl/ (the @transition("...") model operations, the @lru_cache helpers)
#     are rewritten to `def f ...; f = deco(f)`, because mutmut never mutates decorated
#     functions; the repository itself is not touched. The exo/model and exo/impl symlinks
#     are kept, and mutmut mutates the files through them, so the mutant names are the
#     imported module names (exo.model.memory.x_alloc__mutmut_3).
#  2. Runs `mutmut run` there (it builds .mutation/mutants/ and runs the tests in it). The
#     configuration is [tool.mutmut] in pyproject.toml: the fast unit tests plus the
#     lockstep conformance and stateful tests; the Z3 proofs, CrossHair, BPF oracle, CLI
#     and bench tests are left out (minutes per run, and symbolic runs over mutated code).
#     scripts/mutation_pytest_plugin.py makes Hypothesis deterministic and empties the
#     lru_caches that the forked mutant processes would otherwise inherit.
#     MAX_CHILDREN (default 1) is the number of mutants tested in parallel.
#  3. Prints per folder and overall: total, killed, survived, timeout, suspicious, no tests,
#     ... and the kill rate = (killed + timeout) / (total - no tests - skipped - not checked),
#     i.e. among the mutants that at least one selected test executes.
#
# mutmut caches verdicts per function in .mutation/mutants/: `all` resumes an interrupted
# run and only re-tests functions whose source changed; `model`/`impl` re-test every mutant
# of that folder. Delete .mutation/ for a clean run. A full run (`all`, one child) takes
# about an hour on one core.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
PY="${PYTHON:-/work/venv/bin/python}"
[ -x "$PY" ] || PY=python3
BIN="$(dirname "$PY")"
MUTMUT="$BIN/mutmut"
[ -x "$MUTMUT" ] || MUTMUT=mutmut
STAGE="${MUTATION_DIR:-$REPO/.mutation}"

what=all; sample=0; seed=1; children=1
while [ $# -gt 0 ]; do
    case "$1" in
        summary) exec "$PY" "$REPO/scripts/mutation_helper.py" summary "$STAGE" ;;
        mutmut) shift; cd "$STAGE"; exec "$MUTMUT" "$@" ;;
        all|model|impl) what="$1" ;;
        --sample) sample="$2"; shift ;;
        --seed) seed="$2"; shift ;;
        --max-children) children="$2"; shift ;;
        *) sed -n '2,16p' "$0" >&2; exit 2 ;;
    esac
    shift
done
case "$what" in
    all) prefixes=(exo.model exo.impl) ;;
    model) prefixes=(exo.model) ;;
    impl) prefixes=(exo.impl) ;;
esac

"$PY" "$REPO/scripts/mutation_helper.py" stage "$STAGE"
cd "$STAGE"
if [ "$sample" -gt 0 ]; then
    mapfile -t pattern < <("$PY" "$REPO/scripts/mutation_helper.py" names "$STAGE" "$sample" "$seed" "${prefixes[@]}")
    label="a sample of $sample mutants per folder (seed $seed) of ${prefixes[*]}"
elif [ "$what" = all ]; then
    pattern=(); label="every mutant"
else
    pattern=("${prefixes[0]}.*"); label="every mutant of ${prefixes[0]}"
fi
echo "== mutmut $("$MUTMUT" --version | awk '{print $NF}'): $label, --max-children $children ($(date -u +%FT%TZ))"
start=$SECONDS
# mutmut redraws its progress line with \r; keep one line in 200 of it for the log.
set +e
"$MUTMUT" run --max-children "$children" "${pattern[@]}" 2>&1 | tr '\r' '\n' \
    | awk '/^[[:space:]]*[0-9]+\/[0-9]+  / { if (n++ % 200) next }
           /^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] / { next } { print; fflush() }'
status=${PIPESTATUS[0]}
set -e
echo "== finished in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s, mutmut exit $status"
"$PY" "$REPO/scripts/mutation_helper.py" summary "$STAGE" "${prefixes[@]}"
exit "$status"
