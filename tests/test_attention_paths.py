"""Packed samples never attend to each other, on every attention implementation.

flash_attention_2 is exercised on CPU through transformers' own dispatch with exact torch
kernels in place of flash-attn's (tests/flash_standin.py); the same assertions run with the
real kernels in tests/test_gpu.py. Reference everywhere: each example alone, unpadded, sdpa.
"""
import random

import pytest
import torch

import flash_standin
from conftest import compose
from netft.data.batching import collate, pack
from netft.data.chat import IGNORE, Example, tokenize_chat
from netft.distributed import DistInfo
from netft.eval.generate import _left_padded, generate_answers, prompt_messages
from netft.models.load import load_model, varlen_attention
from netft.objectives.sft import forward_logits, token_losses

IMPLS = ["sdpa", "eager", "flash_attention_2"]


def make_examples(tok, n=12, seed=3):
    rng = random.Random(seed)
    words = ["ospf", "bgp", "area", "cost", "neighbor", "10.0.0.1", "interface", "eth0"]
    out = []
    for i in range(n):
        reply = " ".join(rng.choice(words) for _ in range(rng.randint(2, 40)))
        ex = tokenize_chat(tok, [{"role": "user", "content": f"q{i} {reply[:rng.randint(3, 50)]}"},
                                 {"role": "assistant", "content": reply}])
        ex.labels[0] = IGNORE
        out.append(ex)
    return out


def model_with(tiny_path, impl, monkeypatch):
    if impl.startswith("flash"):
        flash_standin.install(monkeypatch)
    cfg = compose(["run_dir=/tmp/x", f"model.attn_implementation={impl}"])
    torch.manual_seed(0)
    model = load_model(str(tiny_path), cfg.model, cfg.method, torch.device("cpu")).eval()
    assert model.config._attn_implementation == impl
    return model


def alone(model_sdpa, exs):
    """Per-token losses of every example on its own: no packing, no padding."""
    with torch.no_grad():
        return [token_losses(forward_logits(model_sdpa, collate(exs, [[i]], 0, True)),
                             torch.tensor([e.labels]))[0] for i, e in enumerate(exs)]


def split_rows(losses, batch, exs, rows):
    """Per-example slices of a packed batch's per-position losses (flattened or per row)."""
    out = {}
    flat = batch["input_ids"].shape[0] == 1 and len(rows) > 1
    offset, r = 0, 0
    for r, row in enumerate(rows):
        if not flat:
            offset = 0
        for i in row:
            n = len(exs[i].input_ids)
            out[i] = losses[0 if flat else r, offset:offset + n - 1]
            offset += n
    return out


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("rows_per_batch", [1, 2, 4])
def test_packed_equals_unpacked_per_token(tiny_path, tiny_tokenizer, monkeypatch, impl,
                                          rows_per_batch):
    exs = make_examples(tiny_tokenizer)
    reference = alone(model_with(tiny_path, "sdpa", monkeypatch), exs)
    model = model_with(tiny_path, impl, monkeypatch)
    lengths = [len(e.input_ids) for e in exs]
    rows = pack(lengths, list(range(len(exs))), max_length=max(lengths) * 3)
    assert any(len(r) > 1 for r in rows), "the test needs real packing"
    seen = 0
    for b in range(0, len(rows), rows_per_batch):
        group = rows[b:b + rows_per_batch]
        batch = collate(exs, group, tiny_tokenizer.pad_token_id, True, varlen_attention(model))
        with torch.no_grad():
            losses = token_losses(forward_logits(model, batch), batch["labels"])
        for i, values in split_rows(losses, batch, exs, group).items():
            torch.testing.assert_close(values, reference[i], atol=1e-5, rtol=1e-5,
                                       msg=f"example {i} ({impl}, {rows_per_batch} rows)")
            seen += 1
    assert seen == len(exs)
    if impl.startswith("flash"):  # transformers really dispatched to the varlen kernel
        assert flash_standin.CALLS["varlen"] > 0


def test_flash_dispatch_leaks_across_rows_without_varlen(tiny_path, tiny_tokenizer, monkeypatch):
    """Why the flattening exists: transformers' flash dispatch with 2+ packed rows and no mask
    runs plain causal attention over each row, so later examples see earlier ones. (This is
    the old collate; if transformers ever fixes it upstream this test says so.)"""
    exs = make_examples(tiny_tokenizer)
    reference = alone(model_with(tiny_path, "sdpa", monkeypatch), exs)
    model = model_with(tiny_path, "flash_attention_2", monkeypatch)
    lengths = [len(e.input_ids) for e in exs]
    rows = pack(lengths, list(range(len(exs))), max_length=max(lengths) * 3)[:2]
    batch = collate(exs, rows, tiny_tokenizer.pad_token_id, True, varlen=False)
    with torch.no_grad():
        losses = token_losses(forward_logits(model, batch), batch["labels"])
    worst = max(float((v - reference[i]).abs().max())
                for i, v in split_rows(losses, batch, exs, rows).items())
    assert worst > 1e-2, f"no leak seen (max per-token difference {worst:.2e})"


