"""Serve stage: one vLLM server per variant, shared by the load test and the evaluation."""
