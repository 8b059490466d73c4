"""netft-train: one fine-tuning run, top to bottom -- setup, loop, evaluate, save.

    netft-train model=tiny method=lora train.epochs=2
    torchrun --nproc-per-node 2 -m netft.train parallel=fsdp2 ...
    srun python -m netft.train parallel=zero3 method=full ...      (slurm/train.sh does this)

Everything rank-dependent is in two places: `rank_share` picks this rank's micro-batches, and
only rank 0 writes files / W&B. Every rank runs every line below.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import math
import random
import signal
import sys
import threading
import time
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from netft import checkpoint, distributed
from netft.config import ConfigError, to_plain, validate
from netft.data.chat import IGNORE, DataError
from netft.data.batching import collate, plan_epoch, rank_share
from netft.data.curation import read_sources
from netft.eval import domain
from netft.eval.general import general_accuracy
from netft.eval.generate import generate_answers
from netft.eval.review import export_review
from netft.eval.forgetting import best_epoch, forgetting, should_stop
from netft.export import save_final
from netft.models.load import (apply_method, count_params, load_model, load_tokenizer,
                               pick_attention, resolve_path)
from netft.models.meta_load import load_meta, use_meta_load
from netft.objectives.sft import sft_loss_sum
from netft.objectives.tasks import attach_reference, build_task, to_device, units
from netft.parallel.engine import build_engine, parameter_share
from netft.perf import (count_flops_params, flops_per_token, peak_flops, peak_memory_gb,
                        peak_rss_gb, rss_now_gb)
from netft.plan import check_at_start
from netft.tracking import start as start_tracking


def plan(lengths, cfg, info, epoch: int, packing: bool, shuffle: bool = True,
         micro: int | None = None, accum: int | None = None):
    return plan_epoch(lengths, epoch=epoch, seed=cfg.train.seed, world=info.world,
                      micro_batch_size=micro or cfg.train.micro_batch_size,
                      grad_accum=accum or cfg.train.grad_accum, max_length=cfg.train.max_length,
                      packing=packing, shuffle=shuffle)


def forward_backward(engine, batches: list[dict], info, loss_fn=sft_loss_sum):
    """Accumulate the gradients of one optimizer step; returns its mean loss and statistics.

    One normaliser for the whole step: the units (target tokens for SFT, pairs for DPO) of
    every micro-batch on every rank (x world, because DDP/FSDP/ZeRO average gradients over
    ranks). So the gradient equals that of one big batch, whatever the micro-batch split or
    sequence lengths -- not a mean of per-micro-batch means.
    """
    n_units = distributed.all_reduce_sum(sum(units(b) for b in batches), info)
    scale = info.world / n_units
    loss_sum, stats = 0.0, {}
    for j, batch in enumerate(batches):
        # Only the last micro-batch all-reduces gradients (DDP); the rest accumulate locally.
        sync = contextlib.nullcontext() if j == len(batches) - 1 else engine.no_sync()
        with sync:
            s, _, st = loss_fn(engine.module, to_device(batch, info.device))
            engine.backward(s * scale)
        loss_sum += s.item()
        for k, v in st.items():
            stats[k] = stats.get(k, 0.0) + v
    keys = sorted(stats)  # loss and every statistic in one collective
    sums, _ = distributed.all_reduce_packed([loss_sum] + [stats[k] for k in keys], [], info)
    return sums[0] / n_units, {k: v / n_units for k, v in zip(keys, sums[1:])}


@torch.no_grad()
def validation(engine, examples, collate_fn, loss_fn, packing: bool, cfg, info):
    """Mean loss (and statistics) over a whole held-out set; every rank makes the same calls."""
    engine.module.eval()
    lengths = [len(e.input_ids) if hasattr(e, "input_ids") else len(e) for e in examples]
    loss_sum, n_sum, stats = 0.0, 0, {}
    for step in plan(lengths, cfg, info, 0, packing, shuffle=False,
                     micro=cfg.eval.val_micro_batch_size, accum=1):
        for rows in rank_share(step, info.rank, info.world):
            s, n, st = loss_fn(engine.module, to_device(collate_fn(rows), info.device))
            loss_sum, n_sum = loss_sum + s.item(), n_sum + n
            for k, v in st.items():
                stats[k] = stats.get(k, 0.0) + v
    engine.module.train()
    n = max(distributed.all_reduce_sum(n_sum, info), 1)
    return (distributed.all_reduce_sum(loss_sum, info) / n,
            {k: distributed.all_reduce_sum(v, info) / n for k, v in sorted(stats.items())})


def general_examples(tokenizer, max_tokens: int, window: int = 256) -> list:
    """Held-out general English (shipped) as fixed windows: the general-capability probe."""
    from netft.data.chat import Example
    from netft.models.tiny import corpus_texts

    text = corpus_texts()["general_heldout"][: max_tokens * 8]
    ids = tokenizer(text, verbose=False)["input_ids"][:max_tokens]
    out = []
    for i in range(0, len(ids) - window + 1, window):
        w = ids[i:i + window]
        out.append(Example(w, [IGNORE] + w[1:]))
    return out


def evaluate(engine, tokenizer, task, cfg, info, general_ex, domain_rows, epoch: int,
             step: int, run_dir: Path) -> dict:
    """Everything measured at an epoch boundary (epoch 0 = the starting model)."""
    record = {"epoch": epoch, "step": step}
    if task.val:
        record["val_loss"], stats = validation(engine, task.val, task.collate_val, task.loss_fn,
                                               task.packing, cfg, info)
        record.update({f"val_{k}": v for k, v in stats.items()})
    if general_ex:
        pad = tokenizer.pad_token_id
        nll, _ = validation(engine, general_ex,
                            lambda rows: collate(general_ex, rows, pad, True, task.varlen),
                            sft_loss_sum, True, cfg, info)
        record["general_ppl"] = math.exp(nll)
    if cfg.eval.lm_eval_tasks:
        record.update(general_accuracy(engine, tokenizer, cfg.eval, cfg.model.cache_dir, info))
    if domain_rows:
        answers = generate_answers(engine.model, tokenizer, domain_rows, info,
                                   cfg.eval.max_new_tokens, cfg.eval.gen_batch_size,
                                   desc=f"domain eval (epoch {epoch})")
        if info.is_main:  # the verifiers run once, on rank 0; nothing else depends on them
            result = domain.score(domain_rows, answers)
            record["domain_score"] = result["overall"]["score"]
            record["domain"] = result["overall"]
            save_eval(run_dir / "eval" / f"epoch-{epoch}", domain_rows, answers, result)
    return record


def domain_eval_rows(cfg) -> list[dict]:
    """The held-out items scored by the verifiers (data.test_files; first N if capped)."""
    if not cfg.eval.domain or not cfg.data.test_files:
        return []
    rows = read_sources(cfg.data.test_files)
    if cfg.eval.domain_max_items <= 0 or cfg.eval.domain_max_items >= len(rows):
        return rows
    # A capped eval still covers every category: take the rows round-robin by category.
    by_cat: dict[str, list[dict]] = {}
    for row in rows:
        by_cat.setdefault(row.get("category", ""), []).append(row)
    mixed = [r for group in itertools.zip_longest(*by_cat.values()) for r in group if r]
    return mixed[:cfg.eval.domain_max_items]


def save_eval(out_dir: Path, rows: list[dict], answers: list[str], result: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "predictions.jsonl", "w") as fh:
        for row, answer, item in zip(rows, answers, result["items"]):
            fh.write(json.dumps({"id": row["id"], "category": row["category"],
                                 "prompt": domain.prompt(row), "answer": answer,
                                 "reference": domain.reference(row), **item}) + "\n")
    (out_dir / "scores.json").write_text(json.dumps({k: result[k] for k in ("categories",
                                                                             "overall")}, indent=2))
    (out_dir / "table.txt").write_text(domain.format_table(result) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


PREEMPTED_EXIT = 0  # slurm/train.sh requeues the job itself after a preemption save


def preemption_flag() -> threading.Event:
    """Set by SIGUSR1 (Slurm's --signal warning) or SIGTERM; checked at step boundaries."""
    flag = threading.Event()
    for sig in (signal.SIGUSR1, signal.SIGTERM):
        signal.signal(sig, lambda *_: flag.set())
    return flag


def find_resume(cfg, run_dir: Path) -> Path | None:
    if cfg.train.resume == "never":
        return None
    if cfg.train.resume == "auto":
        return checkpoint.latest(run_dir)
    path = Path(cfg.train.resume).expanduser()
    if not (path / "COMPLETE").exists():
        raise ConfigError(f"train.resume={path}: not a complete netft checkpoint directory")
    return path


def run(cfg: DictConfig) -> dict:
    # ---------------------------------------------------------------- setup
    validate(cfg)  # impossible combinations fail here, before any model is loaded
    info = distributed.setup(cfg.parallel.backend)
    print(distributed.announce(info), flush=True)
    # tqdm.write keeps log lines and the progress bar from tearing each other apart.
    say = (lambda msg: tqdm.write(str(msg))) if info.is_main else (lambda *a, **k: None)
    run_dir = Path(cfg.run_dir)
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(to_plain(cfg))))
    random.seed(cfg.train.seed)
    torch.manual_seed(cfg.train.seed)

    model_path = resolve_path(cfg.model, log=say)
    check_at_start(cfg, info, say)  # memory per rank, estimated before anything is loaded
    if cfg.parallel.name == "zero3":
        from netft.parallel.zero3 import before_model_load

        before_model_load(cfg, info)  # from_pretrained then loads straight into partitions
    tokenizer = load_tokenizer(model_path, cfg.model)
    if use_meta_load(cfg, info):  # fsdp2: only rank 0 reads; the others get their shards
        model = load_meta(model_path, cfg, info)
    else:
        model = apply_method(load_model(model_path, cfg.model, cfg.method, info.device),
                             cfg.method)
    trainable, total = count_params(model)
    say(f"[netft] model {cfg.model.name_or_path} ({model_path}): {total:,} params, {trainable:,} "
        f"trainable ({cfg.method.name}); attention {pick_attention(cfg.model, info.device)}; "
        f"parallel {cfg.parallel.name} x{info.world}")

    task = build_task(cfg, tokenizer, model, say)
    lengths = task.lengths()
    plans = [plan(lengths, cfg, info, epoch, task.packing) for epoch in range(cfg.train.epochs)]
    total_steps = sum(map(len, plans))
    if cfg.train.max_steps > 0:
        total_steps = min(total_steps, cfg.train.max_steps)

    engine = build_engine(model, cfg, info, total_steps)
    share = parameter_share(engine.model)
    print(f"[netft] rank {info.rank} holds {share['local']:,} of {share['full']:,} parameter "
          f"elements ({share['fraction']:.1%}; {', '.join(share['placements'])}); setup peak "
          f"RSS {peak_rss_gb():.3f} GiB ({'meta load' if use_meta_load(cfg, info) else 'full load'}"
          "; now anon {:.3f} + file {:.3f} GiB)".format(*rss_now_gb()), flush=True)
    tracker = start_tracking(cfg.logger, run_dir, to_plain(cfg), info.is_main)
    base_params, adapter_params = count_flops_params(engine.model)
    flops_token = flops_per_token(engine.model.config, base_params, adapter_params,
                                  cfg.method.name == "full", task.mean_seq_len())
    peak, peak_source = peak_flops(info.device)
    say(f"[netft] {flops_token / 1e6:,.2f} MFLOP per token; device peak "
        f"{peak / 1e12:,.2f} TFLOP/s ({peak_source})")
    attach_reference(task, engine, cfg, info, tokenizer.pad_token_id, run_dir, say)

    # ---------------------------------------------------------------- loop
    step, tokens_seen, history, start_epoch, skip, loss = 0, 0, [], 0, 0, None
    resume_from = find_resume(cfg, run_dir)
    if resume_from is not None:
        loop = checkpoint.load(engine, resume_from, info)
        step, tokens_seen, history = loop["step"], loop["tokens"], loop["history"]
        start_epoch, skip = loop["epoch"], loop["step_in_epoch"]
        say(f"[netft] resumed from {resume_from} (step {step}, epoch {start_epoch + 1})")
        if info.is_main:
            tracker.truncate_after(step)
    stop = preemption_flag()

    def save_checkpoint(epoch: int, step_in_epoch: int) -> None:
        checkpoint.save(engine, run_dir, {"step": step, "epoch": epoch, "tokens": tokens_seen,
                                          "step_in_epoch": step_in_epoch, "history": history},
                        info, keep=cfg.train.keep_checkpoints)

    general_ex = (general_examples(tokenizer, cfg.eval.general_max_tokens)
                  if cfg.eval.general_ppl else [])
    domain_rows = domain_eval_rows(cfg)

    def log_eval(record: dict) -> None:
        flat = {k: v for k, v in record.items() if k not in ("step", "domain")}
        flat.update({f"domain/{k}": v for k, v in record.get("domain", {}).items()})
        tracker.log({f"eval/{k}": v for k, v in flat.items()}, step)
        say(f"[netft] epoch {record['epoch']}: " + ", ".join(
            f"{k} {v:.4f}" for k, v in record.items() if isinstance(v, float)))

    if resume_from is None and cfg.eval.val_before_training:
        # Epoch 0: the starting model, the baseline every later epoch is compared with.
        history.append(evaluate(engine, tokenizer, task, cfg, info, general_ex, domain_rows,
                                0, 0, run_dir))
        log_eval(history[-1])

    bar = tqdm(total=total_steps, initial=step, desc="train", unit="step",
               disable=not info.is_main, mininterval=1)
    engine.module.train()
    for epoch in range(start_epoch, cfg.train.epochs):
        for i, micro_batches in enumerate(plans[epoch]):
            if i < skip:  # already trained before the resume
                continue
            if step >= total_steps:
                break
            t0 = time.perf_counter()
            mine = rank_share(micro_batches, info.rank, info.world)
            batches = [task.collate_train(rows) for rows in mine]
            loss, stats = forward_backward(engine, batches, info, task.loss_fn)
            if not math.isfinite(loss):  # before the update: the weights stay finite
                raise FloatingPointError(
                    f"loss is {loss} at step {step + 1} (epoch {epoch + 1}); lower train.lr "
                    f"(now {cfg.train.lr}) or train.max_grad_norm, or check the data. The last "
                    f"good checkpoint is {checkpoint.latest(run_dir)}.")
            grad_norm = engine.step()
            step += 1
            (step_tokens,), (peak_mem,) = distributed.all_reduce_packed(
                [sum(b["n_tokens"] for b in batches)], [peak_memory_gb(info.device)], info)
            tokens_seen += step_tokens
            dt = time.perf_counter() - t0
            per_device = step_tokens / dt / info.world
            metrics = {"train/loss": loss, **{f"train/{k}": v for k, v in stats.items()},
                       "train/lr": engine.scheduler.get_last_lr()[0],
                       "train/grad_norm": grad_norm, "train/tokens_per_s": step_tokens / dt,
                       "train/tokens_per_s_per_device": per_device,
                       "train/mfu": flops_token * per_device / peak,
                       "train/peak_mem_gb": peak_mem,
                       "train/epoch": epoch + 1, "train/tokens": tokens_seen}
            tracker.log(metrics, step)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{step_tokens / dt:,.0f}", refresh=False)
            preempted = distributed.all_reduce_sum(stop.is_set(), info) > 0  # all ranks agree
            every = cfg.train.save_every_steps
            if preempted or (every > 0 and step % every == 0):
                save_checkpoint(epoch, i + 1)
            if preempted:
                say(f"[netft] preempted: checkpoint saved at step {step}; exiting for requeue")
                distributed.teardown(info)
                sys.exit(PREEMPTED_EXIT)
        skip = 0

        # ---------------------------------------------------------- evaluate
        if cfg.eval.val_every_epoch:
            history.append(evaluate(engine, tokenizer, task, cfg, info, general_ex, domain_rows,
                                    epoch + 1, step, run_dir))
            log_eval(history[-1])
            if cfg.eval.keep_best and best_epoch(history) == epoch + 1:
                save_final(engine, tokenizer, cfg.method.name, run_dir / "best", info,
                           cfg.parallel.export_shard_mb)
        if cfg.train.save_every_epoch:
            save_checkpoint(epoch + 1, 0)
        if should_stop(history, cfg.eval.early_stopping_patience):
            say(f"[netft] early stopping: validation loss has not improved for "
                f"{cfg.eval.early_stopping_patience} epochs (best: epoch {best_epoch(history)})")
            break
        if step >= total_steps:
            break
    bar.close()

    # ---------------------------------------------------------------- save
    final_dir = save_final(engine, tokenizer, cfg.method.name, run_dir / "final", info,
                           cfg.parallel.export_shard_mb)
    if domain_rows and info.is_main and history and "domain" in history[-1]:
        last = run_dir / "eval" / f"epoch-{history[-1]['epoch']}"
        say("\n" + (last / "table.txt").read_text())
        predictions = read_jsonl(last / "predictions.jsonl")
        for row in predictions[:cfg.eval.sample_generations]:
            say(f"--- prompt: {row['prompt'][:300]}\n--- model:  {row['answer'][:300]}")
        if cfg.eval.review_items > 0:
            sheet = export_review(domain_rows, [p["answer"] for p in predictions],
                                  run_dir / "review", n=cfg.eval.review_items)
            say(f"[netft] human review sheet ({sheet['n']} items): {sheet['html']}")
    summary = {"run_dir": str(run_dir), "final": str(final_dir), "method": cfg.method.name,
               "parallel": cfg.parallel.name, "world": info.world, "steps": step,
               "epochs_run": sum(h["epoch"] > 0 for h in history), "tokens": tokens_seen,
               "history": history, "final_train_loss": loss,
               "final_val_loss": history[-1].get("val_loss") if history else None,
               "best_epoch": best_epoch(history),
               "best": str(run_dir / "best") if (run_dir / "best").exists() else None,
               "forgetting": forgetting(history),
               "trainable_params": trainable, "total_params": total,
               "objective": task.name, "data": task.report,
               "domain": history[-1].get("domain") if history else None}
    tracker.finish(summary)
    say(f"[netft] done: run dir {run_dir}")
    distributed.teardown(info)
    return summary


# conf/ sits beside the package in the repo (editable install, as `make setup` does).
CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except (ConfigError, DataError, FloatingPointError) as e:  # the message, not a traceback
        print(f"netft-train: error: {e}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    # Run the importable module's main, not this __main__ copy: the Slurm launcher (submitit)
    # pickles the task function, and only an importable module's functions pickle by name.
    from netft.train import main as importable_main

    importable_main()
