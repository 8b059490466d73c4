"""The shell launchers' own logic, without starting training: launch/local.sh's rank count and
thread limit (with a stand-in nvidia-smi and a stand-in python that prints what it was given),
and slurm/cluster.sh's usage."""
import os
import subprocess

import pytest

from conftest import ROOT

NO_DEVICES = "#!/bin/sh\necho 'No devices were found'\nexit 6\n"  # driver, no GPU for this job
THREE_GPUS = ("#!/bin/sh\necho 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-a)'\n"
              "echo 'GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-b)'\n"
              "echo '  MIG 1g.10gb     Device  0: (UUID: MIG-c)'\n"
              "echo 'GPU 2: NVIDIA H100 80GB HBM3 (UUID: GPU-d)'\n")


def local_sh(tmp_path, nvidia_smi=None, **env):
    """Run launch/local.sh with a stand-in python; returns (stdout, stderr, returncode)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if nvidia_smi is not None:
        (bin_dir / "nvidia-smi").write_text(nvidia_smi)
        (bin_dir / "nvidia-smi").chmod(0o755)
    python = tmp_path / "python"
    python.write_text('#!/bin/sh\necho "nproc=$4 omp=${OMP_NUM_THREADS:-unset} args=$*"\n')
    python.chmod(0o755)
    base = {k: v for k, v in os.environ.items()
            if k not in ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "NPROC")}
    base.update(PATH=f"{bin_dir}:/usr/bin:/bin", NETFT_PYTHON=str(python), **env)
    proc = subprocess.run(["bash", str(ROOT / "launch/local.sh"), "method=lora"], env=base,
                          capture_output=True, text=True, timeout=60)
    return proc.stdout, proc.stderr, proc.returncode


def test_local_sh_without_an_allocated_gpu_runs_two_cpu_ranks_with_a_thread_limit(tmp_path):
    out, err, rc = local_sh(tmp_path, NO_DEVICES)
    assert rc == 0 and err == "", err  # was: "[: 1\n2: integer expression expected"
    threads = max(len(os.sched_getaffinity(0)) // 2, 1)  # what nproc counts
    assert out.startswith(f"nproc=--nproc-per-node=2 omp={threads} "), out
    assert out.rstrip().endswith("-m netft.train method=lora"), out


def test_local_sh_runs_one_rank_per_gpu(tmp_path):
    out, err, rc = local_sh(tmp_path, THREE_GPUS)
    assert rc == 0 and err == "", err
    assert out.startswith("nproc=--nproc-per-node=3 omp=unset "), out  # MIG lines are not GPUs
    # Slurm's allocation (CUDA_VISIBLE_DEVICES) wins over what nvidia-smi lists.
    out, err, rc = local_sh(tmp_path, THREE_GPUS, CUDA_VISIBLE_DEVICES="0,1")
    assert out.startswith("nproc=--nproc-per-node=2 omp=unset "), out + err
    out, err, rc = local_sh(tmp_path, THREE_GPUS, CUDA_VISIBLE_DEVICES="")
    assert out.startswith("nproc=--nproc-per-node=2 omp="), out + err
    assert not out.startswith("nproc=--nproc-per-node=2 omp=unset"), out


def test_local_sh_without_nvidia_smi_and_with_nproc(tmp_path):
    out, err, rc = local_sh(tmp_path)
    assert rc == 0 and out.startswith("nproc=--nproc-per-node=2 omp="), out + err
    out, err, rc = local_sh(tmp_path, THREE_GPUS, NPROC="1")
    assert out.startswith("nproc=--nproc-per-node=1 omp=unset "), out + err
    out, err, rc = local_sh(tmp_path, NPROC="two")
    assert rc == 2 and out == "" and err.strip() == (
        "launch/local.sh: NPROC=two must be a whole number >= 1"), err


@pytest.mark.parametrize("arg", ["--help", "-h", "help"])
def test_cluster_sh_help_prints_usage(arg, tmp_path):
    env = dict(os.environ, NETFT_SLURM_DIR=str(tmp_path / "none"))
    proc = subprocess.run(["bash", str(ROOT / "slurm/cluster.sh"), arg], env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert "slurm/cluster.sh up [--nodes 1|2] [--gpus N[,M]] [--dir DIR]" in proc.stdout
    assert "slurm/cluster.sh down" in proc.stdout and "ERROR" not in proc.stdout
    assert not (tmp_path / "none").exists()  # --help creates nothing


def test_cluster_sh_rejects_an_unknown_command(tmp_path):
    env = dict(os.environ, NETFT_SLURM_DIR=str(tmp_path / "none"))
    proc = subprocess.run(["bash", str(ROOT / "slurm/cluster.sh"), "start"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines()[0] == "[cluster.sh] ERROR: unknown command 'start' (up, down or status)"


def test_gpu_problem_names_a_slurm_gpu_allocation_that_torch_cannot_see(monkeypatch):
    from netft import distributed
    from netft.config import ConfigError

    assert distributed.gpu_problem({}, cuda_devices=0) is None  # no GPUs asked: a CPU run
    assert distributed.gpu_problem({"SLURM_GPUS_ON_NODE": "8"}, cuda_devices=8) is None
    msg = distributed.gpu_problem({"SLURM_GPUS_ON_NODE": "8"}, cuda_devices=0)
    assert msg.startswith("Slurm allocated 8 GPU(s) on ") and "--gpus-per-node=0" in msg
    assert "\n" not in msg
    assert distributed.slurm_gpus({"SLURM_JOB_GPUS": "0,1,2"}) == 3  # older Slurm: ids only
    # setup() refuses it (one netft-train error line), unless the explicit test stand-in is on.
    monkeypatch.setattr(distributed.torch.cuda, "device_count", lambda: 0)
    monkeypatch.setenv("SLURM_GPUS_ON_NODE", "2")
    for k in ("RANK", "WORLD_SIZE", "SLURM_PROCID", distributed.GPU_STANDIN):
        monkeypatch.delenv(k, raising=False)
    with pytest.raises(ConfigError, match="Slurm allocated 2 GPU"):
        distributed.setup()
    monkeypatch.setenv(distributed.GPU_STANDIN, "1")
    assert distributed.setup().backend == "none"  # world 1, CPU
