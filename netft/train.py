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
import os
import random
import signal
import sys
import threading
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from netft import checkpoint, distributed, domains, rundir
from netft import resume as resume_check
from netft.config import CONF_DIR as PACKAGE_CONF_DIR, ConfigError, to_plain, validate
from netft.data.batching import plan_epoch, rank_share
from netft.data.curation import read_sources
from netft.errors import guard
from netft.eval.general import general_accuracy
from netft.eval.generate import Interrupted, generate_answers
from netft.eval.probes import general_windows, kl_from_base, kl_probe, window_nll
from netft.eval.stats import bootstrap_ci, perplexity_ci
from netft.eval.review import export_review
from netft.eval.forgetting import best_epoch, forgetting, should_stop
from netft.eval.suites import load as load_suite, run_configured
from netft.export import save_final
from netft.models.load import (apply_method, count_params, load_model, load_tokenizer,
                               resolve_path)
from netft.models.meta_load import load_meta, use_meta_load
from netft.models.precision import precision
from netft.objectives.sft import sft_loss_sum
from netft.objectives.tasks import attach_reference, build_task, to_device, units
from netft.parallel.engine import (NonFiniteGradError, before_model_load, build_engine,
                                   parameter_share)
from netft.perf import count_flops_params, flops_per_token, peak_flops, peak_rss_gb, rss_now_gb
from netft.plan import check_at_start
from netft.step_metrics import StepMetrics
from netft.tracking import start as start_tracking


def plan(lengths, cfg, info, epoch: int, packing: bool, shuffle: bool = True,
         micro: int | None = None, accum: int | None = None):
    return plan_epoch(lengths, epoch=epoch, seed=cfg.train.seed, world=info.world,
                      micro_batch_size=micro or cfg.train.micro_batch_size,
                      grad_accum=accum or cfg.train.grad_accum, max_length=cfg.train.max_length,
                      packing=packing, shuffle=shuffle)


def forward_backward(engine, batches: list[dict], info, loss_fn=sft_loss_sum):
    """Accumulate the gradients of one optimizer step; returns (this rank's sums of the loss
    and of every statistic as one float64 device tensor, their names, the step's normaliser).

    One normaliser for the whole step: the units (target tokens for SFT, pairs for DPO) of
    every micro-batch on every rank (x world, because DDP/FSDP/ZeRO average gradients over
    ranks). So the gradient equals that of one big batch, whatever the micro-batch split or
    sequence lengths -- not a mean of per-micro-batch means. Nothing here is read back from
    the device: the loop syncs the sums every train.log_every steps (netft/step_metrics.py).
    """
    n_units = distributed.all_reduce_sum(sum(units(b) for b in batches), info)  # host counts
    scale = info.world / n_units
    loss_sum, stats = 0.0, {}
    for j, batch in enumerate(batches):
        # Only the last micro-batch all-reduces gradients (DDP); the rest accumulate locally.
        sync = contextlib.nullcontext() if j == len(batches) - 1 else engine.no_sync()
        with sync:
            s, _, st = loss_fn(engine.module, to_device(batch, info.device))
            engine.backward(s * scale)
        loss_sum = loss_sum + s.detach().double()  # float64, as the host summed before
        for k, v in st.items():
            stats[k] = stats.get(k, 0.0) + torch.as_tensor(v, dtype=torch.float64)
    keys = sorted(stats)
    sums = torch.stack([torch.as_tensor(v, dtype=torch.float64, device=loss_sum.device)
                        for v in [loss_sum] + [stats[k] for k in keys]])
    return sums, keys, n_units


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
            loss_sum, n_sum = loss_sum + s.item(), n_sum + int(n)
            for k, v in st.items():
                stats[k] = stats.get(k, 0.0) + float(v)
    engine.module.train()
    n = max(distributed.all_reduce_sum(n_sum, info), 1)
    return (distributed.all_reduce_sum(loss_sum, info) / n,
            {k: distributed.all_reduce_sum(v, info) / n for k, v in sorted(stats.items())})


