from __future__ import annotations

import json
import re

import pytest

from qexplore.demo import corpus, data

pytestmark = pytest.mark.unit


def test_shipped_files_are_what_the_generator_writes() -> None:
    for path, rows in data.files().items():
        assert path.read_text() == data.render(rows), f"{path} is stale: python -m qexplore.demo.data"


def test_addition_items_are_correct_sums() -> None:
    rows = [json.loads(x) for x in (data.HERE / "tasks" / "addition.jsonl").read_text().splitlines()]
    assert len(rows) == 100
    for r in rows:
        a, b = map(int, re.fullmatch(r"(\d+)\+(\d+)=", r["question"]).groups())
        assert r["answer"] == str(a + b)
        assert r["choices"][r["label"]] == r["answer"]
        assert len(set(r["choices"])) == 4


def test_perplexity_text_is_held_out_from_training() -> None:
    training = set()
    stream = corpus.training_lines(0)
    for _ in range(50_000):
        training.add(next(stream))
    lines = (data.HERE / "tasks" / "perplexity.jsonl").read_text().splitlines()
    docs = [json.loads(x)["text"] for x in lines]
    sentences = [line for d in docs for line in d.splitlines() if line.endswith(" .")]
    unseen = [s for s in sentences if s not in training]
    assert len(unseen) > len(sentences) / 2
