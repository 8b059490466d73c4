"""Losses without the full logits: the output projection and the loss, chunk by chunk.

A Llama-3 vocabulary has 128,256 tokens: at sequence 4096 one row's float32 logits are ~2 GB,
and the plain path holds them, their log-softmax and their gradient at once. Here the final
hidden states go to the output layer together with a *request* (the labels and what to return),
and the layer computes its projection and the loss over `train.loss_chunk_tokens` positions at
a time, so at most one chunk's logits exist (0 turns this off: the full-logits path).

Where it runs, and why there: inside the model's own forward and inside the output layer's own
call, never as a separate call on a submodule afterwards. Every backend gathers weights through
hooks on those calls -- FSDP2 unshards the root's parameters (embeddings, final norm, head) in
the root module's forward hook; ZeRO-3 gathers each module's partition in that module's
pre-forward hook and again, for backward, in a hook on that call's outputs; DDP registers its
gradient hooks in its forward. So `attach` gives the causal LM a forward that accepts
`head_request=` and gives the output layer (a plain nn.Linear) a forward that accepts the
request; the weight it uses is the gathered one on every backend, with nothing to name a backend.

Exact by construction (the same float32 cross-entropy of the same logits, summed in another
order): the tests compare losses and gradients with the full-logits path (rel 1e-6 / 1e-5) on
every backend. Models whose forward changes the logits after the projection (final-logit
soft-capping, logit scaling) keep the full path: `attach` says so.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from netft.data.chat import IGNORE

# The batch keys a model forward takes besides ids and positions (packing's varlen metadata).
MODEL_INPUTS = ("attention_mask", "cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k")

# Config attributes of models whose logits are not just hidden @ head.weight.T (Gemma 2's
# soft-capping, Cohere's logit_scale, Granite's logits_scaling): chunking would skip them.
_LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "logits_scaling",
                     "output_multiplier_scale")


@dataclass
class HeadRequest:
    """What the output layer returns instead of logits.

    kind "sum":    sum of CE over labelled positions (SFT, validation loss), a scalar;
    kind "tokens": per-position CE, (rows, positions - 1), 0 where ignored (DPO log-probs);
    kind "map":    no_grad only; fn(float32 logits of positions [start, end) of the flattened
                   (rows x positions) grid, start, end) -> per-position values, concatenated
                   (the forgetting probes: top-k of the base, KL to it)."""
    kind: str
    labels: torch.Tensor | None = None
    fn: Callable | None = None


def _inner_lm(model):
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def not_chunkable(model) -> str | None:
    """Why this model's loss cannot be chunked exactly, or None."""
    lm = _inner_lm(model)
    head = lm.get_output_embeddings() if hasattr(lm, "get_output_embeddings") else None
    if type(head) is not torch.nn.Linear and type(head) is not _ChunkedHead:
        return (f"its output layer is {type(head).__name__}, not a plain Linear (e.g. an "
                "adapter or modules_to_save wrapper on lm_head)")
    if head.bias is not None:
        return "its output layer has a bias"
    for key in _LOGIT_TRANSFORMS:
        if getattr(lm.config, key, None) not in (None, 1, 1.0):
            return f"its forward transforms the logits ({key}={getattr(lm.config, key)})"
    if not hasattr(lm, "get_decoder"):
        return "it has no get_decoder()"
    return None


def attach(model, chunk_tokens: int, liger: bool = False) -> str | None:
    """Let `model` compute losses chunk by chunk; returns why not (and leaves it alone), or None.

    Call before the backend wraps the model: an autocast wrapper (models/precision.py) must sit
    outside this forward so that the chunks run in the same precision as the full path."""
    if chunk_tokens <= 0:
        return "train.loss_chunk_tokens=0"
    if (reason := not_chunkable(model)) is not None:
        return reason
    lm = _inner_lm(model)
    head = lm.get_output_embeddings()
    head.__class__ = _ChunkedHead  # same parameters, state-dict keys and plain forward
    head.chunk_tokens, head.liger = int(chunk_tokens), bool(liger)
    if not getattr(lm, "_netft_head_requests", False):
        full_forward = lm.forward  # the class's (or liger's) forward, bound

        @functools.wraps(full_forward)  # generate inspects the signature
        def forward(*args, head_request: HeadRequest | None = None, **kwargs):
            if head_request is None:
                return full_forward(*args, **kwargs)
            # PEFT passes labels=None, return_dict=None, ...: not the decoder's business
            kwargs = {k: v for k, v in kwargs.items()
                      if v is not None and k not in ("logits_to_keep", "labels")}
            out = lm.get_decoder()(*args, **kwargs)
            hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
            return lm.get_output_embeddings()(hidden, head_request)

        lm.forward = forward
        lm._netft_head_requests = True
    return None


