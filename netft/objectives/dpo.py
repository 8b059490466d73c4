"""DPO preference alignment (sigmoid loss; IPO as an option), in the same training loop.

The reference policy is the frozen starting model:
- adapters (lora/qlora): the same weights with the adapter switched off -- no second copy;
- full fine-tunes: reference log-probs precomputed in one pass over every pair before the
  first step, kept in <run_dir>/reference_logps.pt (so a resumed run uses the starting
  model's values, not its own). Why not a frozen sharded copy: it costs a second full set of
  weights on every rank for the whole run (2 GiB per GPU for an 8B bf16 model on 8 GPUs), to
  compute numbers that never change; the precomputed table costs 8 bytes per pair.

Chosen and rejected are separate padded rows of one batch (chosen rows first), so no
sequence attends to another. The loss of a step is the mean over all its pairs on all ranks.
Only the final answer carries labels: earlier assistant turns of a multi-turn prompt are
context, so log-probs, rewards and accuracies measure the answer being compared.

With pi = log-prob of an answer under the policy, ref = under the reference, and
h = (pi_c - ref_c) - (pi_r - ref_r):
    sigmoid (DPO, Rafailov et al. 2023):  loss = -log sigmoid(beta * h), log-probs summed
    ipo (Azar et al. 2023):               loss = (h - 1 / (2 * beta))^2, log-probs averaged per
        answer token (`objective.ipo_logps=mean`, the IPO paper's form and TRL's), or summed
        (`ipo_logps=sum`, where beta must be ~answer-length times smaller for the same pull).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from netft.data.chat import IGNORE, DataError, Example, tokenize_reply
from netft.data.preferences import read_preferences
from netft.objectives import loss_head
from netft.objectives.sft import forward_logits, token_losses


@dataclass
class Pair:
    chosen: Example
    rejected: Example
    index: int  # position in the dataset: the key of its reference log-probs

    def __len__(self) -> int:
        return len(self.chosen.input_ids) + len(self.rejected.input_ids)


def tokenize_pairs(rows: list[dict], tokenizer, max_length: int) -> tuple[list[Pair], int]:
    pairs, dropped = [], 0
    for row in rows:
        sides = [tokenize_reply(tokenizer, row["messages"], row[k]) for k in ("chosen", "rejected")]
        if max(len(s.input_ids) for s in sides) > max_length:
            dropped += 1
            continue
        for s in sides:
            s.labels[0] = IGNORE
        pairs.append(Pair(sides[0], sides[1], len(pairs)))
    if not pairs:
        raise DataError(f"no preference pairs fit train.max_length={max_length}")
    return pairs, dropped


def load_pairs(files, tokenizer, max_length: int) -> tuple[list[Pair], dict]:
    rows = [r for f in files for r in read_preferences(f)]
    pairs, dropped = tokenize_pairs(rows, tokenizer, max_length)
    return pairs, {"rows": len(rows), "kept": len(pairs),
                   "dropped": {f"longer than train.max_length={max_length}": dropped}}


def collate_pairs(pairs: list[Pair], rows: list[list[int]], pad_id: int,
                  reference: torch.Tensor | None = None) -> dict:
    """One micro-batch: chosen rows, then rejected rows, right-padded with an attention mask."""
    chosen = [pairs[r[0]].chosen for r in rows]
    rejected = [pairs[r[0]].rejected for r in rows]
    seqs = chosen + rejected
    if not seqs:  # an empty micro-batch (uneven tail): one all-ignored token, zero pairs
        one = torch.tensor([[pad_id]])
        batch = {"input_ids": one, "labels": torch.full_like(one, IGNORE),
                 "position_ids": torch.zeros_like(one), "attention_mask": torch.ones_like(one),
                 "n_pairs": 0, "n_tokens": 0}
        if reference is not None:
            batch["reference"] = reference[:0]
        return batch
    width = max(len(s.input_ids) for s in seqs)
    batch = {
        "input_ids": torch.tensor([s.input_ids + [pad_id] * (width - len(s.input_ids))
                                   for s in seqs]),
        "labels": torch.tensor([s.labels + [IGNORE] * (width - len(s.labels)) for s in seqs]),
        "position_ids": torch.tensor([list(range(width)) for _ in seqs]),
        "attention_mask": torch.tensor([[1] * len(s.input_ids) + [0] * (width - len(s.input_ids))
                                        for s in seqs]),
        "n_pairs": len(rows), "n_tokens": sum(len(s.input_ids) for s in seqs),
        "index": torch.tensor([r[0] for r in rows]),
    }
    if reference is not None:
        batch["reference"] = reference[batch["index"]]  # (k, 2): chosen, rejected
    return batch


def sequence_logps(module, batch: dict) -> torch.Tensor:
    """Sum of log-probs of each row's labelled (answer) tokens: shape (rows,)."""
    if loss_head.enabled(module):  # per-token CE chunk by chunk (loss_head.py)
        req = loss_head.HeadRequest("tokens", batch["labels"])
        return -loss_head.request(module, batch, req).sum(-1)
    logits = forward_logits(module, batch)
    return -token_losses(logits, batch["labels"]).sum(-1)


