"""Calibration data: a hub dataset is streamed, never read whole into memory."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.unit


def test_a_hub_dataset_is_streamed_and_only_the_rows_needed_are_read(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    from qexplore.quantize import worker

    pulled = []

    def rows() -> Any:
        for i in range(200_000):  # ultrachat_200k's size
            pulled.append(i)
            yield {"messages": f"text {i}"}

    def load_dataset(name: str, split: str, streaming: bool = False) -> Any:
        assert (name, split, streaming) == ("org/chat", "train_sft", True)
        return datasets.IterableDataset.from_generator(rows)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):  # online: the stream
        monkeypatch.delenv(var, raising=False)
    cal = {"dataset": "org/chat", "split": "train_sft", "text_column": "messages",
           "samples": 8, "seed": 0}
    texts = worker.calibration_texts(cal, tokenizer=None)
    assert len(texts) == 8 and len(set(texts)) == 8
    assert len(pulled) <= worker.SHUFFLE_BUFFER + 8  # the buffer, not the split
    assert texts == worker.calibration_texts(cal, tokenizer=None)  # the seed decides


def test_offline_the_cached_split_is_read_only_where_picked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    from qexplore.quantize import worker

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    table = datasets.Dataset.from_dict({"text": [f"row {i}" for i in range(5_000)]})

    def load_dataset(name: str, split: str, streaming: bool = False) -> Any:
        assert not streaming  # offline a stream cannot start: the cached split is used
        return table

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    cal = {"dataset": "org/data", "split": "train", "text_column": "text", "samples": 6,
           "seed": 3}
    texts = worker.calibration_texts(cal, tokenizer=None)
    assert len(set(texts)) == 6 and texts == worker.calibration_texts(cal, tokenizer=None)
    assert worker.sampler(True) != worker.sampler(False)  # so the build key tells them apart
