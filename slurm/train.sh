#!/usr/bin/env bash
# netft on Slurm: one task per GPU (or per CPU rank) on every node, bootstrapped from Slurm's
# environment (SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID), with preemption-safe requeue.
#
#   sbatch slurm/train.sh model=llama3_8b method=lora parallel=fsdp2
#   sbatch --nodes=4 --ntasks-per-node=8 --gpus-per-node=8 --cpus-per-task=12 \
#          slurm/train.sh model=llama3_8b method=full parallel=zero3
#   sbatch --nodes=2 --ntasks-per-node=2 --cpus-per-task=1 slurm/train.sh parallel=fsdp2  # CPU nodes, gloo
#
# Everything after the script name is a Hydra override for netft-train. The #SBATCH lines are
# defaults: override them on the sbatch command line (they cannot expand variables).
# Environment knobs: NETFT_RUN_DIR (default outputs/slurm/<job name>-<job id>), NETFT_PYTHON
# (default .venv/bin/python in the submit dir), MASTER_PORT.
# Multi-node GPU networking: NCCL picks InfiniBand when present. On Ethernet-only or
# multi-homed nodes set NCCL_SOCKET_IFNAME=<iface> (and GLOO_SOCKET_IFNAME for gloo); set
# NCCL_DEBUG=INFO once to see which transport it took.
#
#SBATCH --job-name=netft
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
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

# Rank 0 lives on the first node of the allocation; every task reads these two.
MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
export MASTER_ADDR
export MASTER_PORT=${MASTER_PORT:-$((20000 + SLURM_JOB_ID % 20000))}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}
# One run dir per job id: a requeued job finds its checkpoints there and resumes.
RUN_DIR=${NETFT_RUN_DIR:-outputs/slurm/${SLURM_JOB_NAME:-netft}-${SLURM_JOB_ID}}
echo "[slurm] job ${SLURM_JOB_ID} (restart ${SLURM_RESTART_COUNT:-0}) on ${SLURM_JOB_NODELIST}:" \
     "${SLURM_NNODES} node(s) x ${SLURM_NTASKS_PER_NODE:-?} task(s); master ${MASTER_ADDR}:${MASTER_PORT};" \
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
