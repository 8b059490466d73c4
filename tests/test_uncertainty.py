"""The forgetting study's statistics: intervals that cover at their nominal rate, a KL probe
that is zero for the base model and equals a hand computation."""
import math

import numpy as np
import pytest
import torch

from netft.distributed import DistInfo
from netft.eval.probes import base_distribution, general_windows, kl_from_base, window_nll
from netft.eval.stats import bootstrap_ci, mean_ci, overlap, perplexity_ci


def test_bootstrap_interval_covers_a_known_mean_at_about_its_nominal_rate():
    rng = np.random.default_rng(0)
    hits, trials = 0, 300
    for t in range(trials):  # 0/1 item scores with a true rate of 0.3, 80 items per eval
        items = list(rng.random(80) < 0.3)
        lo, hi = bootstrap_ci(items, lambda xs: sum(xs) / len(xs), n_boot=400, seed=t)
        hits += lo <= 0.3 <= hi
    rate = hits / trials
    # nominal 95%; the percentile bootstrap runs slightly under it at n=80. 300 trials give a
    # binomial sd of ~1.3 points, so [0.90, 0.99] is about +-3.5 sd around the nominal rate.
    assert 0.90 <= rate <= 0.99, rate


def test_perplexity_interval_covers_the_population_perplexity():
    rng = np.random.default_rng(1)
    population = rng.gamma(4.0, 1.4, size=200_000)  # per-window mean NLL, true mean 5.6
    true_ppl = math.exp(population.mean())
    hits, trials = 0, 200
    for t in range(trials):
        nll = rng.choice(population, 64) * 255
        lo, hi = perplexity_ci(nll, [255] * 64, n_boot=400, seed=t)
        hits += lo <= true_ppl <= hi
    assert 0.88 <= hits / trials <= 0.99, hits / trials


def test_seed_interval_and_overlap():
    ci = mean_ci([1.0, 2.0, 3.0])
    assert ci["mean"] == 2.0 and ci["n"] == 3
    assert ci["hi"] - 2.0 == pytest.approx(4.303 * 1.0 / math.sqrt(3), rel=1e-3)  # t(0.975, 2)
    assert mean_ci([5.0]) == {"mean": 5.0, "lo": None, "hi": None, "n": 1}
    assert overlap((0, 1), (0.5, 2)) is True and overlap((0, 1), (1.5, 2)) is False
    assert overlap((0, 1), None) is None


@pytest.fixture(scope="module")
def model(tiny_path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(tiny_path)).eval()


def test_kl_is_zero_for_the_base_and_matches_a_hand_computation(model, tiny_tokenizer):
    probe = general_windows(tiny_tokenizer, 512, window=64)[:3]
    info = DistInfo()
    base = base_distribution(model, probe, info, top_k=4096)  # >= vocab: exact
    assert kl_from_base(model, probe, base, info) == pytest.approx(0.0, abs=1e-6)

    shifted = type(model)(model.config).eval()
    shifted.load_state_dict(model.state_dict())
    torch.manual_seed(0)
    with torch.no_grad():
        for p in shifted.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    got = kl_from_base(shifted, probe, base, info)
    hand, n = 0.0, 0
    with torch.no_grad():
        for ex in probe:
            ids = torch.tensor([ex.input_ids])
            p = torch.log_softmax(model(ids).logits[0].double(), -1)
            q = torch.log_softmax(shifted(ids).logits[0].double(), -1)
            hand += float((p.exp() * (p - q)).sum())
            n += len(ex.input_ids)
    assert got > 1e-3 and got == pytest.approx(hand / n, rel=1e-4)
    # top-k coarse-graining can only lower the divergence (a bound, never an overstatement)
    small = base_distribution(model, probe, info, top_k=16)
    assert 0 < kl_from_base(shifted, probe, small, info) <= got + 1e-9


def test_window_nll_is_the_perplexity_of_the_windows(model, tiny_tokenizer):
    windows = general_windows(tiny_tokenizer, 1024, window=128)
    nll, tokens = window_nll(model, windows, DistInfo(), batch=3)
    assert len(nll) == len(windows) and tokens == [127] * len(windows)
    with torch.no_grad():
        ids = torch.tensor([windows[2].input_ids])
        ref = torch.nn.functional.cross_entropy(model(ids).logits[0, :-1], ids[0, 1:],
                                                reduction="sum")
    assert nll[2] == pytest.approx(float(ref), rel=1e-5)
