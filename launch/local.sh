#!/usr/bin/env bash
# N ranks on this machine, same Hydra overrides as netft-train.
#   NPROC=2 launch/local.sh parallel=fsdp2 method=lora
#   NPROC=8 launch/local.sh parallel=zero3 method=full model=llama3_8b
# GPU: one rank per GPU (nccl). CPU: gloo; mind the cores (OMP threads are split per rank).
set -euo pipefail
NPROC=${NPROC:-$( (command -v nvidia-smi >/dev/null && nvidia-smi -L | wc -l) || echo 2)}
[ "$NPROC" -ge 1 ] || NPROC=2
if [ -z "${OMP_NUM_THREADS:-}" ] && ! command -v nvidia-smi >/dev/null; then
  export OMP_NUM_THREADS=$(( $(nproc) / NPROC > 0 ? $(nproc) / NPROC : 1 ))
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${NETFT_PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
# --standalone: a private rendezvous on a free local port, so concurrent runs never collide.
exec "$PYTHON" -m torch.distributed.run --standalone --nproc-per-node="$NPROC" -m netft.train "$@"
