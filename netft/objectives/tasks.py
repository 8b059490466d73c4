"""What the loop needs from an objective: its examples, how to batch them, and its loss.

The loop in netft/train.py is the same for every objective; this is the one place that
knows SFT from DPO. A loss function returns (sum of losses, units, sums of statistics):
units are target tokens for SFT and pairs for DPO, so the loop can normalise a whole
optimizer step over every micro-batch and rank the same way for both.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from netft.data.batching import collate
from netft.data.curation import build_training_data
from netft.models.load import varlen_attention
from netft.objectives import dpo, loss_head
from netft.objectives.sft import sft_loss_sum


@dataclass
class Task:
    name: str
    train: list  # Examples (sft) or Pairs (dpo)
    val: list
    packing: bool
    loss_fn: Callable  # (module, batch) -> (loss sum, units, stats sums)
    report: dict
    collate_train: Callable = None  # (rows) -> batch
    collate_val: Callable = None
    reference: dict = field(default_factory=dict)  # dpo + full: precomputed log-prob tables

    def lengths(self) -> list[int]:
        return [len(e.input_ids) if hasattr(e, "input_ids") else len(e) for e in self.train]

    def mean_seq_len(self) -> float:
        """Mean length of one sequence (a DPO pair is two), for the attention FLOPs."""
        per_item = 2 if self.name == "dpo" else 1
        return sum(self.lengths()) / max(per_item * len(self.train), 1)


def sft_units(batch: dict) -> int:
    return int((batch["labels"][:, 1:] != -100).sum())


def build_task(cfg, tokenizer, model, say=print) -> Task:
    pad = tokenizer.pad_token_id
    # Before the engine wraps the model (an autocast wrapper must sit outside this forward).
    why_not = loss_head.attach(model, cfg.train.loss_chunk_tokens, cfg.model.liger)
    say("[netft] loss: " + (f"output layer + loss over {cfg.train.loss_chunk_tokens} positions "
                            "at a time" if why_not is None else f"full logits ({why_not})")
        + ("; Liger's fused linear cross-entropy for SFT sums on CUDA" if cfg.model.liger else ""))
    if cfg.objective.name == "sft":
        train, val, report = build_training_data(cfg.data, cfg.train.max_length, cfg.train.seed,
                                                 tokenizer, say)
        packing, varlen = cfg.train.packing, varlen_attention(model)
        task = Task("sft", train, val, packing, sft_loss_sum, report)
        task.collate_train = lambda rows: collate(train, rows, pad, packing, varlen)
        task.collate_val = lambda rows: collate(val, rows, pad, packing, varlen)
        if packing:
            say("[netft] packing: " + ("each micro-batch flattened into one row with varlen "
                                       "boundaries (flash-attn)" if varlen else
                                       "block-diagonal mask per row from position_ids"))
        return task
    train, report = dpo.load_pairs(cfg.data.train_files, tokenizer, cfg.train.max_length)
    val, val_report = (dpo.load_pairs(cfg.data.validation_files, tokenizer, cfg.train.max_length)
                       if cfg.data.validation_files else ([], None))
    say(f"[netft] preference pairs: {report['kept']}/{report['rows']} train, "
        f"{len(val)} validation; reference: "
        f"{'adapter disabled' if cfg.method.name != 'full' else 'precomputed log-probs'}")
    # Pairs are never packed: chosen and rejected are separate rows of one batch.
    task = Task("dpo", train, val, False, dpo.make_loss_fn(model, cfg.objective),
                {"train": report, "validation": val_report})
    task.collate_train = lambda rows: dpo.collate_pairs(train, rows, pad,
                                                        task.reference.get("train"))
    task.collate_val = lambda rows: dpo.collate_pairs(val, rows, pad, task.reference.get("val"))
    return task


def attach_reference(task: Task, engine, cfg, info, pad_id: int, run_dir: Path, say=print):
    """DPO with full fine-tuning: log-probs of the starting model, once, before step 1."""
    if task.name != "dpo" or cfg.method.name != "full":
        return
    for name, pairs in (("train", task.train), ("val", task.val)):
        if pairs:
            task.reference[name] = dpo.precompute_reference(
                engine.module, pairs, pad_id, info, path=run_dir / f"reference_logps_{name}.pt")
    say(f"[netft] reference log-probs for {len(task.train)} + {len(task.val)} pairs "
        f"({sum(t.numel() * t.element_size() for t in task.reference.values()):,} bytes)")


def units(batch: dict) -> int:
    """Normalisation units of a batch: pairs for DPO, target tokens for SFT."""
    return batch["n_pairs"] if "n_pairs" in batch else sft_units(batch)


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
