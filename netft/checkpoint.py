"""Training checkpoints: sharded, atomic, keep-last-K, and an exact resume.

    <run_dir>/checkpoints/step-00000120/
        state/                 model + optimizer shards (torch DCP, or DeepSpeed's own format)
        trainer-rank<r>.pt     loop position, scheduler, RNG states (one file per rank)
        COMPLETE               written last: a directory without it is ignored

Every rank writes its shards into `.tmp-step-*`; after a barrier rank 0 adds COMPLETE and
renames the directory, so a kill at any moment leaves the previous checkpoint as the latest
complete one. Resume picks the newest complete checkpoint and continues at the same step of
the same epoch with the same data order (the batch plan is a pure function of seed + epoch).
"""
from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import torch

from netft.distributed import DistInfo, barrier

PREFIX = "step-"


def checkpoints_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def complete_checkpoints(run_dir: Path) -> list[Path]:
    root = checkpoints_dir(run_dir)
    if not root.exists():
        return []
    found = [p for p in root.iterdir()
             if p.name.startswith(PREFIX) and (p / "COMPLETE").exists()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]))


def latest(run_dir: Path) -> Path | None:
    done = complete_checkpoints(run_dir)
    return done[-1] if done else None


def save(engine, run_dir: Path, loop_state: dict, info: DistInfo, keep: int) -> Path:
    step = loop_state["step"]
    root = checkpoints_dir(run_dir)
    final = root / f"{PREFIX}{step:08d}"
    tmp = root / f".tmp-{PREFIX}{step:08d}"
    if info.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier(info)
    engine.save_state(tmp / "state")
    torch.save({"loop": loop_state, "scheduler": engine.scheduler.state_dict(),
                "rng": {"python": random.getstate(), "torch": torch.get_rng_state(),
                        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}},
               tmp / f"trainer-rank{info.rank}.pt")
    barrier(info)
    if info.is_main:
        (tmp / "COMPLETE").write_text(str(step))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in complete_checkpoints(run_dir)[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    barrier(info)
    return final


def load(engine, path: Path, info: DistInfo) -> dict:
    """Restore model/optimizer/scheduler/RNG in place; returns the saved loop state."""
    engine.load_state(path / "state")
    rank_file = path / f"trainer-rank{info.rank}.pt"
    if not rank_file.exists():
        raise RuntimeError(f"{path} was written by a job with a different number of ranks "
                           f"(no {rank_file.name}); resume with the same world size")
    saved = torch.load(rank_file, weights_only=True)
    engine.scheduler.load_state_dict(saved["scheduler"])
    random.setstate(saved["rng"]["python"])
    torch.set_rng_state(saved["rng"]["torch"])
    if saved["rng"]["cuda"]:
        torch.cuda.set_rng_state_all(saved["rng"]["cuda"])
    return saved["loop"]
