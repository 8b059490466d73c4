"""The schema rejects bad configs before any model is loaded, naming the key."""
import subprocess

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigKeyError, ValidationError

from conftest import ROOT, compose, netft_train_cmd
from netft.config import ConfigError, to_plain, validate


def test_default_config_composes_and_validates():
    cfg = compose(["run_dir=/tmp/x"])
    assert cfg.model.name_or_path == "tiny" and cfg.method.name == "lora"
    validate(cfg, cuda_available=False)


def test_unknown_key_fails_naming_it():
    with pytest.raises((ConfigCompositionException, ConfigKeyError)) as e:
        compose(["train.foo=1"])
    assert "train.foo" in str(e.value) + str(e.value.__cause__)


def test_appended_unknown_key_fails_in_validate():
    cfg = compose(["run_dir=/tmp/x", "+method.rank=8"])  # `+` gets past Hydra's struct mode
    with pytest.raises(ConfigError, match="method.rank"):
        validate(cfg, cuda_available=False)


def test_wrong_type_fails_naming_key():
    with pytest.raises((ConfigCompositionException, ValidationError)) as e:
        compose(["train.lr=abc"])
    assert "train.lr" in str(e.value) + str(e.value.__cause__)


@pytest.mark.parametrize("overrides,needle", [
    (["method=qlora", "parallel=zero3"], "method=qlora with parallel=zero3"),
    (["train.compile=true", "parallel=zero3"], "train.compile=true with parallel=zero3"),
    (["model.attn_implementation=flash_attention_2"], "model.attn_implementation"),
    (["parallel.backend=nccl"], "parallel.backend=nccl"),
    (["train.micro_batch_size=0"], "train.micro_batch_size"),
    (["method.name=dora"], "method.name='dora'"),
    (["data.train_files=[/no/such/file.jsonl]"], "data.train_files: file not found"),
])
def test_impossible_combinations_rejected(overrides, needle):
    cfg = compose(["run_dir=/tmp/x", *overrides])
    with pytest.raises(ConfigError) as e:
        validate(cfg, cuda_available=False)
    assert needle in str(e.value)


def test_qlora_zero3_fails_before_model_load(tmp_path):
    # The model path does not exist: had loading started, the error would be about it.
    proc = subprocess.run(netft_train_cmd("method=qlora", "parallel=zero3",
                                          "model.name_or_path=/does/not/exist",
                                          f"run_dir={tmp_path}/run"),
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "method=qlora with parallel=zero3" in proc.stderr
    assert "does/not/exist" not in proc.stderr
    assert not (tmp_path / "run").exists()


def test_saved_config_has_no_secrets(monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "sekrit-123")
    cfg = compose(["run_dir=/tmp/x", "logger.group=sekrit-123"])
    plain = to_plain(cfg)
    assert "sekrit-123" not in str(plain)
