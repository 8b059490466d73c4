"""Uncertainty of every compared number: bootstrap intervals over eval items, t intervals over
seeds, and the one rule the report applies ("within noise" when intervals overlap).

Why a percentile bootstrap: the domain score is a mean of per-category rates, perplexity an
exponentiated ratio of sums -- neither has a simple closed-form standard error, and
resampling the items (or text windows) with the run's own aggregation handles both.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

LEVEL = 0.95


def bootstrap_ci(items: Sequence, statistic: Callable[[list], float], n_boot: int = 1000,
                 level: float = LEVEL, seed: int = 0) -> tuple[float, float] | None:
    """Percentile bootstrap interval of statistic(items), resampling items with replacement.
    Deterministic for a given seed; None with fewer than 2 items."""
    n = len(items)
    if n < 2:
        return None
    rng = np.random.default_rng(seed)
    values = [statistic([items[i] for i in idx]) for idx in rng.integers(0, n, (n_boot, n))]
    values = [v for v in values if v is not None]
    lo, hi = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def perplexity_ci(nll: Sequence[float], tokens: Sequence[int], n_boot: int = 1000,
                  level: float = LEVEL, seed: int = 0) -> tuple[float, float] | None:
    """Bootstrap interval of exp(sum nll / sum tokens), resampling text windows (vectorised:
    a few thousand windows x 1000 resamples in milliseconds)."""
    nll, tokens = np.asarray(nll, dtype=np.float64), np.asarray(tokens, dtype=np.float64)
    if len(nll) < 2:
        return None
    idx = np.random.default_rng(seed).integers(0, len(nll), (n_boot, len(nll)))
    ppl = np.exp(nll[idx].sum(1) / tokens[idx].sum(1))
    lo, hi = np.quantile(ppl, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def crossed_bootstrap_ci(n_items: int, per_seed: Sequence[Callable[[np.ndarray], float]],
                         n_boot: int = 1000, level: float = LEVEL,
                         seed: int = 0) -> tuple[float, float] | None:
    """Interval of mean over seeds of per_seed[s](item indices), resampling seeds AND items.

    The design is crossed: every seed's run is evaluated on the same items (test questions,
    text windows), so one item resample is shared by all seeds in a replicate (an item that
    is hard is hard for every seed) and seeds are resampled independently of items. Each
    per_seed[s] is a paired statistic (e.g. the seed's score on those items minus its own base
    model's score on the same items), so the base's item noise cancels as it should.
    With S seeds the between-seed spread is under-estimated by a factor (S-1)/S (a known
    property of the bootstrap with few clusters): 3+ seeds make it small. None when there are
    fewer than 2 items."""
    if n_items < 2 or not per_seed:
        return None
    rng = np.random.default_rng(seed)
    n_seeds = len(per_seed)
    values = []
    for _ in range(n_boot):
        idx = rng.integers(0, n_items, n_items)
        seeds = rng.integers(0, n_seeds, n_seeds) if n_seeds > 1 else [0]
        vals = [per_seed[s](idx) for s in seeds]
        vals = [v for v in vals if v is not None]
        if vals:
            values.append(sum(vals) / len(vals))
    if not values:
        return None
    lo, hi = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


@dataclass
class Interval:
    """A mean with its 95% interval; lo/hi are None where there is none (one seed and no
    bootstrap), never a fake zero-width one. JSON: {"mean", "lo", "hi", "n"[, "source"]}."""
    mean: float | None
    lo: float | None = None
    hi: float | None = None
    n: int = 0
    source: str | None = None  # where lo/hi came from: "seeds", "bootstrap", "seeds x items"

    @property
    def ci(self) -> tuple[float, float] | None:
        return (self.lo, self.hi) if self.lo is not None else None

    def to_json(self) -> dict:
        out = {"mean": self.mean, "lo": self.lo, "hi": self.hi, "n": self.n}
        return {**out, "source": self.source} if self.source else out

    @classmethod
    def from_json(cls, d: dict) -> Interval:
        return cls(d["mean"], d.get("lo"), d.get("hi"), d.get("n", 0), d.get("source"))


def mean_ci(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Mean over seeds with a Student-t interval; with one seed the interval is absent."""
    xs = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not xs:
        return Interval(None)
    m = sum(xs) / len(xs)
    if len(xs) < 2:
        return Interval(m, n=1)
    from scipy.stats import t

    half = t.ppf(1 - (1 - level) / 2, len(xs) - 1) * float(np.std(xs, ddof=1)) / math.sqrt(len(xs))
    return Interval(m, m - half, m + half, len(xs))


def overlap(a: tuple | None, b: tuple | None) -> bool | None:
    """Do two intervals overlap? None when either is unknown (then nothing can be claimed)."""
    if not a or not b or None in a or None in b:
        return None
    return bool(a[0] <= b[1] and b[0] <= a[1])


def fmt_ci(value, ci, scale: float = 1.0, digits: int = 1) -> str:
    """'12.3 [10.1, 14.0]' (or just the value when there is no interval)."""
    if value is None:
        return "-"
    s = f"{value * scale:.{digits}f}"
    if ci and None not in ci:
        s += f" [{ci[0] * scale:.{digits}f}, {ci[1] * scale:.{digits}f}]"
    return s


def nested_bootstrap_ci(groups: Sequence[Sequence[Sequence]],
                        statistic: Callable[[int, list], float | None], n_boot: int = 1000,
                        level: float = LEVEL, seed: int = 0) -> tuple[float, float] | None:
    """Interval of mean over groups (e.g. a benchmark's seeded runs) of the mean over strata
    (e.g. its batch sizes) of statistic(stratum index, items), resampling groups, then items
    within every stratum of a drawn group.

    For nested designs where each run draws its own items (not crossed: no item is shared by
    two runs), so both the run-to-run spread and the item noise within a run widen it. Strata
    keep a small cell (one batch of 100) from vanishing from a resample. None with fewer than
    2 items in all."""
    if sum(len(s) for g in groups for s in g) < 2:
        return None
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        runs = []
        for gi in rng.integers(0, len(groups), len(groups)):
            cells = []
            for si, stratum in enumerate(groups[gi]):
                if not stratum:
                    continue
                idx = rng.integers(0, len(stratum), len(stratum))
                v = statistic(si, [stratum[i] for i in idx])
                if v is not None:
                    cells.append(v)
            if cells:
                runs.append(sum(cells) / len(cells))
        if runs:
            values.append(sum(runs) / len(runs))
    if not values:
        return None
    lo, hi = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)
