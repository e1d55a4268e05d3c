"""Content addresses for builds: the same inputs give the same key, any change a new one.

A key covers the base model's files (config, tokenizer, weights), the scheme and the parameters
that matter to it, the calibration data and its sampling, and the llm-compressor version.
File digests are memoised by (path, size, mtime) so a cache hit never re-reads a large model.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
from pathlib import Path
from typing import Any

from qexplore import paths

MODEL_FILES = ("*.json", "*.safetensors", "*.bin", "*.model", "*.txt", "*.jinja")
SKIP = {"build-facts.json", "qexplore-build.json", "qexplore-demo.json", "recipe.yaml"}


def file_digest(path: Path) -> str:
    """sha256 of a file, memoised in the build cache by path, size and mtime."""
    st = path.stat()
    memo_key = f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
    memo = _memo_path()
    known = _read_memo(memo)
    if memo_key in known:
        return known[memo_key]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    _write_memo(memo, memo_key, h.hexdigest())
    return h.hexdigest()


def model_digest(location: str) -> str:
    """Digest of a model folder's files, or ``hub:<id>`` for a hub id."""
    folder = Path(location)
    if not folder.is_dir():
        return f"hub:{location}"
    files = sorted({f for pat in MODEL_FILES for f in folder.glob(pat) if f.name not in SKIP})
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.name}:{file_digest(f)}\n".encode())
    return h.hexdigest()


def digest(parts: dict[str, Any]) -> str:
    """A short stable hash of a JSON-able mapping."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _memo_path() -> Path:
    return paths.build_cache() / ".file-digests.json"


def _read_memo(memo: Path) -> dict[str, str]:
    try:
        data: dict[str, str] = json.loads(memo.read_text())
        return data
    except (OSError, json.JSONDecodeError):
        return {}


def _write_memo(memo: Path, key: str, value: str) -> None:
    memo.parent.mkdir(parents=True, exist_ok=True)
    # flock keeps this machine's writers in turn; on a cache shared by several machines an
    # entry may be lost to a concurrent write elsewhere, which costs only its recomputation
    # (the file is replaced whole, never torn).
    with open(memo.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        known = _read_memo(memo)
        known[key] = value
        tmp = memo.with_suffix(f".{socket.gethostname()}-{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known))
        tmp.replace(memo)
