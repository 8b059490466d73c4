"""netft-train: one fine-tuning run as a recipe -- setup -> train -> evaluate -> save.

    netft-train model=tiny method=lora train.epochs=2
    torchrun --nproc-per-node 2 -m netft.train parallel=fsdp2 ...
    srun python -m netft.train parallel=zero3 method=full ...      (slurm/train.sh does this)

Rank-dependent: `rank_share` picks this rank's micro-batches; only rank 0 writes files / W&B.
Every rank runs every line below. Progress is a TrainState (netft/run/state.py): a checkpoint's.
"""
from __future__ import annotations

import random
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from netft import checkpoint, distributed
from netft.run import resume, rundir
from netft.config import CONF_DIR as PACKAGE_CONF_DIR, to_plain, validate
from netft.data.batching import rank_share, run_plans
from netft.errors import guard
from netft.eval import base_cache
from netft.eval.epoch import build_probes, domain_eval_rows, evaluate, log_record, report_last
from netft.eval.forgetting import forgetting, should_stop
from netft.eval.generate import Interrupted
from netft.eval.suites import load as load_suite, run_configured
from netft.run.final_weights import save_final
from netft.run.hydra_job import composition_errors_raised, remove_stray_hydra_dir, sweep_value
from netft.models.checked import load_for_training
from netft.models.load import count_params, resolve_path
from netft.parallel.meta_load import use_meta_load
from netft.objectives.accumulate import forward_backward
from netft.objectives.tasks import attach_reference, build_task
from netft.optim import warmup_warning
from netft.parallel.engine import (NonFiniteGradError, before_model_load, build_engine,
                                   share_line)
from netft.perf import count_flops_params, flops_per_token, peak_flops
from netft.plan import check_at_start
from netft.run.preemption import preempted_exit_code, preemption_signals
from netft.run.state import TrainState
from netft.run.step_metrics import StepMetrics, diverged
from netft.run.tracking import start as start_tracking


@dataclass
class Run:
    """What setup() builds and every later phase uses."""
    cfg: DictConfig
    info: distributed.DistInfo
    say: object
    run_dir: Path
    stop: threading.Event  # set by a preemption signal
    fingerprint: dict  # what a resume must agree on (netft/run/resume.py)
    resume_from: Path | None
    tokenizer: object = None
    engine: object = None
    task: object = None
    plans: list = None
    total_steps: int = 0
    params: tuple = (0, 0)  # (trainable, total)
    flops: tuple = (0.0, 0.0, "")  # (FLOP per token, device peak FLOP/s, its source)
    tracker: object = None
    probes: dict = None
    domain_rows: list = None

    def save_checkpoint(self, state: TrainState) -> None:
        checkpoint.save(self.engine, self.run_dir, state, self.info,
                        keep=self.cfg.train.keep_checkpoints, run=self.fingerprint)

    def preempted_now(self) -> bool:
        return distributed.all_reduce_sum(self.stop.is_set(), self.info) > 0  # all ranks agree

    def exit_preempted(self, what: str) -> None:
        self.say(f"[netft] preempted: {what}; exiting for requeue")
        distributed.teardown(self.info)
        rundir.release_held()
        sys.exit(preempted_exit_code(self.stop.signum))


def setup(cfg: DictConfig, stop: threading.Event) -> Run:
    """Config checks, run dir, resume decision, model, data, engine: everything before step 1."""
    validate(cfg)  # impossible combinations fail here, before any model is loaded
    for name in cfg.eval.suites:  # an unknown suite fails now, not after training
        load_suite(name)
    info = distributed.setup(cfg.parallel.backend)
    distributed.rank_line(distributed.announce(info))
    # tqdm.write keeps log lines and the progress bar from tearing each other apart.
    say = (lambda msg: tqdm.write(str(msg))) if info.is_main else (lambda *a, **k: None)
    run_dir = Path(cfg.run_dir)
    rundir.claim(run_dir, OmegaConf.to_yaml(OmegaConf.create(to_plain(cfg))), info, say)
    fingerprint = resume.fingerprint(cfg, info.world)
    # Decided before the model loads, so a refused resume costs seconds, not a model load.
    resume_from = resume.agreed(cfg, run_dir, info)  # rank 0 decides, all follow
    if resume_from is not None:
        resume.check(resume_from, cfg, fingerprint)
    random.seed(cfg.train.seed)
    torch.manual_seed(cfg.train.seed)
    r = Run(cfg, info, say, run_dir, stop, fingerprint, resume_from)

    model_path = resolve_path(cfg.model, log=say, info=info)  # a hub id: once per node
    check_at_start(cfg, info, say)  # memory per rank, estimated before anything is loaded
    before_model_load(cfg, info)  # e.g. ZeRO-3: from_pretrained loads into partitions
    r.tokenizer, model = load_for_training(model_path, cfg, info)
    r.params = trainable, total = count_params(model)
    say(f"[netft] model {cfg.model.name_or_path} ({model_path}): {total:,} params, {trainable:,} "
        f"trainable ({cfg.method.name}); attention {model.config._attn_implementation}; "
        f"parallel {cfg.parallel.name} x{info.world}")

    r.task = build_task(cfg, r.tokenizer, model, say)
    r.plans, r.total_steps = run_plans(cfg, info.world, r.task.lengths(), r.task.packing)
    if warning := warmup_warning(cfg.train, r.total_steps):
        say(f"[netft] warning: {warning}")
    # Counted before sharding: FSDP2's DTensors do not carry bitsandbytes' quant_state.
    base_params, adapter_params = count_flops_params(model)
    r.engine = build_engine(model, cfg, info, r.total_steps)
    distributed.rank_line(share_line(r.engine.model, info, use_meta_load(cfg, info)))
    r.tracker = start_tracking(cfg.logger, run_dir, to_plain(cfg), info.is_main)
    r.flops = (flops_per_token(r.engine.model.config, base_params, adapter_params,
                               cfg.method.name == "full", r.task.mean_seq_len()),
               *peak_flops(info.device))
    say(f"[netft] {r.flops[0] / 1e6:,.2f} MFLOP per token; device peak "
        f"{r.flops[1] / 1e12:,.2f} TFLOP/s ({r.flops[2]})")
    attach_reference(r.task, r.engine, cfg, info, r.tokenizer.pad_token_id, run_dir, say)
    return r


