"""qexplore: a quantization trade-off explorer for LLM serving."""

__version__ = "0.1.0"
