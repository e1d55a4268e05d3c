#!/bin/bash
# What qexplore sees and builds on this machine's NVIDIA GPU, in a few minutes and without vLLM:
# doctor, the plan of the reference model on TARGET (the card's memory read from nvidia-smi), the
# sweep's machine check (a recipe for another card is refused), and llm-compressor builds of the
# demo model on the GPU, each then loaded by transformers there for its perplexity.
#
#   scripts/gpu-check.sh TARGET [OUT_DIR]     e.g. scripts/gpu-check.sh h200 /tmp/gpu-check
#
# Needs qexplore on PATH (make setup) and the demo model (QEXPLORE_DEMO_MODEL, or built once by
# `qexplore demo build`). Works offline: the reference plan reads the config qexplore ships.
set -u
target=${1:?usage: scripts/gpu-check.sh TARGET [OUT_DIR]}
out=${2:-reports/gpu-check}
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
export HF_HUB_OFFLINE=1 QEXPLORE_BUILD_CACHE=${QEXPLORE_BUILD_CACHE:-$out/builds}
t0=$(date +%s); step() { echo; echo "=== [$(( $(date +%s) - t0 ))s] $*"; }

sed "s/^target: .*/target: $target/; s/^name: .*/name: llama31-8b-$target/" \
    "$here/recipes/llama31-8b-rtx3090.yaml" > "$out/reference.yaml"
# the demo's variants, with W4A16 (GPU INT4) for the CPU's W4A8, and FP8 (native from sm_89)
sed "s/^target: .*/target: $target/; s/^name: .*/name: demo-$target/; s/scheme: W4A8/scheme: W4A16/;
     s/int4-w4a8/int4-w4a16/; s/^  kv_cache_gb: .*/  gpu_memory_utilization: 0.5/" \
    "$here/recipes/demo-cpu.yaml" > "$out/demo.yaml"
printf '  - name: fp8-dynamic\n    scheme: FP8_DYNAMIC\n' > "$out/fp8.yaml"
python3 - "$out/demo.yaml" "$out/fp8.yaml" <<'PY'
import sys, yaml
recipe, extra = (yaml.safe_load(open(p)) for p in sys.argv[1:])
recipe["variants"] += extra
yaml.safe_dump(recipe, open(sys.argv[1], "w"), sort_keys=False)
PY

step "nvidia-smi"
nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv
step "doctor (exit 3 where vLLM is not installed)"
qexplore doctor; echo "doctor rc=$?"
step "plan: the reference model on $target"
qexplore plan "$out/reference.yaml" --json > "$out/plan-reference.json"; echo "plan rc=$?"
python3 -c "import json,sys; t=json.load(open(sys.argv[1]))['target']; print(t['name'], t['capability'], t['memory_gb'], 'GB', t['sources']['memory_gb'])" "$out/plan-reference.json"
step "machine check: a recipe for another card (expect exit 3)"
other=$([ "$target" = rtx3090 ] && echo h100 || echo rtx3090)
sed "s/^target: .*/target: $other/" "$out/reference.yaml" > "$out/other.yaml"
qexplore sweep "$out/other.yaml" --skip-eval; echo "sweep rc=$?"
step "plan and builds of the demo model on the GPU"
qexplore plan "$out/demo.yaml"; echo "plan rc=$?"
qexplore quantize "$out/demo.yaml"; echo "quantize rc=$?"
builds=$(find "$QEXPLORE_BUILD_CACHE" -name build-facts.json -exec dirname {} \;)
for b in $builds; do echo "$b: $(cat "$b/build-facts.json")"; done
step "perplexity of each checkpoint, loaded by transformers on the GPU"
python3 "$here/scripts/gpu_perplexity.py" "$here/qexplore/demo/tasks/perplexity.jsonl" \
    "${QEXPLORE_DEMO_MODEL:-$HOME/.cache/qexplore/demo-model}" $builds
step done
