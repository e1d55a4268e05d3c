"""Perplexity of each checkpoint on texts of a JSONL file, loaded by transformers on the GPU
(compressed-tensors checkpoints are decompressed on load): a build that broke the model shows.

    python scripts/gpu_perplexity.py TEXTS.jsonl CHECKPOINT...
"""

import json
import math
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def perplexity(path: str, texts: list[str]) -> float:
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype="auto").to("cuda").eval()
    nll, tokens = 0.0, 0
    with torch.no_grad():
        for text in texts:
            ids = tokenizer(text, return_tensors="pt").input_ids[:, :128].to("cuda")
            n = ids.shape[1] - 1
            nll += model(ids, labels=ids).loss.item() * n
            tokens += n
    return math.exp(nll / tokens)


def main() -> None:
    lines = Path(sys.argv[1]).read_text().splitlines()
    texts = [json.loads(x)["text"] for x in lines if x.strip()][:40]
    for path in sys.argv[2:]:
        try:
            print(f"perplexity {path}: {perplexity(path, texts):.3f}", flush=True)
        except Exception as e:  # one checkpoint that will not load is a finding; go on
            print(f"perplexity {path}: FAILED {type(e).__name__}: {str(e)[:300]}", flush=True)


if __name__ == "__main__":
    main()
