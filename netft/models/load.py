"""Tokenizer + model from a hub id, a local folder or the tiny offline base; then the method."""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import torch

from netft.models.precision import DTYPES, compute_dtype  # noqa: F401  (DTYPES re-exported)
from netft.models.tiny import SHIPPED_NAMES, ensure_tiny, shipped_tiny


def _stderr_line(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def resolve_path(model_cfg, log=print, info=None) -> str:
    """A local folder for model.name_or_path. A hub id is downloaded first when the caller
    is a training job (info given: once per node, models/hub.py); otherwise transformers
    resolves it on load, as before."""
    if model_cfg.name_or_path == "tiny":
        return str(ensure_tiny(model_cfg.cache_dir, log=log))
    if model_cfg.name_or_path in SHIPPED_NAMES:  # a shipped tiny base, hash-checked
        return str(shipped_tiny(model_cfg.name_or_path))
    from netft.models import hub

    if info is not None and hub.is_hub_id(str(model_cfg.name_or_path)):
        return hub.download(model_cfg, info)
    return model_cfg.name_or_path


def pick_dtype(model_cfg, device: torch.device) -> torch.dtype:
    """The compute dtype (model.dtype; auto: bf16 on CUDA). See models/precision.py."""
    return compute_dtype(model_cfg, device)


@functools.lru_cache(maxsize=1)
def flash_attn_problem() -> str | None:
    """Why flash-attn 2 cannot run in this process, or None when its CUDA extension loads.

    find_spec only proves a package folder exists; a wheel built for another torch or CUDA
    fails when its extension is loaded (ImportError "undefined symbol", OSError for a missing
    libcudart), which would otherwise happen at the first forward, after the model loaded."""
    try:
        import flash_attn  # noqa: F401
        from flash_attn import flash_attn_func, flash_attn_varlen_func  # noqa: F401 (loads the .so)
    except (ImportError, OSError) as e:
        first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        return f"{type(e).__name__}: {first}"
    return None


def pick_attention(model_cfg, device: torch.device, log_line=None) -> str | None:
    """auto: flash-attn 2 on CUDA when its extension loads against this torch and the compute
    dtype is 16-bit (its kernels refuse float32); otherwise None, i.e. transformers' own
    choice for the architecture (sdpa where supported; eager where the model needs it, as
    Gemma2's soft-capping did) rather than forcing sdpa. Each fallback says why, once."""
    if model_cfg.attn_implementation != "auto":
        return model_cfg.attn_implementation
    if device.type != "cuda":
        return None
    say = log_line or _stderr_line
    if pick_dtype(model_cfg, device) == torch.float32:
        say("[netft] attention: sdpa, not flash-attn 2 (model.dtype=float32; its kernels "
            "run in bf16/fp16 only)")
        return None
    problem = flash_attn_problem()
    if problem is not None:
        if "No module named 'flash_attn'" not in problem:  # installed but broken: say so
            say(f"[netft] attention: sdpa, not flash-attn 2 (flash_attn does not load: "
                f"{problem}; reinstall it for this torch/CUDA: pip install 'netft[gpu]')")
        return None
    return "flash_attention_2"


def varlen_attention(model) -> bool:
    """Whether packed rows must be flattened into one row with varlen boundaries: true for the
    flash-attn family, whose transformers dispatch ignores position_ids restarts in a batch of
    2+ rows (see data/batching.py). sdpa/eager build a block-diagonal mask per row instead."""
    return "flash" in (getattr(model.config, "_attn_implementation", None) or "")


def load_tokenizer(path: str, model_cfg):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, revision=model_cfg.revision,
                                        trust_remote_code=model_cfg.trust_remote_code)
    if tok.pad_token is None:
        # Pad positions carry no label and no attention, so any id will do.
        tok.pad_token = tok.eos_token
    template = model_cfg.get("chat_template")
    if template:
        tok.chat_template = read_chat_template(template)
    if not tok.chat_template:
        from netft.errors import ConfigError  # one line from netft-train, not a traceback

        raise ConfigError(f"tokenizer at {path} has no chat template; netft trains on chat rows. "
                         "Use an instruct model or supply one: model.chat_template=<template "
                         "file> (or the template text).")
    return tok


def read_chat_template(value: str) -> str:
    """model.chat_template: a Jinja file (.jinja/.j2/.txt/...) or the template text itself."""
    if "{%" in value or "{{" in value:
        return value
    path = Path(value).expanduser()
    if not path.is_file():
        from netft.errors import ConfigError

        raise ConfigError(f"model.chat_template={value!r}: no such file, and not a template "
                         "(a Jinja template contains {% ... %} or {{ ... }})")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":  # a tokenizer_config.json / chat_template.json
        import json

        text = json.loads(text)["chat_template"]
    return text


