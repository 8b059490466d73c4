"""A hub model id becomes a local folder before any rank loads it: one download per node.

Without this, every rank's from_pretrained downloads on its own (N copies of 16 GB racing
into one cache), or, with the fsdp2 meta load, rank 0 downloads while the other ranks wait
in their first collective, whose 30-minute timeout a slow download outlives. Here local
rank 0 of each node runs snapshot_download (huggingface_hub's own progress bars, a line
before and after), the other ranks wait on a gloo group with a long timeout, then resolve
the same snapshot from the cache without the network. A failed download stops every rank
with its reason (gated model, no such repo, no network), not a timeout.
"""
from __future__ import annotations

import datetime
import time
from pathlib import Path

from netft.distributed import DistInfo, rank_line

# How long the other ranks wait for the download (a 140 GB model on a slow link).
DOWNLOAD_TIMEOUT = datetime.timedelta(hours=6)
# Weights, configs, tokenizers and chat templates; not the original/*.pth copies some repos
# carry beside the safetensors (Llama 3.1 8B: another 16 GB).
PATTERNS = ["*.json", "*.safetensors", "*.model", "*.tiktoken", "*.txt", "*.jinja",
            "tokenizer*"]


def is_hub_id(name: str) -> bool:
    return name != "tiny" and not Path(name).expanduser().exists()


def _snapshot(name: str, model_cfg, local_only: bool) -> str:
    from huggingface_hub import snapshot_download

    patterns = PATTERNS + (["*.py"] if model_cfg.trust_remote_code else [])
    path = snapshot_download(name, revision=model_cfg.revision, allow_patterns=patterns,
                             local_files_only=local_only)
    if not any(Path(path).glob("*.safetensors")):  # an older repo: PyTorch .bin weights only
        path = snapshot_download(name, revision=model_cfg.revision,
                                 allow_patterns=patterns + ["*.bin"], local_files_only=local_only)
    return path


def _size_gb(path: str) -> float:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 1e9


def download(model_cfg, info: DistInfo) -> str:
    """The local snapshot folder of hub id model.name_or_path, on every rank (collective)."""
    from netft.errors import ConfigError

    name = str(model_cfg.name_or_path)
    path, problem = None, ""
    if info.local_rank == 0:
        others = " (the other ranks of this node wait)" if info.distributed else ""
        rank_line(f"[netft] rank {info.rank}: fetching {name} from the hub into the HF cache"
                  f"{others}; already cached files are not downloaded again")
        t0 = time.perf_counter()
        try:
            path = _snapshot(name, model_cfg, local_only=False)
            rank_line(f"[netft] rank {info.rank}: {name} ready ({_size_gb(path):.1f} GB at "
                      f"{path}, {time.perf_counter() - t0:.0f} s)")
        except Exception as e:  # noqa: BLE001 - every hub failure becomes one line, every rank
            first = str(e).splitlines()[0][:300] if str(e) else ""
            problem = (f"model.name_or_path={name}: cannot download it from the hub "
                       f"({type(e).__name__}: {first}); for a gated model accept its licence "
                       "on the hub and set HF_TOKEN (or huggingface-cli login); offline, "
                       "point model.name_or_path at a local folder")
    failed = 1.0 if problem else 0.0
    if info.distributed:
        import torch
        import torch.distributed as dist

        # Not the default group: its 30-minute timeout is shorter than a large download.
        group = dist.new_group(backend="gloo", timeout=DOWNLOAD_TIMEOUT)
        t = torch.tensor([failed], dtype=torch.float64)
        dist.all_reduce(t, group=group)
        failed = t.item()
        dist.destroy_process_group(group)
    if failed:
        raise ConfigError(problem or f"model.name_or_path={name}: the download failed on "
                                     "another node's first rank (see its error)")
    if path is None:  # local rank > 0: the snapshot its node's rank 0 just completed
        try:
            path = _snapshot(name, model_cfg, local_only=True)
        except Exception as e:  # noqa: BLE001 - e.g. a per-rank cache dir (HF_HOME differs)
            raise ConfigError(f"model.name_or_path={name}: rank {info.rank} does not find the "
                              f"snapshot local rank 0 downloaded ({type(e).__name__}); give "
                              "every rank of a node the same HF_HOME") from e
    return path
