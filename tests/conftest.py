import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_SILENT", "true")
# One tiny-model build shared by the whole suite (and by `make demo`).
os.environ.setdefault("NETFT_CACHE", str(ROOT / ".cache" / "netft"))
os.environ.pop("WANDB_API_KEY", None)  # tests never talk to a W&B server
# Each test computes its own base evaluation (tests/test_base_cache.py turns the cache on).
os.environ.setdefault("NETFT_BASE_EVAL_CACHE", "off")


@pytest.fixture(scope="session")
def tiny_path() -> Path:
    from netft.models.tiny import ensure_tiny

    return ensure_tiny(os.environ["NETFT_CACHE"])


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_path):
    from omegaconf import OmegaConf

    from netft.models.load import load_tokenizer

    return load_tokenizer(str(tiny_path), OmegaConf.create({"revision": None,
                                                             "trust_remote_code": False}))


def compose(overrides=()):
    """The run config exactly as netft-train would compose it (without Hydra's run dir)."""
    import netft.config  # noqa: F401  (registers the schema with Hydra)
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides))


def netft_train_cmd(*overrides):
    return [sys.executable, "-m", "netft.train", *overrides]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_cmd(nproc, *overrides):
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}",
            "--master-addr=127.0.0.1", f"--master-port={free_port()}", "-m", "netft.train",
            *overrides]


def read_metrics(run_dir):
    import json

    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


def train_losses(run_dir):
    return [r["train/loss"] for r in read_metrics(run_dir) if "train/loss" in r]


@pytest.fixture(autouse=True)
def _no_inherited_wandb_service(monkeypatch):
    """A test that starts W&B in-process makes wandb set WANDB_SERVICE in os.environ; runs
    launched later as subprocesses (Slurm jobs, torchrun) would then share the pytest process's
    wandb-core, where a requeued job's second half finds its run id "in use"."""
    monkeypatch.delenv("WANDB_SERVICE", raising=False)
