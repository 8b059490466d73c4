"""GPU-only paths: the same code as on CPU, switched by config. Skipped without CUDA."""
import importlib.util
import subprocess

import pytest
import torch

from conftest import ROOT, netft_train_cmd, torchrun_cmd, train_losses

CUDA = torch.cuda.is_available()
pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not CUDA, reason="needs an NVIDIA GPU (CUDA not available here)")]
COMMON = ["model=tiny", "train.epochs=1", "train.max_steps=6", "logger=none",
          "eval.sample_generations=1"]


def ok(cmd):
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_bf16_lora_single_gpu(tmp_path):
    proc = ok(netft_train_cmd(*COMMON, "method=lora", f"run_dir={tmp_path}/r"))
    losses = train_losses(tmp_path / "r")
    assert len(losses) == 6 and all(map(lambda x: x == x, losses))
    assert "device cuda" in proc.stdout


@pytest.mark.skipif(importlib.util.find_spec("flash_attn") is None,
                    reason="flash-attn not installed (pip install 'netft[gpu]')")
def test_flash_attention_packed_run(tmp_path):
    proc = ok(netft_train_cmd(*COMMON, "model.attn_implementation=flash_attention_2",
                              f"run_dir={tmp_path}/r"))
    assert "attention flash_attention_2" in proc.stdout


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None,
                    reason="bitsandbytes not installed (pip install 'netft[gpu]')")
def test_qlora_fsdp2(tmp_path):
    n = min(torch.cuda.device_count(), 2)
    cmd = torchrun_cmd(n, *COMMON, "method=qlora", "parallel=fsdp2", f"run_dir={tmp_path}/r")
    ok(cmd)
    assert (tmp_path / "r" / "final" / "adapter_model.safetensors").exists()


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs for nccl")
def test_nccl_fsdp2_two_gpus(tmp_path):
    proc = ok(torchrun_cmd(2, *COMMON, "method=full", "parallel=fsdp2", f"run_dir={tmp_path}/r"))
    assert "backend nccl" in proc.stdout
