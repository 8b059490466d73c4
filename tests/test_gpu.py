"""GPU-only paths: the same code as on CPU, switched by config. Skipped without CUDA."""
import importlib.util
import subprocess
import sys

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
def test_flash_attention_packed_run_follows_sdpa(tmp_path):
    """Packed training with the real kernels (micro-batches of several packed rows) follows
    the sdpa run; bf16 on both, so the tolerance is bf16's, not the CPU stand-in's 1e-5."""
    losses = {}
    for impl in ("sdpa", "flash_attention_2"):
        proc = ok(netft_train_cmd(*COMMON, f"model.attn_implementation={impl}",
                                  "train.micro_batch_size=4", f"run_dir={tmp_path}/{impl}"))
        assert f"attention {impl}" in proc.stdout
        losses[impl] = train_losses(tmp_path / impl)
    assert "varlen boundaries" in proc.stdout
    for a, b in zip(losses["flash_attention_2"], losses["sdpa"]):
        assert abs(a - b) < 2e-2, (losses["flash_attention_2"], losses["sdpa"])


@pytest.mark.skipif(importlib.util.find_spec("flash_attn") is None,
                    reason="flash-attn not installed (pip install 'netft[gpu]')")
@pytest.mark.parametrize("rows_per_batch", [1, 2, 4])
def test_real_flash_kernels_packed_equals_unpacked(tiny_path, tiny_tokenizer, rows_per_batch):
    """The CPU stand-in test (test_attention_paths.py) with flash-attn's real CUDA kernels."""
    from test_attention_paths import make_examples, split_rows

    from netft.data.batching import collate, pack
    from netft.models.load import varlen_attention
    from netft.objectives.sft import forward_logits, token_losses

    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_path), dtype=torch.bfloat16,
                                                 attn_implementation="flash_attention_2").cuda()
    exs = make_examples(tiny_tokenizer)
    lengths = [len(e.input_ids) for e in exs]
    rows = pack(lengths, list(range(len(exs))), max_length=max(lengths) * 3)
    with torch.no_grad():
        alone = [token_losses(forward_logits(model, {k: (v.cuda() if torch.is_tensor(v) else v)
                                                     for k, v in collate(exs, [[i]], 0, True,
                                                                         True).items()}),
                              torch.tensor([e.labels]).cuda())[0] for i, e in enumerate(exs)]
        for b in range(0, len(rows), rows_per_batch):
            group = rows[b:b + rows_per_batch]
            batch = collate(exs, group, tiny_tokenizer.pad_token_id, True, varlen_attention(model))
            batch = {k: (v.cuda() if torch.is_tensor(v) else v) for k, v in batch.items()}
            losses = token_losses(forward_logits(model, batch), batch["labels"])
            for i, values in split_rows(losses, batch, exs, group).items():
                assert float((values - alone[i]).abs().max()) < 2e-2, i


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


# Issue 21: what a first cluster run met (items 1, 2, 4), on the real CUDA paths.

def test_bf16_full_finetune_updates_land_in_float32_masters(tmp_path):
    import json
    import os

    args = [*COMMON, "method=full", "train.lr=1e-5", "train.max_steps=1",
            "train.schedule=constant", "train.warmup_ratio=0", "train.save_every_steps=1",
            "eval.val_before_training=false", "eval.val_every_epoch=false",
            f"run_dir={tmp_path}/r"]
    proc = subprocess.run([sys.executable, "tests/update_probe.py", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PROBE_OUT": str(tmp_path / "p")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    p = json.loads((tmp_path / "p.0").read_text())
    assert p["changed"] / p["total"] > 0.5, p
    assert p["master_dtypes"] == p["state_dtypes"] == ["torch.float32"], p
    assert p["compute_dtypes"] == ["torch.bfloat16"], p


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None,
                    reason="bitsandbytes not installed (pip install 'netft[gpu]')")
def test_qlora_saves_checkpoints_on_gpu(tmp_path):
    ok(netft_train_cmd(*COMMON, "method=qlora", "train.save_every_steps=2",
                       f"run_dir={tmp_path}/r"))
    assert (tmp_path / "r" / "checkpoints").exists()
    assert any(p.name.startswith("step-") for p in (tmp_path / "r" / "checkpoints").iterdir())


def test_float32_never_runs_flash_attention(tmp_path):
    proc = ok(netft_train_cmd(*COMMON, "method=lora", "model.dtype=float32",
                              f"run_dir={tmp_path}/r"))
    assert "attention flash" not in proc.stdout


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None,
                    reason="bitsandbytes not installed (pip install 'netft[gpu]')")
def test_qlora_fsdp2_float32_storage(tmp_path):
    n = min(torch.cuda.device_count(), 2)
    ok(torchrun_cmd(n, *COMMON, "method=qlora", "parallel=fsdp2" if n > 1 else "parallel=single",
                    "model.dtype=float32", f"run_dir={tmp_path}/r"))


@pytest.mark.skipif(importlib.util.find_spec("liger_kernel") is None,
                    reason="liger-kernel not installed (pip install 'netft[gpu]')")
def test_liger_fused_linear_cross_entropy_is_used_and_matches(tiny_path, tiny_tokenizer,
                                                             monkeypatch):
    """model.liger=true: the SFT loss goes through Liger's fused linear cross-entropy (a spy
    proves it ran) and equals the full-logits loss and gradients (fp32 weights; Liger's
    Triton kernels reduce in another order, hence 1e-4 / 1e-3)."""
    from netft.data.batching import collate
    from netft.models.load import load_model
    from netft.objectives import loss_head
    from netft.objectives.sft import forward_logits, sft_loss_sum, token_losses
    from test_loss import examples
    from conftest import compose

    cfg = compose(["run_dir=/tmp/x", "model.dtype=float32"])
    model = load_model(str(tiny_path), cfg.model, cfg.method, torch.device("cuda"))
    model.to("cuda")
    assert loss_head.attach(model, 16, liger=True) is None
    calls = []
    real = loss_head._liger_sum
    monkeypatch.setattr(loss_head, "_liger_sum", lambda *a: calls.append(1) or real(*a))
    exs = examples(tiny_tokenizer)
    batch = collate(exs, [list(range(len(exs)))], tiny_tokenizer.pad_token_id, True)
    batch = {k: (v.cuda() if torch.is_tensor(v) else v) for k, v in batch.items()}

    def run(fn):
        model.zero_grad(set_to_none=True)
        loss = fn()
        loss.backward()
        return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}

    lg, gg = run(lambda: sft_loss_sum(model, batch)[0])
    assert calls, "Liger's fused linear cross-entropy did not run"
    lf, gf = run(lambda: token_losses(forward_logits(model, batch), batch["labels"]).sum())
    torch.testing.assert_close(lg, lf, rtol=1e-4, atol=0)
    for n in gf:
        scale = gf[n].abs().max().clamp(min=1e-12)
        assert float((gg[n] - gf[n]).abs().max() / scale) < 1e-3, n
