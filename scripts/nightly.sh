#!/usr/bin/env bash
# Nightly tracking: measure a recipe again into a new run, gate it against the last run of the
# recipe whose gate passed (the store keeps the gates: no bookkeeping here), write the files a
# CI job publishes, and exit with the gate's code.
#
#   scripts/nightly.sh RECIPE [OUT_DIR]        (OUT_DIR default: reports/nightly)
#
# Writes OUT_DIR/gate.xml (JUnit: a test case per variant × figure), OUT_DIR/history.html (the
# recipe's trend report), OUT_DIR/sweep.log; the run's own reports go where the recipe says
# (output.dir/<run id>/report.html). QEXPLORE_MLFLOW=URI also logs each night to MLflow;
# QEXPLORE_STORE picks the results store (as for every command).
#
# Exit codes: 0 no regression (the first night: its run becomes the reference); 1 a regression
# or a failed variant; 2 bad recipe; 3 environment problem; 4 a stage failed outright;
# 5 inconclusive (the noise is larger than the limits: neither pass nor fail).
set -euo pipefail
cd "$(dirname "$0")/.."
recipe=${1:?usage: scripts/nightly.sh RECIPE [OUT_DIR]}
out=${2:-reports/nightly}
q=.venv/bin/qexplore
mlflow=()
if [[ -n ${QEXPLORE_MLFLOW:-} ]]; then mlflow=(--mlflow "$QEXPLORE_MLFLOW"); fi

make -s setup || { echo "nightly: make setup failed" >&2; exit 3; }
mkdir -p "$out"
rm -f "$out/gate.xml"
set +e
$q sweep "$recipe" --new-run ${mlflow[@]+"${mlflow[@]}"} 2>&1 | tee "$out/sweep.log"
swept=${PIPESTATUS[0]}
set -e
# "run <id> recorded in <store>": the new run, and the store it is in (the recipe may name one)
run=$(sed -n 's/^run \([^ ]*\) recorded in .*/\1/p' "$out/sweep.log" | tail -1)
store=$(sed -n 's/^run [^ ]* recorded in \(.*\)$/\1/p' "$out/sweep.log" | tail -1)
if [[ -z $run ]]; then
  echo "nightly: the sweep recorded no run (exit $swept)" >&2
  exit $(( swept == 0 ? 4 : swept ))
fi

set +e
$q compare LAST_GOOD "$run" --junit "$out/gate.xml" --store "$store"
gated=$?
set -e
$q history --recipe "${run%-*-*}" --store "$store" --output "$out/history.html" \
  || echo "nightly: the trend report failed (the gate's result stands)" >&2
if (( gated == 0 && swept != 0 )); then
  echo "nightly: no regression against the last good run, but the sweep exited $swept" >&2
  exit "$swept"
fi
exit "$gated"
