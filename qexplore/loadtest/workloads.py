"""Prompt sets: built-in short chats and long (200–300-token) prompts, random prompts of an
exact token length, or a user's JSONL file (``prompt`` text or ``messages``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qexplore.catalog.prompts import PROMPT_SETS, RANDOM
from qexplore.errors import RecipeError

PROMPTS = Path(__file__).parent / "prompts"
BUILTIN = {name: PROMPTS / f"{name}.jsonl" for name in PROMPT_SETS}
RANDOM_COUNT = 256


def load_prompts(spec: str, api: str, input_len: int | None = None,
                 tokenizer: str | None = None, seed: int = 0) -> list[Any]:
    """The prompts of a workload: text, chat messages, or token-id lists (random)."""
    if spec == RANDOM:
        return random_prompts(api, input_len, tokenizer, seed)
    path = BUILTIN.get(spec) or Path(spec).expanduser()
    if not path.is_file():
        raise RecipeError(f"workload: '{spec}' is not short, long, random or a JSONL file")
    return _read_jsonl(path)


def _read_jsonl(path: Path) -> list[Any]:
    prompts = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            prompts.append(row["messages"] if "messages" in row else row["prompt"])
        except (json.JSONDecodeError, KeyError, TypeError):
            raise RecipeError(f"{path}:{n}: each line must be a JSON object with "
                              "'prompt' (text) or 'messages' (chat)") from None
    if not prompts:
        raise RecipeError(f"{path}: no prompts")
    return prompts


def random_prompts(api: str, input_len: int | None, tokenizer: str | None, seed: int
                   ) -> list[list[int]]:
    """Prompts of exactly ``input_len`` tokens: random ids from the model's vocabulary (no
    special tokens), sent as token ids through the completions API so the length is exact."""
    if api != "completions":
        raise RecipeError("random prompts are token ids: use the completions API")
    if not input_len or not tokenizer:
        raise RecipeError("random prompts need an input length and the model's tokenizer")
    import numpy as np
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer)
    vocab = np.array(whole_text_tokens(tok))
    rng = np.random.default_rng(seed)
    return [rng.choice(vocab, input_len).tolist() for _ in range(RANDOM_COUNT)]


def whole_text_tokens(tok: Any) -> list[int]:
    """Ids of tokens that decode to complete text on their own: no special tokens and no
    fragments of a multi-byte character. Fragments make vLLM's incremental detokenizer hold
    back and then burst the stream, which distorts TTFT and inter-token latency."""
    special = set(tok.all_special_ids)
    ids = []
    for i in range(len(tok)):
        text = tok.decode([i])
        if i not in special and text and "\ufffd" not in text and text.isprintable():
            ids.append(i)
    return ids
