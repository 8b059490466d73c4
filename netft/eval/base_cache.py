"""The starting model's evaluation (epoch 0), computed once and reused by every run that
would compute the same numbers: the runs of a sweep, a study's seeds, the demo.

What is cached is the expensive raw material of eval/epoch.py's evaluate() -- validation loss
and statistics, the general windows' per-window NLL, lm-eval accuracies and the domain
answers (generation) -- not the record: scoring, bootstrap intervals (seeded by the run's
train.seed), KL from the base and the eval/epoch-0 files are recomputed by each run from it,
so a reused evaluation is the record computing it would give (tests/test_base_cache.py).

The key is a sha256 over everything those numbers depend on:
  - the model as evaluated: name_or_path + revision, and a fingerprint -- the digest of its
    logits (bit for bit) on a fixed chat-formatted text -- which changes with the weights,
    the tokenizer and chat template, dtype, attention implementation, quantization, an
    adapter's initialisation, and anything else that changes what the model computes;
  - the eval data, by content: the validation examples, the general windows, the domain rows;
  - the eval settings that change results (all of eval.* except the few listed in
    NOT_RESULTS), the objective (validation loss), the parallel backend and world size,
    and the versions of netft, torch and transformers.
Any change misses and recomputes. Only rank 0 reads and writes $NETFT_CACHE/base-eval/
(or $NETFT_BASE_EVAL_CACHE); every
rank takes the same path (hit or miss), decided by rank 0. eval.base_cache=false, or
NETFT_BASE_EVAL_CACHE=off, turns it off (the test suite does: conftest.py).
"""
from __future__ import annotations

import hashlib
import json
import os
from contextlib import ExitStack, contextmanager
from pathlib import Path

import torch
from omegaconf import OmegaConf

from netft import distributed
from netft.models.tiny import file_lock

FORMAT = "netft-base-eval/1"
# eval.* keys that change no number of the epoch-0 evaluation.
NOT_RESULTS = {"val_every_epoch", "val_before_training", "early_stopping_patience",
               "keep_best", "sample_generations", "review_items", "suites", "suite_runs",
               "suite_limit", "suite_max_new_tokens", "base_cache", "kl_probe", "kl_top_k",
               "kl_windows", "kl_examples"}
FINGERPRINT_TEXT = ("Fingerprint of the model as evaluated: the quick brown fox jumps over "
                    "the lazy dog. interface ge-0/0/0 unit 0 family inet address 10.0.0.1/30")


def cache_dir() -> Path | None:
    """$NETFT_BASE_EVAL_CACHE, else $NETFT_CACHE/base-eval; None when that variable is "off"
    (the test suite: each test computes its own epoch 0)."""
    own = os.environ.get("NETFT_BASE_EVAL_CACHE")
    if own == "off":
        return None
    if own:
        return Path(os.path.expanduser(own))
    return Path(os.path.expanduser(os.environ.get("NETFT_CACHE", "~/.cache/netft"))) / "base-eval"


def _plain(obj):
    """Examples, tensors, dataclasses and tuples as JSON-able lists/dicts (a tensor's repr
    elides its middle, so never repr)."""
    import dataclasses

    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"base eval key: cannot hash {type(obj).__name__}")


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(_plain(obj), sort_keys=True).encode()).hexdigest()


@torch.no_grad()
def fingerprint(module, tokenizer, info) -> str:
    """sha256 of the model's logits on a fixed chat-formatted text (every rank calls it: under
    sharding the forward is a collective)."""
    text = FINGERPRINT_TEXT
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                             add_generation_prompt=True)
    ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]],
                       device=info.device)
    was_training = module.training
    module.eval()
    logits = module(input_ids=ids).logits.float().cpu()
    module.train(was_training)
    return hashlib.sha256(logits.numpy().tobytes()).hexdigest()


