"""A model's shape, read from its ``config.json`` without loading a weight: what the capacity
plan counts parameters and KV-cache bytes from.

The config comes from the model's folder (or a config.json file: a model named by its shape),
else the Hugging Face cache, else the configs qexplore ships (the reference recipe's model
family, so its plan works offline). Only dense decoders with a gated MLP (Llama, Mistral, Qwen
2/3 and kin) are counted; anything else is named as not estimated rather than guessed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

SHIPPED = Path(__file__).parent / "model_configs"
DENSE_GATED = ("llama", "mistral", "qwen2", "qwen3", "granite")


@dataclass(frozen=True)
class ModelShape:
    """The numbers of a dense gated-MLP decoder that decide its size and its KV cache."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool
    max_position: int | None
    source: str  # where the config was read: "folder", "file", "hugging face cache", "shipped…"

    @classmethod
    def from_config(cls, cfg: dict[str, Any], source: str) -> ModelShape:
        heads = int(cfg["num_attention_heads"])
        hidden = int(cfg["hidden_size"])
        return cls(hidden=hidden, intermediate=int(cfg["intermediate_size"]),
                   layers=int(cfg["num_hidden_layers"]), heads=heads,
                   kv_heads=int(cfg.get("num_key_value_heads") or heads),
                   head_dim=int(cfg.get("head_dim") or hidden // heads),
                   vocab=int(cfg["vocab_size"]), tied=bool(cfg.get("tie_word_embeddings")),
                   max_position=cfg.get("max_position_embeddings"), source=source)

    @property
    def layer_linear_params(self) -> int:
        """Weights of one layer's linear modules: q, k, v, o and the gated MLP's three."""
        q_o = 2 * self.hidden * self.heads * self.head_dim
        k_v = 2 * self.hidden * self.kv_heads * self.head_dim
        return q_o + k_v + 3 * self.hidden * self.intermediate

    @property
    def linear_params(self) -> int:
        """Weights of every decoder layer's linear modules (what a scheme quantizes)."""
        return self.layers * self.layer_linear_params

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden

    @property
    def head_params(self) -> int:
        """``lm_head`` weights (none of its own when tied to the embeddings)."""
        return 0 if self.tied else self.vocab * self.hidden

    @property
    def norm_params(self) -> int:
        return (2 * self.layers + 1) * self.hidden

    @property
    def parameters(self) -> int:
        return self.linear_params + self.embedding_params + self.head_params + self.norm_params

    @property
    def params_per_token(self) -> int:
        """Weights multiplied per generated token: every linear module and the ``lm_head``
        (the embedding is a lookup)."""
        return self.linear_params + self.vocab * self.hidden

    def kv_bytes_per_token(self, dtype_bytes: float) -> float:
        """KV-cache bytes per token: layers × 2 (K and V) × KV heads × head dim × dtype bytes."""
        return self.layers * 2 * self.kv_heads * self.head_dim * dtype_bytes


class ShapeUnknown(Exception):
    """Why a model's shape is not known here (one line, for the plan to show)."""


def model_shape(model: str) -> ModelShape:
    """The shape of ``model`` (a folder, a config.json file or a hub id); :class:`ShapeUnknown`
    says what is missing."""
    cfg, source = _config(model)
    kind = cfg.get("model_type")
    if kind not in DENSE_GATED or cfg.get("num_local_experts") or cfg.get("num_experts"):
        raise ShapeUnknown(f"{model}: model_type {kind!r} is not a dense decoder qexplore "
                           f"counts ({', '.join(DENSE_GATED)})")
    try:
        return ModelShape.from_config(cfg, source)
    except (KeyError, TypeError, ValueError) as e:
        raise ShapeUnknown(f"{model}: its config.json lacks {e}") from None


def _config(model: str) -> tuple[dict[str, Any], str]:
    folder = Path(model).expanduser()
    if folder.is_dir():
        return _read(folder / "config.json", model), "folder"
    if folder.is_file():  # a config.json alone: a model named by its shape
        return _read(folder, model), "file"
    cached = _hf_cached_config(model)
    if cached is not None:
        return _read(cached, model), "hugging face cache"
    shipped = shipped_configs()
    if model in shipped:
        return shipped[model], "shipped with qexplore"
    raise ShapeUnknown(f"{model}: no config.json here (not a folder, not in the Hugging Face "
                       "cache, not shipped); `huggingface-cli download "
                       f"{model} config.json` fetches it")


def _read(path: Path, model: str) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ShapeUnknown(f"{model}: cannot read {path}: {e}") from None
    return data.get("text_config") or data


WEIGHT_FILES = ("*.safetensors", "*.bin")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def is_hub_id(model: str) -> bool:
    """Whether ``model`` reads as ``org/name`` (not a path such as ``./models/x``)."""
    return bool(HUB_ID.match(model)) and not Path(model).expanduser().exists()


def local_folder(model: str) -> Path | None:
    """Where a model's files are on this machine: its folder, or its snapshot in the Hugging
    Face cache when that holds its weights, not just its config (None otherwise)."""
    folder = Path(model).expanduser()
    if folder.is_dir():
        return folder
    cached = _hf_cached_config(model)
    if cached is None or not any(next(cached.parent.glob(p), None) for p in WEIGHT_FILES):
        return None
    return cached.parent


def _hf_cached_config(model: str) -> Path | None:
    """``config.json`` of a hub id in the local Hugging Face cache (no network)."""
    if model.count("/") != 1:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(model, "config.json")
    return Path(found) if isinstance(found, str) else None


def model_config(model: str) -> dict[str, Any]:
    """The whole ``config.json`` of ``model`` (as :func:`model_shape` finds it), to build a model
    of its shape from; :class:`ShapeUnknown` says what is missing."""
    model_shape(model)  # a shape qexplore counts, or why not
    return _config(model)[0]


def shipped_name(name: str) -> str | None:
    """The shipped config a name means: its hub id, or that id's last part in any case
    ('llama-3.1-8b' → 'meta-llama/Llama-3.1-8B')."""
    shipped = shipped_configs()
    if name in shipped:
        return name
    return next((k for k in shipped if k.rpartition("/")[2].lower() == name.lower()), None)


@cache
def shipped_configs() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for f in sorted(SHIPPED.glob("*.json")):
        out |= {k: v for k, v in json.loads(f.read_text()).items() if not k.startswith("_")}
    return out
