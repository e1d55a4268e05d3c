#!/usr/bin/env bash
# GPU machine, call 1 of 3 (carry .gpu1: vLLM's first piece, llm-compressor, the tokenizer, typer).
# Copies this repository to /tmp/qx/src, unpacks, writes the recipes and the plan, and starts
# `qexplore quantize` of the 8B-shaped model (its random FP16 base, then W8A8 and W4A16 by
# round-to-nearest) in the background: it goes on after this call returns (~30 s). Call 2 must
# start within the machine's idle release (30 s), or /tmp is gone with the machine.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/scripts/gpu/env.sh"
tar cf - -C "$here" --exclude=./.gpu1 --exclude=./.gpu2 --exclude=./.git --exclude=./.venv \
    --exclude=./reports . | tar xf - -C "$Q/src" || exit 3
if [ -d "$here/.gpu1" ]; then
    cp "$here"/.gpu1/sv.tar.xz.part00 "$Q/x/" || exit 3
    unpack "$here/.gpu1/sq.tar.xz" "$U/sq" && unpack "$here/.gpu1/tok.tar.xz" "$U/tok" || exit 4
    [ -n "${QX_REHEARSE:-}" ] || "$PY" -m pip install -q --no-index --no-deps --no-compile \
        --target "$Q/site" "$here"/.gpu1/*.whl || exit 4
    say "unpacked: $(du -sh "$U/sq" "$U/tok" | awk '{print $2 " " $1}' | tr '\n' ' ')"
fi
[ "$CARD" = cpu ] || nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader
recipes
qexplore doctor > "$Q/logs/doctor.log" 2>&1; say "doctor rc=$? (3: no vLLM yet, call 2 brings it)"
qexplore plan "$Q/8b.yaml" > "$Q/logs/plan-8b.log" 2>&1; say "plan rc=$?"
qexplore plan "$Q/8b.yaml" --json > "$Q/plan-8b.json" 2>> "$Q/logs/plan-8b.log"
rm -f "$Q/QUANTIZED"
setsid nohup bash -c "qexplore quantize '$Q/8b.yaml' > '$Q/logs/quantize-8b.log' 2>&1; echo \$? > '$Q/QUANTIZED'" \
    < /dev/null > /dev/null 2>&1 &
for i in $(seq 30); do [ -s "$Q/logs/quantize-8b.log" ] && break; sleep 1; done
sleep 5; tail -5 "$Q/logs/quantize-8b.log"
[ "$CARD" = cpu ] || nvidia-smi --query-gpu=memory.used --format=csv,noheader
snap; say "call 1 done"
