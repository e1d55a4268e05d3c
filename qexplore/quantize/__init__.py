"""Build stage: quantized variants with llm-compressor (imported only inside the build)."""
