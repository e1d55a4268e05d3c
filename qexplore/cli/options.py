"""Arguments and options shared by several commands, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

RecipeArg = Annotated[Path, typer.Argument(help="Recipe YAML file.", show_default=False)]
VariantOpt = Annotated[
    list[str] | None,
    typer.Option("--variant", "-v", help="Only this variant (repeat for several).",
                 show_default=False),
]
StoreOpt = Annotated[Path | None, typer.Option(help="Results database (default: QEXPLORE_STORE, "
                                               "the recipe's output.store, reports/qexplore.db).")]
MlflowOpt = Annotated[str | None, typer.Option(
    "--mlflow", metavar="URI", help="Also log the run to this MLflow tracking server: a parent "
    "run, a child per variant (metrics per level, verdicts, reports); logging again updates, "
    "never duplicates. Needs the mlflow extra.", show_default=False)]
