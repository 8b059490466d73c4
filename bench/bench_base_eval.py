"""What the base-evaluation cache saves `make demo`: the epoch-0 evaluation of its six runs.

    OMP_NUM_THREADS=1 python bench/bench_base_eval.py [--runs all|N]

The demo's runs (experiments forgetting_full, forgetting_full_mix, forgetting_lora_r8 x
train.seed 0 and 1, with the demo's eval overrides) each stop right after their epoch-0
evaluation (training is not what is measured). Runs in demo order with the cache on (an empty
cache dir of its own), each followed by the same run with eval.base_cache=false, so every
reused evaluation has a computed one measured right beside it. Prints the seconds of each
epoch-0 evaluation (hit, miss or off) and the sum the demo would save.
`make demo` runs its two seeds as two concurrent sweeps: both compute on their first run, so
it saves (runs - 2) x (computed - reused).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

DEMO = ["eval.domain_max_items=0", "eval.max_new_tokens=128", "eval.review_items=0",
        "logger=none"]
RUNS = [(exp, seed) for seed in (0, 1) for exp in
        ("forgetting_full", "forgetting_full_mix", "forgetting_lora_r8")]


class Stop(Exception):
    pass


def epoch0_seconds(overrides: list[str], run_dir: Path) -> tuple[float, str]:
    import netft.train as nt
    from conftest import compose

    timing = {}
    real = nt.evaluate_epoch

    def timed(r, state, epoch, memo=None):
        t = time.perf_counter()
        real(r, state, epoch, memo)
        timing["s"] = time.perf_counter() - t

    def stop(r, state):
        raise Stop()
    nt.evaluate_epoch, real_train = timed, nt.train
    nt.train = stop
    lookup = nt.base_cache.lookup
    seen = {}

    def spy(*a, **k):
        key, memo = lookup(*a, **k)
        seen["hit"] = bool(memo)
        return key, memo
    nt.base_cache.lookup = spy
    try:
        nt.run(compose([*overrides, f"run_dir={run_dir}"]))
    except Stop:
        pass
    finally:
        nt.evaluate_epoch, nt.train, nt.base_cache.lookup = real, real_train, lookup
    how = "off" if "eval.base_cache=false" in overrides else ("hit" if seen["hit"] else "miss")
    return timing["s"], how


def main() -> None:
    import os

    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=len(RUNS))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="netft-bench-base-eval-"))
    os.environ["NETFT_BASE_EVAL_CACHE"] = str(work / "cache")
    import torch

    torch.set_num_threads(1)
    rows = []
    for i, (exp, seed) in enumerate(RUNS[:args.runs]):
        base = [f"+experiment={exp}", f"train.seed={seed}", *DEMO]
        for extra in ([], ["eval.base_cache=false"]):
            s, how = epoch0_seconds([*base, *extra], work / f"{i}-{how_name(extra)}")
            rows.append((exp, seed, how, s))
            print(f"| {exp} | {seed} | {how} | {s:.1f} |", flush=True)
    hits = [s for *_, how, s in rows if how == "hit"]
    computed = [s for *_, how, s in rows if how in ("miss", "off")]
    print(f"computed: median {statistics.median(computed):.1f} s (n={len(computed)}, "
          f"{min(computed):.1f}-{max(computed):.1f}); reused: median "
          f"{statistics.median(hits) if hits else float('nan'):.1f} s (n={len(hits)})")
    if hits:
        per_run = statistics.median(computed) - statistics.median(hits)
        print(f"saved per reusing run: {per_run:.1f} s; make demo (6 runs, 2 concurrent "
              f"sweeps, 4 reuse): ~{4 * per_run:.0f} s of evaluation")


def how_name(extra: list[str]) -> str:
    return "off" if extra else "on"


if __name__ == "__main__":
    main()
