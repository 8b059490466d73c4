"""Checkpoints survive kills: SIGKILL one rank, resume, end where an uninterrupted run ends."""
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import ROOT, compose, torchrun_cmd, train_losses
from netft import checkpoint
from netft.distributed import DistInfo
from netft.eval.record import EvalRecord
from netft.models.load import apply_method, load_model
from netft.parallel.engine import build_torch_engine
from netft.run.state import StateError, TrainState

COMMON = ["model=tiny", "train.epochs=2", "train.max_steps=24", "train.micro_batch_size=1",
          "train.grad_accum=2", "train.lr=1e-3", "logger=none", "eval.domain=false",
          "train.save_every_steps=4", "train.keep_checkpoints=2"]
WEIGHT_TOL = 1e-5


def rank_pids(parent_pid: int) -> dict[int, int]:
    """rank -> pid of the worker processes that torchrun started."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().split()
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat[3]) == parent_pid:
            for kv in env:
                if kv.startswith(b"RANK="):
                    out[int(kv[5:])] = int(pid)
    return out


def final_weights(run_dir: Path) -> dict:
    files = list((run_dir / "final").glob("*.safetensors"))
    assert len(files) == 1
    return load_file(files[0])


@pytest.mark.slow
@pytest.mark.parametrize("method,parallel", [("lora", "fsdp2"), ("full", "zero3")])
def test_sigkill_one_rank_then_resume_matches_uninterrupted(tmp_path, tiny_path, method, parallel):
    overrides = [*COMMON, f"method={method}", f"parallel={parallel}"]
    straight = tmp_path / "straight"
    proc = subprocess.run(torchrun_cmd(2, *overrides, f"run_dir={straight}"), cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]

    killed = tmp_path / "killed"
    launcher = subprocess.Popen(torchrun_cmd(2, *overrides, f"run_dir={killed}"), cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    target = killed / "checkpoints" / "step-00000008" / "COMPLETE"
    deadline = time.time() + 300
    while not target.exists():
        assert launcher.poll() is None, "run ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.02)
    os.kill(rank_pids(launcher.pid)[1], signal.SIGKILL)
    assert launcher.wait(timeout=120) != 0
    assert not (killed / "final").exists(), "the kill came too late to test anything"
    killed_at = checkpoint.latest(killed)
    assert killed_at is not None and int(killed_at.name.split("-")[1]) < 24

    proc = subprocess.run(torchrun_cmd(2, *overrides, f"run_dir={killed}"), cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"resumed from {killed_at}" in proc.stdout
    # Same optimizer-step count, same losses from the checkpoint on, same final weights.
    assert train_losses(killed) == pytest.approx(train_losses(straight), abs=1e-5)
    a, b = final_weights(straight), final_weights(killed)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], atol=WEIGHT_TOL, rtol=0, msg=k)


def test_kill_during_save_leaves_previous_checkpoint_loadable(tmp_path, tiny_path):
    cfg = compose(["run_dir=/tmp/x", "method=full"])
    model = apply_method(load_model(str(tiny_path), cfg.model, cfg.method, torch.device("cpu")),
                         cfg.method)
    engine = build_torch_engine(model, cfg, DistInfo(), total_steps=10)
    info = DistInfo()
    good = checkpoint.save(engine, tmp_path, TrainState(step=2, step_in_epoch=2, tokens=10),
                           info, keep=2)
    saved = {k: v.clone() for k, v in engine.model.state_dict().items()}

    real_save = engine.save_state

    def dies_halfway(path):  # writes part of the shards, then the process "dies"
        real_save(path)
        next(path.glob("*.distcp")).write_bytes(b"truncated")
        raise KeyboardInterrupt("killed mid-save")

    engine.save_state = dies_halfway
    with torch.no_grad():
        for p in engine.model.parameters():
            p.add_(1.0)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(engine, tmp_path, TrainState(step=4, step_in_epoch=4, tokens=20),
                        info, keep=2)
    assert checkpoint.latest(tmp_path) == good
    engine.save_state = real_save
    assert checkpoint.load(engine, good, info).step == 2
    for k, v in engine.model.state_dict().items():
        torch.testing.assert_close(v, saved[k])


# What netft wrote as a checkpoint's "loop" before TrainState (issue 24): an untyped dict.
OLD_LOOP = {"step": 5, "epoch": 1, "tokens": 321, "step_in_epoch": 2,
            "history": [{"epoch": 0, "step": 0, "val_loss": 2.5}]}


class OldLoop:
    """Makes checkpoint.save write exactly the old layout ({"loop": <that dict>, ...})."""
    step = OLD_LOOP["step"]

    def state_dict(self):
        return dict(OLD_LOOP)


def test_checkpoint_of_the_old_layout_resumes_exactly(tmp_path, tiny_path):
    cfg = compose(["run_dir=/tmp/x", "method=lora"])
    model = apply_method(load_model(str(tiny_path), cfg.model, cfg.method, torch.device("cpu")),
                         cfg.method)
    engine = build_torch_engine(model, cfg, DistInfo(), total_steps=10)
    saved = checkpoint.save(engine, tmp_path, OldLoop(), DistInfo(), keep=2)
    assert "version" not in torch.load(saved / "trainer-rank0.pt", weights_only=True)["loop"]
    state = checkpoint.load(engine, saved, DistInfo())
    assert (state.step, state.epoch, state.step_in_epoch, state.tokens) == (5, 1, 2, 321)
    assert [h.to_json() for h in state.history] == OLD_LOOP["history"]
    # Saved again it is the same dict plus its version: nothing of the old state is lost.
    assert state.state_dict() == {**OLD_LOOP, "version": 2}


def test_train_state_round_trip_and_refusals():
    state = TrainState(step=7, epoch=2, step_in_epoch=3, tokens=99,
                       history=[EvalRecord(epoch=1, step=4, val_loss=1.0),
                                EvalRecord(epoch=2, step=7, val_loss=0.5)])
    again = TrainState()
    again.load_state_dict(state.state_dict())
    assert again == TrainState(**{**state.__dict__, "loss": None}) and again.best == 2
    with pytest.raises(StateError, match=r"ckpt: its train state is version 9.*train.resume=never"):
        TrainState().load_state_dict({**state.state_dict(), "version": 9}, where="ckpt")
    with pytest.raises(StateError, match="missing step_in_epoch"):
        TrainState().load_state_dict({k: v for k, v in OLD_LOOP.items() if k != "step_in_epoch"})