@pytest.mark.parametrize("impl", IMPLS)
def test_batched_left_padded_generation_equals_one_by_one(tiny_path, tiny_tokenizer,
                                                          monkeypatch, impl):
    """Domain-eval generation: left padding + KV cache on every implementation."""
    model = model_with(tiny_path, impl, monkeypatch)
    rows = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": "x"}]}
            for q in ("Configure OSPF area 0 on eth1 in FRR.", "What is BGP?",
                      "Show the OSPF neighbours on a JunOS router and explain the states.")]
    batch = _left_padded(tiny_tokenizer, [prompt_messages(r) for r in rows])
    assert (batch["attention_mask"] == 0).any(), "the test needs left padding"
    with torch.no_grad():
        last = model(**batch).logits[:, -1]
        for j, r in enumerate(rows):
            one = _left_padded(tiny_tokenizer, [prompt_messages(r)])
            torch.testing.assert_close(last[j], model(**one).logits[0, -1], atol=1e-4, rtol=1e-4)
    batched = generate_answers(model, tiny_tokenizer, rows, DistInfo(), 24, batch_size=3)
    single = generate_answers(model, tiny_tokenizer, rows, DistInfo(), 24, batch_size=1)
    assert batched == single and any(batched)


def test_varlen_batch_boundaries(tiny_tokenizer):
    exs = [Example([5, 6, 7], [IGNORE, 6, 7]), Example([8, 9], [IGNORE, 9]),
           Example([1, 2, 3, 4], [IGNORE, 2, 3, 4])]
    b = collate(exs, [[0, 1], [2]], 0, packing=True, varlen=True)
    assert b["input_ids"].tolist() == [[5, 6, 7, 8, 9, 1, 2, 3, 4]]
    assert b["position_ids"].tolist() == [[0, 1, 2, 0, 1, 0, 1, 2, 3]]
    assert b["cu_seq_lens_q"].tolist() == [0, 3, 5, 9] and b["cu_seq_lens_q"].dtype == torch.int32
    assert b["max_length_q"] == b["max_length_k"] == 4 and b["n_tokens"] == 9
    # no label crosses a boundary: each example's first token is unlabelled
    assert b["labels"].tolist() == [[IGNORE, 6, 7, IGNORE, 9, IGNORE, 2, 3, 4]]


def pairs_batch(tok, n=6):
    from netft.objectives import dpo
    from netft.data.preferences import read_preferences
    from netft.config import ASSETS

    rows = read_preferences(ASSETS / "data/netops_prefs/validation.jsonl")[:n]
    pairs, _ = dpo.tokenize_pairs(rows, tok, 512)
    return dpo.collate_pairs(pairs, [[i] for i in range(len(pairs))], tok.pad_token_id)


@pytest.mark.parametrize("loss", ["sigmoid", "ipo"])
def test_dpo_statistics_equal_on_flash_and_sdpa(tiny_path, tiny_tokenizer, monkeypatch, loss):
    """DPO batches are right-padded rows with a mask: flash takes transformers' unpad path."""
    from netft.models.load import apply_method
    from netft.objectives import dpo

    batch = pairs_batch(tiny_tokenizer)
    assert (batch["attention_mask"] == 0).any()
    out = {}
    for impl in ("sdpa", "flash_attention_2"):
        cfg = compose(["run_dir=/tmp/x", "method=lora", "objective=dpo",
                       f"objective.loss={loss}", f"model.attn_implementation={impl}"])
        model = model_with(tiny_path, impl, monkeypatch)
        model = apply_method(model, cfg.method)
        torch.manual_seed(1)
        for name, p in model.named_parameters():  # a policy that differs from the reference
            if "lora_B" in name:
                torch.nn.init.normal_(p, std=0.05)
        with torch.no_grad():
            out[impl] = dpo.make_loss_fn(model, cfg.objective)(model, batch)
    (ls, ks, ss), (lf, kf, sf) = out["sdpa"], out["flash_attention_2"]
    # Both paths compute in float32 and differ in the order of their sums (attention kernels,
    # unpadded vs padded rows). Each answer log-prob is a sum of same-sign token log-probs,
    # whose float32 relative error is at most (terms - 1) x eps; the loss is a smooth function
    # of those sums. So the bound is the token count x float32 eps (relative), not one
    # machine's difference: a previous bound of rel 1e-6 failed on another x86 CPU (7.845751
    # vs 7.845739, rel 1.5e-6). A real defect (a row attending across a boundary) moves the
    # loss by percent.
    rel = int(batch["attention_mask"].sum()) * torch.finfo(torch.float32).eps
    assert 1e-5 < rel < 1e-3, rel  # the bound stays a real check
    assert ks == kf == 6 and float(lf) == pytest.approx(float(ls), rel=rel, abs=0)
    for key in ss:
        assert float(sf[key]) == pytest.approx(float(ss[key]), abs=1e-4), key


