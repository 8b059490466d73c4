"""Metrics to `metrics.jsonl` and W&B, from rank 0 only.

W&B is online when WANDB_API_KEY is set (or logger.mode=online), otherwise offline: run files
under <run_dir>/wandb/ that `wandb sync` uploads later. The W&B run id is stored in the run
dir so that a resumed (e.g. Slurm-requeued) run continues the same W&B run.
"""
from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional


@dataclass
class Tracker:
    run_dir: Path
    enabled: bool  # rank 0 only
    wandb_run: Optional[Any] = None
    summary: dict = field(default_factory=dict)

    def log(self, metrics: dict, step: int) -> None:
        if not self.enabled:
            return
        row = {"step": step, "time": round(time.time(), 3), **metrics}
        with open(self.run_dir / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(row) + "\n")
        if self.wandb_run is not None:
            self.wandb_run.log(metrics, step=step)

    def truncate_after(self, step: int, eval_steps: set[int] = frozenset()) -> None:
        """On every start: keep only what the restored state already accounts for.

        Rows past the checkpoint's step go (a killed attempt logged them and they will be
        logged again), as do eval rows at that step the checkpoint's history does not hold (a
        kill between an epoch-end eval and its save), torn lines (a kill mid-write) and
        duplicates of a (step, kind). A start without a checkpoint keeps nothing. Dropped rows
        are kept in metrics.prev-N.jsonl, never deleted.
        """
        path = self.run_dir / "metrics.jsonl"
        if not path.exists():
            return
        lines = path.read_text(errors="replace").splitlines()
        rows: dict[tuple, str] = {}
        for line in lines:
            try:
                row = json.loads(line)
                s = int(row["step"])
            except (ValueError, KeyError, TypeError):
                continue
            is_eval = any(k.startswith("eval/") for k in row)
            if s > step or (s == step and is_eval and s not in eval_steps):
                continue
            rows[(s, is_eval)] = line  # the last copy of a duplicated row wins
        keep = list(rows.values())
        if keep == lines:
            return
        n = 1
        while (self.run_dir / f"metrics.prev-{n}.jsonl").exists():
            n += 1
        os.replace(path, self.run_dir / f"metrics.prev-{n}.jsonl")
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(line + "\n" for line in keep))
        os.replace(tmp, path)

    def finish(self, summary: dict) -> None:
        if not self.enabled:
            return
        self.summary.update(summary)
        tmp = self.run_dir / "summary.json.tmp"
        tmp.write_text(json.dumps(self.summary, indent=2, default=str))
        os.replace(tmp, self.run_dir / "summary.json")
        if self.wandb_run is not None:
            for k, v in summary.items():
                if isinstance(v, (int, float, str, bool)):
                    self.wandb_run.summary[k] = v
            offline = self.wandb_run.settings.mode in ("offline", "dryrun")
            run_files = Path(self.wandb_run.dir).parent
            self.wandb_run.finish()
            if offline:  # the one command that uploads it later
                print(f"[netft] W&B run saved offline; upload it with: wandb sync {run_files}",
                      flush=True)


def wandb_mode(logger_cfg) -> str:
    """An explicit logger.mode wins; with auto, W&B's own WANDB_MODE (online, offline,
    disabled) comes first, then online when a key is set, else offline."""
    if logger_cfg.mode != "auto":
        return logger_cfg.mode
    env = os.environ.get("WANDB_MODE", "").strip().lower()
    if env in ("online", "offline", "disabled"):
        return env
    if env == "dryrun":  # W&B's old name for offline
        return "offline"
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


def flatten(config: dict, prefix: str = "") -> dict:
    """{"train": {"lr": 1}} -> {"train.lr": 1}: the same keys as Hydra overrides and W&B sweep
    parameters, so a sweep's values and the resolved config never collide in W&B."""
    out = {}
    for k, v in config.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def start(logger_cfg, run_dir: Path, plain_config: dict, is_main: bool) -> Tracker:
    tracker = Tracker(run_dir, enabled=is_main)
    if not is_main or logger_cfg.name != "wandb" or wandb_mode(logger_cfg) == "disabled":
        return tracker  # disabled: no wandb/ folder at all
    import wandb

    # A W&B sweep agent names the run (WANDB_RUN_ID); otherwise the id lives in the run dir so
    # that a resumed or requeued job continues the same W&B run.
    id_file = run_dir / "wandb_run_id"
    run_id = (os.environ.get("WANDB_RUN_ID")
              or (id_file.read_text().strip() if id_file.exists() else secrets.token_hex(6)))
    id_file.write_text(run_id)
    tracker.wandb_run = wandb.init(
        project=logger_cfg.project, entity=logger_cfg.entity, group=logger_cfg.group,
        tags=list(logger_cfg.tags), config=flatten(plain_config), dir=str(run_dir), id=run_id,
        resume="allow", mode=wandb_mode(logger_cfg), name=run_dir.name,
        settings=wandb.Settings(console="off", silent=True))
    return tracker
