#!/usr/bin/env bash
# CrossHair with longer bounds than CI (tests/test_crosshair.py), for manual use:
#   scripts/crosshair.sh [PER_CONDITION_SECONDS] [PER_PAIR_SECONDS]
# Checks the PEP 316 contracts in tests/crosshair_targets.py and runs `crosshair
# diffbehavior` between each reference/generated filter pair. Exits non-zero on any
# counterexample or error.
set -u
cd "$(dirname "$0")/.."
PY="${PYTHON:-/work/venv/bin/python}"
[ -x "$PY" ] || PY=python3
CHECK_T="${1:-30}"
DIFF_T="${2:-120}"
M=tests.crosshair_targets
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
status=0

mapfile -t contracts < <("$PY" -c "from $M import CONTRACTS; print('\n'.join(CONTRACTS))")
mapfile -t pairs < <("$PY" -c "from $M import PAIRS, PREFIXED_PAIRS; print('\n'.join([*sorted(PAIRS), *PREFIXED_PAIRS]))")

echo "== crosshair check (${CHECK_T}s per condition): ${contracts[*]}"
"$PY" -m crosshair check --analysis_kind=PEP316 --report_all \
    --per_condition_timeout "$CHECK_T" --per_path_timeout 10 \
    "${contracts[@]/#/$M.}" || status=1

for p in "${pairs[@]}"; do
    echo "== crosshair diffbehavior ref_$p gen_$p (${DIFF_T}s)"
    "$PY" -m crosshair diffbehavior "$M.ref_$p" "$M.gen_$p" \
        --per_condition_timeout "$DIFF_T" || status=1
done

if [ "$status" -ne 0 ]; then echo "CrossHair found a counterexample or an error" >&2; fi
exit "$status"
