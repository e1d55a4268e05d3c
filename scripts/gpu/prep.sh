#!/usr/bin/env bash
# Here (a machine with pip access, from the repository's root): the two pieces the GPU calls carry,
# .gpu1/ and .gpu2/ (git-ignored; each with the working tree under the device's 64 MiB a call).
# The kit (../shared/gpu-kit/prep.sh, or KIT) makes vLLM 0.26, llm-compressor, lm-eval and the
# tokenizer (3 min); this adds what qexplore needs there that the image lacks (typer 0.29) and
# the demo model (built here once: `qexplore demo build`).
#
#   scripts/gpu/prep.sh            then, on the device, in one session:
#   run scripts/gpu/call1.sh (carry .gpu1) · call2.sh (carry .gpu2) within 30 s · call3.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd); cd "$root"
kit=${KIT:-$root/../shared/gpu-kit}; W=${W:-/tmp/vllmbundle}
[ -f "$W/xfer2/sv.sha256" ] || W=$W bash "$kit/prep.sh"
rm -rf .gpu1 .gpu2; mkdir -p .gpu1 .gpu2
cp "$W"/xfer1/{sv.tar.xz.part00,sq.tar.xz,tok.tar.xz} .gpu1/
cp "$W"/xfer2/{sv.tar.xz.part01,sl.tar.xz,sv.sha256} .gpu2/
typer=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('typer'))")
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    -d .gpu1 "typer==$typer"
demo=$(.venv/bin/python -m qexplore.paths demo-model)
.venv/bin/qexplore demo build > /dev/null
tar cf - -C "$demo" . | xz -9 > .gpu2/demo-model.tar.xz
tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
for d in .gpu1 .gpu2; do
    size=$(( $(du -cb $d | tail -1 | cut -f1) + tree ))
    echo "$d + the working tree: $(( size / 1048576 )) MiB"
    [ $size -lt $(( 64 * 1048576 )) ] || { echo "$d is over the device's 64 MiB a call"; exit 1; }
done