# Small on purpose (the loop is what is compared): 77 rows, 3 steps, one evaluation whose
# validation and general-text micro-batches hold several packed rows.
RUN = ["model=tiny", "method=full", "train.epochs=1", "train.max_steps=3", "train.lr=1e-3",
       "logger=none", "eval.domain=false", "eval.general_max_tokens=2048",
       "eval.val_micro_batch_size=4", "eval.val_before_training=false",
       "train.save_every_epoch=false", "eval.keep_best=false",
       "data.train_files=[${asset:data/netops/validation.jsonl}]",
       "data.validation_files=[${asset:data/netops/validation.jsonl}]", "data.test_files=[]",
       "data.dedup=false", "data.contamination_check=false"]


@pytest.mark.slow
@pytest.mark.parametrize("micro", [1, 2, 4])
def test_flash_training_follows_sdpa(tmp_path, tiny_path, monkeypatch, micro):
    """The whole loop (packed training steps, validation loss, general perplexity) with
    flash_attention_2 equals the sdpa run: per-step losses within 1e-5."""
    import netft.train as train
    from conftest import read_metrics

    def run(impl):
        run_dir = tmp_path / impl
        summary = train.run(compose([*RUN, f"train.micro_batch_size={micro}",
                                     f"model.attn_implementation={impl}", f"run_dir={run_dir}"]))
        steps = [r["train/loss"] for r in read_metrics(run_dir) if "train/loss" in r]
        return steps, summary["history"]

    sdpa_steps, sdpa_hist = run("sdpa")
    flash_standin.install(monkeypatch)
    validate = train.validate

    def validate_without_cuda_check(cfg):  # validate() rightly refuses flash-attn on CPU
        plain = cfg.copy()
        plain.model.attn_implementation = "sdpa"
        validate(plain)

    monkeypatch.setattr(train, "validate", validate_without_cuda_check)
    flash_steps, flash_hist = run("flash_attention_2")
    assert flash_standin.CALLS["varlen"] > 0
    assert len(flash_steps) == len(sdpa_steps) == 3
    for a, b in zip(flash_steps, sdpa_steps):
        assert a == pytest.approx(b, abs=1e-5)
    assert len(flash_hist) == len(sdpa_hist) == 1
    for ha, hb in zip(flash_hist, sdpa_hist):
        assert ha["val_loss"] == pytest.approx(hb["val_loss"], abs=1e-5)
        assert ha["general_ppl"] == pytest.approx(hb["general_ppl"], rel=1e-5)


def test_lm_eval_copy_of_a_flash_model_is_exact(tiny_path, tiny_tokenizer, monkeypatch):
    """lm-eval scores an unsharded copy: sdpa (its right-padded, mask-free batches are exact
    under causal attention), with the trained weights, whatever the run's attention."""
    from netft.eval.general import unsharded_copy
    from netft.parallel.engine import build_torch_engine

    model = model_with(tiny_path, "flash_attention_2", monkeypatch)
    engine = build_torch_engine(model, compose(["run_dir=/tmp/x"]), DistInfo(), total_steps=1)
    copy = unsharded_copy(engine, engine.full_state_dict())
    assert copy.config._attn_implementation == "sdpa"
    exs = make_examples(tiny_tokenizer, n=3)
    ids = [e.input_ids for e in exs]
    width = max(map(len, ids))
    padded = torch.tensor([i + [tiny_tokenizer.pad_token_id] * (width - len(i)) for i in ids])
    with torch.no_grad():
        batched = copy(padded).logits
        for j, i in enumerate(ids):  # right padding changes no real token's logits
            torch.testing.assert_close(batched[j, :len(i)], model(torch.tensor([i])).logits[0],
                                       atol=1e-4, rtol=1e-4)
