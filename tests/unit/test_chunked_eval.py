"""Chunked evaluation: one seeded order of each task's documents cut into chunks, and the
looks joined into one result with lm-eval's own aggregations (values worked by hand)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from qexplore.evaluate.stats import Comparison, family_verdict
from qexplore.evaluate.worker import chunk_ids, merge


def test_chunks_are_disjoint_pieces_of_one_seeded_order() -> None:
    pieces = [chunk_ids(100, 40, a, b, seed=7) for a, b in ((0, 10), (10, 20), (20, 40))]
    ids = [i for p in pieces for i in p]
    assert all(p == sorted(p) for p in pieces)  # lm-eval reads samples as if sorted
    assert len(ids) == len(set(ids)) == 40 and all(0 <= i < 100 for i in ids)
    assert chunk_ids(100, 40, 0, 10, seed=7) == pieces[0]  # the same for every variant
    assert chunk_ids(100, 40, 0, 10, seed=8) != pieces[0]
    assert chunk_ids(100, 40, 0, 40, seed=7) == sorted(ids)  # the limit's 40, however cut
    assert chunk_ids(100, 40, 40, 80, seed=7) == []  # beyond the limit: nothing


def _look(root: Path, n: int, rows: dict[str, list[dict[str, Any]]],
          docs: dict[str, dict[str, Any]]) -> None:
    d = root / "looks" / str(n)
    (d / "samples").mkdir(parents=True)
    for task, rs in rows.items():
        (d / "samples" / f"{task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rs))
    (d / "lm-eval.json").write_text(json.dumps({
        "results": {"t": {"acc,none": 0.0, "acc_stderr,none": 0.0},
                    "p": {"word_perplexity,none": 0.0, "word_perplexity_stderr,none": "N/A"}},
        "n-samples": {t: {"original": 100, "effective": len(rs)} for t, rs in rows.items()},
        "higher_is_better": {"t": {"acc": True}, "p": {"word_perplexity": False}},
        "aggregation": {"t": {"acc": "mean"}, "p": {"word_perplexity": "weighted_perplexity"}},
        "docs": docs}))


def row(doc: int, **metrics: Any) -> dict[str, Any]:
    return {"doc_id": doc, "filter": "none", "metrics": metrics}


def test_looks_join_into_one_result(tmp_path: Path) -> None:
    docs = {"t": {"task": "t", "total": 4}, "p": {"task": "p", "total": 3}}
    _look(tmp_path, 1, {"t": [row(3, acc=1.0), row(8, acc=0.0)],
                        "p": [row(1, word_perplexity=[-2.0, 1]),
                              row(5, word_perplexity=[-4.0, 1])]}, docs)
    _look(tmp_path, 2, {"t": [row(0, acc=1.0), row(6, acc=1.0)],
                        "p": [row(9, word_perplexity=[-6.0, 2])]}, docs)
    (tmp_path / "looks" / "3").mkdir()  # a look that never finished: not part of it
    merge({"dir": str(tmp_path), "first": 2})
    raw = json.loads((tmp_path / "lm-eval.json").read_text())
    t, p = raw["results"]["t"], raw["results"]["p"]
    # acc: 3 of 4 right; lm-eval's stderr of a mean: sample sd 0.5 / √4 = 0.25
    assert t["acc,none"] == 0.75 and math.isclose(t["acc_stderr,none"], 0.25)
    # weighted perplexity: exp(−Σ log-likelihood / Σ words) = exp(12 / 4)
    assert math.isclose(p["word_perplexity,none"], math.exp(3.0))
    # 2, then 4 documents: 2 planned looks; 3 documents of p: 2, 3
    assert raw["docs"]["t"] == {"task": "t", "total": 4, "done": 4, "looks": 2}
    assert raw["docs"]["p"]["done"] == 3 and raw["n-samples"]["t"]["effective"] == 4
    lines = (tmp_path / "samples" / "t.jsonl").read_text().splitlines()
    assert sorted(json.loads(x)["doc_id"] for x in lines) == [0, 3, 6, 8]


def test_a_look_taken_again_counts_each_document_once(tmp_path: Path) -> None:
    docs = {"t": {"task": "t", "total": 4}}
    _look(tmp_path, 1, {"t": [row(3, acc=0.0), row(8, acc=0.0)]}, docs)
    _look(tmp_path, 2, {"t": [row(3, acc=1.0), row(8, acc=1.0)]}, docs)  # the later stands
    merge({"dir": str(tmp_path), "first": 2})
    raw = json.loads((tmp_path / "lm-eval.json").read_text())
    assert raw["results"]["t"]["acc,none"] == 1.0 and raw["docs"]["t"]["done"] == 2


def cmp(p: float, verdict: str, looks: int) -> Comparison:
    return Comparison("acc", 0.8, 0.7, 0.875, p, verdict, "mcnemar", 100, None, looks)


def test_a_family_counts_each_tasks_looks() -> None:
    # p = 0.02: below 5 % in one look; adjusted for 3 looks, 0.06: not
    assert family_verdict([cmp(0.02, "worse", 1)]) == "worse"
    assert family_verdict([cmp(0.02, "inconclusive", 3)]) == "inconclusive"
    assert cmp(0.5, "inconclusive", 3).adjusted_p == 1.0
