"""SFT / domain adaptation: cross-entropy summed over assistant tokens.

The loop divides the sum by the number of target tokens of the whole optimizer step (all
micro-batches, all ranks), so grad accumulation and data parallelism give exactly the
gradient of one big batch -- not a mean of per-micro-batch means, which over-weights short
sequences.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from netft.data.chat import IGNORE
from netft.objectives import loss_head


# Keys of a batch that go to the model as they are (see data/batching.py: attention masks for
# padded rows, varlen boundaries for packed rows under flash-attn).
MODEL_INPUTS = loss_head.MODEL_INPUTS


def forward_logits(model, batch: dict) -> torch.Tensor:
    kwargs = {"input_ids": batch["input_ids"], "position_ids": batch["position_ids"],
              "use_cache": False}  # a KV cache would leak packed sequences into each other
    kwargs.update({k: batch[k] for k in MODEL_INPUTS if k in batch})
    return model(**kwargs).logits


def token_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-position CE (float32) of predicting labels[t+1] from position t; 0 where ignored."""
    shift_logits = logits[:, :-1].float()
    shift_labels = labels[:, 1:]
    loss = F.cross_entropy(shift_logits.reshape(-1, shift_logits.size(-1)),
                           shift_labels.reshape(-1), ignore_index=IGNORE, reduction="none")
    return loss.view(shift_labels.shape)


def sft_loss_sum(model, batch: dict) -> tuple[torch.Tensor, int, dict]:
    """(sum of CE over target tokens, number of target tokens, no extra stats). The count is
    a device tensor: reading it here would make the host wait for the GPU every micro-batch."""
    n = (batch["labels"][:, 1:] != IGNORE).sum()
    if loss_head.enabled(model):  # chunk by chunk, never the whole logits (loss_head.py)
        return loss_head.request(model, batch, loss_head.HeadRequest("sum", batch["labels"])), n, {}
    logits = forward_logits(model, batch)
    return token_losses(logits, batch["labels"]).sum(), n, {}
