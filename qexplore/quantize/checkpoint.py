"""Facts read from a checkpoint folder without loading it: size, parameters, bits per weight."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

WEIGHT_GLOBS = ("*.safetensors", "*.bin", "*.pt")


def weight_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for pat in WEIGHT_GLOBS for f in folder.glob(pat))


def safetensors_parameters(folder: Path) -> int:
    """Number of values in all tensors of the folder's safetensors files (headers only)."""
    total = 0
    for f in folder.glob("*.safetensors"):
        with open(f, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header: dict[str, Any] = json.loads(fh.read(n))
        total += sum(math.prod(t["shape"]) for k, t in header.items() if k != "__metadata__")
    return total


def checkpoint_stats(location: str, base: str) -> dict[str, Any]:
    """Size on disk, the base model's parameter count, and effective bits per parameter.

    Parameters are counted in the *base* model (a packed INT4 tensor holds 8 values per int32);
    bits per weight = 8 × weight bytes ÷ base parameters, over the whole checkpoint (embeddings,
    norms and scales included). For a hub id that is not on disk the numbers are 0.
    """
    folder, base_folder = Path(location), Path(base)
    if not folder.is_dir() or not base_folder.is_dir():
        return {"size_bytes": 0, "parameters": 0, "bits_per_weight": 0.0}
    size = weight_bytes(folder)
    params = safetensors_parameters(base_folder)
    bits = round(8 * size / params, 3) if params else 0.0
    return {"size_bytes": size, "parameters": params, "bits_per_weight": bits}
