"""Writes the demo's shipped data files (run once by a developer; a test checks they match).

    python -m qexplore.demo.data
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from qexplore.demo import corpus

HERE = Path(__file__).parent
ADDITION_SEED, PERPLEXITY_SEED, CALIBRATION_SEED = 7, 99, 1000


def calibration_docs(n: int = 256, lines_per_doc: int = 6) -> list[dict[str, str]]:
    """Calibration text: the same kind of lines the model was trained on, from another seed."""
    stream = corpus.training_lines(CALIBRATION_SEED)
    return [{"text": "\n".join(itertools.islice(stream, lines_per_doc))} for _ in range(n)]


def files() -> dict[Path, Sequence[Mapping[str, object]]]:
    """Every shipped data file and the rows it must hold."""
    return {
        HERE / "tasks" / "addition.jsonl": corpus.addition_items(ADDITION_SEED, 100),
        HERE / "tasks" / "perplexity.jsonl": corpus.perplexity_items(PERPLEXITY_SEED, 50),
        HERE / "calibration.jsonl": calibration_docs(),
    }


def render(rows: Sequence[Mapping[str, object]]) -> str:
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)


if __name__ == "__main__":
    for path, rows in files().items():
        path.write_text(render(rows))
        print(f"wrote {path} ({len(rows)} rows)")
