"""One optimizer step's gradients, accumulated over its micro-batches with one normaliser."""
from __future__ import annotations

import contextlib

import torch

from netft import distributed
from netft.objectives.sft import sft_loss_sum
from netft.objectives.tasks import to_device, units


def forward_backward(engine, batches: list[dict], info, loss_fn=sft_loss_sum):
    """Accumulate the gradients of one optimizer step; returns (this rank's sums of the loss
    and of every statistic as one float64 device tensor, their names, the step's normaliser).

    One normaliser for the whole step: the units (target tokens for SFT, pairs for DPO) of
    every micro-batch on every rank (x world, because DDP/FSDP/ZeRO average gradients over
    ranks). So the gradient equals that of one big batch, whatever the micro-batch split or
    sequence lengths -- not a mean of per-micro-batch means. Nothing here is read back from
    the device: the loop syncs the sums every train.log_every steps (netft/run/step_metrics.py).
    """
    n_units = distributed.all_reduce_sum(sum(units(b) for b in batches), info)  # host counts
    scale = info.world / n_units
    loss_sum, stats = 0.0, {}
    for j, batch in enumerate(batches):
        # Only the last micro-batch all-reduces gradients (DDP); the rest accumulate locally.
        sync = contextlib.nullcontext() if j == len(batches) - 1 else engine.no_sync()
        with sync:
            s, _, st = loss_fn(engine.module, to_device(batch, info.device))
            engine.backward(s * scale)
        loss_sum = loss_sum + s.detach().double()  # float64, as the host summed before
        for k, v in st.items():
            stats[k] = stats.get(k, 0.0) + torch.as_tensor(v, dtype=torch.float64)
    keys = sorted(stats)
    sums = torch.stack([torch.as_tensor(v, dtype=torch.float64, device=loss_sum.device)
                        for v in [loss_sum] + [stats[k] for k in keys]])
    return sums, keys, n_units
