"""DeepSpeed ZeRO-3, driven by our loop, with its config generated from the Hydra values.

One source of truth: batch geometry, clipping, precision and offload come from `train.*` and
`parallel.*`; nobody edits a DeepSpeed JSON by hand (`netft-train ... --cfg job` and the run's
config.yaml show the inputs, `deepspeed_config.json` in the run dir shows the result).

The loop normalises the loss itself (target tokens over the whole step), so DeepSpeed must
not divide by the accumulation steps again: backward(scale_wrt_gas=False). DeepSpeed owns the
accumulation boundary, so every micro-batch but the last is followed by a non-stepping
engine.step(), the documented DeepSpeed pattern.
"""
from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

import torch

from netft.distributed import DistInfo
from netft.models.precision import compute_dtype
from netft.optim import make_optimizer, make_scheduler

_HF_DS_CONFIG = None  # transformers holds only a weak reference; keep it alive


def ds_config(cfg, info: DistInfo) -> dict:
    zero = {"stage": 3, "overlap_comm": info.device.type == "cuda", "contiguous_gradients": True,
            "stage3_gather_16bit_weights_on_model_save": True,
            "stage3_param_persistence_threshold": 0 if info.device.type == "cpu" else 1e5}
    if cfg.parallel.cpu_offload:
        zero["offload_param"] = {"device": "cpu", "pin_memory": True}
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
    return {
        "train_micro_batch_size_per_gpu": cfg.train.micro_batch_size,
        "gradient_accumulation_steps": cfg.train.grad_accum,
        "train_batch_size": cfg.train.micro_batch_size * cfg.train.grad_accum * info.world,
        "gradient_clipping": cfg.train.max_grad_norm,
        # DeepSpeed's bf16 mode: the module in bf16, fp32 master partition + Adam states.
        # From model.dtype (models/precision.py), the same source as every other backend.
        "bf16": {"enabled": compute_dtype(cfg.model, info.device) == torch.bfloat16},
        "zero_optimization": zero,
        "zero_allow_untested_optimizer": True,  # a plain torch AdamW: no compiled op needed
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }


def before_model_load(cfg, info: DistInfo) -> None:
    """Let from_pretrained build the model already partitioned (zero.Init), so a model that
    does not fit one device's memory never has to exist whole on one rank."""
    global _HF_DS_CONFIG
    if info.device.type == "cpu":
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    import deepspeed
    from transformers.integrations import HfDeepSpeedConfig

    deepspeed.init_distributed(dist_backend=info.backend if info.backend != "none" else "gloo")
    _HF_DS_CONFIG = HfDeepSpeedConfig(ds_config(cfg, info))


def build_zero3_engine(model, cfg, info: DistInfo, total_steps: int):
    import deepspeed

    from netft.parallel.base import Engine, activation_checkpointing

    activation_checkpointing(model, cfg)
    optimizer = make_optimizer(model, cfg.train)
    # The schedule must wrap DeepSpeed's optimizer (its param groups), hence a factory.
    ds, ds_opt, _, scheduler = deepspeed.initialize(
        model=model, optimizer=optimizer, config=ds_config(cfg, info),
        lr_scheduler=lambda opt: make_scheduler(opt, cfg.train, total_steps))

    def backward(loss: torch.Tensor) -> None:
        ds.backward(loss, scale_wrt_gas=False)
        if not ds.is_gradient_accumulation_boundary():
            ds.step()  # advances DeepSpeed's micro-step counter; no optimizer update

    def step() -> float:
        ds.step()  # the boundary: reduce-scatter, clip, update, schedule
        norm = ds.get_global_grad_norm()
        norm = float(norm) if norm is not None else float("nan")
        if not math.isfinite(norm):
            # DeepSpeed (0.19) already skipped this update on an invalid norm ("overflow");
            # stop here rather than train on with skipped steps and a finite-looking loss.
            from netft.parallel.base import NonFiniteGradError

            raise NonFiniteGradError(norm)
        return norm

    def full_state_dict(trainable_only: bool = False) -> dict:
        # Always every weight (DeepSpeed consolidates all or nothing); collective; complete on
        # rank 0, None elsewhere. Never model.state_dict() under
        # ZeRO-3: its partitioned parameters are empty placeholders (the empty-adapter bug).
        return ds._zero3_consolidated_16bit_state_dict() or {}

    def save_state(path: Path) -> None:
        ds.save_checkpoint(str(path.parent), tag=path.name, save_latest=False)

    def load_state(path: Path) -> None:
        ds.load_checkpoint(str(path.parent), tag=path.name, load_optimizer_states=True,
                           load_lr_scheduler_states=True)

    return Engine("zero3", ds, model, ds_opt, scheduler, backward, step, contextlib.nullcontext,
                  full_state_dict, save_state, load_state, whole_model_init,
                  export_dtype=compute_dtype(cfg.model, info.device))


@contextlib.contextmanager
def whole_model_init():
    """Models built inside are whole (e.g. the lm-eval copy); the run's ZeRO-3 setting, which
    makes transformers build partitioned models, comes back afterwards."""
    from transformers.integrations import deepspeed as hf_ds

    active = hf_ds.is_deepspeed_zero3_enabled()
    if active:
        hf_ds.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        if active:
            hf_ds.set_hf_deepspeed_config(_HF_DS_CONFIG)
