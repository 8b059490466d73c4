"""The forgetting study's statistics: intervals that cover at their nominal rate, a KL probe
that is zero for the base model and equals a hand computation."""
import math

import numpy as np
import pytest
import torch

from netft.distributed import DistInfo
from netft.eval.probes import base_distribution, general_windows, kl_from_base, window_nll
from netft.eval.stats import (Interval, bootstrap_ci, crossed_bootstrap_ci, mean_ci, overlap,
                              perplexity_ci)


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


def _crossed_sample(rng, n_seeds, n_items, mu, sd_seed=0.5, sd_item=1.0, sd_noise=0.5):
    """y[s, i] = mu + seed effect + item effect + noise: the crossed design of a study."""
    return (mu + rng.normal(0, sd_seed, (n_seeds, 1)) + rng.normal(0, sd_item, (1, n_items))
            + rng.normal(0, sd_noise, (n_seeds, n_items)))


def test_crossed_interval_covers_a_known_mean_with_seed_and_item_noise():
    # The population mean over seeds and items is mu; both seeds and items are random draws.
    rng = np.random.default_rng(2)
    hits, trials = 0, 200
    for t in range(trials):
        y = _crossed_sample(rng, n_seeds=10, n_items=60, mu=1.0)
        stats = [lambda idx, row=row: float(row[idx].mean()) for row in y]
        lo, hi = crossed_bootstrap_ci(60, stats, n_boot=300, seed=t)
        hits += lo <= 1.0 <= hi
    # Nominal 95%; with 10 seeds the cluster bootstrap runs a little under it (the seed spread
    # is scaled by (S-1)/S). 200 trials: binomial sd ~1.5 points.
    assert 0.87 <= hits / trials <= 0.99, hits / trials


def test_crossed_interval_counts_seed_noise_that_an_item_bootstrap_misses():
    # Large seed-to-seed differences: pooling items alone (as if one run) is far too narrow.
    rng = np.random.default_rng(3)
    miss_items, miss_crossed, trials = 0, 0, 100
    for t in range(trials):
        y = _crossed_sample(rng, n_seeds=8, n_items=60, mu=0.0, sd_seed=1.0, sd_item=0.3,
                            sd_noise=0.3)
        lo, hi = bootstrap_ci(list(y.mean(0)), lambda xs: float(np.mean(xs)), n_boot=300, seed=t)
        miss_items += not lo <= 0.0 <= hi
        stats = [lambda idx, row=row: float(row[idx].mean()) for row in y]
        lo, hi = crossed_bootstrap_ci(60, stats, n_boot=300, seed=t)
        miss_crossed += not lo <= 0.0 <= hi
    assert miss_items > 40 and miss_crossed < 20, (miss_items, miss_crossed)


def test_paired_change_cancels_the_shared_item_difficulty():
    # The same 80 items before and after: item difficulty (sd 1) is shared, the true gain is
    # 0.2. Paired, the interval sees only the per-item change noise (sd 0.1).
    rng = np.random.default_rng(4)
    difficulty = rng.normal(0, 1, 80)
    base, tuned = difficulty + rng.normal(0, 0.05, 80), difficulty + 0.2 + rng.normal(0, 0.05, 80)
    lo, hi = crossed_bootstrap_ci(80, [lambda idx: float(tuned[idx].mean() - base[idx].mean())],
                                  n_boot=500)
    assert 0.17 < lo < 0.2 < hi < 0.23, (lo, hi)
    assert crossed_bootstrap_ci(1, [lambda idx: 0.0]) is None


def test_seed_interval_and_overlap():
    ci = mean_ci([1.0, 2.0, 3.0])
    assert ci.mean == 2.0 and ci.n == 3
    assert ci.hi - 2.0 == pytest.approx(4.303 * 1.0 / math.sqrt(3), rel=1e-3)  # t(0.975, 2)
    assert mean_ci([5.0]).to_json() == {"mean": 5.0, "lo": None, "hi": None, "n": 1}
    assert Interval.from_json(ci.to_json()) == ci and mean_ci([5.0]).ci is None
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
