"""``qexplore loadtest``: the load tester against any OpenAI-compatible server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from qexplore.loadtest.client import Endpoint
    from qexplore.loadtest.levels import LevelPlan, RequestShape
    from qexplore.loadtest.metrics import LevelSummary, RequestSlo
    from qexplore.loadtest.run import LoadTestResult
    from qexplore.serve.telemetry import MetricsSampler

console = Console(width=None if sys.stdout.isatty() else 160)


def number_list(text: str, kind: type[float] | type[int], what: str) -> list[Any]:
    """Positive numbers from ``"1,8,32"`` (``typer.BadParameter``, exit 2, otherwise)."""
    try:
        values = [kind(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not a comma-separated list of {what}") from None
    if not values or any(v <= 0 for v in values):
        raise typer.BadParameter(f"give one or more positive {what}, e.g. 1,8,32")
    return values


def loadtest(
    endpoint: Annotated[str, typer.Option(
        help="Server URL, e.g. http://127.0.0.1:8000 (with or without /v1).")],
    model: Annotated[str, typer.Option(help="Model name the server expects in requests.")],
    concurrency: Annotated[str, typer.Option(help="Closed-loop user counts, e.g. 1,8,32.")] = "1,8,32",
    requests: Annotated[int, typer.Option(min=1, help="Measured requests per level, split "
                                          "evenly over its trials.")] = 64,
    trials: Annotated[int, typer.Option(min=1, help="Trials per level, interleaved; with 2 or "
                                        "more, each figure gets a 95% confidence interval.")] = 1,
    warmup: Annotated[int | None, typer.Option(
        min=0, help="Unmeasured requests before each level (default: one per user).")] = None,
    workload: Annotated[str, typer.Option(help="short | long | random | a JSONL file.")] = "short",
    api: Annotated[str | None, typer.Option(help="chat | completions (default: completions for "
                                            "random, chat otherwise).")] = None,
    input_len: Annotated[int | None, typer.Option(min=1, help="Prompt tokens (random).")] = None,
    output_len: Annotated[int, typer.Option(min=1, help="max_tokens per request.")] = 64,
    ignore_eos: Annotated[bool, typer.Option(help="Always generate output_len tokens.")] = False,
    tokenizer: Annotated[str | None, typer.Option(help="Tokenizer (random prompts).")] = None,
    rate: Annotated[str | None, typer.Option(help="Open-loop Poisson rates in req/s, e.g. 1,2,4; "
                                             "--concurrency then caps requests in flight.")] = None,
    min_user_tps: Annotated[float, typer.Option(help="SLO: slowest-1% user tok/s.")] = 10.0,
    max_ttft_ms: Annotated[float | None, typer.Option(help="SLO: TTFT ceiling (goodput).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds before a request counts as failed.")] = 600,
    api_key_env: Annotated[str | None, typer.Option(help="Environment variable with the API key.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the summary as JSON.")] = None,
    raw: Annotated[Path | None, typer.Option(help="Write raw per-request records (parquet).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for prompt order and random prompts.")] = 0,
    telemetry: Annotated[bool, typer.Option(help="Sample the server's /metrics around and "
                                            "during levels.")] = True,
    telemetry_interval: Annotated[float | None, typer.Option(
        min=0.1, help="Also sample /metrics every this many seconds during a level (costs the "
        "server CPU: on CPU machines it distorts the measurement).")] = None,
) -> None:
    """Load-test any OpenAI-compatible server at several concurrency levels (or request rates)."""
    from qexplore.endpoint import api_key_from, check_endpoint
    from qexplore.loadtest.client import Endpoint
    from qexplore.loadtest.levels import RequestShape, level_plans
    from qexplore.loadtest.metrics import RequestSlo
    from qexplore.loadtest.run import write_json, write_raw
    from qexplore.loadtest.workloads import load_prompts
    from qexplore.serve.telemetry import MetricsSampler

    users = sorted(set(number_list(concurrency, int, "integers")))
    per_trial = -(-requests // trials)
    if not rate and per_trial < users[-1]:
        raise typer.BadParameter(f"{per_trial} requests per trial cannot keep {users[-1]} users "
                                 "busy; a closed-loop level needs at least as many requests per "
                                 "trial as users", param_hint="--requests")
    levels = level_plans(users, per_trial, warmup, number_list(rate, float, "numbers") if rate
                         else [], range(trials))
    api = api or ("completions" if workload == "random" else "chat")
    if api not in ("chat", "completions"):
        raise typer.BadParameter("--api must be chat or completions")
    key = api_key_from(api_key_env)
    endpoint = check_endpoint(endpoint, key)
    shape = RequestShape(load_prompts(workload, api, input_len, tokenizer, seed), output_len,
                         ignore_eos, seed=seed)
    sampler = MetricsSampler(endpoint, telemetry_interval) if telemetry else None
    result = _run(Endpoint(endpoint, model, api, key, timeout), shape, levels,
                  RequestSlo(min_user_tps, max_ttft_ms), sampler)
    console.print(levels_table(result.levels))
    console.print(f"capacity: {result.capacity.note}", highlight=False)
    if json_out:
        console.print(f"summary: {write_json(result, json_out)}")
    if raw:
        console.print(f"raw records: {write_raw(result.records, raw)}")
    if all(lv.completed == 0 for lv in result.levels):
        from qexplore.errors import LoadTestError

        first = next((r.error for r in result.records if r.error), "")
        raise LoadTestError(f"every request failed (first error: {first})")


def _run(target: Endpoint, shape: RequestShape, levels: list[LevelPlan], slo: RequestSlo,
         sampler: MetricsSampler | None) -> LoadTestResult:
    """The levels, with a live progress line each."""
    from qexplore.cli.progress import LoadProgress
    from qexplore.loadtest.run import run_loadtest

    with LoadProgress(console) as progress:
        return run_loadtest(target, shape, levels, slo, on_progress=progress.update,
                            sampler=sampler,
                            on_level=lambda _, summary, __: progress.level_done(summary))


def levels_table(levels: list[LevelSummary]) -> Table:
    """The per-level summary as a terminal table; with trials, throughput and the slowest-1 %
    figure carry their 95 % interval."""
    from qexplore.results.formats import cell

    t = Table(box=None, header_style="bold")
    for col in ("users", "trials", "done", "failed", "out tok/s", "req/s", "user tok/s mean",
                "p50", "p1 (slowest)", "TTFT p50 ms", "p99", "TPOT p50 ms", "ITL p99 ms",
                "E2E p99 ms", "stalls", "client CPU %"):
        t.add_column(col, justify="right")
    for s in levels:
        def f(figure: str, d: int = 1, s: LevelSummary = s) -> str:
            x, ci = s.value(figure), s.interval(figure)
            text = "–" if x is None else f"{x:,.{d}f}"
            return text if ci is None else f"{text} [{ci[0]:,.{d}f}, {ci[1]:,.{d}f}]"

        t.add_row(str(s.concurrency) + (f" @{s.rate:g}/s" if s.rate else ""), str(s.trials),
                  str(s.completed), str(s.failed), f("output_tps", 0), f("request_tps", 2),
                  f("user_tps.mean"), f("user_tps.p50"), f("user_tps.p1"), f("ttft_ms.p50", 0),
                  f("ttft_ms.p99", 0), f("tpot_ms.p50"), f("itl_ms.p99"), f("e2e_ms.p99", 0),
                  str(s.stalls), cell(s.client_cpu_pct, "client_cpu_pct"))
    return t


def register(app: typer.Typer) -> None:
    app.command()(loadtest)
