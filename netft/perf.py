"""Throughput accounting: model FLOPs per token, the device's peak FLOP/s, MFU, peak memory.

MFU = model FLOPs per token x tokens/s / peak FLOP/s of the device (per device). Model FLOPs
count the useful work only (no recomputation from activation checkpointing, no padding):
    per token = k * N + 12 * L * d * s
with N the non-embedding parameters of the base model (matmul weights), k = 6 for full
fine-tuning (forward 2N + backward 4N) and 4 for adapters (a frozen weight needs no weight
gradient), plus the LoRA matrices at 6 FLOPs each, and the attention term (QK^T and AV,
forward + backward) over L layers of width d at the mean attended length s (packing gives no
cross-sample attention, so s is the mean example length, not the row length).
"""
from __future__ import annotations

import resource
import time

import torch

# Dense bf16 peak FLOP/s per GPU (vendor data sheets, no sparsity).
GPU_PEAK = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12,
            "A10G": 125e12, "4090": 165e12, "V100": 125e12, "A6000": 155e12}


def count_flops_params(model) -> tuple[int, int]:
    """(base matmul params incl. the LM head, excl. the input embedding; adapter params)."""
    from netft.models.load import real_numel

    base = adapter = 0
    names = set()
    for name, p in model.named_parameters():
        names.add(name)
        n = real_numel(p)  # 4-bit weights: the weights, not their packed containers
        if "lora_" in name:
            adapter += n
        elif "embed_tokens" not in name and p.ndim >= 2:
            base += n
    config = model.config
    if getattr(config, "tie_word_embeddings", False):  # the head is the embedding matrix
        base += config.vocab_size * config.hidden_size
    return base, adapter


def flops_per_token(model_config, base_params: int, adapter_params: int, full: bool,
                    mean_seq_len: float) -> float:
    attention = 12 * model_config.num_hidden_layers * model_config.hidden_size * mean_seq_len
    return (6 if full else 4) * base_params + 6 * adapter_params + attention


def peak_flops(device: torch.device, dtype: torch.dtype = torch.float32) -> tuple[float, str]:
    """(peak FLOP/s, where it came from): the data sheet on known GPUs, else a matmul probe."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, value in GPU_PEAK.items():
            if key in name:
                return value, f"{name} data sheet (bf16 dense)"
    n = 1024 if device.type == "cpu" else 4096
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    reps, t0 = 5, time.perf_counter()
    for _ in range(reps):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - t0), f"measured {n}x{n} {dtype} matmul"


def peak_memory_gb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def peak_rss_gb() -> float:
    """This process's peak resident set size so far (host RAM), GiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def reset_peak_rss() -> float:
    """Restart the kernel's peak-RSS counter (VmHWM) so a phase's own peak can be read;
    returns the RSS now, GiB. Linux only; without it the peak stays the process's peak."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
    return _status_gb("VmRSS")


def phase_peak_rss_gb() -> float:
    """Peak RSS since the last reset_peak_rss() (since the start without one), GiB."""
    return _status_gb("VmHWM")


def _status_gb(field: str) -> float:
    try:
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 2**20  # kB
    except OSError:
        pass
    return float("nan")


def rss_now_gb() -> tuple[float, float]:
    """(anonymous, file-backed) resident memory now, GiB. transformers 5 loads safetensors
    memory-mapped: untouched weights are not resident at all, touched ones count as
    file-backed pages (page cache, shared by every process that maps the same file)."""
    return _status_gb("RssAnon"), _status_gb("RssFile")
