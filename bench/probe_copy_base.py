"""Probe: which pre-training recipe gives the tiny base in-context copying (issue 26, item 1).

Builds candidate bases with netft's own pieces (the tokenizer builder, the Llama config the
builder uses, its optimiser and schedule) on the shipped corpora plus an optional data mix, and
prints `copy_gain` (netft.models.tiny.copy_gain, nats/token) and the general held-out
perplexity every `--every` steps, so an induction-head phase change shows early and a
candidate that has none can be stopped (`--stop-gain`, `--max-wall`).

Data mixes (fractions of each batch's rows; the rest are plain corpus windows as in build_tiny):
  --repeat P   rows whose first half is a corpus window A and whose second half is a run of
               random spans of A (8-48 tokens each): copying pays on every span after its
               first token, which is what makes induction heads worth learning.
  --randrep P  rows of k (--k-min..--k-max) tokens drawn at random corpus positions, repeated to fill the
               row: nothing but copying predicts them (the classic induction-head task).
  --netops P   windows of the shipped netops TRAIN split rendered as plain chat text (answers
               repeat the prompt's addresses/AS numbers). The test split is never read.

Run one thread (the machine is shared):
  OMP_NUM_THREADS=1 python bench/probe_copy_base.py --name r25 --repeat 0.25 --steps 600
Each candidate appends one JSON line to --out (default bench/copy_base_runs.jsonl).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from netft.data.corpus import corpus_texts
from netft.models.tiny import TinySpec, _token_stream, build_tokenizer, copy_gain, stream_perplexity
from netft.models.tiny_recipe import randrep_row, repeat_row, window

SCRATCH = Path(os.environ.get("PROBE_SCRATCH", "/tmp/h26b_probe"))
NETOPS_TRAIN = Path(__file__).resolve().parent.parent / "netft/assets/data/netops/train.jsonl"


def streams(vocab_size: int):
    """Tokenizer + token streams, cached in SCRATCH (the tokenizer build is the same for every
    candidate of one vocab size, so it is not part of a candidate's training time)."""
    d = SCRATCH / f"v{vocab_size}"
    if (d / "streams.pt").exists():
        from transformers import PreTrainedTokenizerFast
        return PreTrainedTokenizerFast.from_pretrained(d), torch.load(d / "streams.pt", weights_only=True)
    t0 = time.time()
    texts = corpus_texts()
    tok = build_tokenizer([texts["general_train"], texts["networking"]], vocab_size)
    rows = [json.loads(line) for line in NETOPS_TRAIN.read_text().splitlines() if line.strip()]
    netops_text = "\n\n".join(
        "\n".join(f"<|{m['role']}|>\n{m['content']}<|eot|>" for m in r["messages"]) for r in rows)
    s = {"train": torch.cat([_token_stream(tok, texts["general_train"]),
                             _token_stream(tok, texts["networking"])]),
         "heldout": _token_stream(tok, texts["general_heldout"]),
         "netops": torch.tensor(tok(netops_text)["input_ids"], dtype=torch.long)}
    d.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(d)
    torch.save(s, d / "streams.pt")
    print(f"tokenizer + streams built in {time.time() - t0:.1f} s: "
          + ", ".join(f"{k} {len(v):,} tok" for k, v in s.items()), flush=True)
    return tok, s


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--name", required=True)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--inter", type=int, default=352)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv", type=int, default=2)
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=float, default=0.05)
    p.add_argument("--repeat", type=float, default=0.0)
    p.add_argument("--randrep", type=float, default=0.0)
    p.add_argument("--k-min", type=int, default=16, help="randrep period, shortest")
    p.add_argument("--k-max", type=int, default=64, help="randrep period, longest")
    p.add_argument("--warm-steps", type=int, default=0,
                   help="first run this many steps of pure short-context randrep (--warm-seq, "
                        "--warm-batch, periods 4-10): the induction circuit forms there in a few "
                        "hundred steps, then --steps of the main mix follow (one lr schedule)")
    p.add_argument("--warm-seq", type=int, default=32)
    p.add_argument("--warm-batch", type=int, default=32)
    p.add_argument("--netops", type=float, default=0.0)
    p.add_argument("--qk-init", type=float, default=None,
                   help="re-initialise q_proj/k_proj with this std (HF's default is 0.02): "
                        "attention starts less uniform, which may shorten the copying plateau")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--every", type=int, default=100)
    p.add_argument("--stop-gain", type=float, default=None, help="stop once copy_gain >= this")
    p.add_argument("--max-wall", type=float, default=600.0)
    p.add_argument("--save", default=None, help="save the model + tokenizer here")
    p.add_argument("--out", default=str(Path(__file__).with_name("copy_base_runs.jsonl")))
    a = p.parse_args()
    torch.set_num_threads(1)

    from transformers import LlamaConfig, LlamaForCausalLM, get_cosine_schedule_with_warmup

    tok, s = streams(a.vocab)
    torch.manual_seed(a.seed)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=a.hidden, intermediate_size=a.inter,
        num_hidden_layers=a.layers, num_attention_heads=a.heads, num_key_value_heads=a.kv,
        max_position_embeddings=TinySpec.max_position_embeddings, tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id, rope_theta=10000.0)
    model = LlamaForCausalLM(config)
    if a.qk_init is not None:
        with torch.no_grad():
            for layer in model.model.layers:
                layer.self_attn.q_proj.weight.normal_(0.0, a.qk_init)
                layer.self_attn.k_proj.weight.normal_(0.0, a.qk_init)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01, betas=(0.9, 0.95))
    total = a.warm_steps + a.steps
    sched = get_cosine_schedule_with_warmup(opt, max(1, int(total * a.warmup)), total)
    gen = torch.Generator().manual_seed(a.seed)
    heldout = s["heldout"]
    # copy_gain on two different held-out slices (16 rows x 64 each) to see its noise
    cg_a, cg_b = heldout, heldout[16 * 64 * 3:]

    def evaluate(step, t_train, loss):
        g1, g2 = copy_gain(model, cg_a), copy_gain(model, cg_b)
        ppl = stream_perplexity(model, heldout, 256, max_tokens=16_384)
        model.train()
        print(f"{a.name} step {step:5d} train {t_train:6.1f}s loss {loss:.3f} "
              f"copy_gain {g1:.3f}/{g2:.3f} heldout_ppl(16k) {ppl:.1f}", flush=True)
        return g1, g2, ppl

    print(f"{a.name}: {params:,} params ({params * 4 / 2**20:.1f} MB fp32); {vars(a)}", flush=True)
    model.train()
    t_train, t0, curve, loss = 0.0, time.time(), [], float("nan")
    step = 0
    for step in range(1, total + 1):
        t = time.time()
        rows = []
        if step <= a.warm_steps:
            rows = [randrep_row(s["train"], a.warm_seq, gen, (4, 10)) for _ in range(a.warm_batch)]
        for _ in range(a.batch if step > a.warm_steps else 0):
            u = float(torch.rand((), generator=gen))
            if u < a.repeat:
                rows.append(repeat_row(s["train"], a.seq, gen))
            elif u < a.repeat + a.randrep:
                rows.append(randrep_row(s["train"], a.seq, gen, (a.k_min, a.k_max)))
            elif u < a.repeat + a.randrep + a.netops:
                rows.append(window(s["netops"], a.seq, gen))
            else:
                rows.append(window(s["train"], a.seq, gen))
        x = torch.stack(rows)
        out = model(input_ids=x, labels=x)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        loss = out.loss.item()
        t_train += time.time() - t
        if step % a.every == 0 or step == total:
            g1, g2, ppl = evaluate(step, t_train, loss)
            curve.append([step, round(t_train, 1), round(g1, 3), round(g2, 3), round(ppl, 1)])
            if a.stop_gain is not None and min(g1, g2) >= a.stop_gain:
                break
            if time.time() - t0 > a.max_wall:
                print(f"{a.name}: wall limit reached at step {step}", flush=True)
                break
    full_ppl = stream_perplexity(model, heldout, 256)
    rec = {"name": a.name, "args": vars(a), "params": params, "mb_fp32": round(params * 4 / 2**20, 2),
           "steps_done": step, "train_s_1thread": round(t_train, 1),
           "s_per_step": round(t_train / step, 3), "copy_gain": curve[-1][2:4],
           "heldout_ppl": round(full_ppl, 1), "curve": curve}
    print(json.dumps(rec), flush=True)
    with open(a.out, "a") as fh:
        fh.write(json.dumps(rec) + "\n")
    if a.save:
        model.save_pretrained(a.save, safe_serialization=True)
        tok.save_pretrained(a.save)


if __name__ == "__main__":
    main()
