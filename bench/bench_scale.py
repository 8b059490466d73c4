"""Host memory per rank of loading and exporting a model that is large for this machine.

    python bench/bench_scale.py [--layers 24] [--hidden 1024] [--keep]

A random-init Llama-architecture model (~313M parameters, fp32: 1.25 GB, tied embeddings) is
saved as HF safetensors under /tmp with the tiny model's tokenizer. Three runs, method=full,
one optimizer step each:
  single           1 process: the reference "1-process load"
  fsdp2 old path   2 ranks, every rank loads the whole model (parallel.meta_load=false),
                   export gathered on rank 0 (export_shard_mb larger than the model)
  fsdp2 new path   2 ranks, meta load (rank 0 reads, rank 1 receives its shards),
                   streamed export (export_shard_mb=256)
Each rank prints its peak RSS during setup (model load + sharding, before the first step)
and its RSS before / peak during export; we print them, the ratios the issue asks for, the
per-step losses of both fsdp2 paths and the max logit difference of the two exports
(reloaded with plain from_pretrained).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMON = ["train.epochs=1", "train.max_steps=1", "train.micro_batch_size=1",
          "train.grad_accum=1", "train.max_length=256", "logger=none", "eval.domain=false",
          "eval.val_before_training=false", "eval.val_every_epoch=false",
          "eval.general_ppl=false", "train.save_every_epoch=false"]


def make_model(path: Path, layers: int, hidden: int, dtype: str = "float32") -> int:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

    from netft.models.tiny import ensure_tiny

    tiny = ensure_tiny(os.environ.get("NETFT_CACHE", str(ROOT / ".cache" / "netft")))
    config = LlamaConfig(hidden_size=hidden, intermediate_size=int(hidden * 2.75),
                         num_hidden_layers=layers, num_attention_heads=hidden // 64,
                         num_key_value_heads=hidden // 128, vocab_size=32000,
                         tie_word_embeddings=True, max_position_embeddings=2048,
                         bos_token_id=0, eos_token_id=3, pad_token_id=2)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    n = sum(p.numel() for p in model.parameters())
    model.to(getattr(torch, dtype)).save_pretrained(path, safe_serialization=True)
    AutoTokenizer.from_pretrained(tiny).save_pretrained(path)
    return n


def run(cmd: list[str], log: Path) -> str:
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    log.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{(proc.stdout + proc.stderr)[-3000:]}")
    return proc.stdout + proc.stderr


def rss(log: str) -> dict:
    out = {}
    for m in re.finditer(r"\[netft\] rank (\d) holds .*setup peak RSS ([\d.]+) GiB .*now anon "
                         r"([\d.]+) \+ file ([\d.]+) GiB", log):
        out.setdefault(int(m[1]), {}).update(setup=float(m[2]), setup_anon=float(m[3]),
                                             setup_file=float(m[4]))
    for m in re.finditer(r"\[netft\] rank (\d) export \(([^)]*)\): RSS before ([\d.]+) GiB, "
                         r"peak ([\d.]+) GiB", log):
        out.setdefault(int(m[1]), {}).update(export_how=m[2], export_before=float(m[3]),
                                             export_peak=float(m[4]))
    return out


LOGITS = ("import sys, torch; from transformers import AutoModelForCausalLM as M; "
          "m = M.from_pretrained(sys.argv[1]); ids = torch.arange(5, 105)[None]; "
          "torch.save(m(ids).logits.detach(), sys.argv[2])")


# A 1-process load as training needs it: from_pretrained, then every weight read once
# (transformers 5 maps safetensors lazily; the first forward reads them all anyway).
TOUCHED = ("import sys, torch; from transformers import AutoModelForCausalLM as M; "
           "m = M.from_pretrained(sys.argv[1]); [float(p.detach().sum()) for p in m.parameters()]; "
           "print([int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=24)
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--method", default="full", choices=["full", "lora"],
                    help="lora: the load only (exports are adapters), less RAM for big models")
    ap.add_argument("--ckpt-dtype", default="float32", choices=["float32", "bfloat16"],
                    help="bfloat16: the checkpoint is converted to float32 at load (CPU runs "
                         "train in float32), so every loading rank materialises its weights")
    ap.add_argument("--keep", action="store_true", help="keep the model and run dirs")
    ap.add_argument("--model", default=None, help="reuse a model saved by an earlier --keep run")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="netft-bench-scale-"))
    if args.model:
        import math

        import safetensors

        model, n = Path(args.model), 0
        for f in model.glob("*.safetensors"):  # tied tensors are stored once
            with safetensors.safe_open(f, "pt") as fh:
                n += sum(math.prod(fh.get_slice(k).get_shape()) for k in fh.keys())
    else:
        model = work / "model"
        n = make_model(model, args.layers, args.hidden, args.ckpt_dtype)
    size_gb = n * 4 / 2**30
    print(f"model: {n / 1e6:.0f}M params, fp32 {size_gb:.3f} GiB ({model})", flush=True)
    py = sys.executable
    torchrun = [py, "-m", "torch.distributed.run", "--nproc-per-node=2",
                "--master-addr=127.0.0.1", "--master-port=29731", "-m", "netft.train"]
    common = COMMON + [f"model.name_or_path={model}", f"method={args.method}"]
    runs = {
        "single": [py, "-m", "netft.train", *common, "parallel=single"],
        "fsdp2 old path": torchrun + common + ["parallel=fsdp2", "parallel.meta_load=false",
                                               "parallel.export_shard_mb=100000"],
        "fsdp2 new path": torchrun + common + ["parallel=fsdp2", "parallel.meta_load=true",
                                               "parallel.export_shard_mb=256"],
        # ZeRO-3 loads partitioned already (zero.Init); measured the same way, for reference.
        "zero3": torchrun + common + ["parallel=zero3"],
    }
    res, losses = {}, {}
    for name, cmd in runs.items():
        run_dir = work / name.replace(" ", "_")
        log = run(cmd + [f"run_dir={run_dir}"], work / f"{run_dir.name}.log")
        res[name] = rss(log)
        losses[name] = [json.loads(x)["train/loss"] for x in
                        (run_dir / "metrics.jsonl").read_text().splitlines() if "train/loss" in x]
        print(f"{name}: {json.dumps(res[name])} losses {losses[name]}", flush=True)

    touched = int(subprocess.run([py, "-c", TOUCHED, str(model)], capture_output=True,
                                 text=True, check=True).stdout.split()[-1]) / 2**20
    print(f"1-process load, every weight read once: peak RSS {touched:.3f} GiB")
    one = max(res["single"][0]["setup"], touched)
    old, new = res["fsdp2 old path"], res["fsdp2 new path"]
    print(f"\nsetup peak RSS (GiB): 1 process {one:.3f}")
    for r in (0, 1):
        print(f"  rank {r}: old {old[r]['setup']:.3f}  new {new[r]['setup']:.3f}  "
              f"new/1-process {new[r]['setup'] / one:.2f}  new/old {new[r]['setup'] / old[r]['setup']:.2f}")
    z = res["zero3"]
    print("  zero3: " + "  ".join(f"rank {r} {z[r]['setup']:.3f} ({z[r]['setup'] / one:.2f}x)"
                                  for r in (0, 1)))
    diff = max(abs(a - b) for a, b in zip(losses["fsdp2 old path"], losses["fsdp2 new path"]))
    print(f"per-step loss |old - new| max: {diff:.2e}")
    if args.method != "full":
        if not args.keep:
            shutil.rmtree(work)
        return
    print(f"export (GiB; full state {size_gb:.3f}): increment = peak - RSS before")
    for r in (0, 1):
        for name, x in (("old", old), ("new", new), ("zero3", z)):
            inc = x[r]["export_peak"] - x[r]["export_before"]
            print(f"  rank {r} {name} ({x[r]['export_how']}): before {x[r]['export_before']:.3f} "
                  f"peak {x[r]['export_peak']:.3f} increment {inc:.3f} = {inc / size_gb:.2f}x state")

    import torch

    logits = []
    for name in ("fsdp2 old path", "fsdp2 new path"):
        out = work / f"{name.replace(' ', '_')}.pt"
        subprocess.run([py, "-c", LOGITS, str(work / name.replace(" ", "_") / "final"), str(out)],
                       check=True, capture_output=True)
        logits.append(torch.load(out))
    print(f"export reload logits |old - new| max: {(logits[0] - logits[1]).abs().max().item():.2e}")
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
