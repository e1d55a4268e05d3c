"""The build itself, run in a child process of the core env (memory returns when it ends).

    python -m qexplore.quantize.worker JOB.json

JOB.json holds a build job as a dict (``quantize/build.py`` writes it). The worker loads the
model, samples the calibration data (seeded), runs llm-compressor's ``oneshot`` with the
scheme's standard recipe, saves a compressed-tensors checkpoint into ``job["out"]`` and writes
``build-facts.json`` there. A job of kind ``random`` instead makes a model of a config's shape
with random weights (on the GPU where there is one) and saves it with the tokenizer it names.
Progress lines start with ``[build]``.
"""

from __future__ import annotations

import json
import os
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any


def say(msg: str) -> None:
    print(f"[build] {msg}", flush=True)


def weight_scheme(job: dict[str, Any]) -> dict[str, Any]:
    """The preset scheme of ``job["scheme"]`` with the recipe's group size applied."""
    from compressed_tensors.quantization import preset_name_to_scheme

    scheme = preset_name_to_scheme(job["scheme"], targets=["Linear"])
    if scheme.weights is not None and scheme.weights.strategy == "group":
        if job["group_size"] is None:
            scheme.weights.strategy = "channel"
            scheme.weights.group_size = None
        else:
            scheme.weights.group_size = job["group_size"]
    return {"group_0": scheme.model_dump(exclude_none=True)}


def modifiers(job: dict[str, Any]) -> list[Any]:
    """llm-compressor's standard recipe for the scheme."""
    from llmcompressor.modifiers.quantization import GPTQModifier, QuantizationModifier

    ignore = job["ignore"]
    if not job["calibrated"]:  # data-free: FP8_DYNAMIC, FP8_BLOCK; any scheme on random weights
        return [QuantizationModifier(config_groups=weight_scheme(job), ignore=ignore)]
    gptq = GPTQModifier(
        config_groups=weight_scheme(job), ignore=ignore,
        dampening_frac=job["dampening_frac"], actorder=job["actorder"],
    )
    if job["scheme"] == "W8A8":
        from llmcompressor.modifiers.transform.smoothquant import SmoothQuantModifier

        return [SmoothQuantModifier(smoothing_strength=job["smoothing_strength"]), gptq]
    return [gptq]


SHUFFLE_BUFFER = 10_000  # rows a streamed hub dataset is shuffled within


def sampler(offline: bool) -> str:
    """How a hub dataset's calibration rows are picked (part of the build's key: another
    sampler picks other rows). Online it is streamed; offline, read from the datasets cache."""
    return "cached-shuffle" if offline else f"stream-shuffle-{SHUFFLE_BUFFER}"


def hub_offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes")
               for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def calibration_texts(cal: dict[str, Any], tokenizer: Any) -> list[str]:
    """``cal["samples"]`` texts, sampled with ``cal["seed"]`` from a local file or hub dataset.
    A hub dataset is never read whole into memory: streamed, only the rows the shuffle buffer
    needs are read; offline, the cached split is memory-mapped and only the rows picked are
    read from it."""
    if cal.get("path"):
        rows = _read_local(Path(cal["path"]), cal["text_column"])
        random.Random(cal["seed"]).shuffle(rows)
        return [_as_text(r, tokenizer) for r in rows[: cal["samples"]]]
    import datasets

    column, n, seed = cal["text_column"], cal["samples"], cal["seed"]
    if cal.get("sampler", sampler(hub_offline())).startswith("cached"):
        ds = datasets.load_dataset(cal["dataset"], split=cal["split"])
        picked = ds.shuffle(seed=seed).select(range(min(n, len(ds))))
        return [_as_text(r, tokenizer) for r in picked[column]]
    stream = datasets.load_dataset(cal["dataset"], split=cal["split"], streaming=True)
    rows = stream.shuffle(seed=seed, buffer_size=SHUFFLE_BUFFER).take(n)
    return [_as_text(row[column], tokenizer) for row in rows]


def _read_local(path: Path, column: str) -> list[Any]:
    if path.suffix == ".jsonl":
        return [json.loads(x)[column] for x in path.read_text().splitlines() if x.strip()]
    return [p for p in path.read_text().split("\n\n") if p.strip()]


