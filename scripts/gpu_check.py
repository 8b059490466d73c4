"""One command for a GPU node: `make gpu-check` (python scripts/gpu_check.py --out FILE).

What a CPU test cannot show, run where it can be (under 10 minutes on one H100/H200, each
check with its own time limit), printed as one table and written as markdown to --out:

  cuda tests        pytest -m cuda (tests/test_gpu.py: bf16 LoRA, flash-attn kernels, qlora fsdp2)
  bf16 updates      one full fine-tuning step at lr 1e-5 in bf16 (tests/update_probe.py):
                    fraction of the float32 master weights changed, master/state/compute dtypes
  bf16 tier         tests/test_bf16.py on CUDA (the single-process cases; all with 2+ GPUs)
  qlora checkpoint  qlora with checkpoints on (CUDA bitsandbytes): saves, resumes bit-exactly
  flash vs sdpa     packed training, 6 steps each: max |loss difference| (bf16 both)
  nccl 2 GPUs       fsdp2 full bf16 on 2 ranks over nccl (only with 2+ GPUs)
  throughput        bench/gpu_recipe.sh with 12 steps: tokens/s per GPU, MFU, peak memory

Without a CUDA device it says so and exits 2 (nothing is run). Exit 1 if any check failed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
TINY = ["model=tiny", "logger=none", "eval.domain=false", "eval.general_ppl=false",
        "train.epochs=1", "train.save_every_epoch=false"]


def sh(cmd: list[str], timeout: int, env: dict | None = None) -> tuple[int, str, float]:
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, **(env or {})})
        return p.returncode, p.stdout + p.stderr, time.perf_counter() - t0
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (
            e.stdout or "")
        return 124, out + f"\n(timed out after {timeout} s)", time.perf_counter() - t0


def losses(run_dir: Path) -> list[float]:
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x]
    return [r["train/loss"] for r in rows if "train/loss" in r]


def pytest_counts(out: str) -> str:
    m = re.findall(r"(\d+ (?:passed|failed|skipped|error)s?)", out)
    return ", ".join(m[-4:]) or out.strip().splitlines()[-1][:120]


def check_cuda_tests(tmp: Path, gpus: int) -> tuple[bool, str]:
    rc, out, _ = sh([PY, "-m", "pytest", "-q", "-m", "cuda", "tests/test_gpu.py"], 300)
    return rc == 0, pytest_counts(out)


def check_bf16_updates(tmp: Path, gpus: int) -> tuple[bool, str]:
    args = TINY + ["method=full", "train.lr=1e-5", "train.max_steps=1",
                   "train.schedule=constant", "train.warmup_ratio=0",
                   "train.save_every_steps=1", "eval.val_before_training=false",
                   "eval.val_every_epoch=false", f"run_dir={tmp}/bf16"]
    rc, out, _ = sh([PY, "tests/update_probe.py", *args], 180,
                    env={"PROBE_OUT": str(tmp / "probe")})
    if rc != 0:
        return False, f"exit {rc}: {out.strip().splitlines()[-1][:150]}"
    p = json.loads((tmp / "probe.0").read_text())
    frac = p["changed"] / max(p["total"], 1)
    ok = (frac > 0.5 and p["master_dtypes"] == ["torch.float32"]
          and p["compute_dtypes"] == ["torch.bfloat16"])
    return ok, (f"{frac:.1%} of masters changed; masters {p['master_dtypes']}, states "
                f"{p['state_dtypes']}, compute {p['compute_dtypes']}")


def check_bf16_tier(tmp: Path, gpus: int) -> tuple[bool, str]:
    sel = [] if gpus >= 2 else ["-k", "single or lora or dpo or resumes"]
    rc, out, _ = sh([PY, "-m", "pytest", "-q", "tests/test_bf16.py", *sel], 420)
    return rc == 0, pytest_counts(out) + ("" if gpus >= 2 else " (1 GPU: 1-process cases)")


def check_qlora_checkpoint(tmp: Path, gpus: int) -> tuple[bool, str]:
    rc, out, _ = sh([PY, "-m", "pytest", "-q", "tests/test_bf16.py", "-k", "qlora"], 300)
    return rc == 0, pytest_counts(out)


def check_flash_vs_sdpa(tmp: Path, gpus: int) -> tuple[bool, str]:
    got = {}
    for impl in ("sdpa", "flash_attention_2"):
        rc, out, _ = sh([PY, "-m", "netft.train", *TINY, "method=lora", "train.max_steps=6",
                         "train.micro_batch_size=4", "eval.val_every_epoch=false",
                         "eval.val_before_training=false", f"model.attn_implementation={impl}",
                         f"run_dir={tmp}/{impl}"], 180)
        if rc != 0:
            return False, f"{impl}: exit {rc}: {out.strip().splitlines()[-1][:150]}"
        got[impl] = losses(tmp / impl)
    diff = max(abs(a - b) for a, b in zip(got["sdpa"], got["flash_attention_2"]))
    return diff < 2e-2, f"max |loss flash - sdpa| over 6 packed steps: {diff:.2e} (bf16)"


def check_nccl(tmp: Path, gpus: int) -> tuple[bool | None, str]:
    if gpus < 2:
        return None, "skipped: 1 GPU"
    args = TINY + ["method=full", "parallel=fsdp2", "train.lr=1e-5", "train.max_steps=2",
                   "train.grad_accum=2", "train.save_every_steps=1",
                   "eval.val_before_training=false", f"run_dir={tmp}/nccl"]
    rc, out, _ = sh([PY, "-m", "torch.distributed.run", "--nproc-per-node=2",
                     "tests/update_probe.py", *args], 240, env={"PROBE_OUT": str(tmp / "nccl")})
    if rc != 0 or "backend nccl" not in out:
        return False, f"exit {rc}: {out.strip().splitlines()[-1][:150]}"
    p = json.loads((tmp / "nccl.0").read_text())
    return (p["changed"] / p["total"] > 0.5,
            f"backend nccl; rank 0 {p['changed'] / p['total']:.1%} of its fp32 shard changed")


def check_throughput(tmp: Path, gpus: int) -> tuple[bool, str]:
    rc, out, _ = sh(["bash", "bench/gpu_recipe.sh"], 420,
                    env={"STEPS": "12", "OUT": str(tmp / "bench"), "NETFT_PYTHON": PY})
    lines = [ln for ln in out.splitlines() if "tok/s/GPU" in ln]
    if rc != 0 or not lines:
        return False, f"exit {rc}: {out.strip().splitlines()[-1][:150] if out.strip() else ''}"
    return True, "; ".join(lines)


CHECKS = [("cuda tests", check_cuda_tests), ("bf16 updates", check_bf16_updates),
          ("bf16 tier", check_bf16_tier), ("qlora checkpoint", check_qlora_checkpoint),
          ("flash vs sdpa", check_flash_vs_sdpa), ("nccl 2 GPUs", check_nccl),
          ("throughput", check_throughput)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="gpu_check", description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="also write the table as markdown to this file")
    ap.add_argument("--only", help="comma-separated check names (default: all)")
    args = ap.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("gpu-check: no CUDA device present (torch.cuda.is_available() is False; torch "
              f"{torch.__version__}); nothing was run. Run `make gpu-check` on a GPU node.",
              file=sys.stderr)
        return 2
    gpus = torch.cuda.device_count()
    header = (f"{torch.cuda.get_device_name(0)} x{gpus}, torch {torch.__version__}, "
              f"CUDA {torch.version.cuda}")
    print(f"gpu-check on {header}", flush=True)
    rows = []
    wanted = set(args.only.split(",")) if args.only else None
    with tempfile.TemporaryDirectory(prefix="netft-gpu-check-") as d:
        for name, fn in CHECKS:
            if wanted and name not in wanted:
                continue
            t0 = time.perf_counter()
            try:
                ok, detail = fn(Path(d), gpus)
            except Exception as e:  # noqa: BLE001 - one broken check must not hide the others
                ok, detail = False, f"{type(e).__name__}: {e}"
            status = "skip" if ok is None else ("PASS" if ok else "FAIL")
            rows.append((name, status, detail.replace("|", "/"), time.perf_counter() - t0))
            print(f"  {name}: {status} ({rows[-1][3]:.0f} s) {detail}", flush=True)
    table = ["| check | result | numbers | s |", "|---|---|---|---|"] + [
        f"| {n} | {s} | {x} | {t:.0f} |" for n, s, x, t in rows]
    text = f"GPU check on {header}\n\n" + "\n".join(table) + "\n"
    print("\n" + text)
    if args.out:
        Path(args.out).write_text(text)
    return 1 if any(s == "FAIL" for _, s, _, _ in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
