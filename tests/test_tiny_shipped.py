"""The shipped demo base (netft/assets/models/tiny-netops): it loads, it is the file its build
recorded, it is still what the recorded recipe builds, and what it was pre-trained on holds no
held-out answer."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from netft.errors import ConfigError
from netft.models import tiny

SHIPPED = tiny.SHIPPED / "tiny-netops"


def record() -> dict:
    return json.loads((SHIPPED / "netft_tiny.json").read_text())


def test_shipped_base_loads_and_matches_its_recorded_hashes():
    from transformers import AutoTokenizer, LlamaForCausalLM

    path = tiny.shipped_tiny("tiny-netops")
    rec = record()
    weights = path / "model.safetensors"
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == rec["sha256"]["model.safetensors"]
    assert weights.stat().st_size < 25 * 2**20  # the size cap for a shipped base
    model = LlamaForCausalLM.from_pretrained(path)
    assert sum(p.numel() for p in model.parameters()) == rec["params"]
    assert rec["spec"] == dataclasses.asdict(tiny.domain_spec("netops"))
    # the same tokenizer as the plain base: both are built from the shipped corpora alone
    tok = AutoTokenizer.from_pretrained(path)
    assert tok("router ospf 1\n network 10.0.0.0/8 area 0")["input_ids"]
    # what its build recorded it can do: copy from context, and know configuration text
    assert rec["copy_gain_nats"] > 1.0
    assert rec["domain_heldout_ppl"] < rec["domain_ppl_before_domain_stage"] / 10


def test_a_changed_shipped_file_is_refused_with_the_rebuild_command(tmp_path, monkeypatch):
    copy = tmp_path / "tiny-netops"
    shutil.copytree(SHIPPED, copy)
    data = bytearray((copy / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (copy / "model.safetensors").write_bytes(bytes(data))
    monkeypatch.setattr(tiny, "SHIPPED", tmp_path)
    with pytest.raises(ConfigError, match=r"model.safetensors: missing or not the file its "
                                          r"build recorded.*netft build-tiny --domain netops"):
        tiny.shipped_tiny("tiny-netops")
    shutil.copy(SHIPPED / "model.safetensors", copy / "model.safetensors")
    assert tiny.shipped_tiny("tiny-netops") == copy  # restored: accepted again
    (copy / "tokenizer.json").unlink()
    with pytest.raises(ConfigError, match="tokenizer.json: missing"):
        tiny.shipped_tiny("tiny-netops")
    with pytest.raises(ConfigError, match="no shipped tiny base of that name"):
        tiny.shipped_tiny("tiny-nope")


def test_the_model_config_resolves_to_the_checked_shipped_base():
    from omegaconf import OmegaConf

    from netft.models.load import resolve_path

    cfg = OmegaConf.load(Path(__file__).resolve().parents[1] / "conf/model/tiny_netops.yaml")
    assert resolve_path(cfg) == str(SHIPPED)


def test_what_the_base_was_pretrained_on_is_unchanged_and_holds_no_heldout_answer():
    from netft.domains.netops.pretrain import config_text, heldout_answers, pretrain_docs

    docs = pretrain_docs()
    # the generator or the shipped corpora changed since the build: rebuild and re-ship
    assert tiny.corpus_sha256(tiny.domain_spec("netops")) == record()["corpus_sha256"]
    held = heldout_answers()
    assert len(held) == 173  # the distinct answers of the 77 + 107 validation/test rows
    # no document is a held-out answer, framed or not
    assert not {config_text(a) for a in held} & set(docs)
    assert not held & set(docs)
    # all four dialects, and no question text
    joined = "\n".join(docs)
    for marker in ("set routing-options", "routing-options {", "ip route ", "router ospf"):
        assert marker in joined
    assert "Give me" not in joined and "Translate" not in joined


@pytest.mark.slow
def test_the_recorded_recipe_still_builds_a_model_of_the_shipped_spec(tmp_path):
    """The whole build takes ~20 min on one thread (CI cannot wait for it); a build of the same
    spec with 2 steps per stage runs every stage and must give the shipped architecture and a
    byte-identical tokenizer."""
    spec = dataclasses.replace(tiny.domain_spec("netops"), warm_steps=2, steps=2, domain_steps=2)
    torch.set_num_threads(1)
    info = tiny.build_tiny(tmp_path / "b", spec, log=lambda *_: None)
    shipped_cfg = json.loads((SHIPPED / "config.json").read_text())
    built_cfg = json.loads((tmp_path / "b" / "config.json").read_text())
    for key in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                "num_attention_heads", "num_key_value_heads", "tie_word_embeddings"):
        assert built_cfg[key] == shipped_cfg[key], key
    assert info["sha256"]["tokenizer.json"] == record()["sha256"]["tokenizer.json"]
    assert info["corpus_sha256"] == record()["corpus_sha256"]
    assert info["params"] == record()["params"]
    assert info["domain_docs_tokens"] == record()["domain_docs_tokens"]
