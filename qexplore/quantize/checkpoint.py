"""Facts read from a checkpoint folder without loading it: size, parameters, bits per weight."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

from qexplore.catalog.models import local_folder

WEIGHT_GLOBS = ("*.safetensors", "*.bin", "*.pt")
# safetensors dtypes wider than one byte (the rest are one byte a value)
_DTYPE_BYTES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2,
                "I16": 2, "U16": 2}


def weight_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for pat in WEIGHT_GLOBS for f in folder.glob(pat))


def _tensors(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    """(name, {"dtype", "shape", …}) of every tensor in the folder's safetensors headers."""
    out = []
    for f in folder.glob("*.safetensors"):
        with open(f, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header: dict[str, Any] = json.loads(fh.read(n))
        out += [(k, t) for k, t in header.items() if k != "__metadata__"]
    return out


def safetensors_parameters(folder: Path) -> int:
    """Number of values in all tensors of the folder's safetensors files (headers only)."""
    return sum(math.prod(t["shape"]) for _, t in _tensors(folder))


def _unpacked_int_bits(folder: Path) -> int | None:
    """Weight bits of an ``int-quantized`` checkpoint whose sub-8-bit integers are stored one
    per byte (W4A8: int4 values in int8 tensors), else None."""
    try:
        q = json.loads((folder / "config.json").read_text()).get("quantization_config") or {}
    except (OSError, ValueError):
        return None
    groups = q.get("config_groups") or {}
    bits = [g.get("weights", {}).get("num_bits") for g in groups.values() if isinstance(g, dict)]
    bits = [b for b in bits if isinstance(b, int)]
    return min(bits) if q.get("format") == "int-quantized" and bits and min(bits) < 8 else None


def served_bytes(folder: Path) -> int:
    """Bytes the weights take once a server has loaded them: the size on disk, except that
    integer weights stored unpacked are counted at their bits (vLLM packs int4 two a byte)."""
    bits = _unpacked_int_bits(folder)
    if bits is None:
        return weight_bytes(folder)
    total = 0.0
    for name, t in _tensors(folder):
        size = _DTYPE_BYTES.get(t["dtype"], 1)
        unpacked = t["dtype"] == "I8" and name.endswith(".weight")
        total += math.prod(t["shape"]) * (bits / 8 if unpacked else size)
    return int(total)



def checkpoint_stats(location: str, base: str) -> dict[str, Any]:
    """Size on disk, size once served, the base model's parameter count, and effective bits
    per parameter as served.

    Parameters are counted in the *base* model (a packed INT4 tensor holds 8 values per int32);
    bits per weight = 8 × served bytes ÷ base parameters, over the whole checkpoint (embeddings,
    norms and scales included). A hub id is read from the Hugging Face cache; one that is not
    on disk gives 0 (unknown: the table then shows the capacity plan's estimate, marked so).
    """
    folder, base_folder = local_folder(location), local_folder(base)
    if folder is None or base_folder is None:
        return {"size_bytes": 0, "served_bytes": 0, "parameters": 0, "bits_per_weight": 0.0}
    served = served_bytes(folder)
    params = safetensors_parameters(base_folder)
    bits = round(8 * served / params, 3) if params else 0.0
    return {"size_bytes": weight_bytes(folder), "served_bytes": served, "parameters": params,
            "bits_per_weight": bits}
