"""What a run measures at an epoch boundary (epoch 0 = the starting model): validation loss,
general and near-domain perplexity, KL from the base, lm-eval accuracy and the domain pack's
score -- and the files the domain evaluation leaves in <run_dir>/eval/epoch-N/."""
from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import torch

from netft import distributed, domains
from netft.data.batching import cfg_plan, rank_share
from netft.data.curation import read_sources
from netft.domains.chat import prompt, reference
from netft.eval.general import general_accuracy
from netft.eval.generate import Interrupted, generate_answers
from netft.eval.probes import (general_windows, kl_from_base, kl_probe, near_windows,
                               window_nll)
from netft.eval.record import EvalRecord
from netft.eval.stats import bootstrap_ci, perplexity_ci
from netft.eval.whole_copy import generation_model
from netft.objectives.tasks import to_device


@torch.no_grad()
def validation(engine, examples, collate_fn, loss_fn, packing: bool, cfg, info):
    """Mean loss (and statistics) over a whole held-out set; every rank makes the same calls."""
    engine.module.eval()
    lengths = [len(e.input_ids) if hasattr(e, "input_ids") else len(e) for e in examples]
    loss_sum, n_sum, stats = 0.0, 0, {}
    for step in cfg_plan(cfg, info.world, lengths, 0, packing, shuffle=False,
                          micro=cfg.eval.val_micro_batch_size, accum=1):
        for rows in rank_share(step, info.rank, info.world):
            s, n, st = loss_fn(engine.module, to_device(collate_fn(rows), info.device))
            loss_sum, n_sum = loss_sum + s.item(), n_sum + int(n)
            for k, v in st.items():
                stats[k] = stats.get(k, 0.0) + float(v)
    engine.module.train()
    n = max(distributed.all_reduce_sum(n_sum, info), 1)
    return (distributed.all_reduce_sum(loss_sum, info) / n,
            {k: distributed.all_reduce_sum(v, info) / n for k, v in sorted(stats.items())})


def evaluate(engine, tokenizer, task, cfg, info, probes: dict, domain_rows, epoch: int,
             step: int, run_dir: Path, interrupted=None, memo: dict | None = None) -> EvalRecord:
    """Everything measured at an epoch boundary (epoch 0 = the starting model), with 95%
    bootstrap intervals over text windows and eval items where a number gets compared.

    interrupted: a collective () -> bool (a preemption signal arrived), checked between the
    phases and before every generation batch; raises Interrupted so a long evaluation does
    not outlive Slurm's grace period.

    memo: the expensive raw material (validation, general NLL, lm-eval, domain answers) --
    taken from it where present (a cached base evaluation, eval/base_cache.py) and put into
    it where computed; everything else (scores, intervals, files) is computed from it."""
    def check():
        if interrupted is not None and interrupted():
            raise Interrupted()

    memo = {} if memo is None else memo

    def once(name, compute):
        if name not in memo:
            memo[name] = compute()
        return memo[name]

    record = EvalRecord(epoch=epoch, step=step)
    if task.val:
        record.val_loss, record.val = once("val", lambda: validation(
            engine, task.val, task.collate_val, task.loss_fn, task.packing, cfg, info))
    if probes["general"]:
        nll, tokens = once("general", lambda: window_nll(engine.module, probes["general"], info,
                                                         cfg.eval.val_micro_batch_size))
        record.general_ppl = math.exp(sum(nll) / sum(tokens))
        record.general_ppl_ci = perplexity_ci(nll, tokens, seed=cfg.train.seed)
        if info.is_main:  # per window, so a study can pair windows across runs and seeds
            save_windows(run_dir / "eval" / f"epoch-{epoch}" / "general_windows.json", nll, tokens)
    if probes.get("near"):  # the same on the domain pack's near-domain text
        nll, tokens = window_nll(engine.module, probes["near"], info,
                                 cfg.eval.val_micro_batch_size)
        record.near_ppl = math.exp(sum(nll) / sum(tokens))
        record.near_ppl_ci = perplexity_ci(nll, tokens, seed=cfg.train.seed)
        if info.is_main:
            save_windows(run_dir / "eval" / f"epoch-{epoch}" / "near_windows.json", nll, tokens)
    check()
    for name, (examples, base) in probes["kl"].items():
        record.kl[name] = kl_from_base(engine.module, examples, base, info)
    check()
    if cfg.eval.lm_eval_tasks:
        record.lm_eval = dict(once("lm_eval", lambda: general_accuracy(
            engine, tokenizer, cfg.eval, cfg.model.cache_dir, info)))
        record.general_acc = record.lm_eval.pop("general_acc", None)
    if domain_rows:
        def generate():
            with generation_model(engine, cfg.eval.gen_whole_copy, info,
                                  say=print if info.is_main else (lambda *a: None)) as model:
                return generate_answers(model, tokenizer, domain_rows, info,
                                        cfg.eval.max_new_tokens, cfg.eval.gen_batch_size,
                                        desc=f"domain eval (epoch {epoch})",
                                        interrupted=interrupted)
        answers = once("answers", generate)
        if info.is_main:  # the scorers run once, on rank 0; nothing else depends on them
            pack = domains.configured(cfg)
            result = domains.score(pack, domain_rows, answers)
            record.domain_score = result["overall"]["score"]
            record.domain_score_ci = bootstrap_ci(
                result["items"], lambda items: pack.aggregate(items)[1]["score"],
                seed=cfg.train.seed)
            record.domain = result["overall"]
            save_eval(run_dir / "eval" / f"epoch-{epoch}", pack, domain_rows, answers, result)
    return record


