"""``qexplore demo``: the tiny CPU demo model."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(help="The tiny CPU demo model (built locally, no download).", no_args_is_help=True)
console = Console()


@app.command("build")
def build(force: bool = typer.Option(False, "--force", help="Rebuild even if cached.")) -> None:
    """Build the demo model and tokenizer (once per machine; a few minutes on 2 cores)."""
    from qexplore.demo.model import demo_facts, ensure_demo_model

    with console.status("training the demo model…") as status:
        out = ensure_demo_model(force, on_line=status.update)
    facts = demo_facts(out) or {}
    console.print(f"demo model: {out}")
    console.print(
        f"  {facts.get('parameters', 0) / 1e6:.1f}M parameters, final loss {facts.get('final_loss')}, "
        f"addition exact match {facts.get('addition_exact_match')}, "
        f"trained in {facts.get('train_seconds')} s"
    )


@app.command("path")
def path() -> None:
    """Print where the demo model is (or will be) built."""
    from qexplore import paths

    typer.echo(paths.demo_model_dir())
