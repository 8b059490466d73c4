"""AdamW + warmup/decay schedule, built from `train.*` (shared by every backend)."""
from __future__ import annotations

import math

import torch


def param_groups(model, weight_decay: float) -> list[dict]:
    # No decay on biases and norm weights (1-D), the usual practice for transformers.
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def make_optimizer(model, train_cfg, fused: bool = False) -> torch.optim.Optimizer:
    kwargs = {"fused": True} if fused else {}
    return torch.optim.AdamW(param_groups(model, train_cfg.weight_decay), lr=train_cfg.lr,
                             betas=tuple(train_cfg.betas), **kwargs)


def make_scheduler(optimizer, train_cfg, total_steps: int):
    from transformers import get_scheduler

    name = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}
    warmup = math.ceil(train_cfg.warmup_ratio * total_steps)
    return get_scheduler(name[train_cfg.schedule], optimizer, num_warmup_steps=warmup,
                         num_training_steps=max(total_steps, 1))


def warmup_warning(train_cfg, total_steps: int) -> str | None:
    """All steps are warm-up: the schedule's first step runs at lr 0, so a 1-step run would
    save the base model unchanged."""
    if not 0 < total_steps <= math.ceil(train_cfg.warmup_ratio * total_steps):
        return None
    return (f"all {total_steps} optimizer step(s) are warm-up (train.warmup_ratio="
            f"{train_cfg.warmup_ratio}) and the first runs at lr 0"
            f"{' -- final/ will equal the base model' if total_steps == 1 else ''}; raise "
            "train.max_steps or set train.warmup_ratio=0")
