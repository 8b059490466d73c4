"""FLOP accounting against a hand computation, and the metrics every run logs."""
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from netft.perf import count_flops_params, flops_per_token, peak_flops, peak_memory_gb


def tiny_llama(tied: bool):
    cfg = LlamaConfig(vocab_size=1000, hidden_size=64, intermediate_size=160,
                      num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
                      tie_word_embeddings=tied)
    return LlamaForCausalLM(cfg)


@pytest.mark.parametrize("tied", [True, False])
def test_flops_match_hand_computation(tied):
    model = tiny_llama(tied)
    d, i, L, V, kv = 64, 160, 3, 1000, 2 * 16  # kv width = kv heads x head dim
    per_layer = d * d + 2 * d * kv + d * d + 3 * d * i  # q, k+v, o, gate/up/down
    base = L * per_layer + V * d  # + the LM head (tied or not), never the input embedding
    assert count_flops_params(model) == (base, 0)
    s = 100.0
    expected = 6 * base + 12 * L * d * s
    assert flops_per_token(model.config, base, 0, True, s) == expected
    # Adapters: frozen weights need no weight gradient (4 per param), adapters 6.
    assert flops_per_token(model.config, base, 500, False, s) == 4 * base + 6 * 500 + 12 * L * d * s


def test_lora_params_are_counted_apart():
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(tiny_llama(True), LoraConfig(r=4, target_modules=["q_proj"]))
    base, adapter = count_flops_params(model)
    assert adapter == 3 * (64 * 4 + 4 * 64)
    assert base == count_flops_params(tiny_llama(True))[0]


def test_peak_flops_probe_and_memory():
    peak, source = peak_flops(torch.device("cpu"))
    assert 1e8 < peak < 1e14 and "measured" in source
    assert 0.01 < peak_memory_gb(torch.device("cpu")) < 64
