"""Datasets for the demo tasks, read from the JSONL files beside this module (no hub access).

lm-eval calls these through ``custom_dataset: !function demo_data.<name>`` with the task's
metadata as keyword arguments, which they ignore.
"""

import json
from pathlib import Path

import datasets

HERE = Path(__file__).parent


def _load(name: str) -> datasets.DatasetDict:
    rows = [json.loads(line) for line in (HERE / name).read_text().splitlines() if line.strip()]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def addition(**_: object) -> datasets.DatasetDict:
    return _load("addition.jsonl")


def perplexity(**_: object) -> datasets.DatasetDict:
    return _load("perplexity.jsonl")
