"""The domain evaluation's generation under sharding: per-item wall time, 1 process against 2
ranks of FSDP2 and ZeRO-3, and 2 ranks generating from a gathered whole copy.

    OMP_NUM_THREADS=1 python bench/bench_generate.py [--items 8] [--batch 4]
        [--new-tokens 16] [--big-layers 12] [--big-hidden 768] [--big-model DIR]

For the tiny model and a random-init ~104M Llama (bench_scale.make_model), method=full:
  single     1 process, netft.eval.generate.generate_answers on the model
  fsdp2/zero3  2 ranks (gloo), the same call on the sharded model: every forward pass of
             every new token all-gathers each layer's parameters
  +copy      the same 2 ranks, generating from a whole copy of the weights gathered once
             (engine.full_state_dict on rank 0, broadcast): no collective per token
Each is timed after a warm-up call; the answers of every variant are compared with the
1-process answers (greedy decoding: they must be the same strings).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def whole_copy(engine, info):
    """A plain (unsharded) model with the engine's weights, on every rank."""
    import torch
    import torch.distributed as dist
    from transformers import AutoModelForCausalLM

    sd = engine.full_state_dict()
    with engine.whole_model_init():
        copy = AutoModelForCausalLM.from_config(engine.model.config, dtype=torch.float32)
    if info.distributed:
        box = [sd if info.is_main else None]
        dist.broadcast_object_list(box, src=0)
        sd = box[0]
    copy.load_state_dict(sd, strict=False)
    return copy.eval()


def worker(args) -> None:
    import torch

    from conftest import compose
    from netft import distributed
    from netft.data.curation import read_sources
    from netft.eval.generate import generate_answers
    from netft.models.checked import load_for_training
    from netft.parallel.engine import before_model_load, build_engine

    torch.set_num_threads(1)
    cfg = compose([f"run_dir={args.work}/run", "model=tiny", f"model.name_or_path={args.model}",
                   "method=full", f"parallel={args.parallel}"])
    info = distributed.setup("gloo")
    before_model_load(cfg, info)
    tokenizer, model = load_for_training(args.model, cfg, info)
    engine = build_engine(model, cfg, info, total_steps=10)
    rows = read_sources(cfg.data.test_files)[:args.items]
    out = {}

    def timed(name, m):
        generate_answers(m, tokenizer, rows[:args.batch], info, 2, args.batch)  # warm-up
        distributed.barrier(info)
        t = time.perf_counter()
        answers = generate_answers(m, tokenizer, rows, info, args.new_tokens, args.batch)
        out[name] = {"s": time.perf_counter() - t, "answers": answers}
    timed(args.parallel, engine.model)
    if info.distributed:
        t = time.perf_counter()
        copy = whole_copy(engine, info)
        gather_s = time.perf_counter() - t
        timed(args.parallel + "+copy", copy)
        out[args.parallel + "+copy"]["gather_s"] = gather_s
    if info.is_main:
        Path(args.out).write_text(json.dumps(out))
    distributed.teardown(info)


def launch(args, model: str, parallel: str, work: Path) -> dict:
    from conftest import free_port

    out = work / f"{Path(model).name}-{parallel}.json"
    nproc = 1 if parallel == "single" else 2
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}",
           "--master-addr=127.0.0.1", f"--master-port={free_port()}", __file__, "--worker",
           f"--work={work}", f"--out={out}", f"--model={model}", f"--parallel={parallel}",
           f"--items={args.items}", f"--batch={args.batch}", f"--new-tokens={args.new_tokens}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(proc.stderr[-3000:])
    return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=8)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--new-tokens", type=int, default=16)
    ap.add_argument("--big-layers", type=int, default=12)
    ap.add_argument("--big-hidden", type=int, default=768)
    ap.add_argument("--big-model", default=None)
    ap.add_argument("--models", default="tiny,big")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--parallel", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    import os

    from netft.models.tiny import ensure_tiny

    work = Path(tempfile.mkdtemp(prefix="netft-bench-gen-"))
    models = {"tiny": str(ensure_tiny(os.environ.get("NETFT_CACHE", str(ROOT / ".cache/netft"))))}
    if "big" in args.models:
        if args.big_model is None:
            from bench_scale import make_model

            args.big_model = str(work / "model-big")
            make_model(Path(args.big_model), args.big_layers, args.big_hidden)
        models["big"] = args.big_model
    print(f"{args.items} items, batch {args.batch}, {args.new_tokens} new tokens, greedy; "
          "seconds per item (wall time of the whole call / items)")
    print("| model | variant | s/item | vs 1 process | same answers |\n|---|---|---|---|---|")
    for label in args.models.split(","):
        ref = launch(args, models[label], "single", work)["single"]
        print(f"| {label} | 1 process | {ref['s'] / args.items:.3f} | 1.00 | - |", flush=True)
        for parallel in ("fsdp2", "zero3"):
            res = launch(args, models[label], parallel, work)
            for name, r in res.items():
                extra = f" (+ gather {r['gather_s']:.2f} s once)" if "gather_s" in r else ""
                print(f"| {label} | {name} x2{extra} | {r['s'] / args.items:.3f} | "
                      f"{r['s'] / ref['s']:.2f} | {r['answers'] == ref['answers']} |", flush=True)


if __name__ == "__main__":
    main()
