"""CPU benchmark: one SFT training step with the full logits vs the chunked loss (issue 25).

    .venv/bin/python bench/bench_logits.py [--seq 2048] [--chunks 0,1024,256] [--repeats 2]
                                           [--out docs/scale.md]

The model is a randomly initialised Llama-architecture model with Llama 3's vocabulary
(128,256 tokens, untied output layer as in Llama-3-8B) and a small body (hidden 128, 2 layers)
so that a step runs in seconds on one CPU thread -- and so that the output layer and its loss,
the part chunking changes, dominate the step as they do the memory of a real 8B step at
sequence 4096. One micro-batch: one packed row of --seq tokens (4 sequences, the first quarter
of each a prompt without labels), fp32, AdamW, the step exactly as netft/train.py runs it
(`forward_backward` + `engine.step()` on the engine from `build_torch_engine`, config composed by
Hydra from conf/ with `train.loss_chunk_tokens=<chunk>`; 0 = the full logits).

How it is measured. Each variant runs in a fresh subprocess, so its peak memory is its own:
peak RSS = `getrusage(RUSAGE_SELF).ru_maxrss` (the kernel's high-water mark of resident memory;
it sees torch's allocations, which tracemalloc does not), and the step's own part = that peak
minus the RSS just before the first step (weights, optimizer set-up, Python). Each run does
--warmup untimed steps (which also allocate AdamW's state), then times --steps steps (wall
clock). Variants alternate (full, chunked, ..., full, chunked, ...) for --repeats rounds, so a
machine shared with other jobs slows every variant alike; the table gives medians and the runs.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- bench_logits:begin -->", "<!-- bench_logits:end -->"


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def compose(overrides):
    import netft.config  # noqa: F401  (registers the schema)
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides))


def one_run(args) -> dict:
    """The child: build, warm up, time; print one JSON line."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from netft.distributed import DistInfo
    from netft.objectives import loss_head
    from netft.objectives.accumulate import forward_backward
    from netft.parallel.engine import build_torch_engine

    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = compose([f"run_dir={tempfile.mkdtemp(prefix='netft-bench-')}", "method=full",
                   "parallel=single", "train.lr=1e-4", f"train.loss_chunk_tokens={args.chunk}"])
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=args.vocab, hidden_size=args.hidden, intermediate_size=args.hidden * 11 // 4,
        num_hidden_layers=args.layers, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=args.seq, tie_word_embeddings=False,
        attn_implementation="sdpa"))
    why_not = loss_head.attach(model, args.chunk)
    assert (why_not is None) == (args.chunk > 0), why_not
    engine = build_torch_engine(model, cfg, DistInfo(), total_steps=args.warmup + args.steps)

    g = torch.Generator().manual_seed(1)
    n_seq, L = 4, args.seq // 4
    ids = torch.randint(0, args.vocab, (1, args.seq), generator=g)
    labels = ids.clone()
    for s in range(n_seq):  # the first quarter of each sequence is its prompt
        labels[0, s * L:s * L + L // 4] = -100
    batch = {"input_ids": ids, "labels": labels,
             "position_ids": torch.arange(L).repeat(n_seq).unsqueeze(0)}
    info = DistInfo()

    def step():
        sums, _, n = forward_backward(engine, [batch], info)
        engine.step()
        return float(sums[0]) / n

    before = rss_mib()
    for _ in range(args.warmup):
        loss0 = step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"chunk": args.chunk, "tokens_per_s": args.seq * args.steps / dt,
            "s_per_step": dt / args.steps, "peak_mib": peak, "before_mib": before,
            "step_mib": peak - before, "loss_first": loss0, "loss_last": loss,
            "params": sum(p.numel() for p in model.parameters())}


def child_cmd(args, chunk):
    return [sys.executable, __file__, "--child", "--chunk", str(chunk), "--seq", str(args.seq),
            "--vocab", str(args.vocab), "--hidden", str(args.hidden), "--layers", str(args.layers),
            "--steps", str(args.steps), "--warmup", str(args.warmup)]


