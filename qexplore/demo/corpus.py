"""Synthetic text for the demo model: sums to learn and a small grammar of sentences.

Pure and seeded. The same functions write the training stream and the shipped eval JSONL, so the
tasks ask exactly the kind of text the model was trained on; the perplexity sentences use a seed
the training stream never uses.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

MAX_ADDEND = 19

_DET = ["the", "a", "one", "every", "that"]
_ADJ = ["red", "small", "big", "old", "quiet", "green", "happy", "dark", "soft", "fast"]
_NOUN = ["cat", "dog", "bird", "child", "farmer", "teacher", "fox", "horse", "robot", "sailor"]
_VERB = ["sees", "likes", "follows", "helps", "finds", "watches", "calls", "meets"]
_PLACE = ["in the garden", "by the river", "at home", "on the hill", "near the school"]


def sum_line(a: int, b: int) -> str:
    """The arithmetic fact as the model sees it, e.g. ``3+14=17``."""
    return f"{a}+{b}={a + b}"


def sentence(rng: random.Random) -> str:
    """One sentence of the toy grammar."""
    def np() -> str:
        adj = f"{rng.choice(_ADJ)} " if rng.random() < 0.6 else ""
        return f"{rng.choice(_DET)} {adj}{rng.choice(_NOUN)}"

    place = f" {rng.choice(_PLACE)}" if rng.random() < 0.4 else ""
    return f"{np()} {rng.choice(_VERB)} {np()}{place} ."


def chat_line(rng: random.Random) -> str:
    """A user/assistant exchange in the demo chat template's format."""
    a, b = rng.randint(0, MAX_ADDEND), rng.randint(0, MAX_ADDEND)
    return f"user: what is {a}+{b}?\nassistant: {a + b}"


def training_lines(seed: int) -> Iterator[str]:
    """An endless stream of training lines: mostly sums, some sentences and chats."""
    rng = random.Random(seed)
    while True:
        r = rng.random()
        if r < 0.6:
            yield sum_line(rng.randint(0, MAX_ADDEND), rng.randint(0, MAX_ADDEND))
        elif r < 0.9:
            yield sentence(rng)
        else:
            yield chat_line(rng)


def addition_items(seed: int, n: int) -> list[dict[str, object]]:
    """Eval items: question, answer and three distinct wrong choices near the answer."""
    rng = random.Random(seed)
    pairs = [(a, b) for a in range(MAX_ADDEND + 1) for b in range(MAX_ADDEND + 1)]
    items = []
    for a, b in rng.sample(pairs, n):
        answer = a + b
        wrong = rng.sample([x for x in range(max(0, answer - 4), answer + 5) if x != answer], 3)
        choices = [str(x) for x in sorted([answer, *wrong])]
        items.append({"question": f"{a}+{b}=", "answer": str(answer), "choices": choices,
                      "label": choices.index(str(answer))})
    return items


def perplexity_items(seed: int, n: int) -> list[dict[str, str]]:
    """Held-out documents of a few lines each for the rolling log-likelihood task."""
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        lines = [sentence(rng) if rng.random() < 0.5 else
                 sum_line(rng.randint(0, MAX_ADDEND), rng.randint(0, MAX_ADDEND))
                 for _ in range(rng.randint(3, 6))]
        docs.append({"text": "\n".join(lines)})
    return docs
