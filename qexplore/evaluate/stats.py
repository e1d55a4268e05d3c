"""Honest comparisons of a variant with the baseline, over paired per-sample results.

- Accuracy-type metrics (per-sample 0/1): McNemar's exact test on the discordant pairs.
- Others (e.g. rolling log-likelihood per document): a paired bootstrap of the mean difference.

The verdict is ``worse`` or ``better`` when p < alpha (by the direction); otherwise
``equivalent`` (non-inferior) when the one-sided 95 % lower bound of the variant's recovery is
at least 1 − the accuracy budget, else ``inconclusive``: "no significant difference" is not
"equivalent". The recovery bound: for 0/1 metrics, the accuracy drop's upper bound is the
Clopper–Pearson upper bound of the lost share minus the lower bound of the won share, each at
2.5 % (a union bound); for others, the bootstrap's 5th percentile of the mean paired difference
(rolling log-likelihoods: exp of it, as perplexity is exp of the mean).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

ALPHA = 0.05


def mcnemar_p(base: Sequence[bool], variant: Sequence[bool]) -> float:
    """Two-sided exact McNemar p-value: binomial test on the pairs where the two disagree."""
    import numpy as np
    from scipy.stats import binomtest

    x, y = np.asarray(base, dtype=bool), np.asarray(variant, dtype=bool)
    assert x.shape == y.shape, "paired samples differ in length"
    b = int((x & ~y).sum())  # variant lost it
    c = int((y & ~x).sum())  # variant won it
    if b + c == 0:
        return 1.0
    return min(1.0, float(binomtest(min(b, c), b + c, 0.5).pvalue))


def resamples(n: int, iters: int = 10_000, seed: int = 0) -> Any:
    """The bootstrap's draws of pair indices (``iters`` × ``n``), made once per comparison and
    shared by its p-value and its recovery bound."""
    import numpy as np

    return np.random.default_rng(seed).integers(0, n, size=(iters, n))


def paired_bootstrap_p(base: Sequence[float], variant: Sequence[float], iters: int = 10_000,
                       seed: int = 0, draws: Any = None) -> float:
    """Two-sided p-value for "the mean paired difference is 0", by resampling pairs
    (``draws``: :func:`resamples` of the pairs, made here if not given)."""
    diffs = [y - x for x, y in zip(base, variant, strict=True)]
    if not diffs or all(d == 0 for d in diffs):
        return 1.0
    import numpy as np

    d = np.asarray(diffs, dtype=float)
    mean = d.mean()
    centered = d - mean  # the null: same spread, zero mean
    draws = resamples(len(d), iters, seed) if draws is None else draws
    means = centered[draws].mean(axis=1)
    extreme = int((np.abs(means) >= abs(mean)).sum())
    return (extreme + 1) / (len(means) + 1)


@dataclass(frozen=True)
class Comparison:
    metric: str
    baseline: float | None
    variant: float | None
    recovery: float | None  # 1.0 = same; < 1 worse, whatever the metric's direction
    p_value: float
    verdict: str  # better | worse | equivalent | inconclusive
    test: str
    pairs: int
    recovery_lo: float | None = None  # one-sided 95 % lower bound of the recovery
    looks: int = 1  # the looks its evaluation planned: its test is at 5 %/looks

    @property
    def adjusted_p(self) -> float:
        """The p-value Bonferroni-adjusted for its looks (compared with 5 %)."""
        return min(1.0, self.p_value * self.looks)


def recovery(base: float | None, variant: float | None, higher_is_better: bool) -> float | None:
    """variant / baseline for higher-is-better metrics, baseline / variant otherwise."""
    if base is None or variant is None:
        return None
    if higher_is_better:
        return None if base == 0 else variant / base
    return None if variant == 0 else base / variant


def paired_test(metric: str, base_value: float | None, variant_value: float | None,
                base_samples: dict[int, float], variant_samples: dict[int, float],
                higher_is_better: bool, binary: bool, max_drop: float = 0.0,
                log_scale: bool = False, looks: int = 1) -> Comparison:
    """The paired test of one metric over the doc ids both runs have; ``max_drop`` is the
    accuracy budget as a fraction (0.02: recovery ≥ 98 % is equivalent); ``log_scale``: the
    samples are per-unit negative log-likelihoods (the metric is exp of their mean);
    ``looks``: the looks at the data its evaluation planned (each at 5 %/looks: Bonferroni)."""
    ids = sorted(set(base_samples) & set(variant_samples))
    x = [base_samples[i] for i in ids]
    y = [variant_samples[i] for i in ids]
    alpha = ALPHA / looks
    if binary:
        p, test = mcnemar_p([v >= 0.5 for v in x], [v >= 0.5 for v in y]), "mcnemar"
        floor = binary_recovery_lo(x, y, alpha)
    else:
        draws = resamples(len(ids)) if ids else None
        p, test = paired_bootstrap_p(x, y, draws=draws), "paired-bootstrap"
        floor = bootstrap_recovery_lo(x, y, higher_is_better, log_scale, draws=draws,
                                      alpha=alpha)
    mean_diff = (sum(y) - sum(x)) / len(ids) if ids else 0.0
    improved = mean_diff > 0 if higher_is_better else mean_diff < 0
    if p < alpha and mean_diff != 0:
        verdict = "better" if improved else "worse"
    else:
        verdict = "equivalent" if floor is not None and floor >= 1 - max_drop else "inconclusive"
    return Comparison(metric, base_value, variant_value,
                      recovery(base_value, variant_value, higher_is_better), p, verdict, test,
                      len(ids), floor, looks)


def binary_recovery_lo(base: Sequence[float], variant: Sequence[float], alpha: float = ALPHA
                       ) -> float | None:
    """One-sided 1 − ``alpha`` lower bound of accuracy(variant) / accuracy(baseline) over
    paired 0/1 outcomes: the drop's upper bound is the lost share's Clopper–Pearson upper bound
    minus the won share's lower bound, each at ``alpha``/2."""
    import numpy as np
    from scipy.stats import beta

    x, y = np.asarray(base, dtype=float) >= 0.5, np.asarray(variant, dtype=float) >= 0.5
    n = len(x)
    acc = float(x.mean()) if n else 0.0
    if acc == 0:
        return None
    lost, won = int((x & ~y).sum()), int((y & ~x).sum())
    lost_hi = 1.0 if lost == n else float(beta.ppf(1 - alpha / 2, lost + 1, n - lost))
    won_lo = 0.0 if won == 0 else float(beta.ppf(alpha / 2, won, n - won + 1))
    return (acc - (lost_hi - won_lo)) / acc


