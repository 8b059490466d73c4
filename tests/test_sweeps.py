"""W&B sweep files: valid configs whose agent command runs netft (one W&B run per sweep run).

No W&B server is reachable here, so this tests up to the server: the YAML has what the W&B
sweep controller needs, every parameter is a valid Hydra override, and the command that
`wandb agent` would build (with wandb's own expansion code) trains and writes exactly one
offline W&B run, under the agent's run id, carrying the full resolved config.
"""
import glob
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

from conftest import ROOT, compose
import wandb_offline  # tests/wandb_offline.py: reads W&B offline run files
from netft.config import validate

SWEEPS = sorted((ROOT / "launch" / "sweeps").glob("*.yaml"))


def sample(param: dict):
    if "value" in param:
        return param["value"]
    if "values" in param:
        return param["values"][0]
    return param["min"]


def agent_command(sweep: dict, args: dict) -> list[str]:
    """What `wandb agent` runs for one sweep run (wandb_agent.py's macro expansion)."""
    macros = create_sweep_command_args({"args": {k: {"value": v} for k, v in args.items()}})
    macros.update(env=["/usr/bin/env"], program=[sweep["program"]], interpreter=["python"])
    out = []
    for chunk in sweep.get("command", ["${env}", "${interpreter}", "${program}", "${args}"]):
        out += macros[chunk[2:-1]] if chunk.startswith("${") else [chunk]
    return out


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_sweep_file_is_a_valid_sweep_config(path):
    sweep = yaml.safe_load(path.read_text())
    assert sweep["method"] in ("grid", "random", "bayes")
    assert sweep["metric"]["goal"] in ("minimize", "maximize")
    assert sweep["metric"]["name"] in ("eval/val_loss", "eval/general_ppl", "train/loss")  # keys netft logs
    assert (ROOT / sweep["program"]).exists() and os.access(ROOT / sweep["program"], os.X_OK)
    for name, param in sweep["parameters"].items():
        assert {"value", "values", "distribution"} & param.keys(), name
        if param.get("distribution", "").endswith("uniform_values"):
            assert 0 < param["min"] < param["max"]
    if sweep["method"] == "grid":
        assert all("distribution" not in p for p in sweep["parameters"].values())
    # Every combination point is a valid netft config.
    args = {k: sample(p) for k, p in sweep["parameters"].items()}
    cmd = agent_command(sweep, args)
    overrides = cmd[2:]
    assert overrides == [f"{k}={v}" for k, v in args.items()]
    validate(compose(["run_dir=/tmp/x", *overrides]), cuda_available=False, world=2)


@pytest.mark.slow
def test_agent_command_trains_and_makes_one_wandb_run(tmp_path):
    sweep = yaml.safe_load((ROOT / "launch/sweeps/method_epochs.yaml").read_text())
    cmd = agent_command(sweep, {"method": "lora", "train.epochs": 1, "parallel": "fsdp2"})
    cmd += ["model=tiny", "train.max_steps=2", "eval.domain=false",
            f"run_dir={tmp_path}/run"]
    env = dict(os.environ, WANDB_RUN_ID="sweeprun01", WANDB_MODE="offline", NPROC="2")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rank 1/2" in proc.stdout  # really distributed
    runs = glob.glob(str(tmp_path / "run" / "wandb" / "offline-run-*"))
    assert len(runs) == 1 and runs[0].endswith("-sweeprun01")
    files = glob.glob(runs[0] + "/run-*.wandb")
    cfg = wandb_offline.config(files[0])
    assert cfg["method.name"] == "lora" and cfg["parallel.name"] == "fsdp2"
    assert cfg["model.name_or_path"] == "tiny" and "train.lr" in cfg
    assert any("train/loss" in r for r in wandb_offline.history(files[0]))
    assert not Path(ROOT / "wandb").exists() or not list(Path(ROOT / "wandb").glob("*sweeprun01*"))
