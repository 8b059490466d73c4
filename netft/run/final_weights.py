"""`final/`: a plain HF model (full fine-tunes) or a PEFT adapter, loadable without netft.

Every rank calls `save_final` (gathering a sharded state dict is collective); rank 0 writes.
The consolidated state dict comes from the engine, never from `model.state_dict()` of a
sharded module -- that is how ZeRO-3 + LoRA ends up saving tensors of shape [0] in other
tools. We check the adapter is non-empty before anything is written.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from netft.distributed import DistInfo, barrier, rank_line
from netft.models.precision import cast_for_export
from netft.parallel.backends import backend, full_tensor
from netft.perf import phase_peak_rss_gb, reset_peak_rss


def _check_weights(sd: dict, what: str) -> None:
    if not sd:
        raise RuntimeError(f"refusing to save {what}: the state dict is empty")
    empty = [k for k, v in sd.items() if isinstance(v, torch.Tensor) and v.numel() == 0]
    if empty:
        raise RuntimeError(f"refusing to save {what}: {len(empty)} empty tensors (e.g. {empty[0]}); "
                           "the weights were not gathered from their shards")


def streamed(engine, method: str, shard_bytes: int) -> bool:
    """Full fine-tunes under a backend that can (fsdp2) export without a full gather
    (write_streamed) when the model is larger than one file; a smaller model is gathered
    whole either way, and save_pretrained is the well-trodden path for it."""
    if not backend(engine.name).streamed_export or method != "full":
        return False
    params = {id(p): p for p in engine.model.parameters()}.values()  # a shard's numel: global
    return sum(p.numel() * p.element_size() for p in params) > shard_bytes


def save_final(engine, tokenizer, method: str, out_dir: Path, info: DistInfo,
               shard_mb: int = 512) -> Path:
    """Write out_dir on rank 0 (collective); prints each rank's RSS before / peak during."""
    before = reset_peak_rss()
    path, how = _save_final(engine, tokenizer, method, out_dir, info, shard_mb)
    rank_line(f"[netft] rank {info.rank} export ({how}): RSS before {before:.3f} GiB, peak "
              f"{phase_peak_rss_gb():.3f} GiB")
    return path


def _save_final(engine, tokenizer, method: str, out_dir: Path, info: DistInfo,
                shard_mb: int) -> tuple[Path, str]:
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    if streamed(engine, method, shard_mb << 20):
        if info.is_main:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        barrier(info)
        write_streamed(engine.model, tmp, info, shard_mb << 20,
                       engine.export_dtype)  # collective
        if info.is_main:
            tokenizer.save_pretrained(tmp)
            _replace(tmp, out_dir)
        barrier(info)
        return out_dir, "streamed"
    # Adapters: the trainable weights only where the backend can, since gathering the frozen
    # base too would put the whole model on rank 0 just to throw it away (the
    # consolidated-save OOM of large LoRA runs). Collective: every rank takes part.
    state = engine.full_state_dict(trainable_only=method != "full")
    if info.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        model = engine.model
        if method == "full":
            _check_weights(state, "the model")
            if engine.export_dtype is not None:
                state = cast_for_export(state, engine.export_dtype)
            model.save_pretrained(tmp, state_dict=state, safe_serialization=True)
            record_dtype(tmp, engine.export_dtype)
        else:
            from peft import get_peft_model_state_dict

            _check_weights(get_peft_model_state_dict(model, state_dict=state), "the adapter")
            model.save_pretrained(tmp, state_dict=state, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        _replace(tmp, out_dir)
    barrier(info)
    return out_dir, "gathered on rank 0" if method == "full" else "adapter"


def record_dtype(out: Path, dtype: torch.dtype | None) -> None:
    """config.json names the dtype the weights are written in (model.dtype), not the float32
    of training's master weights (save_pretrained writes the module's dtype)."""
    import json

    path = out / "config.json"
    if dtype is None or not path.exists():
        return
    config = json.loads(path.read_text())
    config["dtype"] = str(dtype).removeprefix("torch.")
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _replace(tmp: Path, out_dir: Path) -> None:
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)


def write_streamed(model, out: Path, info: DistInfo, shard_bytes: int,
                   dtype: torch.dtype | None = None) -> None:
    """HF safetensors straight from sharded parameters, one file's worth of tensors at a time.

    Every rank walks the same tensors in the same order and all-gathers each one
    (parallel.backends.full_tensor); rank 0 keeps them until a file's worth (shard_bytes) is ready and
    writes it; the others drop them at once. So the extra memory of any rank is one file's
    worth of tensors (rank 0) or one tensor (others), never the whole model.
    Tied weights are written once (from_pretrained ties them again); several files get a
    model.safetensors.index.json, like save_pretrained.
    """
    from safetensors.torch import save_file

    seen: set[int] = set()
    files: list[list[str]] = [[]]
    pending: dict[str, torch.Tensor] = {}
    size = total = 0

    def flush() -> None:
        nonlocal pending, size
        if info.is_main and pending:
            _check_weights(pending, "the model")
            save_file(pending, out / f"part-{len(files) - 1}.safetensors",
                      metadata={"format": "pt"})
            files[-1].extend(pending)
            files.append([])
        pending, size = {}, 0

    for name, t in model.state_dict(keep_vars=True).items():
        if id(t) in seen:  # the second name of a tied weight
            continue
        seen.add(id(t))
        full = full_tensor(t)  # collective for sharded tensors
        if info.is_main:
            full = full.detach().to("cpu")
            if dtype is not None and full.is_floating_point():
                full = full.to(dtype)  # float32 masters are written in model.dtype
            pending[name] = full.contiguous()  # a gathered tensor: already new
            size += full.numel() * full.element_size()
            total += full.numel() * full.element_size()
        del full
        if size >= shard_bytes:
            flush()
    flush()
    if not info.is_main:
        return
    files = [f for f in files if f]
    if len(files) == 1:
        os.replace(out / "part-0.safetensors", out / "model.safetensors")
    else:
        import json

        weight_map = {}
        for i, names in enumerate(files):
            fname = f"model-{i + 1:05d}-of-{len(files):05d}.safetensors"
            os.replace(out / f"part-{i}.safetensors", out / fname)
            weight_map.update({n: fname for n in names})
        (out / "model.safetensors.index.json").write_text(json.dumps(
            {"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))
    model.config.save_pretrained(out)
    record_dtype(out, dtype)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(out)
