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

from netft.distributed import DistInfo, barrier


def _check_weights(sd: dict, what: str) -> None:
    if not sd:
        raise RuntimeError(f"refusing to save {what}: the state dict is empty")
    empty = [k for k, v in sd.items() if isinstance(v, torch.Tensor) and v.numel() == 0]
    if empty:
        raise RuntimeError(f"refusing to save {what}: {len(empty)} empty tensors (e.g. {empty[0]}); "
                           "the weights were not gathered from their shards")


def save_final(engine, tokenizer, method: str, out_dir: Path, info: DistInfo) -> Path:
    state = engine.full_state_dict()  # collective: every rank takes part
    if info.is_main:
        tmp = out_dir.with_name(out_dir.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model = engine.model
        if method == "full":
            _check_weights(state, "the model")
            model.save_pretrained(tmp, state_dict=state, safe_serialization=True)
        else:
            from peft import get_peft_model_state_dict

            _check_weights(get_peft_model_state_dict(model, state_dict=state), "the adapter")
            model.save_pretrained(tmp, state_dict=state, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    barrier(info)
    return out_dir
