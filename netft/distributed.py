"""Who am I in the job: rank, world, device, backend -- from torchrun's or Slurm's env.

`torchrun` sets RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR/MASTER_PORT. Under `srun` with one task
per GPU, only SLURM_* variables exist: we map SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID and
take MASTER_ADDR from the first host of the node list (slurm/train.sh exports it). Either
way every rank runs the same code path; a single process is world=1 without a process group.
"""
from __future__ import annotations

import datetime
import os
import socket
import subprocess
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str = "none"
    # The process group for values the host already holds (counts, flags): gloo, so reducing
    # them never waits for the GPU queue (nccl would copy them to the device and sync back).
    # None: the default group (already gloo on CPU).
    host_group: object = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def env_ranks(env=os.environ) -> tuple[int, int, int]:
    """(rank, world, local_rank) from torchrun's variables, else Slurm's, else a single process."""
    if "RANK" in env and "WORLD_SIZE" in env:
        return int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0))
    if "SLURM_PROCID" in env and int(env.get("SLURM_NTASKS", "1")) > 1:
        return int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"]), int(env.get("SLURM_LOCALID", 0))
    return 0, 1, 0


def _first_slurm_host(env=os.environ) -> str | None:
    nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
    if not nodelist:
        return None
    try:
        out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True,
                             text=True, check=True, timeout=30).stdout.split()
        return out[0] if out else None
    except (OSError, subprocess.SubprocessError):
        return None


def nodes(env=os.environ) -> int:
    """How many nodes this launch spans, as far as the launcher says (1 when it does not)."""
    for key in ("SLURM_JOB_NUM_NODES", "SLURM_NNODES"):
        if env.get(key, "").isdigit():
            return int(env[key])
    world, local = env.get("WORLD_SIZE", ""), env.get("LOCAL_WORLD_SIZE", "")
    if world.isdigit() and local.isdigit() and int(local) > 0:
        return -(-int(world) // int(local))  # torchrun: ranks per node given
    return 1


def master_addr(env=os.environ) -> str:
    """The rendezvous host when MASTER_ADDR is not set: the first node of the Slurm job, or
    this machine for a one-node launch. A multi-node launch without either is an error: ranks
    on other nodes would each wait for a rank 0 on their own 127.0.0.1 until the timeout."""
    host = _first_slurm_host(env)
    if host:
        return host
    n = nodes(env)
    if n > 1:
        from netft.errors import ConfigError

        nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
        why = (f"`scontrol show hostnames {nodelist}` gave no host here" if nodelist else
               "no SLURM_JOB_NODELIST to take the first node from")
        raise ConfigError(
            f"MASTER_ADDR is not set on a {n}-node launch ({why}); export MASTER_ADDR=<the "
            "first node's hostname> (and MASTER_PORT) before srun, as slurm/train.sh does, "
            "or launch with torchrun --rdzv-endpoint")
    return "127.0.0.1"


# Test stand-in, never a default: lets a Slurm GPU allocation run on CPU with gloo (the local
# cluster declares GPUs it does not have; tests/test_slurm.py). Announced on every use.
GPU_STANDIN = "NETFT_TEST_GPU_STANDIN"


def slurm_gpus(env=os.environ) -> int:
    """GPUs Slurm allocated to this job on this node (0 when none were requested)."""
    n = env.get("SLURM_GPUS_ON_NODE", "")
    if n.isdigit():
        return int(n)
    ids = env.get("SLURM_JOB_GPUS", "")  # older Slurm: only the ids
    return len([i for i in ids.split(",") if i.strip()])


def gpu_problem(env=os.environ, cuda_devices: int | None = None) -> str | None:
    """Why a GPU allocation cannot run here (Slurm gave GPUs, torch sees none), else None."""
    gpus = slurm_gpus(env)
    if gpus == 0:
        return None
    seen = torch.cuda.device_count() if cuda_devices is None else cuda_devices
    if seen > 0:
        return None
    build = f"torch {torch.__version__}" + ("" if torch.version.cuda else " (a CPU-only build)")
    return (f"Slurm allocated {gpus} GPU(s) on {socket.gethostname()} but {build} sees no CUDA "
            "device: install a CUDA build of torch (make setup on a GPU node) or check the "
            "node's NVIDIA driver; for a CPU run submit with --gpus-per-node=0.")


def setup(backend: str = "auto", timeout_minutes: int = 30) -> DistInfo:
    rank, world, local_rank = env_ranks()
    problem = gpu_problem()
    if problem and os.environ.get(GPU_STANDIN) != "1":
        from netft.errors import ConfigError

        raise ConfigError(problem)
    if problem and rank == 0:
        rank_line(f"[netft] {GPU_STANDIN}=1: test stand-in, the Slurm GPUs are not used; "
                  "training runs on CPU with gloo")
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
        device = torch.device("cuda", torch.cuda.current_device())
    else:
        device = torch.device("cpu")
    if backend == "auto":
        backend = "nccl" if cuda else "gloo"
    if world == 1:
        return DistInfo(0, 1, 0, device, "none")
    # srun-launched tasks: torch's env:// init reads these names.
    os.environ.setdefault("RANK", str(rank))
    os.environ.setdefault("WORLD_SIZE", str(world))
    os.environ.setdefault("LOCAL_RANK", str(local_rank))
    if "MASTER_ADDR" not in os.environ:
        os.environ["MASTER_ADDR"] = master_addr()
    # Jobs sharing a node must not share a rendezvous port: derive it from the job id.
    job = os.environ.get("SLURM_JOB_ID")
    os.environ.setdefault("MASTER_PORT", str(20000 + int(job) % 20000) if job else "29500")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world,
                                timeout=datetime.timedelta(minutes=timeout_minutes),
                                device_id=device if backend == "nccl" else None)
    host_group = dist.new_group(backend="gloo") if backend == "nccl" else None
    return DistInfo(rank, world, local_rank, device, backend, host_group)


