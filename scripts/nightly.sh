#!/usr/bin/env bash
# Nightly tracking: measure a recipe again into a new run, then gate on `qexplore compare`
# against the last good run. Exit codes: 0 no regression; 1 regression or a failed variant;
# 2 bad recipe; 3 environment problem; 4 a stage failed outright; 5 inconclusive (noise).
#
#   scripts/nightly.sh recipes/llama31-8b-rtx3090.yaml
#
# Keeps the id of the last good run in reports/<recipe>.last-good (commit or cache it in CI).
set -euo pipefail
cd "$(dirname "$0")/.."
recipe=${1:?usage: scripts/nightly.sh RECIPE}
name=$(basename "$recipe" .yaml)
last_good=reports/$name.last-good
q=.venv/bin/qexplore

make -s setup
out=$($q sweep "$recipe" --new-run | tee /dev/stderr)
run=$(printf '%s\n' "$out" | sed -n 's/^run \([^ ]*\) .*/\1/p' | tail -1)
[[ -n $run ]] || { echo "nightly: the sweep recorded no run" >&2; exit 4; }

if [[ -f $last_good ]]; then
  # exits 1 on a regression (the job fails here), 5 when the noise hides whether there is one
  # (the job fails too, and the last good run stays the reference)
  $q compare "$(cat "$last_good")" "$run"
fi
echo "$run" > "$last_good"
echo "nightly: $run is the new last good run"