def dpo_loss(policy_c, policy_r, ref_c, ref_r, beta: float, kind: str = "sigmoid"):
    """Per-pair loss and implicit rewards (beta * log-ratio to the reference)."""
    logits = (policy_c - ref_c) - (policy_r - ref_r)
    if kind == "ipo":
        loss = (logits - 1.0 / (2.0 * beta)) ** 2
    else:
        loss = -F.logsigmoid(beta * logits)
    return loss, beta * (policy_c - ref_c).detach(), beta * (policy_r - ref_r).detach()


def reference_of(batch: dict, module, model) -> torch.Tensor | None:
    """(k, 2) reference log-probs: precomputed, or the adapter switched off. The adapter
    forward runs for empty micro-batches too: under FSDP2/ZeRO-3 every forward is a
    collective, and a rank that skipped it would leave the others waiting forever."""
    if "reference" in batch:
        return batch["reference"].to(batch["input_ids"].device) if batch["n_pairs"] else None
    with torch.no_grad(), model.disable_adapter():
        ref = sequence_logps(module, batch)
    k = batch["n_pairs"]
    return torch.stack([ref[:k], ref[k:]], dim=1) if k else None


# Every micro-batch reports every statistic (an empty one zeros): the step's sums travel in one
# packed all-reduce whose length must be the same on every rank.
STATS = ("reward_acc", "reward_margin", "logp_chosen", "logp_rejected", "pref_acc")


def make_loss_fn(model, objective_cfg):
    """loss_fn(module, batch) -> (sum of pair losses, pairs, sums of logged statistics)."""
    mean_logps = objective_cfg.loss == "ipo" and objective_cfg.ipo_logps == "mean"

    def loss_fn(module, batch):
        k = batch["n_pairs"]
        logps = sequence_logps(module, batch)
        ref = reference_of(batch, module, model)
        if k == 0:  # an empty micro-batch: same forward passes, no contribution
            zero = logps.detach().sum() * 0.0
            return logps.sum() * 0.0, 0, {name: zero for name in STATS}
        n_tok = (batch["labels"][:, 1:] != IGNORE).sum(-1).clamp(min=1)
        pol, ref = (logps / n_tok, ref / torch.stack([n_tok[:k], n_tok[k:]], dim=1)) \
            if mean_logps else (logps, ref)
        loss, rc, rr = dpo_loss(pol[:k], pol[k:], ref[:, 0], ref[:, 1],
                                objective_cfg.beta, objective_cfg.loss)
        # pref_acc: the policy itself prefers the chosen answer, per token (so that a longer
        # complete config is not penalised for its length); the starting model's rate is the
        # baseline DPO must beat. reward_acc is DPO's usual implicit-reward accuracy.
        per_tok = logps.detach() / n_tok
        # Tensors, not floats: the loop reads them back every train.log_every steps only.
        stats = {"reward_acc": (rc > rr).sum(), "reward_margin": (rc - rr).sum(),
                 "logp_chosen": logps[:k].detach().sum(),
                 "logp_rejected": logps[k:].detach().sum(),
                 "pref_acc": (per_tok[:k] > per_tok[k:]).sum()}
        return loss.sum(), k, stats
    return loss_fn


@torch.no_grad()
def precompute_reference(module, pairs: list[Pair], pad_id: int, info, batch_pairs: int = 8,
                         path: Path | None = None) -> torch.Tensor:
    """(len(pairs), 2) log-probs of the starting model; every rank ends with the full table.

    Saved once to `path` by rank 0 and loaded from there on resume."""
    if path is not None and path.exists():
        return torch.load(path, weights_only=True)
    module.eval()
    table = torch.zeros(len(pairs), 2, dtype=torch.float64)
    chunks = [list(range(i, min(i + batch_pairs, len(pairs))))
              for i in range(0, len(pairs), batch_pairs)]
    calls = -(-len(chunks) // info.world)
    mine = chunks[info.rank::info.world]
    for c in range(calls):
        idx = mine[c] if c < len(mine) else []
        batch = collate_pairs(pairs, [[i] for i in idx], pad_id)
        batch = {k: (v.to(info.device) if torch.is_tensor(v) else v) for k, v in batch.items()}
        logps = sequence_logps(module, batch).double().cpu()
        for j, i in enumerate(idx):
            table[i, 0], table[i, 1] = logps[j], logps[len(idx) + j]
    if info.distributed:  # each pair was computed by exactly one rank; the rest hold zeros
        t = table.to(info.device if info.backend == "nccl" else "cpu")
        dist.all_reduce(t)
        table = t.cpu()
    module.train()
    if path is not None and info.is_main:
        tmp = path.with_suffix(".tmp")
        torch.save(table, tmp)
        tmp.replace(path)
    return table
