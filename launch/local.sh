#!/usr/bin/env bash
# N ranks on this machine, same Hydra overrides as netft-train.
#   NPROC=2 launch/local.sh parallel=fsdp2 method=lora
#   NPROC=8 launch/local.sh parallel=zero3 method=full model=llama3_8b
# GPU: one rank per visible GPU (nccl). No GPU visible (none present, or none allocated to this
# job): 2 CPU ranks with gloo, OMP threads split between them. NPROC overrides the count.
set -euo pipefail

# GPUs this process may use: CUDA_VISIBLE_DEVICES when set (Slurm sets it for allocated GPUs;
# nvidia-smi ignores it), else the "GPU n:" lines of nvidia-smi -L. A node with the driver but
# no GPU for us makes nvidia-smi fail ("No devices were found"): that is 0 GPUs, not an error.
visible_gpus() {
  if [ -n "${CUDA_VISIBLE_DEVICES+set}" ]; then
    tr ',' '\n' <<<"$CUDA_VISIBLE_DEVICES" | grep -c -v -e '^[[:space:]]*$' -e '^-' -e NoDevFiles || true
    return
  fi
  command -v nvidia-smi >/dev/null || { echo 0; return; }
  { nvidia-smi -L 2>/dev/null || true; } | grep -c '^GPU [0-9]' || true
}
GPUS=$(visible_gpus)
NPROC=${NPROC:-$([ "$GPUS" -gt 0 ] && echo "$GPUS" || echo 2)}
[[ "$NPROC" =~ ^[1-9][0-9]*$ ]] || { echo "launch/local.sh: NPROC=$NPROC must be a whole number >= 1" >&2; exit 2; }
if [ "$GPUS" -eq 0 ] && [ -z "${OMP_NUM_THREADS:-}" ]; then
  # CPU ranks share the cores: without a limit every rank would start one thread per core.
  export OMP_NUM_THREADS=$(( $(nproc) / NPROC > 0 ? $(nproc) / NPROC : 1 ))
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${NETFT_PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
# --standalone: a private rendezvous on a free local port, so concurrent runs never collide.
exec "$PYTHON" -m torch.distributed.run --standalone --nproc-per-node="$NPROC" -m netft.train "$@"
