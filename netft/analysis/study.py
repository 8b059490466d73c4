"""A forgetting study across runs: seeds pooled per configuration, intervals on every compared
number, the learning-vs-forgetting frontier (trained epochs and interpolated weights), and the
configuration that learned most within a forgetting budget.

Learning is the drop in domain validation loss (default; smooth, and meaningful even on models
too small to write valid configs) or the verifier-scored domain-score gain. Forgetting is the
rise in general held-out perplexity over the run's own base model (epoch 0), in percent;
near-domain forgetting the same on the domain pack's near-domain text (Point.near).
Intervals: where the runs kept their per-item eval results (eval/epoch-N/predictions.jsonl,
general_windows.json), a crossed bootstrap over seeds and eval items / text windows of the
paired change over each seed's own base (training noise and evaluation noise together; see
stats.crossed_bootstrap_ci); otherwise a Student-t interval over seeds, or with one seed the
run's own bootstrap interval -- the report says which. Two configurations differ only when
their intervals do not overlap.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from netft.eval.record import EvalRecord
from netft.eval.stats import Interval, crossed_bootstrap_ci, fmt_ci, mean_ci, overlap


@dataclass
class Point:
    """One configuration at one epoch (or one interpolation alpha), pooled over seeds."""
    label: str
    epoch: int | None
    alpha: float | None
    learning: Interval
    forgetting: Interval
    kl: float | None = None
    # Near-domain forgetting (eval.near_domain): the rise in near-domain perplexity, in percent.
    near: Interval | None = None

    @property
    def name(self) -> str:
        if self.alpha is not None:
            return f"{self.label} alpha={self.alpha:g}"
        return f"{self.label} epoch {self.epoch}"


def _base(history: list[EvalRecord]) -> EvalRecord:
    """The run's epoch-0 record (the starting model); an empty one when it has none."""
    return next((h for h in history if h.epoch == 0), EvalRecord())


def learning_of(history: list[EvalRecord], record: EvalRecord, metric: str):
    """(value, bootstrap interval or None) of a record's learning over the run's base."""
    if metric == "domain_gain":
        b, v = _base(history).domain_score, record.domain_score
        if b is None or v is None:
            return None, None
        ci = record.domain_score_ci
        return 100 * (v - b), ([100 * (c - b) for c in ci] if ci else None)
    b, v = _base(history).val_loss, record.val_loss
    return (None, None) if b is None or v is None else (b - v, None)


def forgetting_of(history: list[EvalRecord], record: EvalRecord, key: str = "general_ppl"):
    """(rise in percent, bootstrap interval or None) of a record's perplexity `key` (general
    or near-domain) over the run's base."""
    b, v = getattr(_base(history), key), getattr(record, key)
    if not b or v is None:
        return None, None
    ci = getattr(record, f"{key}_ci")
    return 100 * (v / b - 1), ([100 * (c / b - 1) for c in ci] if ci else None)


def _pool(values: list, intervals: list) -> Interval:
    """Seeds -> t interval; a single run -> its own bootstrap interval (if any)."""
    out = mean_ci(values)
    if out.n == 1 and intervals and intervals[0]:
        out.lo, out.hi = intervals[0]
        out.source = "bootstrap"
    elif out.n > 1:
        out.source = "seeds"
    return out


def points(groups: dict[str, list], metric: str = "val_drop") -> list[Point]:
    """Every (configuration, epoch) and (configuration, alpha) pooled over its seeds."""
    out = []
    base_scores: dict = {}  # (base file, resample) -> score: all epochs of a run share its base
    for label, runs in groups.items():
        epochs = sorted({h.epoch for r in runs for h in r.history})
        for e in epochs:
            recs = [(r, next((h for h in r.history if h.epoch == e), None),
                     r.path / "eval" / f"epoch-{e}") for r in runs]
            out.append(_point(label, e, None, [x for x in recs if x[1]], metric, base_scores))
        alphas = sorted({p.alpha for r in runs for p in r.interpolation})
        for a in alphas:
            recs = [(r, next(p for p in r.interpolation if p.alpha == a),
                     r.path / "interpolation" / f"alpha-{a:g}" / "eval" / "epoch-0")
                    for r in runs if any(p.alpha == a for p in r.interpolation)]
            out.append(_point(label, None, a, recs, metric, base_scores))
    return [p for p in out if p.learning.mean is not None and p.forgetting.mean is not None]


