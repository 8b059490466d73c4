"""Step metrics kept on the device and read back every `train.log_every` steps.

Reading a number of a GPU step on the host (`.item()`, `float()`, `if torch.isfinite(...)`)
makes the host wait until the GPU has finished that step, so it cannot queue the next one:
the GPU idles for the host's launch time, every step. So the loop keeps what it logs on the
device and syncs once every N steps (and wherever logged and saved state must agree:
checkpoints, epoch ends, the last step, a preemption, a non-finite step):

- the loss and statistics of the latest step, this rank's sums (float64, in the order the
  host summed them before, so the logged values are bit-identical to log_every=1);
- this rank's first non-finite step since the last sync (step, loss sum, normaliser, grad
  norm), so the NaN/inf check sees every step, not only the logged ones;
- tokens since the last sync (a host count: the batches are built on the host).

One all-reduce carries all of it (distributed.all_reduce_packed); the row logged at a sync
step is the row log_every=1 logs at that step. Throughput is measured over the steps since
the last sync (per-step host timings mean nothing while the host runs ahead of the GPU).
"""
from __future__ import annotations

import math
import time

import torch

from netft import distributed
from netft.perf import peak_memory_gb

NO_STEP = 0.0  # "no non-finite step yet" (steps count from 1)


class StepMetrics:
    def __init__(self, info, every: int, flops_token: float, peak_flops: float,
                 tokens_seen: int = 0):
        self.info, self.every = info, every
        self.flops_token, self.peak_flops = flops_token, peak_flops
        self.tokens_seen = tokens_seen  # all ranks, up to the last sync
        self.keys: list[str] = []
        self._last = None  # device: [loss sum, *stats] of the latest step, this rank
        self._norm = None  # device: its gradient norm (global)
        self._bad = None  # device: [step, loss sum, n_units, grad norm] of the first bad step
        self._tokens, self._t0 = 0, time.perf_counter()
        self._host: dict = {}

    def add(self, step: int, sums: torch.Tensor, keys: list[str], n_units: float, norm,
            n_tokens: int, **host) -> None:
        """Record optimizer step `step` (no host sync). sums: this rank's [loss, *stats] as
        float64 on the device; norm: the step's global gradient norm (tensor or float);
        host: values the host already has (lr, epoch), logged as they are."""
        norm = torch.as_tensor(norm, dtype=torch.float64, device=sums.device).reshape(())
        self.keys, self._last, self._norm, self._host = keys, sums, norm, host
        self._n_units = n_units
        # The loss is checked on this rank's share: a NaN anywhere makes the global sum NaN.
        ok = torch.isfinite(sums[0]) & torch.isfinite(norm)
        if self._bad is None:
            self._bad = torch.zeros(4, dtype=torch.float64, device=sums.device)
        take = (self._bad[0] == NO_STEP) & ~ok
        # Host numbers enter as scalar kernel arguments: a host-to-device tensor copy would
        # synchronise the stream (pageable memory).
        self._bad = torch.stack([torch.where(take, float(step), self._bad[0]),
                                 torch.where(take, sums[0], self._bad[1]),
                                 torch.where(take, float(n_units), self._bad[2]),
                                 torch.where(take, norm, self._bad[3])])
        self._tokens += n_tokens

    def due(self, step: int) -> bool:
        return step % self.every == 0

    def sync(self) -> tuple[dict, dict | None]:
        """(the metrics row of the latest step, the first non-finite step since the last
        sync or None). Collective: every rank calls it at the same steps."""
        mine = torch.cat([self._bad, self._norm.reshape(1),
                          torch.tensor([peak_memory_gb(self.info.device)], dtype=torch.float64,
                                       device=self._bad.device)])
        sums = torch.cat([self._last, torch.tensor([float(self._tokens)], dtype=torch.float64,
                                                   device=self._last.device)])
        totals, ranks = distributed.all_reduce_packed(sums, mine, self.info)
        dt = time.perf_counter() - self._t0
        window_tokens = totals[-1]
        self.tokens_seen += int(window_tokens)
        bad = None
        firsts = [r[0] for r in ranks if r[0] != NO_STEP]
        if firsts:
            first = min(firsts)
            at = [r for r in ranks if r[0] == first]
            # The global loss of that step: the ranks whose share went bad there carry the
            # non-finite part (the others' finite shares do not change NaN/inf); when only
            # the norm went bad, every rank went bad there and this is the exact loss.
            bad = {"step": int(first), "loss": sum(r[1] for r in at) / at[0][2],
                   "grad_norm": at[0][3]}
        n_units, stats = self._n_units, totals[1:-1]
        per_device = window_tokens / dt / self.info.world
        row = {"train/loss": totals[0] / n_units,
               **{f"train/{k}": v / n_units for k, v in zip(self.keys, stats)},
               "train/lr": self._host["lr"],
               "train/grad_norm": max(r[4] for r in ranks),
               "train/tokens_per_s": window_tokens / dt,
               "train/tokens_per_s_per_device": per_device,
               "train/mfu": self.flops_token * per_device / self.peak_flops,
               "train/peak_mem_gb": max(r[5] for r in ranks),
               "train/epoch": self._host["epoch"], "train/tokens": self.tokens_seen}
        self._tokens, self._t0 = 0, time.perf_counter()
        self._bad = None
        return row, bad


def diverged(bad: dict, epoch: int, cfg, run_dir) -> FloatingPointError:
    """The error for the first step whose loss or gradient norm was NaN/inf."""
    loss, norm = bad["loss"], bad["grad_norm"]
    what = (f"loss is {loss}" if not math.isfinite(loss) else
            f"the gradient norm is {norm} (loss {loss:.4f})")
    # Every saved checkpoint passed a finite-parameter check, so this one is good.
    from netft.checkpoint import latest

    good = latest(run_dir)
    return FloatingPointError(
        f"{what} at step {bad['step']} (epoch {epoch + 1}); lower train.lr (now "
        f"{cfg.train.lr}) or train.max_grad_norm, or check the data. "
        + (f"The newest checkpoint (all values finite, but possibly already "
           f"diverging) is {good}. Rerun with a lower train.lr and "
           "train.resume=never to start over, or train.resume=<an earlier "
           "checkpoint> train.resume_force=true." if good else
           "No checkpoint was saved yet; rerun with a lower train.lr."))
