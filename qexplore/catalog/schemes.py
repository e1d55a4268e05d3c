"""The quantization schemes a recipe can name. Pure data: no llm-compressor import here."""

from __future__ import annotations

from dataclasses import dataclass

from qexplore.registry import Registry


@dataclass(frozen=True)
class Scheme:
    """A precision a variant can be built in.

    ``weight_bits``/``act_bits`` are nominal (16 = unquantized); ``None`` weight bits means the
    checkpoint decides (``prequantized``). ``grouped``: weights have one scale per group of
    ``group_size`` inputs (the recipe's ``group_size`` applies).
    """

    name: str
    weight_bits: int | None
    act_bits: int | None
    calibrated: bool
    description: str
    grouped: bool = False


SCHEMES: Registry[Scheme] = Registry("scheme")

for _s in (
    Scheme("baseline", 16, 16, False, "the original weights in fp16/bf16; nothing to build"),
    Scheme("W8A8", 8, 8, True, "INT8 weights and activations: SmoothQuant then GPTQ"),
    Scheme("W4A16", 4, 16, True, "INT4 weights (GPTQ, grouped), 16-bit activations", True),
    Scheme("W4A8", 4, 8, True, "INT4 weights (GPTQ, grouped), dynamic per-token INT8 "
           "activations (the INT4 form vLLM's CPU backend serves without AVX-512)", True),
    Scheme("W8A16", 8, 16, True, "INT8 weights (GPTQ), 16-bit activations", True),
    Scheme("FP8_DYNAMIC", 8, 8, False, "FP8 weights, dynamic per-token FP8 activations"),
    Scheme("FP8_BLOCK", 8, 8, False, "FP8 weights and activations, block-wise scales"),
    Scheme("NVFP4", 4, 4, True, "FP4 weights and activations (Blackwell)"),
    Scheme("prequantized", None, None, False, "an existing quantized checkpoint, used as it is"),
):
    SCHEMES.add(_s.name, _s)
