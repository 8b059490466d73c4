"""Loading for fsdp2 on N ranks without N full copies of the model in host RAM.

Today's plain path has every rank run `from_pretrained` and hold the whole model before
`fully_shard` splits it: N x model size per node (8 x 140 GB for a 70B model: host OOM).

Here only rank 0 reads the checkpoint, exactly as the 1-process path does (same
`from_pretrained`, same seed, hence the same LoRA initialisation). Every rank also builds a
skeleton of the same architecture with its parameters on the meta device (no memory); the
skeleton is sharded with `fully_shard`, given empty local shards (`to_empty`), and filled by
torch's `set_model_state_dict(..., broadcast_from_rank0=True)`: rank 0 sends each tensor,
every rank keeps its own slice. Rank 0 sends one group of decoder layers at a time and frees
them right after, so no rank ever holds its shards *and* the whole model.

Buffers are built for real (accelerate's `init_empty_weights(include_buffers=False)`): the
non-persistent ones (rotary `inv_freq`) are not in any state dict and must come from the
config, as in `from_pretrained`. Tied embeddings stay tied: the skeleton ties them in
`post_init`, and the state dict carries the shared tensor once per name.
"""
from __future__ import annotations

import torch

from netft.distributed import DistInfo
from netft.models.load import apply_method, load_model, pick_attention, pick_dtype


def use_meta_load(cfg, info: DistInfo) -> bool:
    """fsdp2 on 2+ ranks; not qlora (4-bit weights are quantised by bitsandbytes at load)."""
    return (cfg.parallel.name == "fsdp2" and info.world > 1 and cfg.method.name != "qlora"
            and bool(cfg.parallel.get("meta_load", True)))


def skeleton(path: str, model_cfg, method_cfg, device: torch.device):
    """The model (with adapters) whose parameters live on the meta device: no memory."""
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    src = path
    if not model_cfg.random_init:
        from pathlib import Path

        if (Path(path) / "adapter_config.json").exists():
            # A LoRA run's final/: load_model merges it into its base; same architecture.
            import json

            src = json.loads((Path(path) / "adapter_config.json").read_text())[
                "base_model_name_or_path"]
    config = AutoConfig.from_pretrained(src, revision=model_cfg.revision,
                                        trust_remote_code=model_cfg.trust_remote_code)
    with init_empty_weights(include_buffers=False):
        model = AutoModelForCausalLM.from_config(
            config, dtype=pick_dtype(model_cfg, device),
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


def load_meta(path: str, cfg, info: DistInfo):
    """(skeleton to shard, source) -- source is the real model on rank 0, None elsewhere.

    The global RNG ends in the state rank 0 has after a plain load, on every rank, so that
    what follows (dropout, data order) is the same as on the plain path.
    """
    source = None
    if info.is_main:
        source = apply_method(load_model(path, cfg.model, cfg.method, info.device), cfg.method)
    rng = torch.get_rng_state()
    model = skeleton(path, cfg.model, cfg.method, info.device)
    if source is not None and _shapes(source) != _shapes(model):
        # Same parameters, same sharing (ties), same shapes, or the broadcast would be wrong.
        raise RuntimeError("the meta-device skeleton differs from the loaded model; run with "
                           "parallel.meta_load=false")
    state = [rng]
    torch.distributed.broadcast_object_list(state, src=0)
    torch.set_rng_state(state[0])
    return model, source


def _shapes(model) -> list[tuple[str, tuple, bool]]:
    return [(n, tuple(p.shape), p.requires_grad) for n, p in model.named_parameters()]


def _groups(source, max_bytes: int) -> list[list[tuple[str, torch.nn.Module]]]:
    """Decoder layers of `source` in runs of at most max_bytes (at least one layer each)."""
    from netft.parallel.fsdp import decoder_layers

    names = {id(m): n for n, m in source.named_modules()}
    out, size = [[]], 0
    for layer in decoder_layers(source):
        b = sum(t.numel() * t.element_size() for t in layer.state_dict().values())
        if out[-1] and size + b > max_bytes:
            out.append([])
            size = 0
        out[-1].append((names[id(layer)], layer))
        size += b
    return out


@torch.no_grad()
def fill_from_rank0(model, source, info: DistInfo, max_bytes: int = 1 << 30) -> None:
    """Give the sharded skeleton `model` its weights from rank 0's `source` (collective).

    Every rank makes the same calls: the number of groups is broadcast from rank 0, which
    alone knows the tensors; the others pass an empty dict and learn names and shapes from
    the broadcast.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    buffers = _keep_buffers(model)
    model.to_empty(device=info.device)
    for module, name, b in buffers:
        module._buffers[name] = b.to(info.device)
    opts = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True, strict=False)
    groups = _groups(source, max_bytes) if info.is_main else []
    n = [len(groups)]
    torch.distributed.broadcast_object_list(n, src=0)
    for i in range(n[0] + 1):  # the decoder-layer groups, then the rest (embeddings, norm, head)
        sd = {}
        if info.is_main:
            if i < n[0]:
                for name, layer in groups[i]:
                    sd.update({f"{name}.{k}": v for k, v in layer.state_dict().items()})
            else:
                sd = {k: v for k, v in source.state_dict().items() if v.device.type != "meta"}
        set_model_state_dict(model, sd, options=opts)
        if info.is_main and i < n[0]:
            del sd
            for _, layer in groups[i]:
                layer.to("meta")  # frees rank 0's full copy of what was just sent
    if info.is_main:
        source.to("meta")
    _check_filled(model, source, info)


def _keep_buffers(model) -> list[tuple[torch.nn.Module, str, torch.Tensor]]:
    """The skeleton's real buffers (rotary inv_freq...), built from the config as
    from_pretrained builds them; to_empty() would turn them into garbage, so we put them
    back after it. Persistent buffers are also in the state dict and get rank 0's values."""
    return [(m, name, b) for m in model.modules() for name, b in m._buffers.items()
            if b is not None and b.device.type != "meta"]


def _check_filled(model, source, info: DistInfo) -> None:
    """Every parameter and buffer is finite on every rank (an unfilled to_empty() tensor is
    garbage, usually not detectable otherwise)."""
    bad = [n for n, t in list(model.named_parameters()) + list(model.named_buffers())
           if t.is_floating_point() and not torch.isfinite(
               t.to_local() if hasattr(t, "to_local") else t).all()]
    if bad:
        raise RuntimeError(f"rank {info.rank}: {len(bad)} tensors not filled after the "
                           f"rank-0 broadcast (e.g. {bad[0]})")
