"""Loss normalisation and packing: the properties the anchors get wrong."""
import random

import pytest
import torch

from conftest import compose
from netft.data.batching import collate, pack
from netft.data.chat import IGNORE, tokenize_chat
from netft.distributed import DistInfo
from netft.models.load import apply_method, load_model
from netft.objectives.sft import forward_logits, token_losses
from netft.parallel.engine import build_torch_engine
from netft.objectives.accumulate import forward_backward


def examples(tok, n=7, seed=0):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = " ".join(rng.choice(["ospf", "bgp", "area", "cost", "neighbor", "10.0.0.1"])
                         for _ in range(rng.randint(1, 40)))  # very uneven lengths
        ex = tokenize_chat(tok, [{"role": "user", "content": f"q{i} {words[: rng.randint(3, 60)]}"},
                                 {"role": "assistant", "content": words}])
        ex.labels[0] = IGNORE
        out.append(ex)
    return out


def engine_for(tiny_path, method, overrides=()):
    cfg = compose(["run_dir=/tmp/x", f"method={method}", "train.max_grad_norm=1e9", *overrides])
    torch.manual_seed(0)
    model = apply_method(load_model(str(tiny_path), cfg.model, cfg.method, torch.device("cpu")),
                         cfg.method)
    if method == "lora":  # make adapters non-trivial so their gradients are too
        for n, p in model.named_parameters():
            if "lora_B" in n:
                torch.nn.init.normal_(p, std=0.02)
    return build_torch_engine(model, cfg, DistInfo(), total_steps=10)


def grads(engine):
    return {n: p.grad.clone() for n, p in engine.model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("method", ["full", "lora"])
@pytest.mark.parametrize("packing", [False, True])
def test_grad_accumulation_equals_one_big_batch(tiny_path, tiny_tokenizer, method, packing):
    exs = examples(tiny_tokenizer)
    pad = tiny_tokenizer.pad_token_id
    engine = engine_for(tiny_path, method)
    big = [collate(exs, [[i] for i in range(len(exs))], pad, packing=False)]
    sums, _, n = forward_backward(engine, big, DistInfo())
    loss_big = sums[0].item() / n
    g_big = grads(engine)
    engine.optimizer.zero_grad(set_to_none=True)

    # Same examples, uneven micro-batches (1, 2 and 4 examples), packed or padded.
    splits = [[0], [1, 2], [3, 4, 5, 6]]
    micro = [collate(exs, [s] if packing else [[i] for i in s], pad, packing) for s in splits]
    sums, _, n = forward_backward(engine, micro, DistInfo())
    loss_acc = sums[0].item() / n
    g_acc = grads(engine)

    assert loss_acc == pytest.approx(loss_big, abs=1e-5)
    assert g_big.keys() == g_acc.keys() and g_big
    for n in g_big:
        torch.testing.assert_close(g_acc[n], g_big[n], atol=1e-5, rtol=1e-4, msg=n)
    # The naive mean of per-micro-batch means differs: the test can tell the two apart.
    with torch.no_grad():
        naive = sum(float(token_losses(forward_logits(engine.module, b), b["labels"]).sum()
                          / (b["labels"][:, 1:] != IGNORE).sum()) for b in micro) / len(micro)
    assert abs(naive - loss_big) > 1e-3


def test_packed_and_unpacked_give_same_per_token_losses(tiny_path, tiny_tokenizer):
    exs = examples(tiny_tokenizer, n=9, seed=1)
    pad = tiny_tokenizer.pad_token_id
    engine = engine_for(tiny_path, "full")
    lengths = [len(e.input_ids) for e in exs]
    rows = pack(lengths, list(range(len(exs))), max_length=max(lengths) * 3)
    assert any(len(r) > 1 for r in rows), "test needs real packing"
    with torch.no_grad():
        packed = collate(exs, rows, pad, packing=True)
        assert "attention_mask" not in packed
        lp = token_losses(forward_logits(engine.module, packed), packed["labels"])
        unpacked = collate(exs, [[i] for i in range(len(exs))], pad, packing=False)
        lu = token_losses(forward_logits(engine.module, unpacked), unpacked["labels"])
    per_example_packed = []
    for r, row in enumerate(rows):
        offset = 0
        for i in row:
            n = len(exs[i].input_ids)
            # loss at position t predicts token t+1; within example i that is [offset, offset+n-1)
            per_example_packed.append((i, lp[r, offset:offset + n - 1]))
            offset += n
    for i, values in per_example_packed:
        n = len(exs[i].input_ids)
        torch.testing.assert_close(values, lu[i, :n - 1], atol=1e-5, rtol=1e-4)
    assert float(lp.sum()) == pytest.approx(float(lu.sum()), rel=1e-5)


def test_packing_fills_rows():
    lengths = [random.Random(i).randint(20, 300) for i in range(200)]
    rows = pack(lengths, list(range(200)), max_length=512)
    assert sorted(i for r in rows for i in r) == list(range(200))
    assert all(sum(lengths[i] for i in r) <= 512 for r in rows)
    assert sum(lengths) / (512 * len(rows)) > 0.9
