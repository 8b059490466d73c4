"""Memory per device before a job waits in a queue: `netft plan <overrides>` and the run-start check.

The estimate is a sum of named terms, each a formula of the model shape and the config, so a
reader can see which knob moves what. Per device (rank), in bytes:

  weights      P x bytes(dtype)                            single / ddp
               full with a 16-bit dtype: float32 masters (4 bytes) + the 16-bit copies
                 autocast makes for the forward (single/ddp) or FSDP2 all-gathers
                 (models/precision.py); zero3 keeps its masters in the optimizer term
               P x bytes / world + gathered copies          fsdp2 / zero3
                 fsdp2: 2 decoder layers (the one computing + the prefetched one) and the
                 root's embedding/norm/head, which FSDP2 keeps unsharded through the step;
                 zero3: up to stage3_max_live_parameters (1e9, DeepSpeed's default)
               qlora: linear weights in NF4, 0.5 byte + 1/64 byte of scales (double quant)
  grads        trainable x bytes(param) (/ world when sharded); zero3: fp32 partitions + the
               reduce bucket (reduce_bucket_size 5e8 elements, DeepSpeed's default);
               fsdp2 with grad_accum > 1: + trainable x 4 unsharded, accumulated without a
               reduce-scatter until the last micro-batch (unless
               parallel.grad_sync_every_microbatch=true)
  optimizer    AdamW: 2 states x trainable x bytes(param) (/ world when sharded);
               zero3: 2 fp32 states + an fp32 master copy when 16-bit (12 bytes); cpu_offload
               moves optimizer and master weights to the host (listed, not on the device)
  activations  T = micro_batch_size x max_length tokens per micro-batch, b = compute bytes
               without checkpointing: L x T x (10 h + 4 i) x b   (per layer: norms, q/k/v/o,
                 residuals = ~10 vectors of width h; gate, up, act, product = 4 of width i;
                 flash/sdpa kernels keep O(T) per head for attention, not T^2)
               with checkpointing: L x T x h x b (layer inputs) + one layer's activations
  logits       full logits (train.loss_chunk_tokens=0):
                 T x V x (b + 12): the logits, the fp32 shifted copy, log-softmax and its grad
               chunked (train.loss_chunk_tokens=C, the default; objectives/loss_head.py):
                 min(C, T) x V x (2b + 12): one chunk's logits, their fp32 copy, log-softmax,
                 softmax-gradient and its cast to b; + V x h x 4 when the output layer
                 trains (its gradient, accumulated in fp32 across chunks in the forward pass)
  buffers      host (CPU) only, measured: fsdp2 the root unit's unsharded gradients (full
               fine-tune) + one more shard of the model (all-gathered parameters and
               unsharded gradients left as glibc heap fragments); zero3 the full-size
               gradients before reduction
  peak         GPU: weights + optimizer + max(grads, activations + logits) + runtime:
               activations are freed layer by layer as backward allocates gradients, and
               gradients are freed before the next forward
               host: weights + optimizer + grads + activations + logits + buffers + runtime
               (glibc does not reuse freed activation memory for gradient tensors)
  runtime      CUDA context + NCCL/allocator slack (GPU: 2 GiB + 5%), or the measured
               resident size of a netft process before any weights (CPU, 0.48 GiB)
  load         rank 0 under the meta load (fsdp2 on 2+ ranks) and every rank without it
               briefly hold the whole model: P x bytes (+ the checkpoint's own bytes when it
               is converted to another dtype) + runtime; the peak is the larger of load and
               train

Checked against measured peaks on CPU (bench/bench_plan.py, docs/scale.md).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from netft.parallel.backends import DEFAULT_MULTI, Sizes, backend

GiB = 2**30
# Shapes of models that are on the hub, for planning without downloading anything.
PRESETS = {
    "meta-llama/Llama-3.1-8B": dict(hidden_size=4096, intermediate_size=14336,
                                    num_hidden_layers=32, num_attention_heads=32,
                                    num_key_value_heads=8, vocab_size=128256,
                                    tie_word_embeddings=False, dtype="bfloat16"),
    "meta-llama/Llama-3.1-70B": dict(hidden_size=8192, intermediate_size=28672,
                                     num_hidden_layers=80, num_attention_heads=64,
                                     num_key_value_heads=8, vocab_size=128256,
                                     tie_word_embeddings=False, dtype="bfloat16"),
}
PRESETS.update({k + "-Instruct": v for k, v in list(PRESETS.items())})
# Measured (bench/bench_plan.py on the tiny model, whose own terms are ~0.03 GiB): a
# netft.train process with torch, transformers, tokenizer and data (a backend's own extra,
# e.g. DeepSpeed's, is in parallel/backends.py).
CPU_RUNTIME = 0.48 * GiB
GPU_RUNTIME = 2 * GiB


@dataclass
class Shape:
    h: int
    i: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool
    ckpt_bytes: int = 0  # bytes per weight in the checkpoint (0: unknown)

    @classmethod
    def from_config(cls, c: dict) -> "Shape":
        heads = c["num_attention_heads"]
        dtype = str(c.get("dtype") or c.get("torch_dtype") or "")
        return cls(c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], heads,
                   c.get("num_key_value_heads") or heads,
                   c.get("head_dim") or c["hidden_size"] // heads, c["vocab_size"],
                   bool(c.get("tie_word_embeddings", False)),
                   4 if "float32" in dtype else 2 if "16" in dtype else 0)

    def linears(self) -> list[tuple[int, int]]:
        """(in, out) of each linear layer of one decoder layer."""
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        return [(self.h, q), (self.h, kv), (self.h, kv), (q, self.h),
                (self.h, self.i), (self.h, self.i), (self.i, self.h)]

    def layer_params(self) -> int:
        return sum(a * b for a, b in self.linears()) + 2 * self.h

    def root_params(self) -> int:
        return self.vocab * self.h * (1 if self.tied else 2) + self.h

    def params(self) -> int:
        return self.layers * self.layer_params() + self.root_params()

    def lora_params(self, r: int) -> int:
        return self.layers * sum(r * (a + b) for a, b in self.linears())


def model_shape(model_cfg, log=lambda *_: None) -> Shape:
    name = model_cfg.name_or_path
    if name in PRESETS:
        return Shape.from_config(PRESETS[name])
    from netft.models.load import resolve_path

    path = Path(resolve_path(model_cfg, log=log))
    if (path / "adapter_config.json").exists():
        path = Path(json.loads((path / "adapter_config.json").read_text())[
            "base_model_name_or_path"])
    if (path / "config.json").exists():
        return Shape.from_config(json.loads((path / "config.json").read_text()))
    from transformers import AutoConfig  # a hub id: the config only (a few kB)

    return Shape.from_config(AutoConfig.from_pretrained(name).to_dict())


def estimate(cfg, world: int, device: str = "cuda", shape: Shape | None = None) -> dict:
    """Bytes per device by term, for the composed config on `world` ranks of `device`."""
    s = shape or model_shape(cfg.model)
    method, bk = cfg.method.name, backend(cfg.parallel.name)
    world = world if bk.multi_rank else 1
    dtype = cfg.model.dtype if cfg.model.dtype != "auto" else (
        "bfloat16" if device == "cuda" else "float32")
    b = 4 if dtype == "float32" else 2
    # Full fine-tuning keeps float32 masters under a 16-bit compute dtype (precision.py),
    # unless the backend keeps its own; adapters are float32 in PEFT whatever the base is.
    masters = method == "full" and b == 2 and not bk.own_masters
    pb = 4 if masters else b  # bytes of a stored (trainable) parameter
    P = s.params()
    train = P if method == "full" else s.lora_params(cfg.method.lora_r)
    base_linear = s.layers * sum(a * c for a, c in s.linears())
    if method == "qlora":  # NF4 linear weights; embeddings, norms, head stay in dtype
        weight_bytes = base_linear * (0.5 + 1 / 64) + (P - base_linear) * b
    else:
        weight_bytes = P * pb
    layer_bytes = s.layer_params() * b  # an all-gathered unit is in the compute dtype
    if method == "qlora":
        layer_bytes = weight_bytes / P * s.layer_params()
    on_host = device != "cuda"
    # The backend's own terms: its copies of weights, gradients and optimizer states, and the
    # full-size buffers measured on the host (parallel/backends.py).
    mem = bk.account(Sizes(P, train, weight_bytes, layer_bytes, s.root_params(), b, pb, world,
                           cfg.train.grad_accum,
                           bool(cfg.parallel.get("grad_sync_every_microbatch", False)),
                           method == "full", on_host))
    out: dict[str, float] = {"weights": mem.weights, "grads": mem.grads}
    opt = mem.optimizer
    host = 0.0
    if cfg.parallel.cpu_offload:
        host, opt = opt, 0.0
    out["optimizer"] = opt
    T = cfg.train.micro_batch_size * cfg.train.max_length
    per_layer = T * (10 * s.h + 4 * s.i) * b
    if cfg.parallel.activation_checkpointing:
        out["activations"] = s.layers * T * s.h * b + per_layer
    else:
        out["activations"] = s.layers * per_layer
    out["logits_full"] = T * s.vocab * (b + 12)
    chunk = cfg.train.get("loss_chunk_tokens", 0)
    out["logits"] = (min(chunk, T) * s.vocab * (2 * b + 12)
                     + (s.vocab * s.h * 4 if method == "full" else 0)) if chunk > 0 \
        else out["logits_full"]
    out["buffers"] = mem.host_buffers
    # Weights and optimizer states stay. On a GPU, gradients and activations do not peak
    # together: activations are freed layer by layer as backward allocates the gradients,
    # and the caching allocator hands the freed blocks to them. On the host (glibc malloc)
    # freed activation memory is not reused for gradient tensors (measured: peaks match the
    # sum, bench/bench_plan.py), so the two add up.
    transient = (out["grads"] + out["activations"] + out["logits"] if on_host else
                 max(out["grads"], out["activations"] + out["logits"]))
    live = out["weights"] + out["optimizer"] + transient + out["buffers"]
    runtime = GPU_RUNTIME + 0.05 * live if device == "cuda" else CPU_RUNTIME + mem.runtime
    out["runtime"] = runtime
    train_peak = live + runtime
    # Loading: the whole model on one rank (rank 0 with the meta load; every rank without);
    # a checkpoint in another dtype is read (memory-mapped pages) while being converted.
    convert = P * s.ckpt_bytes if s.ckpt_bytes and s.ckpt_bytes != (pb if method != "qlora" else b) else 0
    load_peak = (weight_bytes / world if bk.partitioned_load else weight_bytes + convert) + runtime
    if device == "cuda" and bk.sharded:
        load_peak = 0.0  # loaded on the host (CPU RAM), sharded onto the devices
    out["total"] = max(train_peak, load_peak)
    out["load"] = load_peak
    out["host_offload"] = host
    out["params"] = P
    out["trainable"] = train
    out["world"] = world
    return out


def advice(cfg, device_gb: float, world: int, shape: Shape | None = None) -> str:
    """One line: fits or not, and the cheapest change that makes it fit (in that order:
    activation checkpointing, then more ranks) among those the planner can compute."""
    est = estimate(cfg, world, "cuda", shape)
    if est["total"] <= device_gb * GiB:
        return f"fits on {world} x {device_gb:g} GB ({est['total'] / GiB:.1f} GiB per device)"
    from omegaconf import OmegaConf

    for ac, w in ((True, world), (True, 2 * world), (True, 4 * world)):
        alt = OmegaConf.merge(cfg, {"parallel": {"activation_checkpointing": ac}})
        if not backend(cfg.parallel.name).multi_rank and w > 1:
            alt = OmegaConf.merge(alt, {"parallel": {"name": DEFAULT_MULTI}})
        e = estimate(alt, w, "cuda", shape)
        if e["total"] <= device_gb * GiB:
            return (f"does not fit ({est['total'] / GiB:.1f} GiB per device); fits on {w} x "
                    f"{device_gb:g} GB with activation checkpointing"
                    + (f" and parallel={DEFAULT_MULTI}" if alt.parallel.name != cfg.parallel.name
                       else "")
                    + f" ({e['total'] / GiB:.1f} GiB)")
    return f"does not fit ({est['total'] / GiB:.1f} GiB per device) even on {4 * world} devices"


TERMS = ("weights", "grads", "optimizer", "activations", "logits", "buffers", "runtime")


def format_estimate(est: dict) -> str:
    terms = ", ".join(f"{k} {est[k] / GiB:.2f}" for k in TERMS)
    extra = f"; host (offload) {est['host_offload'] / GiB:.2f}" if est["host_offload"] else ""
    if est["logits"] != est["logits_full"]:
        extra += (f"; logits chunked (train.loss_chunk_tokens), "
                  f"{est['logits_full'] / GiB:.2f} GiB with the full logits")
    return (f"{est['params'] / 1e9:.2f}B params ({est['trainable'] / 1e6:,.1f}M trainable), "
            f"x{est['world']}: per device {est['total'] / GiB:.2f} GiB = {terms} GiB "
            f"(load {est['load'] / GiB:.2f}){extra}")


def device_memory(info) -> tuple[float, str]:
    """(bytes one rank may use, what that is): the GPU's memory, or on CPU the host's
    available memory shared by the ranks of this node."""
    import os

    import torch

    if info.device.type == "cuda":
        return torch.cuda.get_device_properties(info.device).total_memory, "GPU memory"
    avail = float("inf")
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    except OSError:
        pass
    local = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    return avail / local, f"available host RAM / {local} local ranks"


def check_at_start(cfg, info, say=print) -> dict | None:
    """The planner's estimate for this run, said at start; a warning when it does not fit.
    Never fails a run: an architecture the planner cannot read just gets no estimate."""
    try:
        est = estimate(cfg, info.world, info.device.type)
    except Exception as e:  # noqa: BLE001  (the estimate is advice, not a gate)
        say(f"[netft] plan: no estimate ({type(e).__name__}: {e})")
        return None
    say(f"[netft] plan: {format_estimate(est)}")
    limit, what = device_memory(info)
    if est["total"] > limit:
        say(f"[netft] WARNING: the estimate ({est['total'] / GiB:.1f} GiB per rank) exceeds "
            f"{what} ({limit / GiB:.1f} GiB); expect an out-of-memory error. See `netft plan "
            f"... --table` for what fits (activation checkpointing, more ranks, lora/qlora).")
    return est
