"""Build the demo model: tokenizer trained here, tiny Llama trained here, saved in HF format.

Deterministic for a given seed and step count (single process, fixed thread count). Run as
``python -m qexplore.demo.build OUT`` or through ``qexplore demo build``; imports torch and
transformers, so nothing else imports this module at start-up.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from qexplore import paths
from qexplore.demo import corpus

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)
SPECIAL = {"pad": "<pad>", "bos": "<s>", "eos": "</s>"}


@dataclass(frozen=True)
class DemoSpec:
    """Everything that decides the demo model; its hash names the cached build."""

    seed: int = 0
    vocab_size: int = 512
    hidden_size: int = 256
    intermediate_size: int = 768
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2
    max_positions: int = 512
    seq_len: int = 64
    batch_size: int = 32
    steps: int = 600
    lr: float = 3e-3
    warmup: int = 30
    threads: int = 2

    def key(self) -> str:
        import hashlib

        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


Progress = Callable[[int, int, float], None]


def train_tokenizer(spec: DemoSpec) -> Any:
    """A byte-level BPE tokenizer with single-digit tokens, wrapped as PreTrainedTokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size,
        special_tokens=list(SPECIAL.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    lines = itertools.islice(corpus.training_lines(spec.seed + 1), 20_000)
    tok.train_from_iterator(lines, trainer=trainer)
    bos = SPECIAL["bos"]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=SPECIAL["eos"], pad_token=SPECIAL["pad"],
        model_max_length=spec.max_positions,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def packed_batches(spec: DemoSpec, tokenizer: Any) -> Iterator[tuple[Any, Any]]:
    """(input_ids, labels) batches: BOS + whole lines, padding masked out of the loss."""
    import torch

    bos, eos, pad = (tokenizer.convert_tokens_to_ids(SPECIAL[k]) for k in ("bos", "eos", "pad"))
    newline = tokenizer.encode("\n", add_special_tokens=False)
    lines = corpus.training_lines(spec.seed)

    def line_ids(text: str) -> list[int]:
        ids: list[int] = tokenizer.encode(text, add_special_tokens=False)
        return ids + ([eos] if text.startswith("user:") else newline)

    pending = line_ids(next(lines))
    while True:
        rows = []
        for _ in range(spec.batch_size):
            row = [bos]
            while len(row) + len(pending) <= spec.seq_len:
                row += pending
                pending = line_ids(next(lines))
            rows.append(row + [pad] * (spec.seq_len - len(row)))
        ids = torch.tensor(rows)
        labels = ids.masked_fill(ids == pad, -100)
        yield ids, labels


def make_model(spec: DemoSpec, tokenizer: Any) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        num_key_value_heads=spec.kv_heads,
        max_position_embeddings=spec.max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        dtype="bfloat16",
    )
    return LlamaForCausalLM(config)


def train(spec: DemoSpec, model: Any, tokenizer: Any, progress: Progress | None = None) -> float:
    """Train for ``spec.steps`` steps; returns the final loss."""
    import torch

    torch.manual_seed(spec.seed)
    torch.set_num_threads(spec.threads)
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=0.01, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(spec, s))
    model.train()
    loss_value = math.nan
    for step, (ids, labels) in enumerate(packed_batches(spec, tokenizer), start=1):
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        loss_value = loss.item()
        if progress:
            progress(step, spec.steps, loss_value)
        if step >= spec.steps:
            break
    return loss_value


def _lr_factor(spec: DemoSpec, step: int) -> float:
    if step < spec.warmup:
        return (step + 1) / spec.warmup
    done = (step - spec.warmup) / max(1, spec.steps - spec.warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done))


def exact_match(model: Any, tokenizer: Any, items: list[dict[str, Any]]) -> float:
    """Greedy exact match on addition items (a quick self-check recorded with the model)."""
    import torch

    model.eval()
    hits = 0
    with torch.no_grad():
        for item in items:
            ids = tokenizer(str(item["question"]), return_tensors="pt").input_ids
            out = model.generate(ids, max_new_tokens=3, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
            text = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
            hits += text.split("\n")[0].strip() == item["answer"]
    return hits / len(items)


def build(out: Path, spec: DemoSpec = DemoSpec(), progress: Progress | None = None) -> dict[str, Any]:
    """Build the demo model into ``out`` atomically; returns the build facts (also saved)."""
    import torch

    started = time.time()
    tokenizer = train_tokenizer(spec)
    torch.manual_seed(spec.seed)
    model = make_model(spec, tokenizer)
    loss = train(spec, model, tokenizer, progress)
    facts = {
        "spec": asdict(spec),
        "key": spec.key(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "final_loss": round(loss, 4),
        "train_seconds": round(time.time() - started, 1),
        "addition_exact_match": exact_match(model, tokenizer, corpus.addition_items(7, 100)),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".demo-", dir=out.parent))
    model.to(torch.bfloat16).save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / "qexplore-demo.json").write_text(json.dumps(facts, indent=2))
    paths.publish(tmp, out)
    return facts


if __name__ == "__main__":
    def _print(step: int, total: int, loss: float) -> None:
        if step % 50 == 0 or step == total:
            print(f"step {step}/{total} loss {loss:.3f}", flush=True)

    steps = int(sys.argv[2]) if len(sys.argv) > 2 else DemoSpec.steps
    print(json.dumps(build(Path(sys.argv[1]), DemoSpec(steps=steps), _print), indent=2))
