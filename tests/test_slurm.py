"""`sbatch slurm/train.sh` on a real Slurm cluster (slurmctld + 2 slurmd, slurm/cluster.sh).

Proves: 2 tasks on one node and 1 task on each of 2 nodes train the same loss curve; a USR1
preemption checkpoints, requeues, resumes and ends with the uninterrupted run's weights; Hydra
multirun with the Slurm launcher submits one job per grid point.
"""
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import ROOT, train_losses

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("apt-get") is None and shutil.which("slurmctld") is None,
    reason="a local Slurm cluster needs root (to start slurmctld/slurmd) and Debian's slurm packages")]

TRAIN = ["model=tiny", "method=lora", "parallel=fsdp2", "train.epochs=1", "train.max_steps=16",
         "train.micro_batch_size=1", "train.grad_accum=2", "train.lr=1e-3", "logger=none",
         "eval.domain=false"]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory, tiny_path):
    state = tmp_path_factory.mktemp("slurm")
    up = subprocess.run(["bash", "slurm/cluster.sh", "up", "--nodes", "2", "--dir", str(state)],
                        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
    # Not WANDB_SERVICE: once a test used W&B in-process, wandb put its service address in
    # os.environ, and jobs would share pytest's wandb-core (a requeued job's second half then
    # finds its own run id "in use").
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    env["SLURM_CONF"] = str(state / "etc" / "slurm.conf")
    yield env
    subprocess.run(["bash", "slurm/cluster.sh", "down", "--dir", str(state)], cwd=ROOT,
                   timeout=120)


LOGS = Path("/tmp/netft-slurm-test-logs")


def sbatch(env, args, overrides, wait=True):
    LOGS.mkdir(exist_ok=True)
    cmd = ["sbatch", "--parsable", f"--output={LOGS}/%x-%j.out", *(["--wait"] if wait else []),
           *args, "slurm/train.sh", *overrides]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def job_log(job_id: str) -> str:
    path = LOGS / f"netft-{job_id}.out"
    return path.read_text() if path.exists() else f"(no log {path})"


def weights(run_dir: Path) -> dict:
    return load_file(next((run_dir / "final").glob("*.safetensors")))


@pytest.fixture(scope="module")
def one_node_run(slurm, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("one-node") / "run"
    env = dict(slurm, NETFT_RUN_DIR=str(run_dir))
    proc = sbatch(env, ["--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1"], TRAIN)
    job = proc.stdout.strip().split(";")[0]
    assert proc.returncode == 0, proc.stderr + job_log(job)[-3000:]
    return run_dir, job


def test_two_tasks_on_one_node(one_node_run):
    run_dir, job = one_node_run
    assert (run_dir / "summary.json").exists() and (run_dir / "final").exists()
    log = job_log(job)
    assert "rank 0/2" in log and "rank 1/2" in log
    assert len(train_losses(run_dir)) == 16


def test_two_nodes_one_rank_each_match_one_node(slurm, one_node_run, tmp_path):
    run_dir = tmp_path / "run"
    env = dict(slurm, NETFT_RUN_DIR=str(run_dir))
    proc = sbatch(env, ["--nodes=2", "--ntasks-per-node=1", "--cpus-per-task=1"], TRAIN)
    job = proc.stdout.strip().split(";")[0]
    log = job_log(job)
    assert proc.returncode == 0, proc.stderr + log[-3000:]
    hosts = {line.split(" on ")[1].split()[0] for line in log.splitlines()
             if line.startswith("[netft] rank ") and " on " in line}
    assert hosts == {"n1", "n2"}, hosts  # one rank per node, each node's hostname in the log
    ref = train_losses(one_node_run[0])
    got = train_losses(run_dir)
    assert max(abs(a - b) for a, b in zip(got, ref)) < 1e-4 and len(got) == len(ref)


def test_usr1_preemption_checkpoints_requeues_and_resumes(slurm, one_node_run, tmp_path):
    run_dir = tmp_path / "run"
    env = dict(slurm, NETFT_RUN_DIR=str(run_dir))
    with_wandb = [o for o in TRAIN if o != "logger=none"] + ["logger=wandb"]
    proc = sbatch(env, ["--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1"], with_wandb,
                  wait=False)
    job = proc.stdout.strip().split(";")[0]
    assert proc.returncode == 0, proc.stderr
    deadline = time.time() + 300
    while not (run_dir / "metrics.jsonl").exists() or len(train_losses(run_dir)) < 3:
        assert time.time() < deadline, "training did not start"
        time.sleep(0.2)
    subprocess.run(["scancel", "--signal=USR1", "--batch", job], env=env, check=True)
    while not (run_dir / "summary.json").exists():
        assert time.time() < deadline + 300, job_log(job)[-3000:]
        time.sleep(1)
    log = job_log(job)
    assert "USR1: asking all ranks to checkpoint" in log
    assert "preempted: checkpoint saved at step" in log
    assert "restart 1" in log and "resumed from" in log
    # Both halves of the job logged to the same W&B run (offline here: one dir per process).
    wandb_runs = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(wandb_runs) == 2 and len({p.name.rsplit("-", 1)[1] for p in wandb_runs}) == 1
    straight = one_node_run[0]
    assert len(train_losses(run_dir)) == len(train_losses(straight)) == 16
    a, b = weights(straight), weights(run_dir)
    for k in a:
        torch.testing.assert_close(b[k], a[k], atol=1e-5, rtol=0, msg=k)


def test_hydra_multirun_on_slurm(slurm, tmp_path):
    cmd = ["-m", "netft.train", "-m", "hydra/launcher=slurm", "method=full,lora",
           "train.epochs=1,2", "model=tiny", "train.max_steps=2", "logger=none",
           "eval.domain=false", "hydra.launcher.cpus_per_task=1",
           "hydra.launcher.timeout_min=10", f"hydra.sweep.dir={tmp_path}/sweep"]
    proc = subprocess.run([str(ROOT / ".venv/bin/python"), *cmd], cwd=ROOT, env=slurm,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    summaries = sorted((tmp_path / "sweep").glob("*/summary.json"))
    assert len(summaries) == 4, list((tmp_path / "sweep").iterdir())
    # submitit submits the grid as one job array: one array task (a Slurm job) per point.
    tasks = {p.name for p in (tmp_path / "sweep" / ".submitit").iterdir() if p.name[0].isdigit()
             and "_" in p.name}
    assert len(tasks) == 4, tasks
