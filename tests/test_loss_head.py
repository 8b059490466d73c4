"""Losses without the full logits (netft/objectives/loss_head.py) equal the full-logits path.

Tolerance: loss rel 1e-6, gradients rel 1e-5 (float32 on CPU; the chunked path sums the same
float32 terms in another order). The chunk size (5 positions) is far below every batch's
length, so every batch spans many chunks and a ragged last one.
"""
import json
import subprocess

import pytest
import torch

from conftest import ROOT, compose, torchrun_cmd
from netft.data.batching import collate
from netft.distributed import DistInfo
from netft.eval import probes
from netft.models.load import apply_method, load_model
from netft.objectives import loss_head
from netft.objectives.dpo import dpo_loss, sequence_logps
from netft.objectives.sft import forward_logits, sft_loss_sum, token_losses
from netft.parallel.engine import build_torch_engine
from test_loss import examples

CHUNK = 5


def engine_for(tiny_path, method="full", chunk=CHUNK, tie=False):
    cfg = compose(["run_dir=/tmp/x", f"method={method}", f"train.loss_chunk_tokens={chunk}"])
    torch.manual_seed(0)
    model = load_model(str(tiny_path), cfg.model, cfg.method, torch.device("cpu"))
    if tie:  # tied input/output embeddings: one Parameter, two uses
        model.lm_head.weight = model.model.embed_tokens.weight
    model = apply_method(model, cfg.method)
    if method == "lora":  # non-trivial adapters, so their gradients are too
        for n, p in model.named_parameters():
            if "lora_B" in n:
                torch.nn.init.normal_(p, std=0.02)
    assert loss_head.attach(model, chunk) is None
    return build_torch_engine(model, cfg, DistInfo(), total_steps=10)


def loss_and_grads(engine, fn):
    engine.optimizer.zero_grad(set_to_none=True)
    loss = fn()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in engine.model.named_parameters() if p.grad is not None}
    return loss.detach(), grads


def assert_same(a, b):
    (la, ga), (lb, gb) = a, b
    torch.testing.assert_close(la, lb, rtol=1e-6, atol=0)
    assert ga.keys() == gb.keys() and ga
    for n in ga:
        scale = gb[n].abs().max().clamp(min=1e-12)
        assert float((ga[n] - gb[n]).abs().max() / scale) < 1e-5, n


def full_sft(engine, batch):
    return token_losses(forward_logits(engine.module, batch), batch["labels"]).sum()


def full_logps(engine, batch):
    return -token_losses(forward_logits(engine.module, batch), batch["labels"]).sum(-1)


def dpo_of(logps):
    k = logps.shape[0] // 2  # chosen rows first; a fixed, different reference per row
    ref = torch.linspace(-30.0, -10.0, 2 * k)
    loss, _, _ = dpo_loss(logps[:k], logps[k:], ref[:k], ref[k:], beta=0.5)
    return loss.sum()


@pytest.mark.parametrize("method,tie", [("full", False), ("lora", False), ("full", True)])
@pytest.mark.parametrize("packing", [False, True])
def test_chunked_sft_equals_full_logits(tiny_path, tiny_tokenizer, method, tie, packing):
    exs = examples(tiny_tokenizer)
    engine = engine_for(tiny_path, method, tie=tie)
    rows = [list(range(len(exs)))] if packing else [[i] for i in range(len(exs))]
    batch = collate(exs, rows, tiny_tokenizer.pad_token_id, packing)
    assert batch["input_ids"].numel() > 10 * CHUNK
    assert loss_head.enabled(engine.module)
    chunked = loss_and_grads(engine, lambda: sft_loss_sum(engine.module, batch)[0])
    full = loss_and_grads(engine, lambda: full_sft(engine, batch))
    assert_same(chunked, full)
    if tie:  # the head's and the embedding's gradient are one tensor's
        assert "model.embed_tokens.weight" in full[1] and "lm_head.weight" not in full[1]


@pytest.mark.parametrize("method", ["full", "lora"])
def test_chunked_dpo_logps_equal_full_logits(tiny_path, tiny_tokenizer, method):
    """Per-row upstream gradients (DPO weighs each answer differently) on padded rows."""
    exs = examples(tiny_tokenizer, n=6, seed=3)
    engine = engine_for(tiny_path, method)
    batch = collate(exs, [[i] for i in range(len(exs))], tiny_tokenizer.pad_token_id, False)
    assert (batch["attention_mask"] == 0).any()  # really padded
    chunked = loss_and_grads(engine, lambda: dpo_of(sequence_logps(engine.module, batch)))
    full = loss_and_grads(engine, lambda: dpo_of(full_logps(engine, batch)))
    assert_same(chunked, full)


