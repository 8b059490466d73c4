"""PEFT's LoRA variants as switches (forgetting mitigations on the same frontier)."""
import math

import pytest
import torch

from conftest import compose
from netft.distributed import DistInfo
from netft.models.load import apply_method, load_model
from netft.parallel.engine import build_torch_engine
from netft.objectives.accumulate import forward_backward
from test_loss import examples


@pytest.mark.parametrize("variant", ["use_dora", "use_rslora"])
def test_variant_is_built_and_trains(tiny_path, tiny_tokenizer, variant):
    cfg = compose(["run_dir=/tmp/x", "method=lora", "method.lora_r=4", "method.lora_alpha=8",
                   f"method.{variant}=true"])
    model = apply_method(load_model(str(tiny_path), cfg.model, cfg.method, torch.device("cpu")),
                         cfg.method)
    layer = model.base_model.model.model.layers[0].self_attn.q_proj
    if variant == "use_dora":
        assert "default" in layer.lora_magnitude_vector  # the DoRA magnitude is trained too
    else:
        assert layer.scaling["default"] == pytest.approx(8 / math.sqrt(4))  # not alpha/r = 2
    from netft.data.batching import collate

    engine = build_torch_engine(model, cfg, DistInfo(), total_steps=4)
    batch = collate(examples(tiny_tokenizer), [[0, 1, 2]], tiny_tokenizer.pad_token_id, True)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    for _ in range(2):  # the warm-up's first step may run at lr 0
        sums, _, _ = forward_backward(engine, [batch], DistInfo())
        engine.step()
    assert math.isfinite(sums[0].item())
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters() if n in before)


def test_interpolating_a_dora_adapter_is_refused(tiny_path, tmp_path):
    from netft.analysis.interpolate import interpolated_model

    cfg = compose(["run_dir=/tmp/x", "method=lora", "method.use_dora=true"])
    with pytest.raises(ValueError, match="DoRA"):
        interpolated_model(cfg, tmp_path, 0.5, torch.device("cpu"))