def enabled(module) -> bool:
    """Whether `module` (the engine's: maybe DDP, DeepSpeed or PEFT around the LM) takes
    head requests."""
    seen = 0
    while module is not None and seen < 8:
        if getattr(module, "_netft_head_requests", False):
            return True
        if hasattr(module, "get_base_model"):
            module = module.get_base_model()
        else:
            module = getattr(module, "module", None)
        seen += 1
    return False


def _model_kwargs(batch_or_ids: dict) -> dict:
    kwargs = {"input_ids": batch_or_ids["input_ids"], "position_ids": batch_or_ids["position_ids"],
              "use_cache": False}
    kwargs.update({k: batch_or_ids[k] for k in MODEL_INPUTS if k in batch_or_ids})
    return kwargs


def request(module, batch: dict, req: HeadRequest):
    """One forward of `module` on `batch` that returns what `req` asks for."""
    return module(**_model_kwargs(batch), head_request=req)


class _ChunkedHead(torch.nn.Linear):
    """nn.Linear that also answers a HeadRequest inside its own call (see the module doc)."""
    chunk_tokens: int = 0
    liger: bool = False

    def forward(self, hidden: torch.Tensor, req: HeadRequest | None = None):
        if req is None:
            return super().forward(hidden)
        if req.kind == "map":
            return _map_chunks(hidden, self.weight, req.fn, self.chunk_tokens)
        h = hidden[:, :-1]
        y = req.labels[:, 1:]
        flat_h, flat_y = h.reshape(-1, h.shape[-1]), y.reshape(-1)
        if req.kind == "sum":
            if self.liger and hidden.is_cuda:
                return _liger_sum(flat_h, self.weight, flat_y)
            return _FusedSumCE.apply(flat_h, self.weight, flat_y, self.chunk_tokens)
        if req.kind == "tokens":
            return _RecomputeTokenCE.apply(flat_h, self.weight, flat_y, self.chunk_tokens, y.shape)
        raise ValueError(f"unknown head request {req.kind!r}")


def _spans(n: int, chunk: int):
    """[a, b) ranges of at most `chunk` positions; one empty range for no positions (an empty
    DPO micro-batch still runs its forward: under FSDP2/ZeRO-3 every forward is a collective)."""
    chunk = max(int(chunk), 1)
    return [(i, min(i + chunk, n)) for i in range(0, n, chunk)] or [(0, 0)]


def _compute_dtype(h: torch.Tensor, w: torch.Tensor) -> torch.dtype:
    if torch.is_autocast_enabled(h.device.type):
        return torch.get_autocast_dtype(h.device.type)
    return torch.promote_types(h.dtype, w.dtype)