def _point(label, epoch, alpha, recs, metric, base_scores: dict) -> Point:
    learn = [learning_of(r.history, rec, metric) for r, rec, _ in recs]
    forget = [forgetting_of(r.history, rec) for r, rec, _ in recs]
    kls = [rec.kl["general"] for _, rec, _ in recs if rec.kl.get("general") is not None]
    learning = _pool([v for v, _ in learn], [c for _, c in learn])
    forgetting = _pool([v for v, _ in forget], [c for _, c in forget])
    pairs = [(r.path / "eval" / "epoch-0", d) for r, _, d in recs]
    if metric == "domain_gain" and learning.mean is not None:
        from netft import domains  # seeds of one configuration share its pack

        _crossed(learning, pairs, "predictions.jsonl",
                 _domain_gain(domains.configured(recs[0][0].config), base_scores))
    if forgetting.mean is not None:
        _crossed(forgetting, pairs, "general_windows.json", _ppl_rise)
    near_of = [forgetting_of(r.history, rec, "near_ppl") for r, rec, _ in recs]
    near = _pool([v for v, _ in near_of if v is not None],
                 [c for v, c in near_of if v is not None])
    if near.mean is not None:
        _crossed(near, pairs, "near_windows.json", _ppl_rise)
    return Point(label, epoch, alpha, learning, forgetting, sum(kls) / len(kls) if kls else None,
                 near if near.mean is not None else None)


# ----------------------------------------------------- crossed bootstrap over seeds x items
def _read(path: Path):
    if path.name.endswith(".jsonl"):
        rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        return {r["id"]: r for r in rows}
    d = json.loads(path.read_text())
    return {i: (n, t) for i, (n, t) in enumerate(zip(d["nll"], d["tokens"]))}


def _domain_gain(pack, base_scores: dict, metric: str = "score"):
    """make_stat for the gain of the domain pack's overall `metric` (the headline score by
    default), re-aggregated by the run's domain pack; the base's value per resample is
    computed once per study (base_scores) for all its epochs/alphas."""
    def score(items):
        return pack.aggregate(items)[1].get(metric)

    def make_stat(base: list, cur: list, base_key: str):
        def stat(idx):
            key = (metric, base_key, idx.tobytes())
            if key not in base_scores:
                base_scores[key] = score([base[i] for i in idx])
            b, c = base_scores[key], score([cur[i] for i in idx])
            return None if b is None or c is None else 100 * (c - b)
        return stat
    return make_stat


def metric_gain(runs: list, epoch: int, metric: str) -> Interval:
    """Gain in points of one overall number of the domain pack (e.g. netops'
    command_accuracy, format_compliance, troubleshoot_accuracy, refusal_accuracy) at `epoch`
    over each run's own base, seeds pooled: the crossed seeds x items bootstrap where every
    run kept its predictions, else a t interval over seeds (none with one seed)."""
    gains = []
    for r in runs:
        rec = next((h for h in r.history if h.epoch == epoch), None)
        b, v = (_base(r.history).domain or {}).get(metric), ((rec and rec.domain) or {}).get(metric)
        if b is not None and v is not None:
            gains.append(100 * (v - b))
    out = mean_ci(gains)
    if out.mean is None:
        return out
    out.source = "seeds" if out.n > 1 else None
    from netft import domains  # seeds of one configuration share its pack

    pairs = [(r.path / "eval" / "epoch-0", r.path / "eval" / f"epoch-{epoch}") for r in runs]
    _crossed(out, pairs, "predictions.jsonl",
             _domain_gain(domains.configured(runs[0].config), {}, metric))
    return out


def _ppl_rise(base: list, cur: list, base_key: str):
    bn, bt = np.array(base, dtype=np.float64).T
    cn, ct = np.array(cur, dtype=np.float64).T

    def stat(idx):
        return 100 * (math.exp(cn[idx].sum() / ct[idx].sum() - bn[idx].sum() / bt[idx].sum()) - 1)
    return stat


