#!/usr/bin/env bash
# GPU machine, call 2 of 3 (carry .gpu2: vLLM's second piece, lm-eval, the demo model), within
# 30 s of call 1: unpacks vLLM 0.26, waits for call 1's builds, and sweeps the 8B-shaped model
# at FP16, W8A8 and W4A16 (speed only). The sweep stops at QX_SWEEP_S (default 480 s) so the
# call ends inside its 600 s; call 3 resumes what is left. Results: $OUT/qx.tgz and the logs.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
source "$here/scripts/gpu/env.sh"
[ -f "$Q/8b.yaml" ] || { echo "call 1's files are gone (the machine was recycled): run call1.sh again"; exit 4; }
if [ -d "$here/.gpu2" ]; then
    cp "$here"/.gpu2/sv.tar.xz.part* "$here/.gpu2/sv.sha256" "$Q/x/" || exit 3
    got=$(cat "$Q"/x/sv.tar.xz.part* | sha256sum | cut -c1-64)
    [ "$got" = "$(cut -c1-64 "$Q/x/sv.sha256")" ] || { echo "vLLM's pieces do not join (sha256 $got)"; exit 5; }
    cat "$Q"/x/sv.tar.xz.part* | "$PY" -c "import sys, tarfile; tarfile.open(fileobj=sys.stdin.buffer, mode='r|xz').extractall(sys.argv[1])" "$U/sv" || exit 5
    unpack "$here/.gpu2/sl.tar.xz" "$U/sl" || exit 5
    [ -n "${QX_REHEARSE:-}" ] || unpack "$here/.gpu2/demo-model.tar.xz" "$QEXPLORE_DEMO_MODEL" || exit 5
    say "unpacked vLLM, lm-eval and the demo model"
fi
say "vLLM there: $(vllm --version 2>&1 | tail -1)"
wait_for "$Q/QUANTIZED" "${QX_BUILD_WAIT_S:-240}"
say "builds: rc=$(cat "$Q/QUANTIZED" 2>/dev/null)"; grep -v 'it/s]' "$Q/logs/quantize-8b.log" | tail -8
timeout -s INT -k 30 "${QX_SWEEP_S:-480}" qexplore sweep "$Q/8b.yaml" --output "$Q/reports" \
    > "$Q/logs/sweep-8b.log" 2>&1
say "8B sweep rc=$? (124: stopped at ${QX_SWEEP_S:-480} s; call 3 resumes it)"; tail -12 "$Q/logs/sweep-8b.log"
snap; say "call 2 done"
