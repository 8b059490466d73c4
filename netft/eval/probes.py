"""The forgetting probes that need the model: general perplexity per text window (so it gets
a bootstrap interval) and the KL divergence from the base model.

KL(base || current), per token position, averaged over a fixed probe set of held-out general
windows, domain validation examples and near-domain windows (real text close to the domain
but outside its training data, given by the domain pack: near_windows). "RL's Razor" (Shenfeld et al. 2025) finds forgetting
tracks this forward KL; the report shows whether it does here. The base distribution is
recorded once, before step 1 (as the DPO reference is), so a full fine-tune needs no second
model: per position the base's top-k token log-probs plus the mass of the rest. KL over those
k+1 buckets is exact when k >= vocabulary size and a lower bound otherwise (merging outcomes
never increases a KL divergence), with k=256 the bound is tight for the peaked distributions
of trained LMs. Every rank runs every probe forward (under FSDP2/ZeRO-3 a forward is a
collective, and the probe set is small), so every rank holds the same numbers.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import torch

from netft.data.chat import IGNORE, Example
from netft.distributed import DistInfo
from netft.objectives import loss_head


def text_windows(tokenizer, text: str, max_tokens: int, window: int = 256) -> list[Example]:
    """The first max_tokens tokens of a text as fixed, equal windows (a partial last one is
    dropped: every window weighs the same in the window bootstrap)."""
    ids = tokenizer(text[: max_tokens * 8], verbose=False)["input_ids"][:max_tokens]
    return [Example(ids[i:i + window], [IGNORE] + ids[i + 1:i + window])
            for i in range(0, len(ids) - window + 1, window)]


def general_windows(tokenizer, max_tokens: int, window: int = 256) -> list[Example]:
    """Held-out general English (shipped) as fixed, equal windows: the general probe."""
    from netft.data.corpus import corpus_texts

    return text_windows(tokenizer, corpus_texts()["general_heldout"], max_tokens, window)


def near_windows(tokenizer, texts: dict[str, str], max_tokens: int,
                 window: int = 256) -> list[Example]:
    """The near-domain probe: each of the domain pack's near-domain texts (e.g. one platform's
    configurations) gets an equal share of max_tokens, so that no one text dominates; the
    windows are interleaved text by text, so the first few (the KL probe's) span all texts."""
    if not texts:
        return []
    share = max_tokens // len(texts)
    per_text = [text_windows(tokenizer, t, share, window) for _, t in sorted(texts.items())]
    return [w for group in itertools.zip_longest(*per_text) for w in group if w is not None]


def _inputs(ids: list[list[int]], device) -> dict:
    """Equal-length rows (no padding, no mask): one forward."""
    x = torch.tensor(ids, device=device)
    return {"input_ids": x, "position_ids": torch.arange(x.shape[1], device=device).expand_as(x)}


def _logits(module, ids: list[list[int]], device) -> torch.Tensor:
    batch = _inputs(ids, device)
    return module(**batch, use_cache=False).logits.float()


def _per_position(module, ids: list[list[int]], device, fn):
    """fn(float32 logits of flattened positions [a, b), a, b) over every position: chunk by
    chunk inside the forward where the model takes head requests (objectives/loss_head.py),
    else from the full logits."""
    if loss_head.enabled(module):
        return loss_head.request(module, _inputs(ids, device), loss_head.HeadRequest("map", fn=fn))
    logits = _logits(module, ids, device)
    flat = logits.reshape(-1, logits.shape[-1])
    return fn(flat, 0, flat.shape[0])


@torch.no_grad()
def window_nll(module, windows: list[Example], info: DistInfo, batch: int = 8):
    """(per-window NLL sums, per-window token counts), identical on every rank. Windows are
    split across ranks; a rank short of windows repeats a dummy batch so that every rank makes
    the same number of forward calls."""
    module.eval()
    n = len(windows)
    sums = torch.zeros(n, dtype=torch.float64)
    chunks = [list(range(i, min(i + batch, n))) for i in range(0, n, batch)]
    mine = chunks[info.rank::info.world]
    for c in range(-(-len(chunks) // info.world)):
        idx = mine[c] if c < len(mine) else []
        rows = [windows[i].input_ids for i in (idx or [0])]
        target = torch.tensor(rows, device=info.device).roll(-1, 1).reshape(-1)  # next token
        # the last position's "next token" is the row's first: dropped below
        tok = _per_position(module, rows, info.device,
                            lambda lg, a, b: -torch.log_softmax(lg, -1).gather(
                                -1, target[a:b, None]).squeeze(-1))
        nll = tok.view(len(rows), -1)[:, :-1].sum(-1).double().cpu()
        for j, i in enumerate(idx):
            sums[i] = nll[j]
    if info.distributed:  # each window was computed by exactly one rank; the rest hold zeros
        sums = _sum_over_ranks(sums, info)
    module.train()
    return sums.tolist(), [len(w.input_ids) - 1 for w in windows]


def _sum_over_ranks(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    import torch.distributed as dist

    t = t.to(info.device if info.backend == "nccl" else "cpu")
    dist.all_reduce(t)
    return t.cpu()


@torch.no_grad()
def base_distribution(module, probe: list[Example], info: DistInfo, top_k: int) -> dict:
    """Per probe position: the base's top-k token ids and log-probs, and log of the rest."""
    module.eval()
    ids, logps, rest = [], [], []

    def top(logits, a, b):
        logp = torch.log_softmax(logits, -1)
        t = logp.topk(min(top_k, logp.shape[-1]), dim=-1)
        return t.indices.int(), t.values, torch.log1p(-t.values.exp().sum(-1).clamp(max=1 - 1e-7))

    for ex in probe:
        t_ids, t_logp, t_rest = _per_position(module, [ex.input_ids], info.device, top)
        ids.append(t_ids.cpu())
        logps.append(t_logp.cpu())
        rest.append(t_rest.cpu())
    module.train()
    return {"ids": torch.cat(ids), "logp": torch.cat(logps), "rest": torch.cat(rest)}


@torch.no_grad()
def kl_from_base(module, probe: list[Example], base: dict, info: DistInfo) -> float:
    """Mean over probe positions of KL(base || current) on the base's top-k + rest buckets."""
    module.eval()
    total, n, offset = 0.0, 0, 0
    for ex in probe:
        L = len(ex.input_ids)
        b_ids = base["ids"][offset:offset + L].long()
        b_logp, b_rest = base["logp"][offset:offset + L], base["rest"][offset:offset + L]

        def kl_at(logits, a, b):
            logp = torch.log_softmax(logits, -1).cpu()
            c_logp = logp.gather(-1, b_ids[a:b])
            c_rest = torch.log1p(-c_logp.exp().sum(-1).clamp(max=1 - 1e-7))
            kl = (b_logp[a:b].exp() * (b_logp[a:b] - c_logp)).sum(-1)
            if b_ids.shape[-1] < logp.shape[-1]:  # the rest bucket (empty when k = vocab)
                kl = kl + b_rest[a:b].exp() * (b_rest[a:b] - c_rest)
            return kl

        total += float(_per_position(module, [ex.input_ids], info.device, kl_at).sum())
        n += L
        offset += L
    module.train()
    return total / max(n, 1)


def kl_probe(module, general: list[Example], val: list, eval_cfg, info: DistInfo,
             path: Path, near: list[Example] = ()) -> dict:
    """{"general"|"domain"|"near": (probe examples, base distribution)}; {} when the probe is
    off.

    The base distribution is measured now (before any training step) or, on a resume, read
    back from `path`, which rank 0 wrote when the run started (a set that file lacks -- a
    run from before the near-domain probe -- is left out)."""
    if not eval_cfg.kl_probe:
        return {}
    sets = {"general": general[:eval_cfg.kl_windows],
            # DPO validation items are pairs: their chosen side is the domain text
            "domain": [getattr(v, "chosen", v) for v in val[:eval_cfg.kl_examples]],
            "near": list(near[:eval_cfg.kl_windows])}
    sets = {k: v for k, v in sets.items() if v}
    if path.exists():
        flat = load_base(path)
        sets = {k: v for k, v in sets.items() if f"{k}.ids" in flat}
        bases = {k: {f: flat[f"{k}.{f}"] for f in ("ids", "logp", "rest")} for k in sets}
    else:
        bases = {k: base_distribution(module, v, info, eval_cfg.kl_top_k) for k, v in sets.items()}
        if info.is_main:
            save_base({f"{k}.{f}": t for k, b in bases.items() for f, t in b.items()}, path)
    return {k: (sets[k], bases[k]) for k in sets}


def save_base(base: dict, path: Path) -> None:
    from safetensors.torch import save

    # Serialised in memory, written by Python: a full disk is an OSError naming the file
    # (safetensors' own writer reports it as an opaque SafetensorError).
    tmp = path.with_suffix(".tmp")
    data = save({k: v.contiguous() for k, v in base.items()})
    try:
        tmp.write_bytes(data)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OSError(e.errno, f"{e.strerror}: the KL probe's base distribution needs "
                      f"{len(data):,} bytes (or set eval.kl_probe=false)", str(path)) from None
    tmp.replace(path)


def load_base(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))
