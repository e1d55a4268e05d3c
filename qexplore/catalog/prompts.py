"""The load tester's own prompt sets, by the names recipes and ``--workload`` use."""

from __future__ import annotations

PROMPT_SETS = ("short", "long")  # shipped as loadtest/prompts/NAME.jsonl
RANDOM = "random"  # random token ids of an exact length, made per run
BUILTIN_PROMPTS = (*PROMPT_SETS, RANDOM)
