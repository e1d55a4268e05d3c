"""The quantization schemes a recipe can name. Pure data: no llm-compressor import here."""

from __future__ import annotations

from dataclasses import dataclass

from qexplore.registry import Registry


@dataclass(frozen=True)
class Scheme:
    """A precision a variant can be built in.

    ``weight_bits``/``act_bits`` are nominal (16 = unquantized); ``None`` weight bits means the
    checkpoint decides (``prequantized``). ``grouped``: weights have one scale per group of
    ``group_size`` inputs (the recipe's ``group_size`` applies); a format with its own group
    (``scale_group`` values share one ``scale_bits`` scale) sets it here; otherwise one 16-bit
    scale per output channel. ``math``: what its matmuls run in when served natively (a
    :class:`~qexplore.catalog.targets.Peaks` field).
    """

    name: str
    weight_bits: int | None
    act_bits: int | None
    calibrated: bool
    description: str
    grouped: bool = False
    math: str = "fp16"
    scale_group: int | None = None
    scale_bits: int = 16


SCHEMES: Registry[Scheme] = Registry("scheme")

for _s in (
    Scheme("baseline", 16, 16, False, "the original weights in fp16/bf16; nothing to build"),
    Scheme("W8A8", 8, 8, True, "INT8 weights and activations: SmoothQuant then GPTQ",
           math="int8"),
    Scheme("W4A16", 4, 16, True, "INT4 weights (GPTQ, grouped), 16-bit activations", True),
    Scheme("W4A8", 4, 8, True, "INT4 weights (GPTQ, grouped), dynamic per-token INT8 "
           "activations (the INT4 form vLLM's CPU backend serves without AVX-512)", True,
           math="int8"),
    Scheme("W8A16", 8, 16, True, "INT8 weights (GPTQ), 16-bit activations", True),
    Scheme("FP8_DYNAMIC", 8, 8, False, "FP8 weights, dynamic per-token FP8 activations",
           math="fp8"),
    Scheme("FP8_BLOCK", 8, 8, False, "FP8 weights and activations, block-wise scales",
           math="fp8", scale_group=128 * 128, scale_bits=32),
    Scheme("NVFP4", 4, 4, True, "FP4 weights and activations (Blackwell)", math="fp4",
           scale_group=16, scale_bits=8),
    Scheme("prequantized", None, None, False, "an existing quantized checkpoint, used as it is"),
):
    SCHEMES.add(_s.name, _s)
