from __future__ import annotations

import pytest

from qexplore.serve.facts import parse_log

pytestmark = pytest.mark.unit

# Lines as vLLM 0.32 (CPU build) printed them here, and as its CUDA build prints model loading.
CPU_LOG = """\
(Worker pid=4108) INFO 11-29 00:16:14 [default_loader.py:501] Loading weights took 0.02 seconds
(Worker pid=4108) INFO 11-29 00:16:14 [cpu_worker.py:260] Explicitly set (1.0/9.96) GiB for KV cache on node 0.
(EngineCore pid=4096) INFO 11-29 00:16:14 [kv_cache_utils.py:2327] CPU KV cache size: 524,288 tokens, \
Maximum concurrency for 256 tokens per request: 2048.00x
"""
GPU_LOG = """\
(EngineCore pid=1) INFO [gpu_model_runner.py:2100] Model loading took 14.9889 GiB memory and 5.2 seconds
(EngineCore pid=1) INFO [kv_cache_utils.py:2327] GPU KV cache size: 61,264 tokens, \
Maximum concurrency for 4,096 tokens per request: 14.96x
"""


def test_cpu_log() -> None:
    assert parse_log(CPU_LOG) == {"kv_cache_tokens": 524288, "max_concurrency_at_len": 256,
                                  "max_concurrency": 2048.0}


def test_gpu_log() -> None:
    assert parse_log(GPU_LOG) == {"kv_cache_tokens": 61264, "max_concurrency_at_len": 4096,
                                  "max_concurrency": 14.96, "weights_gib": 14.9889}

# vLLM 0.26.0 (the GPU machine's): the two figures on two lines, and Model Runner V2's
# "GiB and" without "memory" (format strings from its source: v1/core/kv_cache_utils.py:2177-2179,
# v1/worker/gpu/model_runner.py:306)
GPU_LOG_0_26 = """(EngineCore_DP0 pid=1) INFO [model_runner.py:306] Model loading took 14.99 GiB and 4.812345 seconds
(EngineCore_DP0 pid=1) INFO [kv_cache_utils.py:2177] GPU KV cache size: 449,744 tokens
(EngineCore_DP0 pid=1) INFO [kv_cache_utils.py:2179] Maximum concurrency for 4,096 tokens per request: 109.80x
"""


def test_gpu_log_of_vllm_0_26() -> None:
    assert parse_log(GPU_LOG_0_26) == {"kv_cache_tokens": 449744, "max_concurrency_at_len": 4096,
                                       "max_concurrency": 109.8, "weights_gib": 14.99}


def test_nothing_logged_yet() -> None:
    assert parse_log("starting…\n") == {}
