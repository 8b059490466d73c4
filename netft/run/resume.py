"""What a checkpoint must agree on with the run that resumes it.

A resume restores optimizer + scheduler state and skips the batches already trained, so it is
only exact when the batch geometry, the data and the optimizer settings are unchanged. These
are recorded in each checkpoint's manifest; a differing resume is refused with the list of
differences unless `train.resume_force=true`. epochs and max_steps are deliberately not
compared: raising them to train longer is the point of resuming a finished run.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

GEOMETRY = ("train.micro_batch_size", "train.grad_accum", "train.max_length", "train.packing",
            "train.seed", "parallel.name", "method.name", "objective.name", "data.dedup",
            "data.general_mix", "data.overlong")
OPTIMIZER = ("train.lr", "train.weight_decay", "train.betas", "train.schedule",
             "train.warmup_ratio", "train.max_grad_norm", "method.lora_r", "method.lora_alpha")
DATA = ("data.train_files", "data.validation_files", "data.general_files")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _file_hashes(path: Path) -> dict[str, str]:
    path = Path(path).expanduser()
    if path.is_dir():
        return {str(p): _sha256(p) for p in sorted(path.rglob("*")) if p.is_file()}
    return {str(path): _sha256(path)} if path.exists() else {str(path): "missing"}


def fingerprint(cfg, world: int) -> dict:
    from omegaconf import OmegaConf

    def get(key):
        v = OmegaConf.select(cfg, key)
        return OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v

    out = {"world": world}
    out.update({k: get(k) for k in GEOMETRY + OPTIMIZER})
    for key in DATA:
        hashes = {}
        for f in get(key) or []:
            hashes.update(_file_hashes(Path(f)))
        # Names can move (a copied run dir); contents must not change.
        out[key] = sorted(hashes.values())
    return out


def differences(saved: dict, now: dict) -> list[str]:
    if not saved:  # an older netft checkpoint, re-signed with `trust`: nothing to compare
        return []
    diffs = []
    for key in sorted(set(saved) | set(now)):
        a, b = saved.get(key), now.get(key)
        if a != b:
            if key in DATA:
                diffs.append(f"{key}: file contents changed")
            else:
                diffs.append(f"{key}: {a!r} in the checkpoint, {b!r} now")
    return diffs


def find(cfg, run_dir: Path) -> Path | None:
    """The checkpoint train.resume names (auto: the newest complete one), from this process's
    view of the file system; ConfigError when it cannot be used."""
    from netft import checkpoint
    from netft.errors import ConfigError

    if cfg.train.resume == "never":
        return None
    if cfg.train.resume == "auto":
        found = checkpoint.latest(run_dir)
        old = checkpoint.unsigned(run_dir)
        if old and (found is None or checkpoint._step_of(old[-1]) > checkpoint._step_of(found)):
            # Never restart from scratch silently next to newer checkpoints we will not load.
            raise ConfigError(
                f"{old[-1]} has no MANIFEST.json (written by an older netft, or not by netft), "
                "so netft will not unpickle it. If you trust it: python -m netft.checkpoint "
                f"trust {old[-1]}; or start over with train.resume=never")
        return found
    path = Path(cfg.train.resume).expanduser()
    if not (path / "COMPLETE").exists():
        raise ConfigError(f"train.resume={path}: not a complete netft checkpoint directory")
    return path


def agreed(cfg, run_dir: Path, info) -> Path | None:
    """Rank 0's answer of find(), on every rank (collective).

    Ranks must not decide on their own: right after a kill mid-save (the requeue case), a
    shared file system's attribute and directory caches can show ranks on different nodes
    different listings, and ranks that resume from different steps issue mismatched
    collectives and hang. Rank 0 has just repaired the directory; its choice (or its error)
    is broadcast."""
    from netft.errors import ConfigError

    answer: list = [None, None]
    if info.is_main:
        try:
            found = find(cfg, run_dir)
            answer = [str(found) if found is not None else None, None]
        except ConfigError as e:
            answer = [None, str(e)]
    if info.distributed:
        import torch.distributed as dist

        dist.broadcast_object_list(answer, src=0, group=info.host_group)
    if answer[1] is not None:
        raise ConfigError(answer[1])
    return Path(answer[0]) if answer[0] is not None else None


def check(path: Path, cfg, fingerprint: dict) -> None:
    """Refuse a resume whose geometry, data or optimizer settings differ from the checkpoint's
    (it would skip or repeat rows, or silently keep the old lr), unless forced."""
    from netft.checkpoint import read_manifest
    from netft.errors import ConfigError

    saved = read_manifest(path).get("run", {})
    diffs = differences(saved, fingerprint)
    if diffs and not cfg.train.resume_force:
        raise ConfigError(
            f"resuming {path} with a different config: {'; '.join(diffs)}. Restore those "
            "settings, start a new run_dir (or train.resume=never), or set "
            "train.resume_force=true to continue anyway (optimizer state and data position "
            "come from the checkpoint)")
