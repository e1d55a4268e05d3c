"""The CLI's contract: fast start-up (no heavy imports), exit codes, no tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).parents[2]
QEXPLORE = [sys.executable, "-c", "from qexplore.cli.main import run; run()"]
HEAVY = ("torch", "transformers", "lm_eval", "llmcompressor", "datasets", "pandas", "vllm")


def qexplore(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    code = "import sys; from qexplore.cli.main import run; sys.argv[0] = 'qexplore'; run()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys\nfrom qexplore.cli.main import app\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_version() -> None:
    from qexplore import __version__

    r = qexplore("--version")
    assert (r.returncode, r.stdout.strip()) == (0, f"qexplore {__version__}")


def test_validate_ok_prints_a_summary() -> None:
    r = qexplore("validate", "recipes/demo-cpu.yaml")
    assert r.returncode == 0, r.stderr
    assert "recipe demo-cpu: valid" in r.stdout
    assert "bf16 (baseline), int8-w8a8 (W8A8), int4-w4a8 (W4A8)" in r.stdout


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("a: [1,\n", "invalid YAML"),
        ("", "the recipe is empty"),
        (None, "no such recipe file"),
        ("name: x\nmodel: {path: m}\nvariants: [{name: a, scheme: W4A61}]\n",
         "variants[0].scheme: unknown scheme 'W4A61' — did you mean 'W4A16'?"),
    ],
)
def test_validate_bad_input_exits_2_with_one_line_and_no_traceback(
    tmp_path: Path, content: str | None, needle: str
) -> None:
    f = tmp_path / "r.yaml"
    if content is not None:
        f.write_text(content)
    r = qexplore("validate", str(f))
    assert r.returncode == 2
    assert needle in r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert len(r.stderr.strip().splitlines()) == 1


def test_loadtest_refuses_fewer_requests_than_users() -> None:
    # 8 users and 4 requests: the level would never reach 8 requests in flight.
    r = qexplore("loadtest", "--endpoint", "http://127.0.0.1:9", "--model", "m",
                 "--concurrency", "1,8", "--requests", "4")
    assert r.returncode == 2
    assert "4 requests per trial cannot keep 8 users busy" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_the_reference_plan_offline_as_json(tmp_path: Path) -> None:
    import json
    import os

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hf"),
           "QEXPLORE_STORE": str(tmp_path / "none.db")}
    r = subprocess.run([*QEXPLORE, "plan", "recipes/llama31-8b-rtx3090.yaml", "--json"],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["target"]["bandwidth_gbs"] == 936 and plan["model"]["config"] == \
        "shipped with qexplore"
    weights = {v["name"]: v["weights_gb"] for v in plan["variants"]}
    assert weights == pytest.approx({"fp16": 16.06, "int8-w8a8": 9.08, "int4-w4a16": 5.70},
                                    abs=0.01)
    fp16 = plan["variants"][0]
    # the workloads' bounds differ (prompt lengths): nested per workload, keyed by users
    assert set(fp16["decode_bound_tps"]) == {"short-chat", "long-prompts", "published"}
    # 100 users: 71 TFLOPS ÷ (2 × 7.5 B parameters per token) = 4,730 tok/s binds before
    # 100 × 936 GB/s ÷ (15.0 GB + 100 × 90 tokens × 128 KiB) = 5,800
    assert fp16["bound_kind"]["published"]["100"] == "compute"
    assert fp16["decode_bound_tps"]["published"]["100"] == pytest.approx(4730, abs=1)
    assert (fp16["kv_cache_tokens"], fp16["max_seqs_at_max_len"]) == (38_016, 9)
    assert any("prompt logprobs" in w for w in plan["warnings"])
    dry = subprocess.run([*QEXPLORE, "sweep", "recipes/llama31-8b-rtx3090.yaml", "--dry-run"],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert dry.returncode == 0, dry.stderr
    assert "decode bound" in dry.stdout and "time, estimated" in dry.stdout
    assert "a real run would stop here" in dry.stdout and "RTX3090" in dry.stdout