def test_validation_needs_no_graph_and_matches(tiny_path, tiny_tokenizer):
    exs = examples(tiny_tokenizer)
    engine = engine_for(tiny_path)
    batch = collate(exs, [[i] for i in range(len(exs))], tiny_tokenizer.pad_token_id, False)
    with torch.no_grad():
        chunked = sft_loss_sum(engine.module, batch)[0]
        full = full_sft(engine, batch)
    assert not chunked.requires_grad
    torch.testing.assert_close(chunked, full, rtol=1e-6, atol=0)


def test_probes_equal_full_logits(tiny_path, tiny_tokenizer):
    """General perplexity windows and the KL probe, chunked vs a copy without head requests."""
    chunked = engine_for(tiny_path)
    cfg = compose(["run_dir=/tmp/x"])
    torch.manual_seed(0)
    plain = load_model(str(tiny_path), cfg.model, cfg.method, torch.device("cpu"))
    assert not loss_head.enabled(plain)
    windows = probes.general_windows(tiny_tokenizer, 512, window=32)[:5]
    info = DistInfo()
    nll_c, n_c = probes.window_nll(chunked.module, windows, info)
    nll_f, n_f = probes.window_nll(plain, windows, info)
    assert n_c == n_f
    torch.testing.assert_close(torch.tensor(nll_c), torch.tensor(nll_f), rtol=1e-6, atol=0)

    probe = windows[:3]
    base_c = probes.base_distribution(chunked.module, probe, info, top_k=16)
    base_f = probes.base_distribution(plain, probe, info, top_k=16)
    assert torch.equal(base_c["ids"], base_f["ids"])
    torch.testing.assert_close(base_c["logp"], base_f["logp"], rtol=1e-6, atol=1e-6)
    with torch.no_grad():  # move the current model away from the base so the KL is not 0
        for p in plain.parameters():
            p.add_(0.01 * torch.randn_like(p))
        for (_, p), (_, q) in zip(chunked.model.named_parameters(), plain.named_parameters()):
            p.copy_(q)
    kl_c = probes.kl_from_base(chunked.module, probe, base_f, info)
    kl_f = probes.kl_from_base(plain, probe, base_f, info)
    assert kl_f > 1e-4
    assert kl_c == pytest.approx(kl_f, rel=1e-5)


def test_attach_refuses_what_it_cannot_do_exactly(tiny_path):
    cfg = compose(["run_dir=/tmp/x"])
    model = load_model(str(tiny_path), cfg.model, cfg.method, torch.device("cpu"))
    prompt = torch.tensor([[1, 5, 9, 12]])
    before = model.generate(prompt, max_new_tokens=6, do_sample=False)
    assert loss_head.attach(model, 0) == "train.loss_chunk_tokens=0"
    model.config.final_logit_softcapping = 30.0
    assert "final_logit_softcapping" in loss_head.attach(model, 64)
    assert not loss_head.enabled(model)
    model.config.final_logit_softcapping = None
    assert loss_head.attach(model, 64) is None and loss_head.enabled(model)
    # a plain forward (generate, lm-eval) is untouched
    ids = torch.tensor([[1, 2, 3, 4]])
    assert model(input_ids=ids).logits.shape == (1, 4, model.config.vocab_size)
    assert torch.equal(model.generate(prompt, max_new_tokens=6, do_sample=False), before)


# --- every parallel backend on 2 CPU ranks (gloo) ---------------------------------------

WORKER = ROOT / "tests" / "loss_head_worker.py"


@pytest.mark.slow
@pytest.mark.parametrize("method,parallel", [("full", "ddp"), ("full", "fsdp2"),
                                             ("lora", "fsdp2"), ("full", "zero3"),
                                             ("lora", "zero3")])
def test_chunked_equals_full_on_two_ranks(tmp_path, tiny_path, method, parallel):
    out = tmp_path / "result.json"
    cmd = torchrun_cmd(2, str(WORKER), str(tiny_path), method, parallel, str(out))
    cmd[cmd.index("-m", 4):cmd.index("-m", 4) + 2] = []  # a script, not netft.train
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-4000:])
    res = json.loads(out.read_text())
    assert res["enabled"], res
    for case in ("sft_padded", "sft_packed", "dpo_padded"):
        r = res[case]
        assert r["loss_rel"] < 1e-6, (case, r)
        assert r["grad_rel"] < 1e-5, (case, r)
        assert r["n_grads"] > 0, (case, r)


def test_empty_micro_batch_gives_zero_and_a_graph(tiny_path, tiny_tokenizer):
    """An uneven DPO tail: one all-ignored token, zero pairs (objectives/dpo.collate_pairs)."""
    from netft.objectives.dpo import collate_pairs

    engine = engine_for(tiny_path)
    batch = collate_pairs([], [], tiny_tokenizer.pad_token_id)
    logps = sequence_logps(engine.module, batch)
    assert logps.shape == (1,) and float(logps.detach()) == 0.0
    (logps.sum() * 0.0).backward()  # what make_loss_fn returns for it: must not raise
    s, n, _ = sft_loss_sum(engine.module, {**batch})
    assert float(s) == 0.0 and int(n) == 0
