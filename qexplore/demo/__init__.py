"""The CPU demo: a tiny Llama-architecture model and lm-eval tasks for it, made without any download."""