def load_model(path: str, model_cfg, method_cfg, device: torch.device,
               dtype: torch.dtype | None = None):
    """The base causal LM, on CPU; backends move or shard it onto devices.

    dtype: the parameters' dtype (default: model.dtype); training passes
    models.precision's choice (float32 masters for a 16-bit full fine-tune)."""
    from transformers import AutoModelForCausalLM

    compute = pick_dtype(model_cfg, device)
    dtype = dtype or compute
    kwargs = dict(revision=model_cfg.revision, trust_remote_code=model_cfg.trust_remote_code,
                  dtype=dtype, attn_implementation=pick_attention(model_cfg, device))
    if method_cfg.name == "qlora":
        kwargs["quantization_config"] = qlora_quantization_config(compute)
        kwargs["device_map"] = {"": device}  # bitsandbytes quantises on the GPU
    if model_cfg.random_init:
        # Benchmarks of large shapes without a hub: the architecture only, random weights.
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(path, trust_remote_code=model_cfg.trust_remote_code)
        model = AutoModelForCausalLM.from_config(config, dtype=dtype,
                                                 attn_implementation=kwargs["attn_implementation"])
    elif (Path(path) / "adapter_config.json").exists():
        # A LoRA run's final/ (e.g. SFT before DPO): the base with the adapter merged in.
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(path, **kwargs).merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    model.config.use_cache = False
    if method_cfg.name == "qlora" and device.type == "cpu":
        for m in model.modules():
            # bitsandbytes 0.50 repacks 4-bit weights in place for a CPU inference kernel the
            # first time a module runs in eval mode; that fails when in_features is not a
            # multiple of 64 (measured: the tiny model's 352) and would change the weight
            # format between evaluation and training. The plain dequantise path does both.
            if hasattr(m, "support_avx512bf16_for_cpu"):
                m.support_avx512bf16_for_cpu = False
    if model_cfg.liger:
        from liger_kernel.transformers.monkey_patch import _apply_liger_kernel_to_instance

        _apply_liger_kernel_to_instance(model=model)
    return model


def qlora_quantization_config(dtype: torch.dtype):
    """dtype: the compute dtype (models.precision), which is also FSDP2's param_dtype."""
    from transformers import BitsAndBytesConfig

    # quant_storage must equal the compute dtype, or FSDP refuses to flatten mixed dtypes
    # (a top user pain of FSDP + QLoRA), and FSDP2's MixedPrecisionPolicy would cast the packed
    # codes on every all-gather; precision() gives FSDP2 the same dtype.
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                              bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype,
                              bnb_4bit_quant_storage=dtype)


def apply_method(model, method_cfg):
    """full: every weight trains. lora/qlora: PEFT adapters, base frozen."""
    if method_cfg.name == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    from peft import LoraConfig, get_peft_model

    target = method_cfg.target_modules
    target = target if isinstance(target, str) else list(target)
    lora = LoraConfig(r=method_cfg.lora_r, lora_alpha=method_cfg.lora_alpha,
                      lora_dropout=method_cfg.lora_dropout, target_modules=target,
                      use_dora=method_cfg.use_dora, use_rslora=method_cfg.use_rslora,
                      task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def real_numel(p) -> int:
    """The number of weights a parameter stands for. A bitsandbytes 4-bit weight (Params4bit)
    is packed codes, two per byte, in a container of the storage dtype (4 per bf16 element, 8
    per float32 one): its numel() counts containers; its quant_state keeps the real shape.
    A partitioned parameter: the count on all ranks."""
    shape = getattr(getattr(p, "quant_state", None), "shape", None)
    if shape is not None:
        return int(torch.Size(shape).numel())
    if type(p).__name__ == "Params4bit":  # no quant_state yet: two codes per byte
        return p.numel() * p.element_size() * 2
    from netft.parallel.backends import full_numel

    return full_numel(p)


def count_params(model) -> tuple[int, int]:
    """(trainable, total) weights, 4-bit ones counted as weights, not packed containers."""
    total = sum(real_numel(p) for p in model.parameters())
    trainable = sum(real_numel(p) for p in model.parameters() if p.requires_grad)
    return trainable, total


def dequantize_state(state: dict) -> dict:
    """A qlora model's full state dict with each packed 4-bit weight decoded to a plain tensor
    of its real shape (and its quantisation statistics removed), so that an unquantised copy
    of the architecture can load it. Other entries pass through."""
    marker = ".quant_state.bitsandbytes__"
    keys = [k for k in state if marker in k]
    if not keys:
        return state
    import bitsandbytes.functional as bnbf

    out = dict(state)
    for key in keys:
        weight = key.split(marker)[0]
        parts = {k[len(weight) + 1:]: out.pop(k) for k in list(out) if k.startswith(weight + ".")}
        qs = bnbf.QuantState.from_dict(parts, device=out[weight].device)
        out[weight] = bnbf.dequantize_4bit(out[weight], qs)
    return out
