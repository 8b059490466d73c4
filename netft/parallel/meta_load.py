"""Loading for fsdp2 on N ranks without N full copies of the model in host RAM.

The plain path has every rank run `from_pretrained` and hold the whole model before
`fully_shard` splits it: N x model size per node (8 x 140 GB for a 70B model: host OOM).

Here only rank 0 reads the checkpoint, exactly as the 1-process path does (same
`from_pretrained`, same seed, hence the same LoRA initialisation). The other ranks build the
same architecture with its parameters on the meta device (no memory). Sharding then goes one
FSDP unit at a time (each decoder layer, then the root): rank 0 broadcasts the unit's tensors,
the other ranks materialise just that unit and receive them, and every rank calls
`fully_shard` on it, which keeps its slice and frees the full copy. So rank 0 peaks where the
plain path peaks (the whole model, once) and the others at their shards plus one unit.

Why not torch's `set_model_state_dict(..., broadcast_from_rank0=True)` after `fully_shard`:
it needs every rank's shards allocated before rank 0 can send anything, so rank 0 holds the
whole model *and* its shards at once (+1/world of the model). Sending per unit before it is
sharded keeps rank 0 at the plain path's peak (measured, 316M model converted bf16 -> fp32 at
load: 2.153 GiB on both paths; rank 1: 1.109 against 2.153 GiB; docs/scale.md).

Buffers are built for real (accelerate's `init_empty_weights(include_buffers=False)`), as
`from_pretrained` builds them (rotary `inv_freq` is in no state dict), and then overwritten
with rank 0's anyway. Tied embeddings: re-tied after materialising.
"""
from __future__ import annotations

import torch

from netft import distributed
from netft.errors import ConfigError
from netft.distributed import DistInfo
from netft.models.load import apply_method, pick_attention, pick_dtype
from netft.models.precision import precision
from netft.parallel.backends import backend, is_sharded


def use_meta_load(cfg, info: DistInfo) -> bool:
    """A backend that can (fsdp2) on 2+ ranks; not qlora (4-bit weights are quantised by
    bitsandbytes at load)."""
    return (backend(cfg.parallel.name).meta_load and info.world > 1 and cfg.method.name != "qlora"
            and bool(cfg.parallel.get("meta_load", True)))


def skeleton(path: str, model_cfg, method_cfg, device: torch.device,
             dtype: torch.dtype | None = None):
    """The model (with adapters) whose parameters live on the meta device: no memory.
    dtype: the parameters' dtype, as rank 0 loads them (models.precision)."""
    import json
    from pathlib import Path

    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    src = path
    if (Path(path) / "adapter_config.json").exists():
        # A LoRA run's final/: load_model merges it into its base; same architecture.
        src = json.loads((Path(path) / "adapter_config.json").read_text())[
            "base_model_name_or_path"]
    config = AutoConfig.from_pretrained(src, revision=model_cfg.revision,
                                        trust_remote_code=model_cfg.trust_remote_code)
    with init_empty_weights(include_buffers=False):
        model = AutoModelForCausalLM.from_config(
            config, dtype=dtype or pick_dtype(model_cfg, device),
            attn_implementation=pick_attention(model_cfg, device),
            trust_remote_code=model_cfg.trust_remote_code)
    # init_empty_weights gives every module its own meta Parameter, which unties the input
    # and output embeddings (measured: lm_head then trains separately); tie them again.
    model.tie_weights()
    model.config.use_cache = False
    if model_cfg.liger:
        from liger_kernel.transformers.monkey_patch import _apply_liger_kernel_to_instance

        _apply_liger_kernel_to_instance(model=model)
    return apply_method(model, method_cfg)


def load_meta(path: str, cfg, info: DistInfo, load):
    """The real model on rank 0 (`load()`, which raises ConfigError naming the file when the
    folder cannot be loaded), a meta-device skeleton elsewhere (collective).

    The global RNG ends in the state rank 0 has after a plain load, on every rank, so that
    what follows (dropout, data order) is the same as on the plain path.
    """
    problem = None
    try:
        model = load() if info.is_main else skeleton(path, cfg.model, cfg.method, info.device,
                                                     precision(cfg, info.device).params)
    except ConfigError as e:
        problem = e
    except (OSError, ValueError) as e:  # the skeleton reads only the model's config.json
        problem = ConfigError(f"model.name_or_path={cfg.model.name_or_path}: cannot build the "
                              f"model from its config ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:300]})")
    # Every rank learns whether every rank has its model before any broadcast: otherwise a
    # failed load on rank 0 leaves the others waiting in the first broadcast until the
    # process group times out (30 min), not stopping with rank 0's error.
    if distributed.all_reduce_sum(1.0 if problem else 0.0, info):
        raise problem or ConfigError(
            f"model.name_or_path={cfg.model.name_or_path}: another rank could not load the "
            "model (rank 0's error names the file)")
    shared = [torch.get_rng_state(), _shapes(model)]
    torch.distributed.broadcast_object_list(shared, src=0)
    torch.set_rng_state(shared[0])
    # Same parameters, same sharing (ties), same shapes on every rank, or the broadcast
    # would pair the wrong tensors; every rank learns the verdict (no one hangs).
    if distributed.all_reduce_sum(float(_shapes(model) != shared[1]), info):
        raise ConfigError("parallel.meta_load: the meta-device skeleton differs from rank 0's "
                          "model (an architecture netft's skeleton does not rebuild); run with "
                          "parallel.meta_load=false")
    return model


def _shapes(model) -> list[tuple[str, tuple, bool]]:
    return [(n, tuple(p.shape), p.requires_grad) for n, p in model.named_parameters()]


def _unsharded(module) -> list[torch.Tensor]:
    """module's parameters and buffers not yet sharded (not DTensors), each once, in a
    fixed order (the same on every rank: the same architecture)."""
    out, seen = [], set()
    for t in list(module.parameters()) + list(module.buffers()):
        if id(t) not in seen and not is_sharded(t):
            seen.add(id(t))
            out.append(t)
    return out


@torch.no_grad()
def fill_from_rank0(module, root, info: DistInfo) -> None:
    """Before `fully_shard(module)`: give it rank 0's values on every rank (collective).

    Ranks other than 0 first materialise the module's meta tensors (empty, one unit only).
    """
    if not info.is_main:
        for m in module.modules():
            if any(t.device.type == "meta" for t in
                   list(m.parameters(recurse=False)) + list(m.buffers(recurse=False))):
                m.to_empty(device=info.device, recurse=False)
        if hasattr(root, "tie_weights"):
            root.tie_weights()  # to_empty made a new lm_head/embedding Parameter each
    tensors = _unsharded(module)
    if any(t.device.type == "meta" for t in tensors):
        raise RuntimeError(f"rank {info.rank}: tensors of {type(module).__name__} are still "
                           "on the meta device")
    for t in tensors:
        if t.device == info.device:
            torch.distributed.broadcast(t.data, src=0)
        else:
            # nccl sends device tensors only: rank 0's model and every rank's buffers sit on
            # the CPU until fully_shard moves them (not measured here: no GPU on this task).
            buf = t.data.to(info.device)
            torch.distributed.broadcast(buf, src=0)
            if not info.is_main:
                t.data.copy_(buf)


def release_freed_memory() -> None:
    """Hand memory freed by the last unit's full tensors back to the OS (glibc keeps freed
    heap memory by default; measured: +0.25 GiB on rank 1 of a 316M model without this)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
