#!/usr/bin/env bash
# GPU machine, call 3 of 3 (no carry): finishes the 8B sweep if call 2 stopped it (a completed
# sweep re-measures nothing), then the demo recipe with evaluation on the GPU: the accuracy path
# end to end (calibrated builds, serve, lm-eval, paired tests). Results as in call 2.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/scripts/gpu/env.sh"
[ -f "$Q/8b.yaml" ] && [ -n "$(ls "$U/sv" 2>/dev/null)${QX_REHEARSE:-}" ] || { echo "call 1's or 2's files are gone (the machine was recycled)"; exit 4; }
timeout -s INT -k 30 "${QX_SWEEP_S:-240}" qexplore sweep "$Q/8b.yaml" --output "$Q/reports" \
    >> "$Q/logs/sweep-8b.log" 2>&1
say "8B sweep rc=$?"; tail -8 "$Q/logs/sweep-8b.log"
timeout -s INT -k 30 "${QX_DEMO_S:-300}" qexplore sweep "$Q/demo.yaml" --output "$Q/reports" \
    > "$Q/logs/sweep-demo.log" 2>&1
say "demo sweep rc=$?"; tail -12 "$Q/logs/sweep-demo.log"
# The plan's prompt-logprob memory against a full-context log-likelihood request on the largest
# variant (fp16), if time is left: served as the sweep serves it.
if [ "$(el)" -lt "${QX_PROBE_BEFORE_S:-420}" ]; then
    tokens=$(( $(sed -n 's/^  max_model_len: //p' "$Q/8b.yaml") - 1 ))
    qexplore serve "$Q/8b.yaml" -v fp16 --run-dir "$Q/probe" > "$Q/logs/serve-probe.log" 2>&1 &
    pid=$!
    for i in $(seq 240); do grep -qo 'http://127.0.0.1:[0-9]*' "$Q/logs/serve-probe.log" && break; sleep 1; done
    url=$(grep -o 'http://127.0.0.1:[0-9]*' "$Q/logs/serve-probe.log" | head -1)
    [ -n "$url" ] && "$PY" "$Q/src/scripts/gpu/logprob_probe.py" "$url" "$tokens" | tee "$Q/logs/probe.log"
    [ "$CARD" = cpu ] || nvidia-smi --query-gpu=memory.used,memory.total --format=csv,noheader | tee -a "$Q/logs/probe.log"
    kill -TERM $pid; wait $pid  # (an & job ignores SIGINT)
fi
snap; say "call 3 done"
