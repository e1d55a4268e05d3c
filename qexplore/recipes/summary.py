"""A short human summary of a validated recipe."""

from __future__ import annotations

from qexplore.catalog.targets import resolve_target
from qexplore.recipes.schema import Recipe, Workload


def summarize(r: Recipe) -> list[str]:
    """Lines describing what the recipe asks for."""
    lines = [
        f"recipe {r.name}: valid",
        f"  model    {r.model.named}{' (random weights: speed only)' if r.model.speed_only else ''}"
        f" (dtype {r.model.dtype}"
        + (f", max_model_len {r.model.max_model_len})" if r.model.max_model_len else ")"),
        f"  target   {resolve_target(r.target).describe()}",
        "  variants " + ", ".join(f"{v.name} ({v.scheme})" for v in r.variants),
    ]
    for w in r.workloads:
        users = ",".join(map(str, w.concurrency))
        lines.append(
            f"  workload {w.name}: {w.prompts} prompts, {w.api} API, max_tokens {w.max_tokens}, "
            f"users {users}, {_requests(w)} in {w.trials} trials"
        )
    tasks = ", ".join(t.name for t in r.eval.tasks) or "none"
    lines.append(f"  eval     {tasks}" + (f" (limit {r.eval.limit})" if r.eval.limit else ""))
    lines.append(f"  slo      slowest-1% user ≥ {r.slo.min_user_tps:g} tok/s"
                 + (f", TTFT p99 ≤ {r.slo.max_ttft_ms:g} ms" if r.slo.max_ttft_ms else ""))
    return lines


def _requests(w: Workload) -> str:
    if w.requests_per_user is None:
        return f"{w.requests} requests/level"
    return f"{w.requests_per_user} requests per user per level"
