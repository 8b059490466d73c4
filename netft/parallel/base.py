"""The Engine every backend builds (parallel/engine.py: single, DDP, FSDP2; parallel/zero3.py:
DeepSpeed ZeRO-3), in a module of its own so that neither builder imports the other."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch


@dataclass
class Engine:
    name: str
    module: torch.nn.Module  # call forward on this
    model: torch.nn.Module  # the HF / PEFT model inside (config, generate, save_pretrained)
    optimizer: Any
    scheduler: Any
    backward: Callable[[torch.Tensor], None]
    # clip, optimizer + scheduler step, zero grads -> grad norm (a tensor: not read on the host)
    step: Callable[[], Any]
    no_sync: Callable[[], Any]  # context for micro-batches that should skip the grad all-reduce
    # Consolidated weights, complete on rank 0; trainable_only=True may leave out frozen
    # weights (an adapter export need not gather the whole base onto rank 0).
    full_state_dict: Callable[..., dict]
    save_state: Callable[[Path], None]  # sharded training state; every rank calls it
    load_state: Callable[[Path], None]
    # Context in which a model built from a config is whole, not partitioned (ZeRO-3
    # otherwise partitions every model transformers builds while its engine is active).
    whole_model_init: Callable[[], Any] = contextlib.nullcontext
    # model.dtype: what final/ is written in (float32 masters are cast back to it).
    export_dtype: torch.dtype | None = None


class NonFiniteGradError(FloatingPointError):
    """The gradient norm of a step is NaN/inf; raised before the optimizer update."""

    def __init__(self, norm: float):
        super().__init__(f"gradient norm is {norm}")
        self.norm = norm


def activation_checkpointing(model, cfg) -> None:
    """parallel.activation_checkpointing, set up the same way for every backend (it was two
    copies that had drifted: ZeRO-3's lacked enable_input_require_grads). Non-reentrant, so
    frozen inputs (LoRA's embeddings) still get gradients through the recomputed layers."""
    if not cfg.parallel.activation_checkpointing:
        return
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if hasattr(model, "enable_input_require_grads"):
        model.enable_input_require_grads()