def evaluate(engine, tokenizer, task, cfg, info, probes: dict, domain_rows, epoch: int,
             step: int, run_dir: Path, interrupted=None) -> dict:
    """Everything measured at an epoch boundary (epoch 0 = the starting model), with 95%
    bootstrap intervals over text windows and eval items where a number gets compared.

    interrupted: a collective () -> bool (a preemption signal arrived), checked between the
    phases and before every generation batch; raises Interrupted so a long evaluation does
    not outlive Slurm's grace period."""
    def check():
        if interrupted is not None and interrupted():
            raise Interrupted()

    record = {"epoch": epoch, "step": step}
    if task.val:
        record["val_loss"], stats = validation(engine, task.val, task.collate_val, task.loss_fn,
                                               task.packing, cfg, info)
        record.update({f"val_{k}": v for k, v in stats.items()})
    if probes["general"]:
        nll, tokens = window_nll(engine.module, probes["general"], info,
                                 cfg.eval.val_micro_batch_size)
        record["general_ppl"] = math.exp(sum(nll) / sum(tokens))
        record["general_ppl_ci"] = perplexity_ci(nll, tokens, seed=cfg.train.seed)
        if info.is_main:  # per window, so a study can pair windows across runs and seeds
            out = run_dir / "eval" / f"epoch-{epoch}"
            out.mkdir(parents=True, exist_ok=True)
            (out / "general_windows.json").write_text(json.dumps({"nll": nll, "tokens": tokens}))
    check()
    for name, (examples, base) in probes["kl"].items():
        record[f"kl_{name}"] = kl_from_base(engine.module, examples, base, info)
    check()
    if cfg.eval.lm_eval_tasks:
        record.update(general_accuracy(engine, tokenizer, cfg.eval, cfg.model.cache_dir, info))
    if domain_rows:
        answers = generate_answers(engine.model, tokenizer, domain_rows, info,
                                   cfg.eval.max_new_tokens, cfg.eval.gen_batch_size,
                                   desc=f"domain eval (epoch {epoch})", interrupted=interrupted)
        if info.is_main:  # the scorers run once, on rank 0; nothing else depends on them
            pack = domains.configured(cfg)
            result = domains.score(pack, domain_rows, answers)
            record["domain_score"] = result["overall"]["score"]
            record["domain_score_ci"] = bootstrap_ci(
                result["items"], lambda items: pack.aggregate(items)[1]["score"],
                seed=cfg.train.seed)
            record["domain"] = result["overall"]
            save_eval(run_dir / "eval" / f"epoch-{epoch}", pack, domain_rows, answers, result)
    return record


# Domain items evaluated by a run with train.max_steps > 0 and eval.domain_max_items=0.
SMOKE_EVAL_ITEMS = 32


def diverged(bad: dict, epoch: int, cfg, run_dir: Path) -> FloatingPointError:
    """The error for the first step whose loss or gradient norm was NaN/inf."""
    loss, norm = bad["loss"], bad["grad_norm"]
    what = (f"loss is {loss}" if not math.isfinite(loss) else
            f"the gradient norm is {norm} (loss {loss:.4f})")
    # Every saved checkpoint passed a finite-parameter check, so this one is good.
    good = checkpoint.latest(run_dir)
    return FloatingPointError(
        f"{what} at step {bad['step']} (epoch {epoch + 1}); lower train.lr (now "
        f"{cfg.train.lr}) or train.max_grad_norm, or check the data. "
        + (f"The newest checkpoint (all values finite, but possibly already "
           f"diverging) is {good}. Rerun with a lower train.lr and "
           "train.resume=never to start over, or train.resume=<an earlier "
           "checkpoint> train.resume_force=true." if good else
           "No checkpoint was saved yet; rerun with a lower train.lr."))


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
    from netft.domains.chat import prompt, reference

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


