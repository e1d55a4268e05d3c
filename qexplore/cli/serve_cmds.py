"""``qexplore serve``: one variant's server, up until Ctrl-C."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from qexplore.cli.options import RecipeArg

if TYPE_CHECKING:
    from qexplore.serve.base import Server

console = Console()


def serve(
    recipe: RecipeArg,
    variant: Annotated[str, typer.Option("--variant", "-v", help="The variant to serve.")],
    run_dir: Annotated[Path, typer.Option(help="Folder for the server log and temp files.")] = Path(
        "runs/serve"
    ),
) -> None:
    """Build (if needed) and serve one variant on 127.0.0.1 — or check the recipe's endpoint
    (attach mode) — as a sweep would; print its URL; stop on Ctrl-C."""
    from qexplore.recipes import load_recipe
    from qexplore.sweep import serve_variant

    with ExitStack() as running:
        with console.status(f"{variant}: preparing") as status:
            v, server = serve_variant(load_recipe(recipe), variant, run_dir.resolve(),
                                      on_line=lambda s: status.update(f"{variant}: {s}"))
            status.update(f"{variant}: starting the server")
            running.enter_context(server)  # started once; leaving stops it
        _serve_until_interrupted(server, v.name, v.scheme)


def _serve_until_interrupted(server: Server, name: str, scheme: str) -> None:
    facts = server.facts
    took = f" in {facts.startup_s:.0f} s" if facts and facts.startup_s is not None else ""
    console.print(f"[bold]{name}[/] ({scheme}) ready{took} at [bold]{server.base_url}/v1[/]  "
                  f"(model name: {name})")
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
