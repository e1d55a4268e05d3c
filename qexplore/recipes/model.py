"""The recipe's model section (a model, or a shape with random weights) and its calibration
data: what every variant is built from."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

from qexplore.recipes.resolve import DEMO_MODEL


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(Strict):
    path: str | None = Field(
        None, description=f"Local folder, hub id, or '{DEMO_MODEL}' for the built-in tiny demo "
        "model (built on first use, no download)."
    )
    shape: str | None = Field(
        None, description="Instead of a path, the architecture alone: a model whose config "
        "qexplore ships ('llama-3.1-8b', 'meta-llama/Llama-3.1-70B', …), "
        f"'{DEMO_MODEL}' (the demo model's), or a config.json file. Needs weights: random."
    )
    weights: Literal["real", "random"] = Field(
        "real", description="'random': serve random weights of the model's shape (made by "
        "qexplore; quantized variants by round-to-nearest) to measure serving speed and plan "
        "capacity before the real weights are at hand (gated, not yet approved, no hub access). "
        "The run is then speed only: its accuracy is never measured or shown."
    )
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = Field(
        "auto", description="Dtype of the baseline weights and of the served activations."
    )
    max_model_len: PositiveInt | None = Field(
        None, description="Context length to serve; at most the model's max_position_embeddings."
    )
    tokenizer: str | None = Field(None, description="Tokenizer folder or hub id if not the model's "
                                  "(a shape has none of its own, except the demo model's).")

    @model_validator(mode="after")
    def _one_model(self) -> ModelSpec:
        if (self.path is None) == (self.shape is None):
            raise ValueError("give 'path' (a model) or 'shape' (an architecture alone), one of them")
        if self.shape is not None and self.weights != "random":
            raise ValueError("'shape' names an architecture without weights: set weights: random")
        if self.speed_only and DEMO_MODEL not in (self.path, self.shape) and not self.tokenizer:
            raise ValueError("random weights need a tokenizer named: set 'tokenizer' (a folder or "
                             "hub id; the random model's vocabulary is made its size)")
        return self

    @property
    def speed_only(self) -> bool:
        """Random weights: speed is measured, accuracy never."""
        return self.weights == "random"

    @property
    def named(self) -> str:
        """What the recipe names: the model's path, or the shape."""
        return self.path or self.shape or ""


class Calibration(Strict):
    """Calibration data for schemes that need it: a hub dataset or a local JSONL/text file."""

    dataset: str | None = Field(None, description="Hub dataset id, e.g. HuggingFaceH4/ultrachat_200k.")
    path: str | None = Field(None, description="Local .jsonl (one object per line) or .txt file.")
    split: str = Field("train", description="Dataset split (hub datasets).")
    text_column: str = Field("text", description="Column/key holding the text (or chat messages).")
    samples: PositiveInt = Field(512, description="Number of calibration samples.")
    seq_len: PositiveInt = Field(2048, description="Maximum tokens per sample.")
    seed: int = Field(0, description="Seed for sampling, so the same inputs give the same build.")

    @model_validator(mode="after")
    def _one_source(self) -> Calibration:
        if (self.dataset is None) == (self.path is None):
            raise ValueError("give exactly one of 'dataset' or 'path'")
        return self
