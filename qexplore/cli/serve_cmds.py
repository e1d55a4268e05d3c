"""``qexplore serve``: one variant's server, up until Ctrl-C."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from qexplore.cli.options import RecipeArg

if TYPE_CHECKING:
    from qexplore.serve.manager import VllmServer

console = Console()


def serve(
    recipe: RecipeArg,
    variant: Annotated[str, typer.Option("--variant", "-v", help="The variant to serve.")],
    run_dir: Annotated[Path, typer.Option(help="Folder for the server log and temp files.")] = Path(
        "runs/serve"
    ),
) -> None:
    """Build (if needed) and serve one variant on 127.0.0.1; print its URL; stop on Ctrl-C."""
    from qexplore.plan import make_plan
    from qexplore.quantize.build import build_variant
    from qexplore.recipes import load_recipe
    from qexplore.serve import manager
    from qexplore.serve.from_recipe import server_spec

    p = make_plan(load_recipe(recipe), [variant]).check()
    v = p.variants[0].variant
    with console.status(f"{v.name}: preparing") as status:
        build = build_variant(p.recipe, v, on_line=lambda s: status.update(f"{v.name}: {s}"))
        spec = server_spec(p.recipe, v, build, run_dir.resolve())
        status.update(f"{v.name}: starting vLLM (log: {spec.log_path})")
        server = manager.VllmServer(spec)
        server.start()  # once: a failed start stops what it began
    try:
        _serve_until_interrupted(server, v.name, v.scheme)
    finally:
        server.stop()


def _serve_until_interrupted(server: VllmServer, name: str, scheme: str) -> None:
    facts = server.facts
    console.print(f"[bold]{name}[/] ({scheme}) ready in {server.startup_s:.0f} s at "
                  f"[bold]{server.base_url}/v1[/]  (model name: {name})")
    if facts and facts.kv_cache_tokens:
        console.print(f"KV cache {facts.kv_cache_tokens:,} tokens; vLLM max concurrency "
                      f"{facts.max_concurrency:g}× at {facts.max_concurrency_at_len} tokens")
    console.print("Ctrl-C stops it.")
    try:
        while True:
            server.check_alive()
            time.sleep(1)
    except KeyboardInterrupt:
        console.print("stopping…")


def register(app: typer.Typer) -> None:
    app.command()(serve)
