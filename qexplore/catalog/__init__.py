"""The catalog: quantization schemes, serving targets and which scheme each target can serve.
Facts every stage reads; it imports nothing above the CPU probe and the registry."""