def announce(info: DistInfo) -> str:
    """One line per rank at start: which host holds which rank (Slurm debugging starts here)."""
    return (f"[netft] rank {info.rank}/{info.world} local_rank {info.local_rank} on "
            f"{socket.gethostname()} device {info.device} backend {info.backend}")


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def all_reduce_sum(value: float | int, info: DistInfo, op=None) -> float:
    """A host value summed over ranks, on the host (gloo) group: no device sync."""
    if not info.distributed:
        return value
    t = torch.tensor([float(value)], dtype=torch.float64)
    dist.all_reduce(t, op=op or dist.ReduceOp.SUM, group=info.host_group)
    return t.item()


def all_reduce_max(value: float, info: DistInfo) -> float:
    return all_reduce_sum(value, info, op=dist.ReduceOp.MAX)


def all_reduce_packed(sums, mine, info: DistInfo) -> tuple[list[float], list[list[float]]]:
    """One blocking collective for several values: `sums` (summed over ranks) and `mine`
    (returned per rank: rows[r] is rank r's `mine`, e.g. for a maximum or a first-bad-step).
    Either may be a device tensor; the result is read to the host once. A rank's values
    travel in its own slots (zeros elsewhere) of the same float64 SUM, so they arrive exact,
    and a NaN in one slot stays in that slot."""
    sums = torch.as_tensor(sums, dtype=torch.float64).reshape(-1)
    mine = torch.as_tensor(mine, dtype=torch.float64, device=sums.device).reshape(-1)
    if not info.distributed:
        out = torch.cat([sums, mine]).tolist()
        return out[:sums.numel()], [out[sums.numel():]]
    k = mine.numel()
    slots = torch.zeros(k * info.world, dtype=torch.float64, device=sums.device)
    slots[info.rank * k:(info.rank + 1) * k] = mine
    t = torch.cat([sums, slots]).to(info.device if info.backend == "nccl" else "cpu")
    dist.all_reduce(t)
    out = t.tolist()
    n = sums.numel()
    return out[:n], [out[n + r * k:n + (r + 1) * k] for r in range(info.world)]


def gather_objects(obj, info: DistInfo) -> list:
    """Every rank's `obj` (small, JSON-like: names, digests, messages), on every rank, over
    the host group. Objects travel pickled between this job's own processes only."""
    if not info.distributed:
        return [obj]
    out = [None] * info.world
    dist.all_gather_object(out, obj, group=info.host_group)
    return out


def teardown(info: DistInfo) -> None:
    # barrier + destroy avoids gloo's "terminate called without an active exception" at exit.
    if info.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def rank_line(msg: str) -> None:
    """A line every rank prints (to the shared job log): one write, so that two ranks' lines
    never interleave mid-line (print() writes the text and the newline separately)."""
    import sys

    sys.stdout.write(msg + "\n")
    sys.stdout.flush()
