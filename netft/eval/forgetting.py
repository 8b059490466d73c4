"""Forgetting and early stopping, computed from the per-epoch history of a run.

history: the run's EvalRecords (netft/eval/record.py), one per evaluated epoch.
Epoch 0 is the starting model, measured before any training: every later epoch is compared
with it. Forgetting is reported as the rise in general perplexity (absolute and relative),
the same on near-domain text (real configurations of platforms the training data does not
cover, when the domain pack gives some) and, for models with lm-eval scores, the drop in
their average accuracy (Biderman et al. 2024 define forgetting as the drop in the HellaSwag /
ARC-Challenge / WinoGrande average).
"""
from __future__ import annotations

from netft.eval.record import EvalRecord


def forgetting(history: list[EvalRecord]) -> list[dict]:
    """Per epoch: general capability vs the base (epoch 0) model."""
    base = next((h for h in history if h.epoch == 0), None)
    if base is None:
        return []
    out = []
    for h in history:
        row = {"epoch": h.epoch}
        if h.general_ppl is not None and base.general_ppl is not None:
            row["general_ppl"] = h.general_ppl
            row["general_ppl_increase"] = h.general_ppl - base.general_ppl
            row["general_ppl_increase_rel"] = h.general_ppl / base.general_ppl - 1.0
            if h.general_ppl_ci:  # the epoch's window bootstrap, relative to the base
                row["general_ppl_increase_rel_ci"] = [c / base.general_ppl - 1.0
                                                      for c in h.general_ppl_ci]
        if h.near_ppl is not None and base.near_ppl is not None:  # eval.near_domain
            row["near_ppl"] = h.near_ppl
            row["near_ppl_increase_rel"] = h.near_ppl / base.near_ppl - 1.0
            if h.near_ppl_ci:
                row["near_ppl_increase_rel_ci"] = [c / base.near_ppl - 1.0
                                                   for c in h.near_ppl_ci]
        for name in ("general", "domain", "near"):  # distribution shift from the base model
            if name in h.kl:
                row[f"kl_{name}"] = h.kl[name]
        if h.general_acc is not None and base.general_acc is not None:
            row["general_acc"] = h.general_acc
            row["general_acc_drop"] = base.general_acc - h.general_acc
            row["general_acc_drop_rel"] = 1.0 - h.general_acc / base.general_acc
        if h.domain_score is not None and base.domain_score is not None:
            row["domain_gain"] = h.domain_score - base.domain_score
            if h.domain_score_ci:
                row["domain_gain_ci"] = [c - base.domain_score for c in h.domain_score_ci]
        out.append(row)
    return out


def best_epoch(history: list[EvalRecord], key: str = "val_loss") -> int | None:
    """The trained epoch (>= 1) with the lowest `key` (a field); ties go to the earlier epoch."""
    scored = [h for h in history if h.epoch >= 1 and getattr(h, key) is not None]
    return min(scored, key=lambda h: (getattr(h, key), h.epoch)).epoch if scored else None


def should_stop(history: list[EvalRecord], patience: int, key: str = "val_loss") -> bool:
    """True once `patience` trained epochs in a row failed to beat the best so far."""
    if patience <= 0:
        return False
    scored = [h for h in history if h.epoch >= 1 and getattr(h, key) is not None]
    if not scored:
        return False
    best = best_epoch(history, key)
    return scored[-1].epoch - best >= patience