PREEMPTED_EXIT = 0  # slurm/train.sh requeues the job itself after a preemption save


def preempted_exit_code(signum: int | None) -> int:
    """0 under Slurm (train.sh requeues); elsewhere 128+signal, so a stopped run never looks
    like a finished one to a shell or a scheduler."""
    if os.environ.get("SLURM_JOB_ID") or signum is None:
        return PREEMPTED_EXIT
    return 128 + signum


@contextlib.contextmanager
def preemption_signals():
    """A flag set by SIGUSR1 (Slurm's --signal warning) or SIGTERM, checked at step boundaries.
    The handlers installed before come back at exit: a process that runs netft in-process (a
    test, a notebook) must not go on ignoring SIGTERM afterwards."""
    flag = threading.Event()
    flag.signum = None

    def handler(signum, _frame):
        flag.signum = signum
        flag.set()

    # None: a handler not installed from Python, which cannot be put back; the default then.
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGUSR1, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, signal.SIG_DFL if old is None else old)


def check_resume(path: Path, cfg, fingerprint: dict) -> None:
    """Refuse a resume whose geometry, data or optimizer settings differ from the checkpoint's
    (it would skip or repeat rows, or silently keep the old lr), unless forced."""
    saved = checkpoint.read_manifest(path).get("run", {})
    diffs = resume_check.differences(saved, fingerprint)
    if diffs and not cfg.train.resume_force:
        raise ConfigError(
            f"resuming {path} with a different config: {'; '.join(diffs)}. Restore those "
            "settings, start a new run_dir (or train.resume=never), or set "
            "train.resume_force=true to continue anyway (optimizer state and data position "
            "come from the checkpoint)")


def load_for_training(model_path, cfg, info):
    """Tokenizer + model with the method applied; a model folder that cannot serve a chat
    fine-tune fails in one line naming the key (the library's message kept in it)."""
    name = cfg.model.name_or_path
    try:
        tokenizer = load_tokenizer(model_path, cfg.model)
    except (OSError, ValueError, TypeError) as e:
        raise ConfigError(f"model.name_or_path={name}: cannot load its tokenizer "
                          f"({type(e).__name__}: {str(e).splitlines()[0][:300]}); the folder "
                          "needs tokenizer.json or tokenizer.model + tokenizer_config.json") from e
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError(f"model.name_or_path={name}: the tokenizer has no chat template; use "
                          "an instruction-tuned model or add chat_template.jinja to the folder")
    if use_meta_load(cfg, info):  # fsdp2: only rank 0 reads; the others get their shards
        return tokenizer, load_meta(model_path, cfg, info,
                                    lambda: checked_load(model_path, cfg, info.device))
    return tokenizer, checked_load(model_path, cfg, info.device)


def checked_load(model_path, cfg, device):
    """The model with the method applied; a folder that cannot be loaded (missing or corrupt
    weights) fails in one line naming the key and, where one is, the broken file."""
    from safetensors import SafetensorError

    name = cfg.model.name_or_path
    try:
        model = load_model(model_path, cfg.model, cfg.method, device,
                           dtype=precision(cfg, device).params)
    except (OSError, ValueError, SafetensorError) as e:
        bad = unreadable_weights(model_path)
        raise ConfigError(f"model.name_or_path={name}: cannot load the model"
                          + (f" ({', '.join(bad)} unreadable: re-download or re-export it)"
                             if bad else "")
                          + f" ({type(e).__name__}: {str(e).splitlines()[0][:300]})") from e
    try:
        return apply_method(model, cfg.method)
    except ValueError as e:
        if "arget modules" not in str(e):
            raise
        raise ConfigError(f"method.target_modules={cfg.method.target_modules}: "
                          f"{str(e).splitlines()[0][:300]} (or use all-linear)") from e


