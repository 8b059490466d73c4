"""From tokenised examples to the micro-batches of each optimizer step, on every rank.

Every rank computes the same global plan from the seed and takes its own share, so ranks
always agree on the number of steps and micro-batches (no collective can hang on an uneven
tail: a rank short of data gets an empty micro-batch that still runs forward/backward).

Packing puts several examples into one row with position_ids restarting at 0 for each, and
no attention_mask. How samples are kept apart depends on the attention implementation:
- sdpa / eager: transformers builds a block-diagonal causal mask from the position_ids of
  each row, so a micro-batch keeps its rows (`varlen=False`);
- flash-attn: transformers reads position_ids as boundaries only when the batch is ONE row
  (`_is_packed_sequence`); with 2+ rows it runs plain causal attention over each whole row and
  every sample sees the ones packed before it. So for flash-attn (`varlen=True`) the rows of a
  micro-batch are flattened into one row, and the varlen kernel's own inputs
  (`cu_seq_lens_q/k`, `max_length_q/k`: one segment per example) are passed explicitly.
The first token of every example carries no label, so the loss of a packed row equals the
sum of its examples' unpacked losses (and no label crosses a boundary when rows are joined).
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

import torch

from netft.data.chat import IGNORE, DataError, Example, tokenize_chat


@dataclass
class DataReport:
    """What was read and what was dropped, and why: never silent."""
    rows: int = 0
    kept: int = 0
    dropped: dict = field(default_factory=dict)
    truncated: int = 0
    tokens: int = 0
    target_tokens: int = 0

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    def line(self, name: str) -> str:
        dropped = ", ".join(f"{n} {r}" for r, n in self.dropped.items()) or "none"
        return (f"{name}: {self.kept}/{self.rows} rows kept ({self.tokens:,} tokens, "
                f"{self.target_tokens:,} on assistant turns); dropped: {dropped}; "
                f"truncated: {self.truncated}")


def tokenize_rows(rows: list[dict], tokenizer, max_length: int, overlong: str = "drop",
                  report: DataReport | None = None):
    """Chat rows -> Examples (loss on assistant turns); {"text"} rows -> loss on every token."""
    examples: list[Example] = []
    report = report or DataReport()
    for row in rows:
        report.rows += 1
        if "text" in row and "messages" not in row:
            ids = tokenizer(row["text"])["input_ids"] + [tokenizer.eos_token_id]
            # Raw text (continued pre-training): a long document becomes consecutive windows
            # of max_length tokens instead of being dropped; each window is its own example.
            windows = [ids[k:k + max_length] for k in range(0, len(ids), max_length)]
            for w in windows[:-1]:
                _keep(Example(w, list(w)), examples, report)
            ex = Example(windows[-1], list(windows[-1]))
            if len(windows) > 1:
                report.rows += len(windows) - 1
        else:
            ex = _tokenize_chat_row(tokenizer, row)
        if len(ex.input_ids) > max_length:
            if overlong == "drop":
                report.drop(f"longer than train.max_length={max_length}")
                continue
            ex = Example(ex.input_ids[:max_length], ex.labels[:max_length])
            report.truncated += 1
        _keep(ex, examples, report)
    if not examples:
        raise DataError(f"no usable rows ({report.line('data')})")
    return examples, report


def _keep(ex: Example, examples: list, report: DataReport) -> None:
    ex.labels[0] = IGNORE  # predicted from nothing; see module docstring
    if ex.n_targets == 0:
        report.drop("no assistant tokens left")
        return
    examples.append(ex)
    report.kept += 1
    report.tokens += len(ex.input_ids)
    report.target_tokens += ex.n_targets


def _tokenize_chat_row(tokenizer, row: dict) -> Example:
    """tokenize_chat, with a failure named by the row's file:line and what broke."""
    where = row.get("_where") or row.get("id", "?")
    try:
        return tokenize_chat(tokenizer, row["messages"])
    except DataError as e:
        raise DataError(f"{where}: {e}") from None
    except Exception as e:  # jinja2 errors, raise_exception() in the template, ...
        roles = ",".join(m["role"] for m in row["messages"])
        hint = (" (this template has no system role: fold the system prompt into the first "
                "user message, or supply one with model.chat_template)"
                if "system" in str(e).lower() else
                " (supply a template that handles it with model.chat_template)")
        raise DataError(f"{where}: the chat template failed on this row (roles {roles}): "
                        f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                        f"{hint}") from None


def pack(lengths: list[int], order: list[int], max_length: int) -> list[list[int]]:
    """First-fit packing of examples (in the given order) into rows of at most max_length."""
    rows: list[list[int]] = []
    room: list[int] = []
    for i in order:
        for r, free in enumerate(room):
            if lengths[i] <= free:
                rows[r].append(i)
                room[r] -= lengths[i]
                break
        else:
            rows.append([i])
            room.append(max_length - lengths[i])
    return rows


