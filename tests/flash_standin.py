"""flash-attn's two kernels as exact torch code, so transformers' own flash_attention_2
dispatch (`_flash_attention_forward`: which kernel, which boundaries, unpadding) runs on CPU.

Only the kernels are replaced; every decision about how a batch reaches them is transformers'
code, which is what the packing bug lives in. The stand-ins follow flash-attn 2's contract:
q/k/v as (batch, seq, heads, dim) or, for varlen, (total, heads, dim) with int32
`cu_seqlens`; grouped-query heads; causal masks aligned bottom-right when the query is
shorter than the key (flash-attn >= 2.1), which is what KV-cache decoding relies on. Features
the tiny model never uses (dropout, sliding windows, softcap, ALiBi) are refused, not faked.

    install(monkeypatch)   # then load models with attn_implementation="flash_attention_2"
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _attend(q, k, v, softmax_scale, causal):
    """One sequence: q (Lq, H, D), k/v (Lk, Hkv, D) -> (Lq, H, D), in float32 like the kernel's
    accumulators."""
    lq, lk = q.shape[0], k.shape[0]
    rep = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
    mask = None
    if causal:  # query i sees keys j <= i + (Lk - Lq): bottom-right alignment
        mask = torch.ones(lq, lk, dtype=torch.bool, device=q.device).tril(diagonal=lk - lq)
    out = F.scaled_dot_product_attention(q.transpose(0, 1).float(), k.transpose(0, 1).float(),
                                         v.transpose(0, 1).float(), attn_mask=mask,
                                         scale=softmax_scale)
    return out.transpose(0, 1).to(q.dtype)


def _refuse_unsupported(dropout_p, window_size, softcap, alibi_slopes):
    if dropout_p or (window_size is not None and tuple(window_size) != (-1, -1)) or softcap \
            or alibi_slopes is not None:
        raise NotImplementedError("flash stand-in: dropout/window/softcap/alibi not modelled")


CALLS = {"func": 0, "varlen": 0}


def flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False,
                    window_size=(-1, -1), softcap=0.0, alibi_slopes=None, deterministic=False,
                    return_attn_probs=False):
    """Every row of the batch is one sequence (no boundaries inside a row)."""
    _refuse_unsupported(dropout_p, window_size, softcap, alibi_slopes)
    CALLS["func"] += 1
    return torch.stack([_attend(q[b], k[b], v[b], softmax_scale, causal)
                        for b in range(q.shape[0])])


def flash_attn_varlen_func(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k,
                           dropout_p=0.0, softmax_scale=None, causal=False, window_size=(-1, -1),
                           softcap=0.0, alibi_slopes=None, deterministic=False,
                           return_attn_probs=False, block_table=None):
    """Sequences laid end to end; sequence i is rows cu_seqlens[i]:cu_seqlens[i+1]."""
    _refuse_unsupported(dropout_p, window_size, softcap, alibi_slopes)
    assert cu_seqlens_q.dtype == torch.int32 and cu_seqlens_k.dtype == torch.int32
    assert len(cu_seqlens_q) == len(cu_seqlens_k)
    CALLS["varlen"] += 1
    cq, ck = cu_seqlens_q.tolist(), cu_seqlens_k.tolist()
    assert max(b - a for a, b in zip(cq, cq[1:])) <= int(max_seqlen_q)
    out = torch.empty_like(q)
    for i in range(len(cq) - 1):
        out[cq[i]:cq[i + 1]] = _attend(q[cq[i]:cq[i + 1]], k[ck[i]:ck[i + 1]],
                                       v[ck[i]:ck[i + 1]], softmax_scale, causal)
    return out


def install(monkeypatch) -> None:
    """Route transformers' flash_attention_2 to the stand-ins for the rest of the test."""
    import transformers.modeling_flash_attention_utils as fa
    from transformers import PreTrainedModel

    def lazy_imports(implementation, attention_wrapper=None, allow_all_kernels=False):
        # transformers' own pad/unpad helpers: the same ones it uses with the real kernels
        return flash_attn_func, flash_attn_varlen_func, None, fa._pad_input, fa._unpad_input

    monkeypatch.setattr(fa, "_lazy_imports", lazy_imports)
    monkeypatch.setattr(fa, "_loaded_implementation", None)  # forget any earlier import
    # The load-time check asks for the flash-attn package and a CUDA device; the dispatch
    # itself needs neither.
    monkeypatch.setattr(PreTrainedModel, "_flash_attn_can_dispatch",
                        lambda self, *a, **k: True)
    for key in CALLS:
        CALLS[key] = 0