def unreadable_weights(model_path) -> list[str]:
    """The safetensors files of a model folder whose header does not parse (truncated or
    corrupt downloads); safetensors' own message does not say which file."""
    from safetensors import SafetensorError, safe_open

    bad = []
    for f in sorted(Path(model_path).glob("*.safetensors")) if Path(model_path).is_dir() else []:
        try:
            with safe_open(str(f), framework="pt"):
                pass
        except (OSError, SafetensorError):
            bad.append(str(f))
    return bad


_LOCK: list = [None]  # the run-dir lock this process holds (rank 0), released at any exit


def run(cfg: DictConfig) -> dict:
    """One run in this process; returns its summary."""
    # First thing: a SIGUSR1/SIGTERM during the (long) setup is remembered, not fatal; the
    # first step boundary then checkpoints and exits. main() installs the handlers even earlier.
    if _STOP[0] is not None:
        return _run(cfg, _STOP[0])
    with preemption_signals() as stop:
        return _run(cfg, stop)


def _run(cfg: DictConfig, stop: threading.Event) -> dict:
    # ---------------------------------------------------------------- setup
    validate(cfg)  # impossible combinations fail here, before any model is loaded
    for name in cfg.eval.suites:  # an unknown suite fails now, not after training
        load_suite(name)
    info = distributed.setup(cfg.parallel.backend)
    distributed.rank_line(distributed.announce(info))
    # tqdm.write keeps log lines and the progress bar from tearing each other apart.
    say = (lambda msg: tqdm.write(str(msg))) if info.is_main else (lambda *a, **k: None)
    run_dir = Path(cfg.run_dir)
    problem = None
    if info.is_main:
        try:
            rundir.prepare(run_dir)
            _LOCK[0] = rundir.acquire(run_dir)
            for line in checkpoint.repair(run_dir):  # what a kill mid-save left behind
                say(f"[netft] checkpoints: {line}")
            rundir.write_config(run_dir, OmegaConf.to_yaml(OmegaConf.create(to_plain(cfg))))
        except ConfigError as e:
            problem = e
    # Every rank stops when rank 0 cannot own the run dir (no rank waits in a collective).
    if distributed.all_reduce_sum(1.0 if problem else 0.0, info):
        raise problem or ConfigError("rank 0 could not set up run_dir (see its error)")
    fingerprint = resume_check.fingerprint(cfg, info.world)
    # Decided before the model loads, so a refused resume costs seconds, not a model load.
    resume_from = resume_check.agreed(cfg, run_dir, info)  # rank 0 decides, all follow
    if resume_from is not None:
        check_resume(resume_from, cfg, fingerprint)
    random.seed(cfg.train.seed)
    torch.manual_seed(cfg.train.seed)

    model_path = resolve_path(cfg.model, log=say, info=info)  # a hub id: once per node
    check_at_start(cfg, info, say)  # memory per rank, estimated before anything is loaded
    before_model_load(cfg, info)  # e.g. ZeRO-3: from_pretrained loads into partitions
    tokenizer, model = load_for_training(model_path, cfg, info)
    trainable, total = count_params(model)
    say(f"[netft] model {cfg.model.name_or_path} ({model_path}): {total:,} params, {trainable:,} "
        f"trainable ({cfg.method.name}); attention {model.config._attn_implementation}; "
        f"parallel {cfg.parallel.name} x{info.world}")

    task = build_task(cfg, tokenizer, model, say)
    lengths = task.lengths()
    plans = [plan(lengths, cfg, info, epoch, task.packing) for epoch in range(cfg.train.epochs)]
    total_steps = sum(map(len, plans))
    if cfg.train.max_steps > 0:
        total_steps = min(total_steps, cfg.train.max_steps)

    warmup = math.ceil(cfg.train.warmup_ratio * total_steps)
    if 0 < total_steps <= warmup:
        # The schedule's first step runs at lr 0: a 1-step run would save the base unchanged.
        say(f"[netft] warning: all {total_steps} optimizer step(s) are warm-up "
            f"(train.warmup_ratio={cfg.train.warmup_ratio}) and the first runs at lr 0"
            f"{' -- final/ will equal the base model' if total_steps == 1 else ''}; raise "
            "train.max_steps or set train.warmup_ratio=0")
    # Counted before sharding: FSDP2's DTensors do not carry bitsandbytes' quant_state.
    base_params, adapter_params = count_flops_params(model)
    engine = build_engine(model, cfg, info, total_steps)
    share = parameter_share(engine.model)
    distributed.rank_line(
        f"[netft] rank {info.rank} holds {share['local']:,} of {share['full']:,} parameter "
        f"elements ({share['fraction']:.1%}; {', '.join(share['placements'])}); setup peak "
        f"RSS {peak_rss_gb():.3f} GiB ({'meta load' if use_meta_load(cfg, info) else 'full load'}"
        "; now anon {:.3f} + file {:.3f} GiB)".format(*rss_now_gb()))
    tracker = start_tracking(cfg.logger, run_dir, to_plain(cfg), info.is_main)
    flops_token = flops_per_token(engine.model.config, base_params, adapter_params,
                                  cfg.method.name == "full", task.mean_seq_len())
    peak, peak_source = peak_flops(info.device)
    say(f"[netft] {flops_token / 1e6:,.2f} MFLOP per token; device peak "
        f"{peak / 1e12:,.2f} TFLOP/s ({peak_source})")
    attach_reference(task, engine, cfg, info, tokenizer.pad_token_id, run_dir, say)

    # ---------------------------------------------------------------- loop
    step, tokens_seen, history, start_epoch, skip, loss = 0, 0, [], 0, 0, None
    if resume_from is not None:
        loop = checkpoint.load(engine, resume_from, info)
        step, tokens_seen, history = loop["step"], loop["tokens"], loop["history"]
        start_epoch, skip = loop["epoch"], loop["step_in_epoch"]
        say(f"[netft] resumed from {resume_from} (step {step}, epoch {start_epoch + 1})")
    if info.is_main:  # rows a killed attempt logged past the checkpoint (or a torn last line)
        tracker.truncate_after(step, {h["step"] for h in history} if resume_from else set())

    def save_checkpoint(epoch: int, step_in_epoch: int) -> None:
        checkpoint.save(engine, run_dir, {"step": step, "epoch": epoch, "tokens": tokens_seen,
                                          "step_in_epoch": step_in_epoch, "history": history},
                        info, keep=cfg.train.keep_checkpoints, run=fingerprint)

    general = (general_windows(tokenizer, cfg.eval.general_max_tokens)
               if cfg.eval.general_ppl else [])
    # The base model's distribution on the KL probe, recorded before step 1 (kept for resumes).
    probes = {"general": general,
              "kl": kl_probe(engine.module, general, task.val, cfg.eval, info,
                             run_dir / "kl_base.safetensors")}
    domain_rows = domain_eval_rows(cfg)

    def log_eval(record: dict) -> None:
        flat = {k: v for k, v in record.items() if k not in ("step", "domain")
                and not k.endswith("_ci")}
        for k in record:  # intervals as two numbers W&B can plot
            if k.endswith("_ci") and record[k]:
                flat[k[:-3] + "_lo"], flat[k[:-3] + "_hi"] = record[k]
        flat.update({f"domain/{k}": v for k, v in record.get("domain", {}).items()})
        tracker.log({f"eval/{k}": v for k, v in flat.items()}, step)
        say(f"[netft] epoch {record['epoch']}: " + ", ".join(
            f"{k} {v:.4f}" for k, v in record.items() if isinstance(v, float)))

    def preempted_now() -> bool:
        return distributed.all_reduce_sum(stop.is_set(), info) > 0  # all ranks agree

    def exit_preempted(what: str) -> None:
        say(f"[netft] preempted: {what}; exiting for requeue")
        distributed.teardown(info)
        rundir.release(_LOCK[0])
        sys.exit(preempted_exit_code(stop.signum))

    if resume_from is None and cfg.eval.val_before_training:
        # Epoch 0: the starting model, the baseline every later epoch is compared with.
        try:
            history.append(evaluate(engine, tokenizer, task, cfg, info, probes, domain_rows,
                                    0, 0, run_dir, interrupted=preempted_now))
        except Interrupted:
            exit_preempted("stopped during the base model's evaluation (nothing trained yet)")
        log_eval(history[-1])
    suites = {}
    if resume_from is None and cfg.eval.suites:
        suites["base"] = run_configured(engine.model, tokenizer, cfg, info, run_dir, "base",
                                        tracker, 0, say)

    metrics = StepMetrics(info, cfg.train.log_every, flops_token, peak, tokens_seen)
    bar = tqdm(total=total_steps, initial=step, desc="train", unit="step",
               disable=not info.is_main, mininterval=1)
    engine.module.train()
    for epoch in range(start_epoch, cfg.train.epochs):
        stopped_at = None  # batch index where max_steps ended this epoch early
        for i, micro_batches in enumerate(plans[epoch]):
            if i < skip:  # already trained before the resume
                continue
            if step >= total_steps:
                stopped_at = i
                break
            mine = rank_share(micro_batches, info.rank, info.world)
            batches = [task.collate_train(rows) for rows in mine]
            sums, keys, n_units = forward_backward(engine, batches, info, task.loss_fn)
            lr_used = engine.scheduler.get_last_lr()[0]  # this step's rate, not the next one's
            try:
                grad_norm, bad_now = engine.step(), False
            except NonFiniteGradError as e:  # raised before the update (host-checked norm)
                grad_norm, bad_now = e.norm, True
            step += 1
            metrics.add(step, sums, keys, n_units, grad_norm,
                        sum(b["n_tokens"] for b in batches), lr=lr_used, epoch=epoch + 1)
            preempted = preempted_now()
            every = cfg.train.save_every_steps
            save = preempted or (every > 0 and step % every == 0)
            bar.update(1)
            # Read the metrics back every train.log_every steps, and wherever logged and
            # saved state must agree: a checkpoint, the epoch's end, the last step.
            if (bad_now or save or metrics.due(step) or step >= total_steps
                    or i == len(plans[epoch]) - 1):
                row, bad = metrics.sync()
                if bad:  # stops before anything after that step is logged or saved
                    raise diverged(bad, epoch, cfg, run_dir)
                tracker.log(row, step)
                loss, tokens_seen = row["train/loss"], metrics.tokens_seen
                bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{row['train/tokens_per_s']:,.0f}",
                                refresh=False)
            if save:
                save_checkpoint(epoch, i + 1)
            if preempted:
                exit_preempted(f"checkpoint saved at step {step}")
        skip = 0

        # ---------------------------------------------------------- evaluate
        if cfg.eval.val_every_epoch:
            try:
                history.append(evaluate(engine, tokenizer, task, cfg, info, probes, domain_rows,
                                        epoch + 1, step, run_dir, interrupted=preempted_now))
            except Interrupted:
                # The epoch's steps are done, its evaluation is not: saved so that the resumed
                # run skips every trained batch and starts with this evaluation.
                save_checkpoint(epoch, len(plans[epoch]) if stopped_at is None else stopped_at)
                exit_preempted(f"checkpoint saved at step {step}, before epoch {epoch + 1}'s "
                               "evaluation")
            log_eval(history[-1])
            if cfg.eval.keep_best and best_epoch(history) == epoch + 1:
                save_final(engine, tokenizer, cfg.method.name, run_dir / "best", info,
                           cfg.parallel.export_shard_mb)
        if stopped_at is not None and cfg.train.save_every_epoch:
            # A max_steps stop is not an epoch end: a later resume with a higher max_steps
            # continues this epoch instead of skipping the rest of it.
            save_checkpoint(epoch, stopped_at)
        elif cfg.train.save_every_epoch:
            save_checkpoint(epoch + 1, 0)
        if should_stop(history, cfg.eval.early_stopping_patience):
            say(f"[netft] early stopping: validation loss has not improved for "
                f"{cfg.eval.early_stopping_patience} epochs (best: epoch {best_epoch(history)})")
            break
        if step >= total_steps:
            break
    bar.close()

    # ---------------------------------------------------------------- save
    if cfg.eval.suites:
        suites["final"] = run_configured(engine.model, tokenizer, cfg, info, run_dir, "final",
                                         tracker, step, say)
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
                                  run_dir / "review", n=cfg.eval.review_items,
                                  domain=domains.configured(cfg))
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
    if suites:
        summary["suites"] = suites
    tracker.finish(summary)
    say(f"[netft] done: run dir {run_dir}")
    distributed.teardown(info)
    rundir.release(_LOCK[0])
    return summary