def plan_epoch(lengths: list[int], *, epoch: int, seed: int, micro_batch_size: int,
               grad_accum: int, world: int, max_length: int, packing: bool,
               shuffle: bool = True) -> list[list[list[list[int]]]]:
    """The global plan: steps -> (grad_accum * world) micro-batches -> rows -> example ids.

    The plan depends only on (seed, epoch, batch geometry), never on the rank: rank r takes
    micro-batches r, r+world, ... of every step. The last step is padded with empty
    micro-batches so that all ranks run the same number of forward/backward passes.
    """
    order = list(range(len(lengths)))
    if shuffle:
        random.Random(seed * 1_000_003 + epoch).shuffle(order)
    rows = pack(lengths, order, max_length) if packing else [[i] for i in order]
    micro = [rows[i:i + micro_batch_size] for i in range(0, len(rows), micro_batch_size)]
    per_step = grad_accum * world
    steps = [micro[i:i + per_step] for i in range(0, len(micro), per_step)]
    if steps and len(steps[-1]) < per_step:
        steps[-1] = steps[-1] + [[] for _ in range(per_step - len(steps[-1]))]
    return steps


def rank_share(step: list, rank: int, world: int) -> list:
    return step[rank::world]


def collate(examples: list[Example], rows: list[list[int]], pad_id: int, packing: bool,
            varlen: bool = False) -> dict:
    """Tensors for one micro-batch. An empty micro-batch becomes one all-ignored token.

    varlen (packing only; for flash-attn): one flattened row with explicit sequence boundaries.
    """
    if not rows:
        one = torch.tensor([[pad_id]])
        return {"input_ids": one, "labels": torch.full_like(one, IGNORE),
                "position_ids": torch.zeros_like(one), "n_tokens": 0}
    if packing and varlen:
        return varlen_batch([examples[i] for row in rows for i in row])
    seqs, labs, poss = [], [], []
    for row in rows:
        ids = [t for i in row for t in examples[i].input_ids]
        lab = [t for i in row for t in examples[i].labels]
        pos = [p for i in row for p in range(len(examples[i].input_ids))]
        seqs.append(ids), labs.append(lab), poss.append(pos)
    width = max(map(len, seqs))
    batch = {
        "input_ids": torch.tensor([s + [pad_id] * (width - len(s)) for s in seqs]),
        "labels": torch.tensor([s + [IGNORE] * (width - len(s)) for s in labs]),
        # Padding continues the last position run; it is causal-after and label-free, so it
        # changes no real token's output.
        "position_ids": torch.tensor([p + list(range(p[-1] + 1, p[-1] + 1 + width - len(p)))
                                      for p in poss]),
        "n_tokens": sum(map(len, seqs)),
    }
    if not packing:
        batch["attention_mask"] = torch.tensor([[1] * len(s) + [0] * (width - len(s))
                                                for s in seqs])
    return batch


def varlen_batch(examples: list[Example]) -> dict:
    """Examples as one padding-free row plus the flash-attn varlen boundaries.

    `cu_seq_lens_q/k` are the cumulative example lengths (int32, as the kernel wants them) and
    `max_length_q/k` the longest example; transformers passes them straight to
    `flash_attn_varlen_func`. The flattened position_ids restart at every example as well, so
    a model that does not forward these keyword arguments still takes transformers' own
    packed-sequence path (one row), never plain causal attention across examples.
    """
    lengths = [len(e.input_ids) for e in examples]
    cu = torch.tensor([0] + list(itertools.accumulate(lengths)), dtype=torch.int32)
    ids = [t for e in examples for t in e.input_ids]
    return {
        "input_ids": torch.tensor([ids]),
        "labels": torch.tensor([[t for e in examples for t in e.labels]]),
        "position_ids": torch.tensor([[p for n in lengths for p in range(n)]]),
        "cu_seq_lens_q": cu, "cu_seq_lens_k": cu,
        "max_length_q": max(lengths), "max_length_k": max(lengths),
        "n_tokens": len(ids),
    }


def cfg_plan(cfg, world: int, lengths: list[int], epoch: int, packing: bool,
             shuffle: bool = True, micro: int | None = None, accum: int | None = None):
    """plan_epoch with a run's settings (train.seed, micro-batch size, grad_accum, max_length)."""
    return plan_epoch(lengths, epoch=epoch, seed=cfg.train.seed, world=world,
                      micro_batch_size=micro or cfg.train.micro_batch_size,
                      grad_accum=accum or cfg.train.grad_accum, max_length=cfg.train.max_length,
                      packing=packing, shuffle=shuffle)


def run_plans(cfg, world: int, lengths: list[int], packing: bool) -> tuple[list, int]:
    """Every epoch's plan, and the optimizer steps the run takes (capped by train.max_steps)."""
    plans = [cfg_plan(cfg, world, lengths, epoch, packing) for epoch in range(cfg.train.epochs)]
    total = sum(map(len, plans))
    return plans, min(total, cfg.train.max_steps) if cfg.train.max_steps > 0 else total
