"""``qexplore eval``: lm-eval against any OpenAI-compatible completions server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def eval_cmd(
    endpoint: Annotated[str, typer.Option(
        help="Server URL, e.g. http://127.0.0.1:8000 (with or without /v1).")],
    model: Annotated[str, typer.Option(help="Model name the server expects in requests.")],
    tokenizer: Annotated[str, typer.Option(help="The served model's tokenizer (folder or hub id).")],
    tasks: Annotated[str, typer.Option(help="lm-eval task names, comma-separated.")],
    include_path: Annotated[str | None, typer.Option(
        help="Folder of extra task YAMLs ('@demo' for the demo's tasks).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Samples per task.")] = None,
    num_fewshot: Annotated[int | None, typer.Option(min=0, help="Few-shot examples.")] = None,
    num_concurrent: Annotated[int, typer.Option(min=1, help="Concurrent requests.")] = 8,
    max_length: Annotated[int, typer.Option(min=16, help="The server's context length.")] = 2048,
    seed: Annotated[int, typer.Option(help="lm-eval seed.")] = 1234,
    api_key_env: Annotated[str | None, typer.Option(help="Environment variable with the API key.")] = None,
    out: Annotated[Path, typer.Option(help="Folder for lm-eval's results and per-sample logs.")] = Path(
        "runs/eval"),
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON.")] = None,
) -> None:
    """Measure accuracy with lm-eval against a running server (local-completions, token lists)."""
    from qexplore.endpoint import api_key_from, check_endpoint
    from qexplore.evaluate.run import EvalJob, TaskSpec, check_tasks, evaluate
    from qexplore.recipes.resolve import DEMO_TASKS

    names = [t.strip() for t in tasks.split(",") if t.strip()]
    if not names:
        raise typer.BadParameter("give at least one task")
    include = str(DEMO_TASKS) if include_path == "@demo" else include_path
    with console.status("checking tasks…"):
        check_tasks(names, include)
    key = api_key_from(api_key_env)
    endpoint = check_endpoint(endpoint, key)
    job = EvalJob(endpoint, model, tokenizer, [TaskSpec(n, num_fewshot, limit) for n in names],
                  include, num_concurrent, seed, max_length, key)
    with console.status("evaluating…") as status:
        result = evaluate(job, out.resolve(), on_line=lambda s: status.update(f"lm-eval: {s}"))
    table = Table(box=None, header_style="bold")
    for col in ("task", "metric", "value", "stderr", "n"):
        table.add_column(col)
    for task, metrics in result.tasks.items():
        for metric, v in metrics.items():
            stderr = "–" if v["stderr"] is None else f"{v['stderr']:.4f}"
            table.add_row(task, metric, f"{v['value']:.4f}", stderr, str(v["n"]))
    console.print(table)
    console.print(f"lm-eval results and per-sample logs: {out}")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result.as_json(), indent=2))
        console.print(f"summary: {json_out}")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)