def start_state(r: Run) -> TrainState:
    """A fresh state, or the checkpoint's (with the model, optimizer and RNG restored)."""
    state = TrainState()
    if r.resume_from is not None:
        state = checkpoint.load(r.engine, r.resume_from, r.info)
        r.say(f"[netft] resumed from {r.resume_from} (step {state.step}, epoch {state.epoch + 1})")
    if r.info.is_main:  # rows a killed attempt logged past the checkpoint (or a torn last line)
        r.tracker.truncate_after(state.step, {h.step for h in state.history}
                                 if r.resume_from else set())
    r.probes = build_probes(r.engine, r.tokenizer, r.task, r.cfg, r.info, r.run_dir)
    r.domain_rows = domain_eval_rows(r.cfg)
    return state


def evaluate_epoch(r: Run, state: TrainState, epoch: int, memo: dict | None = None) -> None:
    """Evaluate after `epoch` (0: the starting model); raises Interrupted on a preemption."""
    state.history.append(evaluate(r.engine, r.tokenizer, r.task, r.cfg, r.info, r.probes,
                                  r.domain_rows, epoch, state.step, r.run_dir,
                                  interrupted=r.preempted_now, memo=memo))
    log_record(state.history[-1], r.tracker, state.step, r.say)


def train(r: Run, state: TrainState) -> None:
    """The loop: steps, metrics, checkpoints, and an evaluation after each epoch."""
    cfg, info = r.cfg, r.info
    metrics = StepMetrics(info, cfg.train.log_every, *r.flops[:2], state.tokens)
    bar = tqdm(total=r.total_steps, initial=state.step, desc="train", unit="step",
               disable=not info.is_main, mininterval=1)
    r.engine.module.train()
    while state.epoch < cfg.train.epochs:
        epoch, plan, stopped = state.epoch, r.plans[state.epoch], False
        for i in range(state.step_in_epoch, len(plan)):  # a resume skips the trained batches
            if stopped := state.step >= r.total_steps:
                break
            batches = [r.task.collate_train(rows) for rows in
                       rank_share(plan[i], info.rank, info.world)]
            sums, keys, n_units = forward_backward(r.engine, batches, info, r.task.loss_fn)
            lr_used = r.engine.scheduler.get_last_lr()[0]  # this step's rate, not the next's
            try:
                grad_norm, bad_now = r.engine.step(), False
            except NonFiniteGradError as e:  # raised before the update (host-checked norm)
                grad_norm, bad_now = e.norm, True
            state.step, state.step_in_epoch = state.step + 1, i + 1
            metrics.add(state.step, sums, keys, n_units, grad_norm,
                        sum(b["n_tokens"] for b in batches), lr=lr_used, epoch=epoch + 1)
            preempted = r.preempted_now()
            every = cfg.train.save_every_steps
            save = preempted or (every > 0 and state.step % every == 0)
            bar.update(1)
            # Read the metrics back every train.log_every steps, and wherever logged and
            # saved state must agree: a checkpoint, the epoch's end, the last step.
            if (bad_now or save or metrics.due(state.step) or state.step >= r.total_steps
                    or i == len(plan) - 1):
                row, bad = metrics.sync()
                if bad:  # stops before anything after that step is logged or saved
                    raise diverged(bad, epoch, cfg, r.run_dir)
                r.tracker.log(row, state.step)
                state.loss, state.tokens = row["train/loss"], metrics.tokens_seen
                bar.set_postfix(loss=f"{state.loss:.3f}",
                                tok_s=f"{row['train/tokens_per_s']:,.0f}", refresh=False)
            if save:
                r.save_checkpoint(state)
            if preempted:
                r.exit_preempted(f"checkpoint saved at step {state.step}")
        if cfg.eval.val_every_epoch:
            try:
                evaluate_epoch(r, state, epoch + 1)
            except Interrupted:
                # The epoch's steps are done, its evaluation is not: saved so that the resumed
                # run skips every trained batch and starts with this evaluation.
                r.save_checkpoint(state)
                r.exit_preempted(f"checkpoint saved at step {state.step}, before epoch "
                                 f"{epoch + 1}'s evaluation")
            if cfg.eval.keep_best and state.best == epoch + 1:
                save_final(r.engine, r.tokenizer, cfg.method.name, r.run_dir / "best", info,
                           cfg.parallel.export_shard_mb)
        # A max_steps stop is not an epoch end: a later resume with a higher max_steps
        # continues this epoch instead of skipping the rest of it.
        if not stopped:
            state.next_epoch()
        if cfg.train.save_every_epoch:
            r.save_checkpoint(state)
        if should_stop(state.history, cfg.eval.early_stopping_patience):
            r.say(f"[netft] early stopping: validation loss has not improved for "
                  f"{cfg.eval.early_stopping_patience} epochs (best: epoch {state.best})")
            break
        if stopped or state.step >= r.total_steps:
            break
    bar.close()