def bootstrap_recovery_lo(base: Sequence[float], variant: Sequence[float],
                          higher_is_better: bool, log_scale: bool = False, draws: Any = None,
                          alpha: float = ALPHA) -> float | None:
    """One-sided 1 − ``alpha`` lower bound of the recovery from a bootstrap of the mean paired
    difference (its ``alpha`` quantile in the harmful direction; ``draws``:
    :func:`resamples`)."""
    if not base:
        return None
    import numpy as np

    d = np.asarray(variant, dtype=float) - np.asarray(base, dtype=float)
    means = d[resamples(len(d)) if draws is None else draws].mean(axis=1)
    harm = float(np.percentile(means, 100 * alpha if higher_is_better else 100 * (1 - alpha)))
    if log_scale:  # per-unit NLL: perplexity ratio base / variant = exp(-difference)
        return math.exp(-harm)
    mean = float(np.mean(base))
    if mean <= 0:
        return None
    if higher_is_better:
        return (mean + harm) / mean
    return mean / (mean + harm) if mean + harm > 0 else None


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
    test Holm rejects (on p-values adjusted for each test's looks) went against the variant,
    else ``better`` if one went for it; else ``equivalent`` when every test is (an
    intersection–union test: each at the level, no correction needed), else
    ``inconclusive``; None for an empty family."""
    if not comparisons:
        return None
    kept = [c.verdict for c, r in zip(comparisons, holm([c.adjusted_p for c in comparisons],
                                                         alpha), strict=True) if r]
    if "worse" in kept:
        return "worse"
    if "better" in kept:
        return "better"
    return "equivalent" if all(c.verdict == "equivalent" for c in comparisons) else "inconclusive"


def chunk_schedule(first: int, total: int) -> list[int]:
    """The documents evaluated by each look of a chunked evaluation: ``first``, doubling, then
    ``total`` (250, 500, 1,000, …, 10,000): few looks (each one's test costs 5 %/looks), and
    no look wastes more than the documents already spent."""
    out, n = [], max(1, first)
    while n < total:
        out.append(n)
        n *= 2
    return [*out, total]
