"""Batched greedy generation for evaluation, under any parallel backend.

Prompts are split across ranks; every rank makes the same number of `generate` calls (a rank
short of prompts repeats a dummy batch), and `synced_gpus` keeps the forward passes of ranks
whose answers end early in lockstep with the others -- under FSDP2 and ZeRO-3 every forward
pass is a collective, so this is what keeps evaluation from hanging. Answers are gathered to
every rank in the original order.
"""
from __future__ import annotations

import math

import torch
import torch.distributed as dist
from tqdm import tqdm

from netft.distributed import DistInfo


def prompt_messages(row: dict) -> list[dict]:
    """The conversation up to (not including) its last assistant turn."""
    msgs = row["messages"]
    last = max(i for i, m in enumerate(msgs) if m["role"] == "assistant")
    return msgs[:last]


def _left_padded(tokenizer, prompts: list[list[dict]]) -> dict:
    encoded = [list(tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=True,
                                                  return_dict=True)["input_ids"])
               for p in prompts]
    width = max(map(len, encoded))
    pad = tokenizer.pad_token_id
    return {"input_ids": torch.tensor([[pad] * (width - len(e)) + e for e in encoded]),
            "attention_mask": torch.tensor([[0] * (width - len(e)) + [1] * len(e)
                                            for e in encoded])}


class Interrupted(Exception):
    """A preemption signal arrived during an evaluation (raised on every rank alike)."""


@torch.no_grad()
def generate_answers(model, tokenizer, rows: list[dict], info: DistInfo, max_new_tokens: int,
                     batch_size: int = 16, desc: str = "generate",
                     interrupted=None, sampling: dict | None = None,
                     max_length: int = 0) -> list[str]:
    """interrupted: a collective () -> bool checked before every batch (same count on every
    rank); when it says so, Interrupted is raised instead of finishing a long generation.
    sampling: generate() kwargs replacing greedy decoding (a benchmark's own settings; seed
    torch the same on every rank first). max_length > 0: prompt + answer tokens per batch at
    most that (a benchmark's cap), so long prompts get fewer new tokens."""
    model.eval()
    prompts = [prompt_messages(r) for r in rows]
    # Long prompts together: less padding per batch. Order restored at the end.
    order = sorted(range(len(prompts)), key=lambda i: -len(str(prompts[i])))
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    mine = batches[info.rank::info.world]
    calls = math.ceil(len(batches) / info.world)
    answers: dict[int, str] = {}
    bar = tqdm(total=calls, desc=desc, unit="batch", disable=not info.is_main, leave=False)
    for k in range(calls):
        if interrupted is not None and interrupted():
            bar.close()
            raise Interrupted()
        idx = mine[k] if k < len(mine) else []
        batch = _left_padded(tokenizer, [prompts[i] for i in idx] or [prompts[0]])
        batch = {n: t.to(info.device) for n, t in batch.items()}
        new_tokens = max_new_tokens
        if max_length > 0:
            # Every rank must run the same number of forward passes: take the longest
            # prompt of any rank's batch this round.
            width = batch["input_ids"].shape[1]
            if info.distributed:
                t = torch.tensor([width], device=info.device)
                dist.all_reduce(t, op=dist.ReduceOp.MAX)
                width = int(t.item())
            new_tokens = max(1, min(max_new_tokens, max_length - width))
        decoding = dict(sampling) if sampling else {"do_sample": False}
        out = model.generate(**batch, max_new_tokens=new_tokens, use_cache=True,
                             pad_token_id=tokenizer.pad_token_id,
                             synced_gpus=info.distributed, **decoding)
        new = out[:, batch["input_ids"].shape[1]:]
        for j, i in enumerate(idx):
            answers[i] = tokenizer.decode(new[j], skip_special_tokens=True).strip()
        bar.update(1)
    bar.close()
    if info.distributed:
        gathered = [None] * info.world
        dist.all_gather_object(gathered, answers)
        answers = {i: a for part in gathered for i, a in part.items()}
    model.train()
    return [answers[i] for i in range(len(rows))]
