"""train.log_every: metrics read back every N steps are the rows a per-step run logs, with
fewer collectives per step; a NaN/inf step is still caught (issue 13 item 5)."""
import json
import math
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, compose, free_port, read_metrics
from netft.distributed import DistInfo

FAST = ["model=tiny", "method=lora", "train.epochs=1", "train.micro_batch_size=1",
        "train.grad_accum=2", "train.max_length=128", "logger=none", "eval.domain=false",
        "eval.general_ppl=false", "eval.val_before_training=false",
        "eval.val_every_epoch=false", "train.save_every_epoch=false"]
# Measurements, not results: they differ between any two runs.
TIMING = {"time", "train/tokens_per_s", "train/tokens_per_s_per_device", "train/mfu",
          "train/peak_mem_gb"}


def counted_run(tmp_path, log_every: int):
    """2-rank fsdp2 run of 7 steps; (metrics rows by step, all-reduces per step on rank 0)."""
    run, out = tmp_path / f"run{log_every}", tmp_path / f"count{log_every}"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2",
           "--master-addr=127.0.0.1", f"--master-port={free_port()}",
           str(ROOT / "tests" / "count_collectives.py"), *FAST, "parallel=fsdp2",
           "train.max_steps=7", f"train.log_every={log_every}", f"run_dir={run}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COUNT_OUT": str(out)})
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "rank 1 holds" in proc.stdout and "(100.0%" not in proc.stdout  # really sharded
    at = [json.loads((tmp_path / f"count{log_every}.{r}").read_text()) for r in (0, 1)]
    assert at[0] == at[1]  # every rank issues the same collectives
    rows = {r["step"]: r for r in read_metrics(run) if "train/loss" in r}
    return rows, [b - a for a, b in zip(at[0], at[0][1:])]


@pytest.mark.slow  # two whole runs in subprocesses: `make test`, not test-fast
def test_log_every_logs_the_same_rows_with_fewer_collectives(tmp_path):
    every_step, per_step = counted_run(tmp_path, 1)
    every_3, per_step_3 = counted_run(tmp_path, 3)
    assert sorted(every_step) == list(range(1, 8))
    # Steps 3 and 6 by the rule, 7 because the last step always syncs.
    assert sorted(every_3) == [3, 6, 7]
    for step, row in every_3.items():
        want = {k: v for k, v in every_step[step].items() if k not in TIMING}
        assert {k: v for k, v in row.items() if k not in TIMING} == want, step
        assert list(row) == list(every_step[step])  # same keys, same order
    # Per step (steps 2..7, counted from the previous step's record): the step's normaliser
    # and the preemption flag (host values), plus the metrics all-reduce at a sync step.
    # Before log_every existed: 4 (normaliser, metrics, tokens + memory, preemption flag).
    assert per_step == [3] * 6
    assert per_step_3 == [2, 2, 3, 2, 2, 3]


def test_fused_optimizer_skips_a_nonfinite_step_on_the_device(tiny_path, monkeypatch):
    """The GPU path (fused AdamW takes found_inf), run on CPU: a NaN gradient neither raises
    on the host nor reaches the weights; the next sync reports that step; a later finite
    step trains."""
    import netft.parallel.engine as engine_mod
    from netft.models.load import apply_method, load_model
    from netft.optim import make_optimizer
    from netft.run.step_metrics import StepMetrics

    monkeypatch.setattr(engine_mod, "make_optimizer",
                        lambda model, train_cfg, fused=False: make_optimizer(model, train_cfg,
                                                                             fused=True))
    cfg = compose(["run_dir=/tmp/x", "method=full", "train.warmup_ratio=0"])
    model = apply_method(load_model(str(tiny_path), cfg.model, cfg.method, torch.device("cpu")),
                         cfg.method)
    engine = engine_mod.build_torch_engine(model, cfg, DistInfo(), total_steps=10)
    metrics = StepMetrics(DistInfo(), every=3, flops_token=1.0, peak_flops=1.0)
    ids = torch.tensor([[1, 2, 3, 4]])
    before = {k: v.clone() for k, v in model.state_dict().items()}

    def one_step(step, poison):
        loss = model(input_ids=ids, labels=ids).loss
        engine.backward(loss)
        if poison:
            next(p for p in model.parameters() if p.grad is not None).grad.view(-1)[0] = math.nan
        norm = engine.step()  # no host check on this path: it must not raise
        metrics.add(step, loss.detach().double().reshape(1) * 3, [], 3.0, norm, 4,
                    lr=0.0, epoch=1)
        return loss.item()

    one_step(1, poison=True)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k], msg=k)  # the update was skipped
    loss2 = one_step(2, poison=False)
    assert any(not torch.equal(v, before[k]) for k, v in model.state_dict().items())
    row, bad = metrics.sync()
    assert bad is not None and bad["step"] == 1 and math.isnan(bad["grad_norm"])
    assert row["train/loss"] == pytest.approx(loss2) and row["train/tokens"] == 8
    one_step(3, poison=False)
    assert metrics.sync()[1] is None  # the window restarts after a sync


@pytest.mark.slow  # whole runs in subprocesses: `make test`, not test-fast
@pytest.mark.parametrize("log_every", [1, 4])
def test_a_nan_step_stops_the_run_with_the_same_message(tmp_path, log_every):
    """lr=1e6 makes step 2's gradient norm NaN (step 1 is finite): the run stops at that step
    with the per-step message, whatever log_every."""
    run = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "netft.train", *FAST, "train.lr=1e6", "train.warmup_ratio=0",
         "train.max_steps=6", f"train.log_every={log_every}", f"run_dir={run}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [x for x in proc.stderr.splitlines() if x.startswith("netft-train: error: ")]
    assert len(lines) == 1, proc.stderr[-2000:]
    line = lines[0]
    assert " at step 2 (epoch 1)" in line, line
    assert "nan" in line.split(" at step")[0], line
    logged = ([r["step"] for r in read_metrics(run) if "train/loss" in r]
              if (run / "metrics.jsonl").exists() else [])
    assert logged == ([1] if log_every == 1 else [])
