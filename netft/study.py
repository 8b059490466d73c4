"""A forgetting study across runs: seeds pooled per configuration, intervals on every compared
number, the learning-vs-forgetting frontier (trained epochs and interpolated weights), and the
configuration that learned most within a forgetting budget.

Learning is the drop in domain validation loss (default; smooth, and meaningful even on models
too small to write valid configs) or the verifier-scored domain-score gain. Forgetting is the
rise in general held-out perplexity over the run's own base model (epoch 0), in percent.
Intervals: with 2+ seeds, a Student-t interval over seeds (training noise); with one seed,
the run's bootstrap interval over eval items / text windows (evaluation noise only) -- the
report says which. Two configurations differ only when their intervals do not overlap.
"""
from __future__ import annotations

from dataclasses import dataclass

from netft.eval.stats import fmt_ci, mean_ci, overlap


@dataclass
class Point:
    """One configuration at one epoch (or one interpolation alpha), pooled over seeds."""
    label: str
    epoch: int | None
    alpha: float | None
    learning: dict  # {"mean", "lo", "hi", "n"}
    forgetting: dict
    kl: float | None = None

    @property
    def name(self) -> str:
        if self.alpha is not None:
            return f"{self.label} alpha={self.alpha:g}"
        return f"{self.label} epoch {self.epoch}"


def _base(history, key):
    return next((h.get(key) for h in history if h["epoch"] == 0), None)


def learning_of(history, record, metric: str):
    """(value, bootstrap interval or None) of a record's learning over the run's base."""
    if metric == "domain_gain":
        b, v = _base(history, "domain_score"), record.get("domain_score")
        if b is None or v is None:
            return None, None
        ci = record.get("domain_score_ci")
        return 100 * (v - b), ([100 * (c - b) for c in ci] if ci else None)
    b, v = _base(history, "val_loss"), record.get("val_loss")
    return (None, None) if b is None or v is None else (b - v, None)


def forgetting_of(history, record):
    b, v = _base(history, "general_ppl"), record.get("general_ppl")
    if not b or v is None:
        return None, None
    ci = record.get("general_ppl_ci")
    return 100 * (v / b - 1), ([100 * (c / b - 1) for c in ci] if ci else None)


def _pool(values: list, intervals: list) -> dict:
    """Seeds -> t interval; a single run -> its own bootstrap interval (if any)."""
    out = mean_ci(values)
    if out["n"] == 1 and intervals and intervals[0]:
        out["lo"], out["hi"] = intervals[0]
        out["source"] = "bootstrap"
    elif out["n"] > 1:
        out["source"] = "seeds"
    return out


def points(groups: dict[str, list], metric: str = "val_drop") -> list[Point]:
    """Every (configuration, epoch) and (configuration, alpha) pooled over its seeds."""
    out = []
    for label, runs in groups.items():
        epochs = sorted({h["epoch"] for r in runs for h in r.history})
        for e in epochs:
            recs = [(r.history, next((h for h in r.history if h["epoch"] == e), None))
                    for r in runs]
            out.append(_point(label, e, None, [(h, rec) for h, rec in recs if rec], metric))
        alphas = sorted({p["alpha"] for r in runs for p in r.interpolation})
        for a in alphas:
            recs = [(r.history, next(p for p in r.interpolation if p["alpha"] == a))
                    for r in runs if any(p["alpha"] == a for p in r.interpolation)]
            out.append(_point(label, None, a, recs, metric))
    return [p for p in out if p.learning["mean"] is not None and p.forgetting["mean"] is not None]


def _point(label, epoch, alpha, recs, metric) -> Point:
    learn = [learning_of(h, rec, metric) for h, rec in recs]
    forget = [forgetting_of(h, rec) for h, rec in recs]
    kls = [rec.get("kl_general") for _, rec in recs if rec.get("kl_general") is not None]
    return Point(label, epoch, alpha, _pool([v for v, _ in learn], [c for _, c in learn]),
                 _pool([v for v, _ in forget], [c for _, c in forget]),
                 sum(kls) / len(kls) if kls else None)


def frontier(pts: list[Point]) -> list[Point]:
    """The Pareto set: no other point forgets less and learns more. Sorted by forgetting."""
    best, out = float("-inf"), []
    for p in sorted(pts, key=lambda p: (p.forgetting["mean"], -p.learning["mean"])):
        if p.learning["mean"] > best:
            out.append(p)
            best = p.learning["mean"]
    return out


def recommend(pts: list[Point], budget: float) -> tuple[Point | None, str]:
    """The point that learned most with mean forgetting within `budget` percent."""
    ok = [p for p in pts if p.forgetting["mean"] <= budget and (p.epoch or p.alpha)]
    if not ok:
        return None, (f"No trained point stays within a forgetting budget of +{budget:g}% "
                      "general perplexity; try weight interpolation (netft interpolate), "
                      "more general-data replay, or a smaller learning rate.")
    p = max(ok, key=lambda p: p.learning["mean"])
    caveat = ""
    if p.forgetting.get("hi") is not None and p.forgetting["hi"] > budget:
        caveat = (f" (its interval reaches +{p.forgetting['hi']:.1f}%, past the budget: "
                  "within noise of it)")
    return p, (f"Within a forgetting budget of +{budget:g}% general perplexity, "
               f"{p.name} learned most: learning {fmt_ci(p.learning['mean'], _ci(p.learning), digits=2)}, "
               f"forgetting {fmt_ci(p.forgetting['mean'], _ci(p.forgetting))}%{caveat}.")


def _ci(d: dict):
    return (d["lo"], d["hi"]) if d.get("lo") is not None else None


def noise_statements(best: dict[str, Point]) -> list[str]:
    """Pairwise: do two configurations (each at its best epoch) differ beyond the noise?"""
    out = []
    labels = list(best)
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            pa, pb = best[a], best[b]
            for what, ka in (("learning", "learning"), ("forgetting", "forgetting")):
                same = overlap(_ci(getattr(pa, ka)), _ci(getattr(pb, ka)))
                verdict = ("within noise" if same else "different" if same is False
                           else "no interval (one seed, no bootstrap)")
                out.append(f"{a} vs {b}, {what}: {getattr(pa, ka)['mean']:.2f} vs "
                           f"{getattr(pb, ka)['mean']:.2f} -> {verdict}")
    return out


def kl_correlation(pts: list[Point]) -> tuple[float | None, int]:
    """Pearson r between KL(base||current) on general text and forgetting, over trained and
    interpolated points (epoch 0 excluded: it is (0, 0) by construction)."""
    import numpy as np

    xy = [(p.kl, p.forgetting["mean"]) for p in pts if p.kl is not None and (p.epoch or p.alpha)]
    if len(xy) < 3:
        return None, len(xy)
    x, y = np.array(xy).T
    if x.std() == 0 or y.std() == 0:
        return None, len(xy)
    return float(np.corrcoef(x, y)[0, 1]), len(xy)
