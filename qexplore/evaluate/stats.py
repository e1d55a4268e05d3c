"""Honest comparisons of a variant with the baseline, over paired per-sample results.

- Accuracy-type metrics (per-sample 0/1): McNemar's exact test on the discordant pairs.
- Others (e.g. rolling log-likelihood per document): a paired bootstrap of the mean difference.
The verdict is ``same`` unless p < alpha, then ``better`` or ``worse`` by the direction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

ALPHA = 0.05


def mcnemar_p(base: Sequence[bool], variant: Sequence[bool]) -> float:
    """Two-sided exact McNemar p-value: binomial test on the pairs where the two disagree."""
    from scipy.stats import binomtest

    b = sum(1 for x, y in zip(base, variant, strict=True) if x and not y)  # variant lost it
    c = sum(1 for x, y in zip(base, variant, strict=True) if y and not x)  # variant won it
    if b + c == 0:
        return 1.0
    return min(1.0, float(binomtest(min(b, c), b + c, 0.5).pvalue))


def paired_bootstrap_p(base: Sequence[float], variant: Sequence[float], iters: int = 10_000,
                       seed: int = 0) -> float:
    """Two-sided p-value for "the mean paired difference is 0", by resampling pairs."""
    diffs = [y - x for x, y in zip(base, variant, strict=True)]
    if not diffs or all(d == 0 for d in diffs):
        return 1.0
    import numpy as np

    d = np.asarray(diffs, dtype=float)
    mean = d.mean()
    centered = d - mean  # the null: same spread, zero mean
    rng = np.random.default_rng(seed)
    means = centered[rng.integers(0, len(d), size=(iters, len(d)))].mean(axis=1)
    extreme = int((np.abs(means) >= abs(mean)).sum())
    return (extreme + 1) / (iters + 1)


@dataclass(frozen=True)
class Comparison:
    metric: str
    baseline: float | None
    variant: float | None
    recovery: float | None  # 1.0 = same; < 1 worse, whatever the metric's direction
    p_value: float
    verdict: str  # same | better | worse
    test: str
    pairs: int


def recovery(base: float | None, variant: float | None, higher_is_better: bool) -> float | None:
    """variant / baseline for higher-is-better metrics, baseline / variant otherwise."""
    if base is None or variant is None:
        return None
    if higher_is_better:
        return None if base == 0 else variant / base
    return None if variant == 0 else base / variant


def paired_test(metric: str, base_value: float | None, variant_value: float | None,
            base_samples: dict[int, float], variant_samples: dict[int, float],
            higher_is_better: bool, binary: bool) -> Comparison:
    """The paired test of one metric over the doc ids both runs have."""
    ids = sorted(set(base_samples) & set(variant_samples))
    x = [base_samples[i] for i in ids]
    y = [variant_samples[i] for i in ids]
    if binary:
        p, test = mcnemar_p([v >= 0.5 for v in x], [v >= 0.5 for v in y]), "mcnemar"
    else:
        p, test = paired_bootstrap_p(x, y), "paired-bootstrap"
    mean_diff = (sum(y) - sum(x)) / len(ids) if ids else 0.0
    improved = mean_diff > 0 if higher_is_better else mean_diff < 0
    verdict = "same" if p >= ALPHA or mean_diff == 0 else ("better" if improved else "worse")
    return Comparison(metric, base_value, variant_value,
                      recovery(base_value, variant_value, higher_is_better), p, verdict, test,
                      len(ids))


def holm(p_values: Sequence[float], alpha: float = ALPHA) -> list[bool]:
    """Which of a family of hypotheses Holm–Bonferroni rejects, keeping the chance of any
    false rejection in the family at most ``alpha``."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = [False] * len(p_values)
    for rank, i in enumerate(order):
        if p_values[i] > alpha / (len(p_values) - rank):
            break
        rejected[i] = True
    return rejected


def family_verdict(comparisons: Sequence[Comparison], alpha: float = ALPHA) -> str | None:
    """One verdict over a family of tests (a variant's primary metric per task): ``worse`` if a
    test Holm rejects went against the variant, else ``better`` if one went for it, else
    ``same``; None for an empty family."""
    if not comparisons:
        return None
    kept = [c.verdict for c, r in zip(comparisons, holm([c.p_value for c in comparisons], alpha),
                                      strict=True) if r]
    return "worse" if "worse" in kept else ("better" if "better" in kept else "same")
