"""`sbatch slurm/train.sh` on a real Slurm cluster (slurmctld + 2 slurmd, slurm/cluster.sh).

Node n1 declares 8 GPUs as a `gpu` GRES (stand-in device files: Slurm allocates them, sets
SLURM_GPUS_ON_NODE and CUDA_VISIBLE_DEVICES; there is no CUDA behind them); n2 has none.
Proves: the README's GPU command, as written, starts one task per GPU and trains (on CPU only
under the explicit NETFT_TEST_GPU_STANDIN=1); without it, or on a node without GPUs, or with
tasks != GPUs, it stops with one line; the README's sweep command asks for GPUs; CPU runs
(--gpus-per-node=0): 2 tasks on one node and 1 task on each of 2 nodes train the same loss
curve; a USR1 preemption checkpoints, requeues, resumes and ends with the uninterrupted run's
weights; Hydra multirun with the Slurm launcher submits one job per grid point.
"""
import os
import re
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
    up = subprocess.run(["bash", "slurm/cluster.sh", "up", "--nodes", "2", "--gpus", "8,0",
                         "--dir", str(state)],
                        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
    # Job ids restart at 1 on every fresh cluster and the logs are opened in append mode: an
    # earlier session's netft-1.out would otherwise prefix this session's job 1.
    shutil.rmtree(LOGS, ignore_errors=True)
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


# The CPU form of slurm/train.sh: no GPUs asked (its #SBATCH default asks 8 per node).
CPU = ["--gpus-per-node=0"]


def job_log(job_id: str) -> str:
    path = LOGS / f"netft-{job_id}.out"
    return path.read_text() if path.exists() else f"(no log {path})"


def weights(run_dir: Path) -> dict:
    return load_file(next((run_dir / "final").glob("*.safetensors")))


@pytest.fixture(scope="module")
def one_node_run(slurm, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("one-node") / "run"
    env = dict(slurm, NETFT_RUN_DIR=str(run_dir))
    proc = sbatch(env, [*CPU, "--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1"], TRAIN)
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
    proc = sbatch(env, [*CPU, "--nodes=2", "--ntasks-per-node=1", "--cpus-per-task=1"], TRAIN)
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
    proc = sbatch(env, [*CPU, "--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1"], with_wandb,
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


def readme_command(prefix: str) -> list[str]:
    """The README's Slurm command line that starts with `prefix` (one line, comment dropped)."""
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith(prefix):
            return line.split("#")[0].split()
    raise AssertionError(f"README.md has no line starting with {prefix!r}")


# The README's GPU example with only what a CPU box needs changed: the tiny model; the small
# arith data set, one step and no evaluation passes (8 ranks share 2 cores here).
GPU_EXAMPLE = [o if not o.startswith("model=") else "model=tiny"
               for o in readme_command("sbatch slurm/train.sh ")[2:]]
QUICK = ["data=arith", "train.epochs=1", "train.max_steps=1", "logger=none", "eval.domain=false",
         "eval.val_before_training=false", "eval.val_every_epoch=false", "eval.general_ppl=false",
         "eval.kl_probe=false", "eval.keep_best=false", "train.save_every_epoch=false",
         "eval.sample_generations=0", "eval.review_items=0"]


def test_readme_gpu_command_starts_one_task_per_gpu(slurm, tmp_path):
    """`sbatch slurm/train.sh model=... parallel=fsdp2` with the script's defaults: 8 GPUs and
    8 tasks on n1 (the only GPU node), each task one rank; trains one step on CPU under the
    explicit, announced test stand-in."""
    assert "parallel=fsdp2" in GPU_EXAMPLE, GPU_EXAMPLE
    run_dir = tmp_path / "run"
    env = dict(slurm, NETFT_RUN_DIR=str(run_dir), NETFT_TEST_GPU_STANDIN="1", OMP_NUM_THREADS="1")
    proc = sbatch(env, [], GPU_EXAMPLE + QUICK)
    job = proc.stdout.strip().split(";")[0]
    log = job_log(job)
    assert proc.returncode == 0, proc.stderr + log[-3000:]
    assert "1 node(s) x 8 task(s), 8 GPU(s) per node" in log
    assert "NETFT_TEST_GPU_STANDIN=1: test stand-in" in log  # never silent
    ranks = set(re.findall(r"^\[netft\] rank (\d+)/8 local_rank \1 on n1 ", log, re.M))
    assert ranks == {str(r) for r in range(8)}, log[-3000:]
    assert len(train_losses(run_dir)) == 1


def test_gpu_command_stops_with_one_line_where_it_cannot_run(slurm, tmp_path):
    env = dict(slurm, NETFT_RUN_DIR=str(tmp_path / "run"))
    # GPUs allocated, but this torch has no CUDA (a CPU build; or a node without the driver).
    proc = sbatch(env, [], GPU_EXAMPLE + QUICK)
    job = proc.stdout.strip().split(";")[0]
    log = job_log(job).strip()
    assert proc.returncode != 0
    assert re.fullmatch(r"\[slurm\] error: Slurm allocated 8 GPU\(s\) on n1 but torch \S+ "
                        r".*sees no CUDA device: .*--gpus-per-node=0\.", log), log[-3000:]
    # Tasks that do not match the GPUs (one #SBATCH default overridden, not the other).
    proc = sbatch(env, ["--gpus-per-node=4"], GPU_EXAMPLE + QUICK)
    log = job_log(proc.stdout.strip().split(";")[0]).strip()
    assert proc.returncode != 0
    assert log == ("[slurm] error: 4 GPU(s) per node but 8 task(s) per node: netft runs one task "
                   "per GPU; submit with --gpus-per-node=4 --ntasks-per-node=4 (or "
                   "--gpus-per-node=0 for a CPU run)."), log[-3000:]
    # A node without GPUs: Slurm refuses the GPU request at submit time.
    proc = sbatch(env, ["--nodelist=n2"], GPU_EXAMPLE + QUICK)
    assert proc.returncode != 0 and "Requested node configuration is not available" in proc.stderr


def test_readme_sweep_command_asks_for_gpus(slurm):
    cmd = readme_command("wandb sweep ")
    cmd = cmd[cmd.index("sbatch"):]
    assert cmd[:2] == ["sbatch", "--array=0-5"] and cmd[2] == "slurm/sweep.sh", cmd
    proc = subprocess.run(["sbatch", "--parsable", "--hold", *cmd[1:]], cwd=ROOT, env=slurm,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    job = proc.stdout.strip().split(";")[0]
    try:
        info = subprocess.run(["scontrol", "show", "job", "-o", job], env=slurm, check=True,
                              capture_output=True, text=True).stdout
    finally:
        subprocess.run(["scancel", job], env=slurm)
    assert "TresPerNode=gres:gpu:8" in info, info
