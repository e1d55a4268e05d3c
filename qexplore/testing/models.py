"""A model folder for sweeps against the fake server: what the sweep reads of a model (a
config and safetensors headers) and nothing a server could load."""

from __future__ import annotations

import json
import struct
from pathlib import Path


def tiny_model(folder: Path) -> Path:
    """A model folder with one safetensors tensor (headers are all the sweep reads)."""
    folder.mkdir()
    header = json.dumps({"w": {"dtype": "BF16", "shape": [4, 4], "data_offsets": [0, 32]}}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bytes(32))
    (folder / "config.json").write_text("{}")
    return folder
