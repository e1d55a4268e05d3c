"""Entry point: the typer app and the one place errors become exit codes.

Keep imports here light (typer and the standard library): every command imports the stage it
needs inside its body, so ``qexplore --help`` never loads torch, transformers or lm-eval.
"""

from __future__ import annotations

import sys

import typer

from qexplore import __version__
from qexplore.errors import ExitCode, QexploreError

app = typer.Typer(
    name="qexplore",
    help="Quantization trade-off explorer for LLM serving: build FP16/INT8/INT4 variants of a "
    "model, serve each with vLLM, load-test it at 1…N concurrent users, measure its accuracy "
    "with lm-eval, and pick the precision to deploy.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"qexplore {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Quantization trade-off explorer for LLM serving."""


def _register() -> None:
    from qexplore.cli import (
        build_cmds,
        demo,
        eval_cmds,
        load_cmds,
        serve_cmds,
        setup_cmds,
        sweep_cmds,
        track_cmds,
    )

    sweep_cmds.register(app)
    track_cmds.register(app)
    setup_cmds.register(app)
    build_cmds.register(app)
    serve_cmds.register(app)
    load_cmds.register(app)
    eval_cmds.register(app)
    app.add_typer(demo.app, name="demo")


_register()


def fail(err: QexploreError) -> int:
    """Print an error as the lines a user needs; return its exit code."""
    for line in err.lines():
        print(line, file=sys.stderr)
    return int(err.exit_code)


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except QexploreError as err:
        sys.exit(fail(err))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(int(ExitCode.PARTIAL))
