"""What the training loop needs from a parallel backend, and the torch-native backends.

The loop only ever calls: before_model_load(cfg, info) before the model is read,
build_engine(...), then engine.module(...) for forward, engine.backward(loss), engine.step()
at an optimizer-step boundary, the save/export hooks, and engine.whole_model_init() around
building an extra unsharded model copy. Nothing outside parallel/ names a backend.
single, ddp and fsdp2 differ only in how the model is wrapped; clipping, stepping, DCP checkpoints and full state
dicts are one code path (torch's state_dict helpers understand plain, DDP and FSDP2 modules).
DeepSpeed ZeRO-3 builds the same Engine from its own engine (parallel/zero3.py).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from netft.distributed import DistInfo
from netft.parallel.backends import backend
from netft.parallel.base import (Engine, NonFiniteGradError,  # noqa: F401  (re-exported)
                                 activation_checkpointing)
from netft.optim import make_optimizer, make_scheduler


def _state_options(model):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    # Adapters: the frozen base is not training state; it comes back from the base model
    # (so loading must not insist on finding it in the checkpoint).
    frozen = any(not p.requires_grad for p in model.parameters())
    return StateDictOptions(ignore_frozen_params=frozen, strict=not frozen)


@dataclass
class Wrapping:
    """The model on its way through a backend's chain: `module` is what forward is called on."""
    model: torch.nn.Module
    module: torch.nn.Module
    cfg: Any
    info: DistInfo
    prec: Any  # models.precision.Precision
    root: Any = None  # FSDP2: the root unit (gradient-sync control)


def _checkpointing(w: Wrapping) -> None:
    activation_checkpointing(w.model, w.cfg)


def _to_device(w: Wrapping) -> None:
    w.model.to(w.info.device)


def _autocast(w: Wrapping) -> None:
    if w.prec.autocast:  # float32 masters, compute in model.dtype
        from netft.models.precision import enable_autocast

        enable_autocast(w.model, w.info.device.type, w.prec.compute)


def _ddp(w: Wrapping) -> None:
    from torch.nn.parallel import DistributedDataParallel

    info = w.info
    w.module = DistributedDataParallel(
        w.model, device_ids=[info.device.index] if info.device.type == "cuda" else None)


def _fully_shard(w: Wrapping) -> None:
    from netft.parallel.fsdp import shard_model
    from netft.parallel.meta_load import fill_from_rank0, use_meta_load

    # Meta load: a skeleton on ranks > 0 until now; rank 0 sends each unit's weights.
    fill = ((lambda unit, root: fill_from_rank0(unit, root, w.info))
            if use_meta_load(w.cfg, w.info) else None)
    w.root = shard_model(w.model, w.cfg.parallel, w.info, fill, param_dtype=w.prec.gather_dtype)


def _compile(w: Wrapping) -> None:
    """Each decoder layer, after wrapping (so FSDP2's hooks stay outside the compiled code)."""
    if w.cfg.train.compile:
        from netft.parallel.fsdp import decoder_layers

        for layer in decoder_layers(w.model):
            layer.compile()


# One ordered chain per torch-native backend; ZeRO-3's is in parallel/zero3.py.
CHAINS = {
    "single": (_checkpointing, _to_device, _autocast, _compile),
    "ddp": (_checkpointing, _to_device, _autocast, _ddp, _compile),
    "fsdp2": (_checkpointing, _fully_shard, _compile),
}


def build_torch_engine(model, cfg, info: DistInfo, total_steps: int) -> Engine:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                         get_state_dict, set_state_dict)

    from netft.models.precision import precision

    name = cfg.parallel.name
    w = Wrapping(model, model, cfg, info, precision(cfg, info.device))
    for apply in CHAINS[name]:  # the backend's ordered set-up chain (parallel/backends.py)
        apply(w)
    module, root = w.module, w.root
    optimizer = make_optimizer(model, cfg.train, fused=info.device.type == "cuda")
    scheduler = make_scheduler(optimizer, cfg.train, total_steps)
    params = [p for p in model.parameters() if p.requires_grad]

    # Where the NaN/inf check of the gradient norm runs. A fused AdamW (netft's choice on
    # CUDA) takes a `found_inf` tensor and skips the whole update on the device when it is
    # set (as under GradScaler), so the host never waits for the norm; the loop learns of it
    # at its next sync (train.log_every) and stops there. Other optimizers (CPU: nothing runs
    # asynchronously, so reading the norm costs no stall) check on the host, before the update.
    on_device = bool(optimizer.defaults.get("fused"))

    def step() -> torch.Tensor:
        norm = torch.nn.utils.clip_grad_norm_(params, cfg.train.max_grad_norm)
        if hasattr(norm, "full_tensor"):  # FSDP2 returns a DTensor
            norm = norm.full_tensor()
        if on_device:
            optimizer.found_inf = (~torch.isfinite(norm)).float()
        elif not torch.isfinite(norm):
            # A finite loss can still give NaN/inf gradients (e.g. a huge lr one step
            # earlier); stepping would write NaN weights. The norm is global, so every rank
            # raises here, before the update.
            optimizer.zero_grad(set_to_none=True)
            raise NonFiniteGradError(float(norm))
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        return norm.detach()

    def no_sync():
        if name == "ddp":
            return module.no_sync()
        if name == "fsdp2" and not cfg.parallel.grad_sync_every_microbatch:
            return fsdp_no_sync(root)
        return contextlib.nullcontext()

    def full_state_dict(trainable_only: bool = False) -> dict:
        opts = StateDictOptions(full_state_dict=True, cpu_offload=True,
                                ignore_frozen_params=trainable_only)
        return get_model_state_dict(model, options=opts)

    def save_state(path: Path) -> None:
        msd, osd = get_state_dict(model, optimizer, options=_state_options(model))
        dcp.save({"model": msd, "optim": osd}, checkpoint_id=str(path))

    def load_state(path: Path) -> None:
        msd, osd = get_state_dict(model, optimizer, options=_state_options(model))
        state = {"model": msd, "optim": osd}
        dcp.load(state, checkpoint_id=str(path))
        set_state_dict(model, optimizer, model_state_dict=state["model"],
                       optim_state_dict=state["optim"], options=_state_options(model))

    return Engine(name, module, model, optimizer, scheduler, lambda loss: loss.backward(), step,
                  no_sync, full_state_dict, save_state, load_state,
                  export_dtype=w.prec.compute)


