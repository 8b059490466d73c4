"""Checkpoint save and load time at 2 ranks: rank 0 hashing everything (a git revision's
netft/checkpoint.py) against every rank hashing its share (this checkout), interleaved.

    python bench/bench_checkpoint.py [--layers 12] [--hidden 768] [--parallel fsdp2]
                                     [--repeats 3] [--baseline 137d480] [--model DIR]

A random-init Llama-architecture model (bench_scale.make_model: ~104M parameters at the
defaults) is fully fine-tuned for one optimizer step under torchrun with 2 ranks (so the
AdamW state exists: the checkpoint holds weights + 2 moments, fp32). Then, `repeats` times,
baseline and current save a checkpoint and load it back, alternating which goes first, so
both see the same machine load. Prints per-repeat seconds (rank 0's wall time; a save and a
load end in a collective, so every rank ends together), the medians, the checkpoint size,
and this machine's single-core sha256 rate (what the hashing costs per byte).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def worker(args) -> None:
    import torch

    from conftest import compose
    from netft import checkpoint as current
    from netft import distributed
    from netft.models.checked import load_for_training
    from netft.parallel.engine import before_model_load, build_engine
    from netft.run.state import TrainState

    torch.set_num_threads(1)
    spec = importlib.util.spec_from_file_location("baseline_checkpoint", args.baseline_file)
    baseline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(baseline)
    work = Path(args.work)
    cfg = compose([f"run_dir={work}/run", "model=tiny", f"model.name_or_path={args.model}",
                   "method=full", f"parallel={args.parallel}", "train.micro_batch_size=1"])
    info = distributed.setup("gloo")
    before_model_load(cfg, info)
    _, model = load_for_training(args.model, cfg, info)
    engine = build_engine(model, cfg, info, total_steps=10)
    ids = torch.randint(0, engine.model.config.vocab_size, (1, 32),
                        generator=torch.Generator().manual_seed(info.rank))
    engine.backward(engine.module(input_ids=ids, labels=ids).loss)
    engine.step()
    # The hashing phases alone, timed where they run: save's digests + manifest (baseline:
    # rank 0's write_manifest hashes every file) and load's verification.
    spent = {"baseline": 0.0, "current": 0.0}

    def timed(module, fn, name):
        real = getattr(module, fn)

        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return real(*a, **k)
            finally:
                spent[name] += time.perf_counter() - t
        setattr(module, fn, wrapper)
    timed(baseline, "write_manifest", "baseline")
    timed(baseline, "verify_all_ranks", "baseline")
    timed(current, "digest_all_ranks", "current")
    timed(current, "write_manifest", "current")
    timed(current, "verify_all_ranks", "current")
    rows = []
    for i in range(args.repeats):
        order = [("baseline", baseline), ("current", current)]
        for name, impl in (order if i % 2 == 0 else order[::-1]):
            run_dir = work / name
            distributed.barrier(info)
            spent[name] = 0.0
            t0 = time.perf_counter()
            saved = impl.save(engine, run_dir, TrainState(step=i + 1), info, keep=1)
            t1 = time.perf_counter()
            hash_save = spent[name]
            impl.load(engine, saved, info)
            t2 = time.perf_counter()
            hash_load = spent[name] - hash_save
            size = sum(f.stat().st_size for f in saved.rglob("*") if f.is_file())
            rows.append({"repeat": i, "impl": name, "save_s": t1 - t0, "load_s": t2 - t1,
                         "hash_save_s": hash_save, "hash_load_s": hash_load, "bytes": size})
    if info.is_main:
        Path(args.out).write_text(json.dumps(rows))
    distributed.teardown(info)


def sha256_rate(n: int = 512 << 20) -> float:
    blob = os.urandom(1 << 20)
    h = hashlib.sha256()
    t0 = time.perf_counter()
    for _ in range(n >> 20):
        h.update(blob)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--parallel", default="fsdp2", choices=["fsdp2", "zero3"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline", default="137d480",
                    help="git revision whose netft/checkpoint.py is the 'before'")
    ap.add_argument("--model", default=None, help="reuse a model folder (bench_scale --keep)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--baseline-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)

    work = Path(tempfile.mkdtemp(prefix="netft-bench-ckpt-"))
    if args.model is None:
        from bench_scale import make_model

        args.model = str(work / "model")
        n = make_model(Path(args.model), args.layers, args.hidden)
        print(f"model: {n / 1e6:.1f}M parameters ({args.layers} layers, hidden {args.hidden})")
    base_file = work / "baseline_checkpoint.py"
    base_file.write_text(subprocess.run(["git", "show", f"{args.baseline}:netft/checkpoint.py"],
                                        cwd=ROOT, capture_output=True, text=True,
                                        check=True).stdout)
    out = work / "rows.json"
    from conftest import free_port

    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2",
           "--master-addr=127.0.0.1", f"--master-port={free_port()}", __file__, "--worker",
           f"--work={work}", f"--out={out}", f"--baseline-file={base_file}",
           f"--model={args.model}", f"--parallel={args.parallel}", f"--repeats={args.repeats}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(proc.stderr[-3000:])
    rows = json.loads(out.read_text())
    print(f"checkpoint: {rows[0]['bytes'] / 2**30:.2f} GiB, {args.parallel} x2, "
          f"baseline {args.baseline} vs current (interleaved)")
    print("| repeat | impl | save s | of it hashing | load s | of it verifying |\n"
          "|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['repeat']} | {r['impl']} | {r['save_s']:.2f} | {r['hash_save_s']:.2f} | "
              f"{r['load_s']:.2f} | {r['hash_load_s']:.2f} |")
    for impl in ("baseline", "current"):
        mine = [r for r in rows if r["impl"] == impl]
        med = {k: statistics.median(r[k] for r in mine)
               for k in ("save_s", "hash_save_s", "load_s", "hash_load_s")}
        print(f"median {impl}: save {med['save_s']:.2f} s (hashing {med['hash_save_s']:.2f}), "
              f"load {med['load_s']:.2f} s (verifying {med['hash_load_s']:.2f})")
    print(f"sha256, one core here: {sha256_rate() / 2**30:.2f} GiB/s")
    import shutil

    shutil.rmtree(work / "baseline", ignore_errors=True)
    shutil.rmtree(work / "current", ignore_errors=True)


if __name__ == "__main__":
    main()
