"""Evaluate stage: lm-eval's own numbers for exactly the model being served."""