def key(cfg, info, fingerprint_digest: str, task, probes: dict, domain_rows: list) -> str:
    import transformers

    import netft

    evals = {k: v for k, v in OmegaConf.to_container(cfg.eval, resolve=True).items()
             if k not in NOT_RESULTS}
    parts = {
        "format": FORMAT,
        "model": [cfg.model.name_or_path, cfg.model.get("revision")],
        "fingerprint": fingerprint_digest,
        "val": _sha(task.val or []), "packing": bool(task.packing),
        "general": _sha(probes.get("general") or []),
        "domain_rows": _sha(domain_rows),
        "eval": evals,
        "objective": OmegaConf.to_container(cfg.objective, resolve=True),
        "max_length": cfg.train.max_length,
        "parallel": [cfg.parallel.name, info.world],
        "versions": [getattr(netft, "__version__", ""), torch.__version__,
                     transformers.__version__],
    }
    return _sha(parts)


def lookup(engine, tokenizer, task, cfg, info, probes: dict, domain_rows: list,
           say) -> tuple[str | None, dict]:
    """(key, memo): memo holds the cached raw material on a hit ({} on a miss), the same on
    every rank. key is None when eval.base_cache is off."""
    if not cfg.eval.get("base_cache", True) or cache_dir() is None:
        return None, {}
    digest = fingerprint(engine.module, tokenizer, info)
    try:
        k = key(cfg, info, digest, task, probes, domain_rows)
    except TypeError as e:  # data this module cannot hash: compute, as without the cache
        say(f"[netft] warning: base eval not cached ({e})")
        return None, {}
    memo = distributed.gather_objects(_read(k) if info.is_main else {}, info)[0]
    if memo:
        say(f"[netft] base eval reused from cache {k[:16]} ({cache_dir()})")
    return k, memo


def _read(k: str) -> dict:
    path = cache_dir() / f"{k}.json"
    try:
        found = json.loads(path.read_text()) if path.exists() else {}
        return found.get("memo", {}) if found.get("format") == FORMAT else {}
    except (OSError, ValueError):
        return {}  # unreadable: recompute (and overwrite it)


@contextmanager
def _sole_computer(k: str | None, info):
    """While one single-process run computes a key, another that needs it waits and then
    reads it (the demo's two concurrent sweeps compute the base once, not twice). Not for
    multi-rank runs: their other ranks would wait inside a collective, where NCCL's timeout
    can end the job; concurrent multi-rank runs compute side by side as before. A cache
    that cannot hold the lock file costs the wait, never the run (as in store())."""
    if k is None or info.world > 1:
        yield False
        return
    with ExitStack() as stack:
        try:
            stack.enter_context(file_lock(cache_dir() / f".{k}.lock"))
            locked = True
        except OSError:
            locked = False
        yield locked


def store(k: str | None, memo: dict, info, say) -> None:
    """Rank 0 writes the raw material evaluate() computed (atomically: a concurrent run of
    the same sweep reads a whole file or none)."""
    if k is None or not info.is_main or not memo:
        return
    root = cache_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".{k}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"format": FORMAT, "memo": memo}))
        os.replace(tmp, root / f"{k}.json")
        say(f"[netft] base eval cached as {k[:16]} ({root})")
    except OSError as e:  # a full or read-only cache costs reuse, never the run
        say(f"[netft] warning: base eval not cached ({e})")


@contextmanager
def once(engine, tokenizer, task, cfg, info, probes: dict, domain_rows: list, say):
    """`with once(...) as memo: evaluate(..., memo=memo)`: the cached raw material on a hit;
    on a miss, what the body computed into memo is stored when it ends without an error."""
    k, memo = lookup(engine, tokenizer, task, cfg, info, probes, domain_rows, say)
    if memo:
        yield memo
        return
    with _sole_computer(k, info) as locked:
        memo = _read(k) if locked else {}   # stored by the run this one waited for
        if memo:
            say(f"[netft] base eval reused from cache {k[:16]} ({cache_dir()}), computed by "
                "a concurrent run")
            yield memo
            return
        yield memo
        store(k, memo, info, say)
