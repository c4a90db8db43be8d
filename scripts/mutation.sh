#!/usr/bin/env bash
# Mutation testing of the reference model (model/) and the implementation (impl/) with
# mutmut 3. Manual use only: CI neither installs nor runs it. Report: scripts/mutation-report.md.
#
#   pip install -e '.[test,mutation]'          # or: pip install 'mutmut>=3.3'
#   scripts/mutation.sh [all|model|impl] [--sample N] [--seed S] [--max-children K]
#   scripts/mutation.sh all --sample 250       # what scripts/mutation-report.md reports
#   scripts/mutation.sh model --proofs --sample 300   # the proofs alone (issue 12): the test
#                                              # selection is tests/mutation_proofs.py, the
#                                              # staging copy .mutation-proofs/
#   scripts/mutation.sh transitions --proofs --sample 300   # the same, one sample drawn
#                                              # from the modules of the transitions only
#                                              # (model/ but filters.py and state.py)
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
#     lockstep model-vs-implementation tests (see the comment there for what is left out:
#     Z3 proofs, CrossHair, BPF oracles, CLI, bench, the kit's self-tests, long walks).
#     scripts/mutation_pytest_plugin.py makes Hypothesis deterministic and empties the
#     lru_caches that the forked mutant processes would otherwise inherit.
#     --max-children (default 1) is the number of mutants tested in parallel.
#     --sample N tests a seeded random sample of N mutants per folder (mutant sampling);
#     without it every mutant of the chosen folder(s) is tested.
#  3. Prints per folder and overall: total, killed, survived, timeout, suspicious, no tests,
#     ... and the kill rate = (killed + timeout) / (total - no tests - skipped - not checked),
#     i.e. among the mutants that at least one selected test executes.
#
# mutmut caches verdicts per function in .mutation/mutants/: `all` resumes an interrupted
# run and only re-tests functions whose source changed; `model`/`impl` re-test every mutant
# of that folder; a changed test selection resets every verdict. Delete .mutation/ for a
# clean run. Times on one core: ~8 min of set-up (mutant generation, the test-to-function
# map, a clean run), then ~1.3 s per mutant on average (a killed mutant stops at its first
# failing test; a survivor runs every selected test that reaches it): `--sample 250`
# (500 mutants) ~15 min; every mutant (7286) an estimated 3 hours or more.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
PY="${PYTHON:-/work/venv/bin/python}"
[ -x "$PY" ] || PY=python3
BIN="$(dirname "$PY")"
MUTMUT="$BIN/mutmut"
[ -x "$MUTMUT" ] || MUTMUT=mutmut
what=all; sample=0; seed=1; children=1; proofs=0
for arg in "$@"; do [ "$arg" = --proofs ] && proofs=1; done
if [ "$proofs" = 1 ]; then
    STAGE="${MUTATION_DIR:-$REPO/.mutation-proofs}"
else
    STAGE="${MUTATION_DIR:-$REPO/.mutation}"
fi
while [ $# -gt 0 ]; do
    case "$1" in
        --proofs) ;;
        summary) exec "$PY" "$REPO/scripts/mutation_helper.py" summary "$STAGE" ;;
        mutmut) shift; cd "$STAGE"; exec "$MUTMUT" "$@" ;;
        all|model|impl|transitions) what="$1" ;;
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
    transitions) prefixes=(exo.model.ops exo.model.env exo.model.memory exo.model.tlb
                           exo.model.cpu exo.model.pct exo.model.exceptions
                           exo.model.revocation exo.model.net) ;;
esac

"$PY" "$REPO/scripts/mutation_helper.py" stage "$STAGE"
if [ "$proofs" = 1 ]; then
    "$PY" "$REPO/scripts/mutation_helper.py" proofs "$STAGE"
fi
cd "$STAGE"
if [ "$what" = transitions ]; then
    mapfile -t pattern < <("$PY" "$REPO/scripts/mutation_helper.py" names "$STAGE" "$sample" "$seed" --pooled "${prefixes[@]}")
    label="a sample of $sample mutants (seed $seed) of the transitions' modules ${prefixes[*]}"
elif [ "$sample" -gt 0 ]; then
    mapfile -t pattern < <("$PY" "$REPO/scripts/mutation_helper.py" names "$STAGE" "$sample" "$seed" "${prefixes[@]}")
    label="a sample of $sample mutants per folder (seed $seed) of ${prefixes[*]}"
elif [ "$what" = all ]; then
    pattern=(); label="every mutant"
else
    pattern=("${prefixes[0]}.*"); label="every mutant of ${prefixes[0]}"
fi
echo "== mutmut $("$MUTMUT" --version | awk '{print $NF}'): $label, --max-children $children ($(date -u +%FT%TZ))"
start=$SECONDS
# mutmut redraws its progress line and spinners with \r; keep one progress line in 200.
set +e
"$MUTMUT" run --max-children "$children" "${pattern[@]}" 2>&1 | tr '\r' '\n' \
    | awk '/[0-9]+\/[0-9]+  / { if (n++ % 200) next }
           /^[^ -~]+ (Generating|Running|Listing|Filtering)/ { next } { print; fflush() }'
status=${PIPESTATUS[0]}
set -e
echo "== finished in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s, mutmut exit $status"
"$PY" "$REPO/scripts/mutation_helper.py" summary "$STAGE" "${prefixes[@]}"
exit "$status"
