#!/usr/bin/env bash
# netft on Slurm: one task per GPU on every node, bootstrapped from Slurm's environment
# (SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID), with preemption-safe requeue.
#
#   sbatch slurm/train.sh model=llama3_8b method=lora parallel=fsdp2      # 1 node x 8 GPUs (defaults)
#   sbatch --gpus-per-node=4 --ntasks-per-node=4 slurm/train.sh model=llama3_8b method=lora parallel=fsdp2
#   sbatch --nodes=4 --ntasks-per-node=8 --gpus-per-node=8 --cpus-per-task=12 \
#          slurm/train.sh model=llama3_8b method=full parallel=zero3
#   sbatch --gpus-per-node=0 --nodes=2 --ntasks-per-node=2 --cpus-per-task=1 \
#          slurm/train.sh parallel=fsdp2                               # CPU nodes, gloo
#
# Everything after the script name is a Hydra override for netft-train. The #SBATCH lines are
# defaults: override them on the sbatch command line (they cannot expand variables). GPU runs
# need --ntasks-per-node equal to the GPUs per node (one task per GPU); the script checks this,
# and that torch sees CUDA where Slurm gave GPUs, before any task starts (one error line, exit 2).
# A CPU run asks for no GPUs: --gpus-per-node=0.
# Environment knobs: NETFT_RUN_DIR (default outputs/slurm/<job name>-<job id>), NETFT_PYTHON
# (default .venv/bin/python in the submit dir), MASTER_PORT. NETFT_TEST_GPU_STANDIN=1 is a TEST
# stand-in only (the local cluster of slurm/cluster.sh --gpus declares GPUs it does not have):
# a GPU allocation then runs on CPU with gloo, and the log says so.
# Multi-node GPU networking: NCCL picks InfiniBand when present. On Ethernet-only or
# multi-homed nodes set NCCL_SOCKET_IFNAME=<iface> (and GLOO_SOCKET_IFNAME for gloo); set
# NCCL_DEBUG=INFO once to see which transport it took.
#
#SBATCH --job-name=netft
#SBATCH --nodes=1
#SBATCH --gpus-per-node=8
#SBATCH --ntasks-per-node=8
#SBATCH --cpus-per-task=4
#SBATCH --time=24:00:00
#SBATCH --signal=B:USR1@120
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=%x-%j.out
set -euo pipefail

# sbatch runs a spooled copy of this script: find the project from the submit dir, not $0.
cd "${SLURM_SUBMIT_DIR:-$PWD}"
PYTHON=${NETFT_PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3

fail() { echo "[slurm] error: $*"; exit 2; }

# One task per GPU: the GPUs Slurm gave this node and the tasks it will start here must match
# (#SBATCH defaults are overridden one flag at a time, so --gpus-per-node=4 alone leaves 8 tasks).
GPUS_PER_NODE=${SLURM_GPUS_ON_NODE:-0}
if [ "$GPUS_PER_NODE" = 0 ] && [ -n "${SLURM_JOB_GPUS:-}" ]; then  # older Slurm: ids only
  GPUS_PER_NODE=$(tr ',' '\n' <<<"$SLURM_JOB_GPUS" | grep -c .)
fi
TASKS_PER_NODE=${SLURM_NTASKS_PER_NODE:-${SLURM_TASKS_PER_NODE%%[(,]*}}
if [ "$GPUS_PER_NODE" -gt 0 ]; then
  [ "$TASKS_PER_NODE" = "$GPUS_PER_NODE" ] ||
    fail "${GPUS_PER_NODE} GPU(s) per node but ${TASKS_PER_NODE} task(s) per node: netft runs one task per GPU; submit with --gpus-per-node=${GPUS_PER_NODE} --ntasks-per-node=${GPUS_PER_NODE} (or --gpus-per-node=0 for a CPU run)."
  # Before srun: a node without CUDA (CPU build of torch, no driver) stops here with one line
  # instead of every task falling back to gloo on CPU.
  problem=$("$PYTHON" -c 'from netft.distributed import gpu_problem; print(gpu_problem() or "")') ||
    fail "could not import netft with $PYTHON (set NETFT_PYTHON, or run make setup in ${PWD})"
  if [ -n "$problem" ]; then
    [ "${NETFT_TEST_GPU_STANDIN:-}" = 1 ] || fail "$problem"
    echo "[slurm] NETFT_TEST_GPU_STANDIN=1: test stand-in, ${GPUS_PER_NODE} allocated GPU(s) per node unused; tasks run on CPU with gloo"
  fi
fi

# Rank 0 lives on the first node of the allocation; every task reads these two.
MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
export MASTER_ADDR
export MASTER_PORT=${MASTER_PORT:-$((20000 + SLURM_JOB_ID % 20000))}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}
# One run dir per job id: a requeued job finds its checkpoints there and resumes.
RUN_DIR=${NETFT_RUN_DIR:-outputs/slurm/${SLURM_JOB_NAME:-netft}-${SLURM_JOB_ID}}
echo "[slurm] job ${SLURM_JOB_ID} (restart ${SLURM_RESTART_COUNT:-0}) on ${SLURM_JOB_NODELIST}:" \
     "${SLURM_NNODES} node(s) x ${TASKS_PER_NODE} task(s), ${GPUS_PER_NODE} GPU(s) per node;" \
     "master ${MASTER_ADDR}:${MASTER_PORT};" \
     "run dir ${RUN_DIR}"

# Preemption: Slurm sends USR1 to this shell (--signal=B:USR1@secs, or scancel --signal=USR1
# --batch). We pass it on to every task; netft.train checkpoints at the next optimizer-step
# boundary and exits 0; then we requeue, and the new run resumes from that checkpoint.
preempted=0
srun_pid=
forward_usr1() {
  preempted=1
  echo "[slurm] USR1: asking all ranks to checkpoint and stop"
  [ -n "$srun_pid" ] && kill -USR1 "$srun_pid" 2>/dev/null || true
}
trap forward_usr1 USR1

srun --kill-on-bad-exit=1 "$PYTHON" -m netft.train run_dir="$RUN_DIR" "$@" &
srun_pid=$!
status=0
while true; do
  if wait "$srun_pid"; then status=0; else status=$?; fi
  kill -0 "$srun_pid" 2>/dev/null || break  # `wait` also returns when the trap runs
done

if [ "$preempted" = 1 ] && [ ! -f "$RUN_DIR/summary.json" ]; then
  echo "[slurm] requeueing job ${SLURM_JOB_ID} to resume from its last checkpoint"
  scontrol requeue "$SLURM_JOB_ID"
  exit 0
fi
exit "$status"
