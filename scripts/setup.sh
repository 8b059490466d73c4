#!/usr/bin/env bash
# Fresh-machine set-up: a venv with the right torch build, netft (editable) + dev extras,
# and the Debian packages the tests use. Idempotent; `make setup` calls it.
set -euo pipefail
VENV=${1:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "[setup] NVIDIA GPU found: letting pip choose a CUDA build of torch"
  "${PIP[@]}" torch
else
  # Without a GPU an unpinned torch would pull a multi-GB CUDA build; 2.13.0 is the CPU wheel.
  echo "[setup] no NVIDIA GPU: installing the CPU build torch==2.13.0"
  "${PIP[@]}" torch==2.13.0
fi
"${PIP[@]}" -e '.[dev]'

# Data, not code: the near-domain forgetting probe reads the NX-OS / ASA / IOS-XR sample configs
# that ciscoconfparse2 (GPL-3.0) ships as test fixtures (netft/domains/netops/near.py). Installed
# beside the venv's packages, without its dependencies: it pins exact versions of libraries
# netft uses and installs a top-level `tests` package, and netft never imports it.
NEAR="$VENV/share/netft-data/ciscoconfparse2-0.9.18"
[ -d "$NEAR/tests/fixtures/configs" ] || "${PIP[@]}" --no-deps --target "$NEAR" ciscoconfparse2==0.9.18

# Debian packages used by the tests (verifiers, Slurm). Only when we can install them.
DEBS=()
if [ -f scripts/debian-packages.txt ]; then
  while read -r pkg; do [[ -z "$pkg" || "$pkg" == \#* ]] || DEBS+=("$pkg"); done < scripts/debian-packages.txt
fi
missing=()
for pkg in "${DEBS[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "[setup] apt-get install ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "[setup] WARNING: cannot install Debian packages ${missing[*]} (not root, no sudo); tests that need them will skip"
  fi
fi
echo "[setup] done: $("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__)')"
