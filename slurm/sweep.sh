#!/usr/bin/env bash
# W&B sweep agents as a Slurm job array: every array task runs NETFT_SWEEP_COUNT (default 1)
# sweep runs, each a netft run over this node's GPUs (launch/local.sh: one rank per GPU that
# Slurm allocated).
#   wandb sweep launch/sweeps/method_epochs.yaml          # -> ENTITY/PROJECT/SWEEP_ID
#   sbatch --array=0-5 slurm/sweep.sh ENTITY/PROJECT/SWEEP_ID                       # 8 GPUs each
#   sbatch --array=0-5 --gpus-per-node=4 slurm/sweep.sh ENTITY/PROJECT/SWEEP_ID     # 4 GPUs each
#   sbatch --array=0-5 --gpus-per-node=0 slurm/sweep.sh ENTITY/PROJECT/SWEEP_ID     # CPU: 2 ranks
# The #SBATCH lines are defaults (override them on the sbatch command line). Needs
# WANDB_API_KEY in the environment (sbatch passes it on; it is never written to disk).
#SBATCH --job-name=netft-sweep
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=32
#SBATCH --time=24:00:00
#SBATCH --output=%x-%A_%a.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-$PWD}"
SWEEP=${1:?usage: sbatch --array=0-N slurm/sweep.sh ENTITY/PROJECT/SWEEP_ID}
export PATH="$PWD/.venv/bin:$PATH"
echo "[slurm] sweep ${SWEEP}: array task ${SLURM_ARRAY_TASK_ID:-0} on $(hostname)," \
     "${SLURM_GPUS_ON_NODE:-0} GPU(s)"
exec wandb agent --count "${NETFT_SWEEP_COUNT:-1}" "$SWEEP"