def save_windows(path: Path, nll: list[float], tokens: list[int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"nll": nll, "tokens": tokens}))


# Domain items evaluated by a run with train.max_steps > 0 and eval.domain_max_items=0.
SMOKE_EVAL_ITEMS = 32


def domain_eval_rows(cfg) -> list[dict]:
    """The held-out items scored by the domain pack (data.test_files; first N if capped)."""
    if not cfg.eval.domain or not cfg.data.test_files:
        return []
    rows = domains.configured(cfg).eval_rows(read_sources(cfg.data.test_files))
    cap = cfg.eval.domain_max_items
    if cap <= 0 and cfg.train.max_steps > 0:
        cap = SMOKE_EVAL_ITEMS  # a step-capped (smoke) run gets a capped eval too
    if cap <= 0 or cap >= len(rows):
        return rows
    # A capped eval still covers every category: take the rows round-robin by category.
    by_cat: dict[str, list[dict]] = {}
    for row in rows:
        by_cat.setdefault(row.get("category", ""), []).append(row)
    mixed = [r for group in itertools.zip_longest(*by_cat.values()) for r in group if r]
    return mixed[:cap]


def save_eval(out_dir: Path, pack: domains.Domain, rows: list[dict], answers: list[str],
              result: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "predictions.jsonl", "w") as fh:
        for row, answer, item in zip(rows, answers, result["items"]):
            fh.write(json.dumps({"id": row["id"], "category": item["category"],
                                 "prompt": prompt(row), "answer": answer,
                                 "reference": reference(row), **item}) + "\n")
    (out_dir / "scores.json").write_text(json.dumps(
        {k: v for k, v in result.items() if k != "items"}, indent=2))
    (out_dir / "table.txt").write_text(pack.format_table(result) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def report_last(cfg, domain_rows: list[dict], run_dir: Path, epoch: int, say) -> None:
    """Rank 0, at the end of a run: the last domain evaluation's table, a few generations,
    and the human review sheet (eval.review_items)."""
    from netft.eval.review import export_review

    last = run_dir / "eval" / f"epoch-{epoch}"
    say("\n" + (last / "table.txt").read_text())
    predictions = read_jsonl(last / "predictions.jsonl")
    for row in predictions[:cfg.eval.sample_generations]:
        say(f"--- prompt: {row['prompt'][:300]}\n--- model:  {row['answer'][:300]}")
    if cfg.eval.review_items > 0:
        sheet = export_review(domain_rows, [p["answer"] for p in predictions],
                              run_dir / "review", n=cfg.eval.review_items,
                              domain=domains.configured(cfg))
        say(f"[netft] human review sheet ({sheet['n']} items): {sheet['html']}")


def log_record(record: EvalRecord, tracker, step: int, say) -> None:
    """An evaluation record to the tracker (intervals as _lo/_hi numbers W&B can plot) and
    one console line."""
    items = record.to_json()
    flat = {k: v for k, v in items.items() if k not in ("step", "domain")
            and not k.endswith("_ci")}
    for k in items:
        if k.endswith("_ci") and items[k]:
            flat[k[:-3] + "_lo"], flat[k[:-3] + "_hi"] = items[k]
    flat.update({f"domain/{k}": v for k, v in (record.domain or {}).items()})
    tracker.log({f"eval/{k}": v for k, v in flat.items()}, step)
    say(f"[netft] epoch {record.epoch}: " + ", ".join(
        f"{k} {v:.4f}" for k, v in items.items() if isinstance(v, float)))


def near_domain_probe(tokenizer, cfg, say=print) -> list:
    """The near-domain windows (eval.near_domain): the run's domain pack gives the text; []
    when it gives none, or (said once) when its source is not on this machine."""
    if not cfg.eval.get("near_domain"):  # a run's config.yaml from before the probe: off
        return []
    try:
        texts = domains.configured(cfg).near_domain()
    except domains.DataUnavailable as e:
        say(f"[netft] near-domain forgetting probe off: {e}")
        return []
    return near_windows(tokenizer, texts, cfg.eval.near_max_tokens)


def build_probes(engine, tokenizer, task, cfg, info, run_dir: Path) -> dict:
    """The text windows of the general and near-domain perplexities, and the base model's
    distribution on the KL probe -- recorded before step 1 (and kept in the run dir for
    resumes)."""
    general = general_windows(tokenizer, cfg.eval.general_max_tokens) if cfg.eval.general_ppl else []
    near = near_domain_probe(tokenizer, cfg, print if info.is_main else (lambda *a: None))
    return {"general": general, "near": near,
            "kl": kl_probe(engine.module, general, task.val, cfg.eval, info,
                           run_dir / "kl_base.safetensors", near)}
