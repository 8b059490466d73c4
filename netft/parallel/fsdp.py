"""FSDP2: torch's `fully_shard` per decoder layer, then the root, on a 1-D device mesh.

Why not accelerate / the HF Trainer: on CPU their FSDP path silently runs plain DDP and still
exits 0 (measured), so nothing would prove the sharding. `fully_shard` on a "cpu" mesh with
gloo shards for real (DTensor Shard(0)) and is the same code as on GPUs with nccl.
"""
from __future__ import annotations

import torch

from netft.distributed import DistInfo


def decoder_layers(model) -> list[torch.nn.Module]:
    """The repeated blocks to shard one by one (HF models name them in _no_split_modules)."""
    names: set[str] = set()
    for m in model.modules():
        names.update(getattr(m, "_no_split_modules", None) or [])
    layers = [m for m in model.modules() if type(m).__name__ in names]
    if not layers:
        raise ValueError(f"cannot find decoder layers to shard in {type(model).__name__} "
                         "(no _no_split_modules); parallel=fsdp2 needs a transformers model")
    return layers


def shard_model(model, parallel_cfg, info: DistInfo, fill=None,
                param_dtype: torch.dtype | None = None):
    """fully_shard each decoder layer, then the root; returns the root (an FSDPModule).
    fill(unit, root), when given, runs on every rank right before a unit is sharded (the meta
    load sends rank 0's weights there). param_dtype (models.precision): all-gather and compute
    in it, reduce gradients in float32; the sharded parameters (float32 masters for full
    fine-tuning, the packed 4-bit storage of qlora) keep their own dtype."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import CPUOffloadPolicy, MixedPrecisionPolicy, fully_shard

    mesh = init_device_mesh(info.device.type, (info.world,))
    kwargs = {"mesh": mesh}
    if param_dtype is not None:
        kwargs["mp_policy"] = MixedPrecisionPolicy(param_dtype=param_dtype,
                                                   reduce_dtype=torch.float32)
    if parallel_cfg.cpu_offload:
        kwargs["offload_policy"] = CPUOffloadPolicy()
    # The root is the HF model itself, not a PEFT wrapper around it: PeftModel.generate calls
    # the inner model directly, which must carry the root's unshard hooks.
    root = model.get_base_model() if hasattr(model, "get_base_model") else model
    for layer in decoder_layers(model):
        if fill is not None:
            fill(layer, root)
        fully_shard(layer, **kwargs)
        if fill is not None:
            from netft.parallel.meta_load import release_freed_memory

            release_freed_memory()
    if fill is not None:
        fill(model, root)  # what is left: embeddings, final norm, head (and any wrapper's)
    fully_shard(root, **kwargs)
    return root