@contextlib.contextmanager
def fsdp_no_sync(root):
    """FSDP2 micro-batches before the last: gradients accumulate unsharded, with no
    reduce-scatter (set_requires_gradient_sync(False), FSDP1's no_sync). The last micro-batch
    reduce-scatters the accumulated sum once: grad_accum x fewer collectives per step, for
    one unsharded gradient copy held across the step (parallel.grad_sync_every_microbatch
    trades it back)."""
    root.set_requires_gradient_sync(False)
    try:
        yield
    finally:
        root.set_requires_gradient_sync(True)


def parameter_share(model) -> dict:
    """How much of the model this rank holds: the proof that sharding happened."""
    local = full = 0
    kinds: set[str] = set()
    for p in model.parameters():
        if hasattr(p, "ds_numel"):  # ZeRO-3: a partitioned placeholder + this rank's slice
            full += p.ds_numel
            local += p.ds_tensor.numel()
            kinds.add("zero3-partition")
        elif hasattr(p, "to_local"):  # FSDP2: a DTensor
            full += p.numel()
            local += p.to_local().numel()
            kinds.update(str(pl) for pl in p.placements)
        else:
            full += p.numel()
            local += p.numel()
            kinds.add("replicated")
    return {"local": local, "full": full, "fraction": local / max(full, 1),
            "placements": sorted(kinds)}


def unsupported(cfg) -> str | None:
    """A setting the configured backend cannot honour, as validation's message."""
    if cfg.method.name == "qlora" and not backend(cfg.parallel.name).quantized_weights:
        return (f"method=qlora with parallel={cfg.parallel.name} is not supported: 4-bit weights "
                "cannot be partitioned by ZeRO-3. Use parallel=fsdp2 (or ddp/single).")
    if cfg.train.compile and not backend(cfg.parallel.name).compiles:
        # build_zero3_engine hands the model to DeepSpeed uncompiled; refusing beats a run
        # that looks compiled and is not.
        return ("train.compile=true with parallel=zero3 is not supported: the DeepSpeed "
                "engine runs the model uncompiled. Use parallel=fsdp2 (which compiles each "
                "decoder layer) or set train.compile=false.")
    return None


def share_line(model, info: DistInfo, meta_load: bool) -> str:
    """This rank's share of the parameters and its setup memory, one log line."""
    from netft.perf import peak_rss_gb, rss_now_gb

    share = parameter_share(model)
    return (f"[netft] rank {info.rank} holds {share['local']:,} of {share['full']:,} parameter "
            f"elements ({share['fraction']:.1%}; {', '.join(share['placements'])}); setup peak "
            f"RSS {peak_rss_gb():.3f} GiB ({'meta load' if meta_load else 'full load'}"
            "; now anon {:.3f} + file {:.3f} GiB)".format(*rss_now_gb()))


def before_model_load(cfg, info: DistInfo) -> None:
    """What a backend must set up before from_pretrained (ZeRO-3: load into partitions)."""
    if cfg.parallel.name == "zero3":
        from netft.parallel.zero3 import before_model_load as zero3_before_load

        zero3_before_load(cfg, info)


def build_engine(model, cfg, info: DistInfo, total_steps: int) -> Engine:
    if cfg.parallel.name == "zero3":
        from netft.parallel.zero3 import build_zero3_engine

        return build_zero3_engine(model, cfg, info, total_steps)
    return build_torch_engine(model, cfg, info, total_steps)