def finish(r: Run, state: TrainState, suites: dict) -> dict:
    """Final suites, final/ weights, the last evaluation's report, summary.json; returns it."""
    cfg, info, run_dir = r.cfg, r.info, r.run_dir
    if cfg.eval.suites:
        suites["final"] = run_configured(r.engine.model, r.tokenizer, cfg, info, run_dir,
                                         "final", r.tracker, state.step, r.say)
    final_dir = save_final(r.engine, r.tokenizer, cfg.method.name, run_dir / "final", info,
                           cfg.parallel.export_shard_mb)
    history = state.history
    if r.domain_rows and info.is_main and history and history[-1].domain is not None:
        report_last(cfg, r.domain_rows, run_dir, history[-1].epoch, r.say)
    summary = {"run_dir": str(run_dir), "final": str(final_dir), "method": cfg.method.name,
               "parallel": cfg.parallel.name, "world": info.world, "steps": state.step,
               "epochs_run": sum(h.epoch > 0 for h in history), "tokens": state.tokens,
               "history": [h.to_json() for h in history], "final_train_loss": state.loss,
               "final_val_loss": history[-1].val_loss if history else None,
               "best_epoch": state.best,
               "best": str(run_dir / "best") if (run_dir / "best").exists() else None,
               "forgetting": forgetting(history),
               "trainable_params": r.params[0], "total_params": r.params[1],
               "objective": r.task.name, "data": r.task.report,
               "domain": history[-1].domain if history else None}
    if suites:
        summary["suites"] = suites
    r.tracker.finish(summary)
    r.say(f"[netft] done: run dir {run_dir}")
    distributed.teardown(info)
    rundir.release_held()
    return summary


def run(cfg: DictConfig) -> dict:
    """One run in this process; returns its summary."""
    # First thing: a SIGUSR1/SIGTERM during the (long) setup is remembered, not fatal; the
    # first step boundary then checkpoints and exits. main() installs the handlers even earlier.
    with preemption_signals() as stop:
        r = setup(cfg, stop)
        state, suites = start_state(r), {}
        if r.resume_from is None and cfg.eval.val_before_training:
            try:  # epoch 0: the starting model, the baseline every later epoch is compared with
                with base_cache.once(r.engine, r.tokenizer, r.task, cfg, r.info, r.probes,
                                     r.domain_rows, r.say) as memo:  # once per model + eval
                    evaluate_epoch(r, state, 0, memo)
            except Interrupted:
                r.exit_preempted("stopped during the base model's evaluation "
                                 "(nothing trained yet)")
        if r.resume_from is None and cfg.eval.suites:
            suites["base"] = run_configured(r.engine.model, r.tokenizer, cfg, r.info, r.run_dir,
                                            "base", r.tracker, 0, r.say)
        train(r, state)
        return finish(r, state, suites)


CONF_DIR = str(PACKAGE_CONF_DIR)  # conf/ (in the wheel: netft/conf)
PROG = "netft-train"


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> float:
    try:
        # Returned to Hydra: sweepers (Optuna, Nevergrad, ...) minimise or maximise it. A user
        # error exits 2 with one line here, in the job (a Slurm job has no main() around it).
        return guard(PROG, lambda: sweep_value(run(cfg), cfg.train.sweep_metric))
    finally:
        rundir.release_held()
        remove_stray_hydra_dir(cfg)


def main() -> None:
    # Composition errors raised, so the guard gives them netft's one line and exit 2.
    with preemption_signals(), composition_errors_raised():
        guard(PROG, _hydra_main)


if __name__ == "__main__":
    # Run the importable module's main, not this __main__ copy: the Slurm launcher (submitit)
    # pickles the task function, and only an importable module's functions pickle by name.
    from netft.train import main as importable_main

    importable_main()