def _as_text(row: Any, tokenizer: Any) -> str:
    if isinstance(row, list):  # chat messages, e.g. ultrachat's "messages"
        return str(tokenizer.apply_chat_template(row, tokenize=False))
    return str(row)


# What a shape's config carries that random weights must not claim: another checkpoint's
# quantization, remote code.
NOT_CARRIED = ("quantization_config", "auto_map", "architectures", "transformers_version")


def random_model(job: dict[str, Any]) -> None:
    """A model of ``job["config"]``'s shape with random weights, saved with the tokenizer.

    Its vocabulary is the tokenizer's size (the shape's other dimensions are kept): random
    weights sample every id the model has, and an id the tokenizer cannot decode stops the
    server. Special token ids come from the tokenizer too."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    started = time.time()
    tokenizer = AutoTokenizer.from_pretrained(job["tokenizer"])
    cfg = {k: v for k, v in job["config"].items() if k not in NOT_CARRIED}
    if cfg.get("vocab_size") != len(tokenizer):
        say(f"vocabulary {len(tokenizer):,} (the tokenizer's) instead of the shape's "
            f"{cfg.get('vocab_size')}")
    cfg |= {"vocab_size": len(tokenizer), "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}
    config = AutoConfig.for_model(cfg.pop("model_type"), **cfg)
    named = job["dtype"] if job["dtype"] != "auto" else str(
        getattr(config, "dtype", None) or "bfloat16").removeprefix("torch.")
    dtype = getattr(torch, named)
    device = _device_for(config, dtype)
    torch.manual_seed(job["seed"])
    say(f"random {named} weights of a {config.model_type} shape on {device}")
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    out = Path(job["out"])
    say(f"saving to {out}")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    _facts(out, started)


def _device_for(config: Any, dtype: Any) -> str:
    """The GPU when the weights fit in its free memory with room to spare, else the CPU (a
    shape larger than one card, made for a tensor-parallel recipe)."""
    import torch
    from transformers import AutoModelForCausalLM

    if not torch.cuda.is_available():
        return "cpu"
    with torch.device("meta"):
        size = AutoModelForCausalLM.from_config(config, dtype=dtype).num_parameters()
    need = size * torch.finfo(dtype).bits // 8
    free, _ = torch.cuda.mem_get_info()
    return "cuda" if need < 0.8 * free else "cpu"


def _facts(out: Path, started: float) -> None:
    """``build-facts.json``: how long the build took and its peak memory."""
    import torch

    facts = {"build_seconds": round(time.time() - started, 2),
             "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)}
    if torch.cuda.is_available():
        facts["peak_gpu_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
    (out / "build-facts.json").write_text(json.dumps(facts))
    say("done")


def main(job_path: str) -> None:
    job = json.loads(Path(job_path).read_text())
    if job.get("kind") == "random":
        random_model(job)
    else:
        quantize(job)


def quantize(job: dict[str, Any]) -> None:
    """The scheme's llm-compressor recipe on the job's model, saved compressed."""
    import torch
    from llmcompressor.entrypoints.oneshot import oneshot
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.time()
    torch.manual_seed(0)
    say(f"loading {job['model']}")
    tokenizer = AutoTokenizer.from_pretrained(job["model"])
    model = AutoModelForCausalLM.from_pretrained(job["model"], dtype="auto")
    kwargs: dict[str, Any] = {}
    if job["calibrated"]:
        import datasets

        cal = job["calibration"]
        texts = calibration_texts(cal, tokenizer)
        say(f"calibrating on {len(texts)} samples of ≤ {cal['seq_len']} tokens")
        ds = datasets.Dataset.from_dict({"text": texts}).map(
            lambda s: tokenizer(s["text"], max_length=cal["seq_len"], truncation=True,
                                add_special_tokens=False),
            remove_columns=["text"],
        )
        kwargs = {"dataset": ds, "max_seq_length": cal["seq_len"],
                  "num_calibration_samples": len(texts), "shuffle_calibration_samples": False}
    say(f"quantizing to {job['scheme']}")
    oneshot(model=model, recipe=modifiers(job), **kwargs)
    out = Path(job["out"])
    say(f"saving to {out}")
    model.save_pretrained(out, save_compressed=True)
    tokenizer.save_pretrained(out)
    _facts(out, started)


if __name__ == "__main__":
    main(sys.argv[1])