def _crossed(summary: Interval, pairs: list[tuple[Path, Path]], filename: str, make_stat) -> None:
    """Replace summary's interval by the crossed seeds x items bootstrap of the paired change
    (base dir, current dir per seed), when every seed kept the per-item file; the items are
    those all runs share (matched by id), so every seed is compared on the same questions."""
    files = [(b / filename, c / filename) for b, c in pairs]
    if not files or not all(b.exists() and c.exists() for b, c in files):
        return
    data = [(_read(b), _read(c)) for b, c in files]
    shared = set.intersection(*[set(b) & set(c) for b, c in data])
    ids = [i for i in data[0][0] if i in shared]  # the first run's order
    if len(ids) < 2:
        return
    stats = [make_stat([b[i] for i in ids], [c[i] for i in ids], f"{bf}:{hash(tuple(ids))}")
             for (b, c), (bf, _) in zip(data, files)]
    ci = crossed_bootstrap_ci(len(ids), stats, n_boot=N_BOOT)
    if ci:
        everything = np.arange(len(ids))  # the estimate on exactly the items the interval used
        summary.mean = sum(st(everything) for st in stats) / len(stats)
        summary.lo, summary.hi = ci
        summary.source = "seeds x items"


N_BOOT = 1000


def frontier(pts: list[Point]) -> list[Point]:
    """The Pareto set: no other point forgets less and learns more. Sorted by forgetting."""
    best, out = float("-inf"), []
    for p in sorted(pts, key=lambda p: (p.forgetting.mean, -p.learning.mean)):
        if p.learning.mean > best:
            out.append(p)
            best = p.learning.mean
    return out


def recommend(pts: list[Point], budget: float) -> tuple[Point | None, str]:
    """The point that learned most with mean forgetting within `budget` percent."""
    ok = [p for p in pts if p.forgetting.mean <= budget and (p.epoch or p.alpha)]
    if not ok:
        return None, (f"No trained point stays within a forgetting budget of +{budget:g}% "
                      "general perplexity; try weight interpolation (netft interpolate), "
                      "more general-data replay, or a smaller learning rate.")
    p = max(ok, key=lambda p: p.learning.mean)
    caveat = ""
    if p.forgetting.hi is not None and p.forgetting.hi > budget:
        caveat = (f" (its interval reaches +{p.forgetting.hi:.1f}%, past the budget: "
                  "within noise of it)")
    return p, (f"Within a forgetting budget of +{budget:g}% general perplexity, "
               f"{p.name} learned most: learning {fmt_ci(p.learning.mean, p.learning.ci, digits=2)}, "
               f"forgetting {fmt_ci(p.forgetting.mean, p.forgetting.ci)}%{caveat}.")


def noise_statements(best: dict[str, Point]) -> list[str]:
    """Pairwise: do two configurations (each at its best epoch) differ beyond the noise?"""
    out = []
    labels = list(best)
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            pa, pb = best[a], best[b]
            for what, ka in (("learning", "learning"), ("forgetting", "forgetting")):
                same = overlap(getattr(pa, ka).ci, getattr(pb, ka).ci)
                verdict = ("within noise" if same else "different" if same is False
                           else "no interval (one seed, no bootstrap)")
                out.append(f"{a} vs {b}, {what}: {getattr(pa, ka).mean:.2f} vs "
                           f"{getattr(pb, ka).mean:.2f} -> {verdict}")
    return out


def kl_correlation(pts: list[Point]) -> tuple[float | None, int]:
    """Pearson r between KL(base||current) on general text and forgetting, over trained and
    interpolated points (epoch 0 excluded: it is (0, 0) by construction)."""
    import numpy as np

    xy = [(p.kl, p.forgetting.mean) for p in pts if p.kl is not None and (p.epoch or p.alpha)]
    if len(xy) < 3:
        return None, len(xy)
    x, y = np.array(xy).T
    if x.std() == 0 or y.std() == 0:
        return None, len(xy)
    return float(np.corrcoef(x, y)[0, 1]), len(xy)
