"""Which dtype the weights are kept in and which dtype the matmuls run in: decided here, once.

    model.dtype        the compute dtype (auto: bfloat16 on CUDA, float32 on CPU)
    parameters         full fine-tuning with a 16-bit compute dtype keeps float32 master
                       weights (gradients and AdamW states follow the parameters' dtype);
                       adapters (lora/qlora) keep the base in the compute dtype (frozen: it
                       never takes an update) and PEFT keeps the adapter weights in float32
    single / ddp       full: float32 parameters, forward under torch.autocast(compute)
    fsdp2              float32 sharded parameters, MixedPrecisionPolicy(param_dtype=compute,
                       reduce_dtype=float32): all-gathers and computes in the compute dtype
    zero3              DeepSpeed's own bf16 mode: the module in bf16, an fp32 master partition
    qlora              bnb_4bit_compute_dtype = bnb_4bit_quant_storage = FSDP2's param_dtype =
                       the compute dtype, so FSDP2 never casts the packed 4-bit storage

Why: a bf16 weight cannot take an update smaller than half its last bit (2^-8 relative), and
an lr of 1e-5 times Adam's ~unit step is far below that; measured on the tiny model, one step
of `method=full model.dtype=bfloat16 train.lr=1e-5` left 93.5% of the weights bit-identical to
the base when the weights were bf16, ~0% with float32 masters (docs/design.md).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class Precision:
    compute: torch.dtype  # what matmuls run in (model.dtype)
    params: torch.dtype  # what the model is loaded in (and, for full, what AdamW updates)
    autocast: bool  # the forward runs under torch.autocast(compute) (unsharded backends)
    gather_dtype: torch.dtype | None  # sharded parameters gathered + computed in it, or None

    @property
    def masters(self) -> bool:
        """Whether float32 master weights sit under a 16-bit compute dtype."""
        return self.params != self.compute


def compute_dtype(model_cfg, device: torch.device | str) -> torch.dtype:
    device_type = device if isinstance(device, str) else device.type
    if model_cfg.dtype == "auto":
        return torch.bfloat16 if device_type == "cuda" else torch.float32
    return DTYPES[model_cfg.dtype]


def precision(cfg, device: torch.device | str) -> Precision:
    """The run's dtypes from model.dtype, method and parallel (see the module docstring)."""
    from netft.parallel.backends import backend

    bk = backend(cfg.parallel.name)
    compute = compute_dtype(cfg.model, device)
    low = compute != torch.float32
    # A backend with its own fp32 master partition (ZeRO-3's bf16 mode) keeps the module in
    # the compute dtype.
    masters = low and cfg.method.name == "full" and not bk.own_masters
    params = torch.float32 if masters else compute
    autocast = masters and bk.autocast
    gather = compute if (low and bk.gather_in_compute_dtype) else None
    return Precision(compute, params, autocast, gather)


def enable_autocast(model, device_type: str, dtype: torch.dtype) -> None:
    """Run model's forward (and so generate, DDP's forward, every eval) under autocast.

    The instance attribute shadows the class's forward; functools.wraps keeps the signature
    that transformers' generate inspects. Backward runs outside, as autocast intends."""
    forward = model.forward

    @functools.wraps(forward)
    def autocast_forward(*args, **kwargs):
        with torch.autocast(device_type=device_type, dtype=dtype):
            return forward(*args, **kwargs)

    model.forward = autocast_forward


def cast_for_export(state: dict, dtype: torch.dtype) -> dict:
    """Floating tensors of a state dict in the configured dtype (float32 masters -> bf16)."""
    return {k: (v.to(dtype) if isinstance(v, torch.Tensor) and v.is_floating_point()
                and v.dtype != dtype else v) for k, v in state.items()}
