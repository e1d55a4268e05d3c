"""The plan: what a recipe will do on its target, checked before any expensive work.

Resolves the target, looks up each variant's support there, refuses what cannot be served
(``RecipeError``, exit 2) and says what is already built.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from qexplore.catalog.capacity import VariantEstimate
from qexplore.catalog.models import local_folder
from qexplore.catalog.support import Support, variant_support
from qexplore.catalog.targets import Target
from qexplore.demo.model import demo_facts
from qexplore.errors import QexploreError, RecipeError
from qexplore.plan.durations import VariantDuration, durations
from qexplore.plan.estimate import TargetFigures, estimate_variant, plan_warnings, target_figures
from qexplore.quantize.build import cached_random_base, cached_record, key_for
from qexplore.recipes.schema import Recipe, Variant
from qexplore.registry import suggest


@dataclass(frozen=True)
class VariantPlan:
    index: int
    variant: Variant
    support: Support
    build: str  # "original weights" | "random weights[, to build]" | "checkpoint" | "cached" |
    #             "to build" | "to build (…)"
    key: str | None = None
    served: str | None = None  # the checkpoint's folder, when it is on disk already


@dataclass(frozen=True)
class Plan:
    recipe: Recipe
    target: Target
    variants: list[VariantPlan]

    def refusals(self) -> list[str]:
        """One line per variant the target cannot serve."""
        where = "this CPU" if self.target.is_cpu else self.target.name
        return [
            f"variants[{p.index}].scheme: {p.variant.name}: {p.variant.scheme} cannot be served "
            f"on {where}: {p.support.note}"
            for p in self.variants if not p.support.runnable
        ]

    @cached_property
    def figures(self) -> TargetFigures:
        """The target's memory, bandwidth and peaks the estimates use."""
        return target_figures(self.recipe)

    @cached_property
    def estimates(self) -> list[VariantEstimate]:
        """Each variant's capacity and roofline estimate (in the order of ``variants``)."""
        share = self.measured_share[0] if self.measured_share else None
        return [estimate_variant(self.recipe, p.variant, p.support, p.served, self.figures,
                                 share) for p in self.variants]

    @cached_property
    def measured_share(self) -> tuple[float, str] | None:
        """The share of the bound this recipe's last stored run on this target reached (its
        median over levels) and that run's id; None before any run."""
        from qexplore.results.history import share_of_bound
        from qexplore.results.store import Store, store_path

        path = store_path(self.recipe.output.store)
        if not path.exists():
            return None
        try:
            with Store(path) as store:
                return share_of_bound(store, self.recipe.name, self.target.name)
        except QexploreError:  # a store the plan cannot open: estimate without it
            return None

    @cached_property
    def durations(self) -> list[VariantDuration]:
        """How long each variant's part of the sweep will take (estimated)."""
        share = self.measured_share[0] if self.measured_share else None
        to_build = {p.variant.name: p.build.startswith("to build") for p in self.variants}
        return durations(self.recipe, self.figures, self.estimates, to_build, share)

    def warnings(self) -> list[str]:
        """What the estimates expect to go wrong (host RAM for builds, memory for the
        evaluation), each with its fix."""
        import psutil

        ram = psutil.virtual_memory().total / 2**30
        return plan_warnings(self.recipe, self.figures, self.estimates, round(ram, 1))

    def check(self) -> Plan:
        """Raise RecipeError when any variant is refused."""
        if self.refusals():
            raise RecipeError(self.refusals())
        return self


def make_plan(recipe: Recipe, only: list[str] | None = None) -> Plan:
    """The plan for ``recipe`` (restricted to the variants named in ``only``)."""
    target = recipe.resolved.target
    base = _base_if_available(recipe)
    chosen = select_variants(recipe, only)
    plans = [_variant_plan(recipe, i, v, target, base) for i, v in chosen]
    return Plan(recipe, target, plans)


def select_variants(recipe: Recipe, only: list[str] | None) -> list[tuple[int, Variant]]:
    """(index, variant) pairs named by ``only`` (all when None); unknown names are errors."""
    names = [v.name for v in recipe.variants]
    unknown = [n for n in only or [] if n not in names]
    if unknown:
        raise RecipeError([f"--variant: no variant '{n}'{suggest(n, names)}" for n in unknown])
    return [(i, v) for i, v in enumerate(recipe.variants) if not only or v.name in only]


def _base_if_available(recipe: Recipe) -> str | None:
    """The base model's location when it can be found without building or downloading (a
    speed-only recipe's: its random weights, once built)."""
    r = recipe.resolved
    if r.speed_only:
        built = cached_random_base(recipe) if not r.demo_model or demo_facts() else None
        return built.path if built else None
    if r.demo_model:
        return r.model if demo_facts() else None
    return r.model if Path(r.model).is_dir() else None


def _variant_plan(recipe: Recipe, i: int, v: Variant, target: Target, base: str | None
                  ) -> VariantPlan:
    sup = variant_support(v.scheme, recipe.model.dtype, target)
    if v.scheme == "baseline" and recipe.resolved.speed_only:
        return VariantPlan(i, v, sup, "random weights" if base else "random weights, to build",
                           served=base)
    if v.scheme == "baseline":
        return VariantPlan(i, v, sup, "original weights", served=_on_disk(recipe.resolved.model))
    if v.scheme == "prequantized":
        checkpoint = recipe.resolved.checkpoint(v.checkpoint)
        return VariantPlan(i, v, sup, "checkpoint", served=_on_disk(checkpoint))
    if base is None:
        first = "random weights" if recipe.resolved.speed_only else "base model"
        return VariantPlan(i, v, sup, f"to build ({first} not on disk yet)")
    key = key_for(recipe, v, base)
    record = cached_record(key)
    if record is None:
        return VariantPlan(i, v, sup, "to build", key)
    return VariantPlan(i, v, sup, "cached", key, record.path)


def _on_disk(model: str) -> str | None:
    folder = local_folder(model)
    return None if folder is None else str(folder)