CONF_DIR = str(PACKAGE_CONF_DIR)  # conf/ (in the wheel: netft/conf)


def sweep_value(summary: dict, metric: str) -> float:
    """The number a Hydra sweeper optimises (train.sweep_metric): a summary key, else a key of
    the last evaluation record. Optuna needs a float: a missing metric is an error, not None."""
    history = summary.get("history") or [{}]
    value = summary.get(metric, history[-1].get(metric))
    if value is None and metric == "final_val_loss":  # no validation files: the train loss
        value = summary.get("final_train_loss")
    if not isinstance(value, (int, float)):
        keys = sorted(k for k, v in {**history[-1], **summary}.items() if isinstance(v, (int, float)))
        raise ConfigError(f"train.sweep_metric={metric!r} is not a number of this run; "
                          f"choose one of {', '.join(keys)}")
    return float(value)


def _remove_stray_hydra_dir(cfg: DictConfig) -> None:
    """With run_dir=... given, Hydra still creates outputs/<date>/<time>/.hydra; remove it."""
    import shutil

    from hydra.core.hydra_config import HydraConfig

    try:
        out = Path(HydraConfig.get().runtime.output_dir).resolve()
        if out == Path(cfg.run_dir).resolve() or not out.exists():
            return
        if {p.name for p in out.iterdir()} <= {".hydra", "train.log"}:
            shutil.rmtree(out)
            for parent in out.parents:  # outputs/<date>/ when now empty
                if parent == Path.cwd() or any(parent.iterdir()):
                    break
                parent.rmdir()
    except Exception:  # noqa: BLE001 - tidying must never hide the run's own outcome
        pass


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> float:
    try:
        # Returned to Hydra: sweepers (Optuna, Nevergrad, ...) minimise or maximise it. A user
        # error exits 2 with one line here, in the job (a Slurm job has no main() around it).
        return guard(PROG, lambda: sweep_value(run(cfg), cfg.train.sweep_metric))
    finally:
        rundir.release(_LOCK[0])
        _remove_stray_hydra_dir(cfg)


PROG = "netft-train"
_STOP: list = [None]  # the preemption flag, installed by main() before Hydra composes


def main() -> None:
    with preemption_signals() as stop:
        _STOP[0] = stop
        try:
            _compose_and_run()
        finally:
            _STOP[0] = None


def _compose_and_run() -> None:
    # Hydra reports a composition error (method=lorra, a bad override) itself, over several
    # lines, and exits 1; HYDRA_FULL_ERROR=1 makes it raise instead, so that the guard gives
    # it netft's one line and exit 2 (Hydra's list of valid options kept in the line).
    full_error = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        guard(PROG, _hydra_main)
    finally:
        if full_error is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = full_error


if __name__ == "__main__":
    # Run the importable module's main, not this __main__ copy: the Slurm launcher (submitit)
    # pickles the task function, and only an importable module's functions pickle by name.
    from netft.train import main as importable_main

    importable_main()
