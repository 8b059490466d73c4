"""Forgetting and early stopping, computed from the per-epoch history of a run.

history: [{"epoch": 0, "val_loss": ..., "general_ppl": ..., "domain": {...}}, {"epoch": 1, ...}]
Epoch 0 is the starting model, measured before any training: every later epoch is compared
with it. Forgetting is reported as the rise in general perplexity (absolute and relative),
the same on near-domain text (real configurations of platforms the training data does not
cover, when the domain pack gives some) and, for models with lm-eval scores, the drop in
their average accuracy (Biderman et al. 2024 define forgetting as the drop in the HellaSwag /
ARC-Challenge / WinoGrande average).
"""
from __future__ import annotations


def forgetting(history: list[dict]) -> list[dict]:
    """Per epoch: general capability vs the base (epoch 0) model."""
    base = next((h for h in history if h["epoch"] == 0), None)
    if base is None:
        return []
    out = []
    for h in history:
        row = {"epoch": h["epoch"]}
        if "general_ppl" in h and "general_ppl" in base:
            row["general_ppl"] = h["general_ppl"]
            row["general_ppl_increase"] = h["general_ppl"] - base["general_ppl"]
            row["general_ppl_increase_rel"] = h["general_ppl"] / base["general_ppl"] - 1.0
            if h.get("general_ppl_ci"):  # the epoch's window bootstrap, relative to the base
                row["general_ppl_increase_rel_ci"] = [c / base["general_ppl"] - 1.0
                                                      for c in h["general_ppl_ci"]]
        if "near_ppl" in h and "near_ppl" in base:  # near-domain text (eval.near_domain)
            row["near_ppl"] = h["near_ppl"]
            row["near_ppl_increase_rel"] = h["near_ppl"] / base["near_ppl"] - 1.0
            if h.get("near_ppl_ci"):
                row["near_ppl_increase_rel_ci"] = [c / base["near_ppl"] - 1.0
                                                   for c in h["near_ppl_ci"]]
        for key in ("kl_general", "kl_domain", "kl_near"):  # distribution shift from the base model
            if key in h:
                row[key] = h[key]
        if "general_acc" in h and "general_acc" in base:
            row["general_acc"] = h["general_acc"]
            row["general_acc_drop"] = base["general_acc"] - h["general_acc"]
            row["general_acc_drop_rel"] = 1.0 - h["general_acc"] / base["general_acc"]
        if "domain_score" in h and "domain_score" in base:
            row["domain_gain"] = h["domain_score"] - base["domain_score"]
            if h.get("domain_score_ci"):
                row["domain_gain_ci"] = [c - base["domain_score"] for c in h["domain_score_ci"]]
        out.append(row)
    return out


def best_epoch(history: list[dict], key: str = "val_loss") -> int | None:
    """The trained epoch (>= 1) with the lowest `key`; ties go to the earlier epoch."""
    scored = [h for h in history if h["epoch"] >= 1 and key in h]
    return min(scored, key=lambda h: (h[key], h["epoch"]))["epoch"] if scored else None


def should_stop(history: list[dict], patience: int, key: str = "val_loss") -> bool:
    """True once `patience` trained epochs in a row failed to beat the best so far."""
    if patience <= 0:
        return False
    scored = [h for h in history if h["epoch"] >= 1 and key in h]
    if not scored:
        return False
    best = best_epoch(history, key)
    return scored[-1]["epoch"] - best >= patience