def _chunk_logits(h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    # F.linear, as nn.Linear does (so autocast picks the same dtype), then float32 for the loss
    return F.linear(h, w).float()


def _ce_and_grad(logits: torch.Tensor, y: torch.Tensor, need_grad: bool):
    """Per-position CE (0 where ignored) and d(CE)/d(logits), from one chunk's logits."""
    loss = F.cross_entropy(logits, y, ignore_index=IGNORE, reduction="none")
    if not need_grad:
        return loss, None
    grad = torch.softmax(logits, dim=-1)
    keep = y != IGNORE
    grad[torch.arange(len(y), device=y.device), y.clamp(min=0)] -= 1.0
    grad *= keep.unsqueeze(-1)
    return loss, grad


class _FusedSumCE(torch.autograd.Function):
    """Sum of CE, gradients computed in the forward pass, chunk by chunk.

    Hand-written rather than torch.utils.checkpoint per chunk: the loss is a sum, so every
    position's upstream gradient is the same scalar and each chunk's gradients can be computed
    while its logits exist, in the forward pass; backward only scales them. Checkpointing would
    recompute every chunk's projection in backward (+1/3 of the head's FLOPs, a quarter of a
    small model's step time at a 128k vocabulary). The cost is one float32 buffer the size of
    the head's weight, held from this forward to its backward (the weight gradient, which
    backward then hands over without a copy)."""

    @staticmethod
    def forward(ctx, h, w, y, chunk):
        # (grad mode is off inside forward: ask ctx what backward will need)
        need_h, need_w = ctx.needs_input_grad[:2]
        need = need_h or need_w
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        gh = torch.zeros_like(h) if need_h else None
        gw = torch.zeros(w.shape, dtype=torch.float32, device=w.device) if need_w else None
        dt = _compute_dtype(h, w)  # the logits' dtype before float32: what autograd would use
        with torch.no_grad():
            for a, b in _spans(h.shape[0], chunk):
                logits = _chunk_logits(h[a:b], w)
                loss, g = _ce_and_grad(logits, y[a:b], need)
                total += loss.sum()
                del logits
                if need:
                    g = g.to(dt)
                    if gh is not None:
                        gh[a:b] = (g @ w.to(g.dtype)).to(gh.dtype)
                    if gw is not None:
                        gw += (g.t() @ h[a:b].to(g.dtype)).float()
        ctx.save_for_backward(gh, gw.to(w.dtype) if gw is not None else None)
        return total

    @staticmethod
    def backward(ctx, go):
        gh, gw = ctx.saved_tensors
        return (gh * go.to(gh.dtype) if gh is not None else None,
                gw * go.to(gw.dtype) if gw is not None else None, None, None)


class _RecomputeTokenCE(torch.autograd.Function):
    """Per-position CE; backward recomputes each chunk's logits.

    Hand-written rather than torch.utils.checkpoint: the weight must be the one the output
    layer's call was given (ZeRO-3 re-gathers it for this call's backward through a hook on its
    outputs), and a per-position upstream gradient (DPO weighs each row differently) is folded
    into each chunk's logit gradient before it is summed into the weight's."""

    @staticmethod
    def forward(ctx, h, w, y, chunk, shape):
        with torch.no_grad():
            out = torch.cat([F.cross_entropy(_chunk_logits(h[a:b], w), y[a:b],
                                             ignore_index=IGNORE, reduction="none")
                             for a, b in _spans(h.shape[0], chunk)])
        # (rows, positions), a tensor of its own: a view output would make FSDP2 warn that an
        # in-place op on it could skip its pre-backward hook
        out = out.reshape(shape).clone()
        ctx.save_for_backward(h, w, y)
        ctx.chunk = chunk
        ctx.dtype = _compute_dtype(h, w)
        return out

    @staticmethod
    def backward(ctx, go):
        h, w, y = ctx.saved_tensors
        go = go.reshape(-1)
        gh = torch.zeros_like(h) if ctx.needs_input_grad[0] else None
        gw = torch.zeros(w.shape, dtype=torch.float32, device=w.device) \
            if ctx.needs_input_grad[1] else None
        dt = ctx.dtype
        for a, b in _spans(h.shape[0], ctx.chunk):
            logits = F.linear(h[a:b].to(dt), w.to(dt)).float()
            _, g = _ce_and_grad(logits, y[a:b], True)
            del logits
            g = (g * go[a:b].unsqueeze(-1).float()).to(dt)
            if gh is not None:
                gh[a:b] = (g @ w.to(dt)).to(gh.dtype)
            if gw is not None:
                gw += (g.t() @ h[a:b].to(dt)).float()
        return gh, (gw.to(w.dtype) if gw is not None else None), None, None, None


def _map_chunks(hidden: torch.Tensor, w: torch.Tensor, fn: Callable, chunk: int):
    if torch.is_grad_enabled():
        raise RuntimeError("HeadRequest('map') is for evaluation (under torch.no_grad)")
    flat = hidden.reshape(-1, hidden.shape[-1])
    parts = [fn(_chunk_logits(flat[a:b], w), a, b) for a, b in _spans(flat.shape[0], chunk)]
    if isinstance(parts[0], tuple):  # several per-position values: each concatenated
        return tuple(torch.cat(p) for p in zip(*parts))
    return torch.cat(parts)


def _liger_sum(h: torch.Tensor, w: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Liger-Kernel's fused linear cross-entropy (Triton, CUDA only), summed: it chunks and
    computes the gradients in its forward pass the way _FusedSumCE does, in fused kernels."""
    from liger_kernel.transformers.fused_linear_cross_entropy import (
        LigerFusedLinearCrossEntropyLoss)

    return LigerFusedLinearCrossEntropyLoss(ignore_index=IGNORE, reduction="sum")(w, h, y).float()
