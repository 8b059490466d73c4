"""The planner's arithmetic (no runs; bench/bench_plan.py checks it against measured peaks)."""
import subprocess
import sys

import pytest

from conftest import ROOT, compose
from netft.plan import GiB, PRESETS, Shape, estimate, format_estimate

LLAMA8B = Shape.from_config(PRESETS["meta-llama/Llama-3.1-8B"])


def est(overrides, world=8, device="cuda"):
    return estimate(compose(["run_dir=/tmp/x", *overrides]), world, device, LLAMA8B)


def test_llama8b_parameter_count_matches_the_model_card():
    assert LLAMA8B.params() == pytest.approx(8.03e9, rel=0.002)
    assert Shape.from_config(PRESETS["meta-llama/Llama-3.1-70B"]).params() == pytest.approx(
        70.55e9, rel=0.002)


def test_terms_follow_the_config():
    single = est(["method=full", "parallel=single"])
    fsdp = est(["method=full", "parallel=fsdp2"])
    # Sharding divides weights/grads/optimizer by the world size (plus a working set).
    assert fsdp["grads"] == pytest.approx(single["grads"] / 8)
    assert single["weights"] / 8 < fsdp["weights"] < single["weights"] / 2
    ac = est(["method=full", "parallel=fsdp2", "parallel.activation_checkpointing=true"])
    assert ac["activations"] < fsdp["activations"] / 5 and ac["total"] < fsdp["total"]
    lora, qlora = est(["method=lora", "parallel=fsdp2"]), est(["method=qlora", "parallel=fsdp2"])
    assert lora["optimizer"] < fsdp["optimizer"] / 100  # adapters only
    # Full fine-tuning keeps float32 masters (2 bytes more per weight, sharded); an adapter
    # run keeps the frozen base in bf16.
    assert fsdp["weights"] - lora["weights"] == pytest.approx(LLAMA8B.params() * 2 / 8)
    # single: float32 masters + their bf16 autocast copies; AdamW states and grads in fp32.
    P = LLAMA8B.params()
    assert single["weights"] == pytest.approx(P * (4 + 2))
    assert single["grads"] == pytest.approx(P * 4) and single["optimizer"] == pytest.approx(P * 8)
    # fsdp2 with accumulation: unsharded float32 gradients until the step's reduce-scatter,
    # unless it reduce-scatters every micro-batch.
    acc = est(["method=full", "parallel=fsdp2", "train.grad_accum=4"])
    each = est(["method=full", "parallel=fsdp2", "train.grad_accum=4",
                "parallel.grad_sync_every_microbatch=true"])
    assert acc["grads"] - each["grads"] == pytest.approx(P * 4) and each["grads"] == fsdp["grads"]
    q1, l1 = est(["method=qlora", "parallel=single"]), est(["method=lora", "parallel=single"])
    assert q1["weights"] < l1["weights"] / 2.5  # NF4 base
    assert qlora["weights"] < lora["weights"]
    assert est(["method=full", "parallel=fsdp2", "parallel.cpu_offload=true"])["optimizer"] == 0
    # Twice the tokens per micro-batch: twice the activations and logits.
    big = est(["method=full", "parallel=fsdp2", "train.micro_batch_size=8"])
    assert big["activations"] == pytest.approx(2 * fsdp["activations"])


def test_plan_counts_logits_with_and_without_chunking():
    """Llama 3's 128,256-token vocabulary: the full logits of 4 x 4096 tokens are ~10 GiB in
    bf16 + fp32 copies; chunked, one chunk's and the head's fp32 gradient accumulator."""
    def est(overrides):
        return estimate(compose(["model=llama3_8b", "method=full", "parallel=fsdp2",
                                 "train.max_length=4096", *overrides]), 8, "cuda")
    full = est(["train.loss_chunk_tokens=0"])
    chunked = est(["train.loss_chunk_tokens=1024"])
    T, V, h = 4 * 4096, 128256, 4096
    assert full["logits"] == full["logits_full"] == T * V * (2 + 12)
    assert chunked["logits_full"] == full["logits"]
    assert chunked["logits"] == 1024 * V * (2 * 2 + 12) + V * h * 4
    assert chunked["logits"] < full["logits"] / 6
    assert chunked["total"] < full["total"]
    lora = est(["method=lora", "train.loss_chunk_tokens=1024"])
    assert lora["logits"] == 1024 * V * 16  # a frozen head: no gradient accumulator
    assert "with the full logits" in format_estimate(chunked)
    assert "with the full logits" not in format_estimate(full)


def test_cli_plan_prints_estimate_advice_and_table():
    proc = subprocess.run([sys.executable, "-m", "netft.cli", "plan", "model=llama3_8b",
                           "method=full", "parallel=fsdp2", "--world", "8", "--table"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "8.03B params" in proc.stdout and "fits on 8 x 80 GB" in proc.stdout
    assert proc.stdout.count("| qlora |") == 4 and "| full | zero3 | 8 |" in proc.stdout


def test_cpu_estimate_of_tiny_is_about_a_process():
    e = estimate(compose(["run_dir=/tmp/x", "model=tiny", "method=lora"]), 1, "cpu")
    assert 0.5 * GiB < e["total"] < 1.5 * GiB


def test_host_peak_adds_gradients_activations_and_buffers():
    """On CPU (glibc) the measured peaks are the sum of the terms (bench/bench_plan.py); on a
    GPU gradients and activations share memory (max), and no buffers term is added."""
    for par, world in (("single", 1), ("fsdp2", 2), ("zero3", 2)):
        cpu = est(["method=full", f"parallel={par}"], world=world, device="cpu")
        terms = sum(cpu[k] for k in ("weights", "grads", "optimizer", "activations", "logits",
                                     "buffers", "runtime"))
        assert cpu["total"] == pytest.approx(max(terms, cpu["load"]))
        assert (cpu["buffers"] > 0) == (par != "single")
    gpu = est(["method=full", "parallel=fsdp2"])
    assert gpu["buffers"] == 0 and gpu["total"] == pytest.approx(
        gpu["weights"] + gpu["optimizer"] + max(gpu["grads"], gpu["activations"] + gpu["logits"])
        + gpu["runtime"])