def table(results: dict, chunks: list[int], args) -> str:
    base = results[0]
    med = {c: {k: statistics.median(r[k] for r in results[c])
               for k in ("tokens_per_s", "peak_mib", "step_mib", "s_per_step")} for c in chunks}
    lines = ["| variant | tokens/s (median) | tokens/s (runs) | peak RSS MiB (median) | "
             "step's own MiB | peak vs full | tokens/s vs full |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for c in chunks:
        m, b = med[c], {k: statistics.median(r[k] for r in base)
                        for k in ("tokens_per_s", "peak_mib")}
        name = "full logits (`loss_chunk_tokens=0`)" if c == 0 else f"chunked, {c} positions"
        runs = ", ".join(f"{r['tokens_per_s']:.0f}" for r in results[c])
        lines.append(f"| {name} | {m['tokens_per_s']:.0f} | {runs} | {m['peak_mib']:.0f} | "
                     f"{m['step_mib']:.0f} | {m['peak_mib'] / b['peak_mib'] - 1:+.0%} | "
                     f"{m['tokens_per_s'] / b['tokens_per_s'] - 1:+.1%} |")
    return "\n".join(lines)


def write_doc(path: Path, text: str) -> None:
    doc = path.read_text()
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in doc:
        a, b = doc.index(BEGIN), doc.index(END) + len(END)
        doc = doc[:a] + block + doc[b:]
    else:
        doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(doc)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--child", action="store_true")
    p.add_argument("--chunk", type=int, default=0)
    p.add_argument("--chunks", default="0,1024,256")
    p.add_argument("--seq", type=int, default=2048)
    p.add_argument("--vocab", type=int, default=128_256)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--out", default=None, help="update the marked table in this markdown file")
    args = p.parse_args()
    if args.child:
        print(json.dumps(one_run(args)), flush=True)
        return
    chunks = [int(c) for c in args.chunks.split(",")]
    assert chunks[0] == 0, "the first variant is the baseline: 0 (full logits)"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    results = {c: [] for c in chunks}
    t0 = time.time()
    for r in range(args.repeats):
        for c in chunks:
            proc = subprocess.run(child_cmd(args, c), capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                sys.exit(proc.stderr[-4000:])
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            results[c].append(res)
            print(f"[bench] round {r + 1} chunk {c}: {res['tokens_per_s']:.0f} tokens/s, peak "
                  f"{res['peak_mib']:.0f} MiB (step {res['step_mib']:.0f}), loss "
                  f"{res['loss_first']:.5f} -> {res['loss_last']:.5f}", flush=True)
    tab = table(results, chunks, args)
    print(tab)
    first = {c: results[c][0]["loss_first"] for c in chunks}
    params = results[0][0]["params"]
    text = (f"Measured {time.strftime('%Y-%m-%d', time.gmtime())} by `bench/bench_logits.py "
            f"--seq {args.seq} --chunks {args.chunks} --steps {args.steps} --warmup "
            f"{args.warmup} --repeats {args.repeats}` ({time.time() - t0:.0f} s): Llama "
            f"architecture, vocabulary {args.vocab:,}, hidden {args.hidden}, {args.layers} "
            f"layers ({params / 1e6:.1f}M parameters, {2 * args.vocab * args.hidden / params:.0%} "
            f"of them embedding + output layer), one packed row of {args.seq} tokens, fp32, "
            f"1 CPU thread, a fresh process per run, variants interleaved on a shared machine. "
            f"First-step loss per variant: "
            + ", ".join(f"{c}: {v:.6f}" for c, v in first.items()) + ".\n\n" + tab)
    if args.out:
        write_doc(Path(args.out), text)
        print(f"[bench] wrote {args.out}")


if __name__ == "__main__":
    main()
