"""Does one log-likelihood request of the served context's full length fit? (What lm-eval's
local-completions sends for a multiple-choice task: the prompt's token ids, echo, 1 logprob.)
The plan warns when vLLM's prompt logprobs (estimated at 12 bytes per token per vocabulary
entry, outside gpu_memory_utilization) would not fit; this is the measurement that checks it.

usage: python logprob_probe.py BASE_URL TOKENS      e.g. http://127.0.0.1:8000 4095
Prints one line: the model, the tokens sent, ok or the server's error, seconds."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request


def post(url: str, body: dict[str, object]) -> dict[str, object]:
    req = urllib.request.Request(url, json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        return json.load(r)  # type: ignore[no-any-return]


def main() -> None:
    base, tokens = sys.argv[1].rstrip("/"), int(sys.argv[2])
    with urllib.request.urlopen(f"{base}/v1/models", timeout=30) as r:
        model = json.load(r)["data"][0]["id"]
    # real text's token ids (any tokenizer, any vocabulary), repeated to the length asked for
    text = "The quick brown fox jumps over the lazy dog while 12 + 30 = 42. " * 8
    ids = post(f"{base}/tokenize", {"model": model, "prompt": text})["tokens"]
    prompt = (ids * (tokens // len(ids) + 1))[:tokens]  # type: ignore[operator]
    started = time.monotonic()
    try:
        out = post(f"{base}/v1/completions",
                   {"model": model, "prompt": prompt,
                    "max_tokens": 1, "echo": True, "logprobs": 1, "temperature": 0})
        scored = len(out["choices"][0]["logprobs"]["token_logprobs"])  # type: ignore[index]
        verdict = f"ok, {scored} logprobs"
    except urllib.error.HTTPError as e:
        verdict = f"HTTP {e.code}: {e.read()[:300]!r}"
    except (urllib.error.URLError, OSError) as e:
        verdict = f"failed: {e}"
    print(f"logprob probe: {model}, {tokens} prompt tokens: {verdict} "
          f"({time.monotonic() - started:.1f} s)")


if __name__ == "__main__":
    main()
