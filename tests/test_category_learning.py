"""The report's per-category learning: each of the domain pack's report columns (netops:
command accuracy, format, troubleshooting, refusal) as a gain over the base with the crossed
seeds x items interval, recomputed here from the per-item predictions."""
import json

import numpy as np
import yaml

from netft.domains.netops import DOMAIN
from netft.eval.stats import crossed_bootstrap_ci
from netft.analysis.report import write_report
from netft.analysis.study import N_BOOT


def _items(correct: np.ndarray) -> list[dict]:
    """30 config items (accuracy = correct) and 10 refusal items (always right)."""
    out = [{"id": f"c{i}", "category": "config",
            "scores": {"accuracy": float(c), "syntax": float(c), "values": float(c),
                       "format": 1.0, "unverified": 0.0}} for i, c in enumerate(correct)]
    out += [{"id": f"r{i}", "category": "refusal", "scores": {"accuracy": 1.0}}
            for i in range(10)]
    return out


def _run(root, seed, base_ok, tuned_ok):
    d = root / f"full-{seed}"
    history = []
    for epoch, ok in enumerate((base_ok, tuned_ok)):
        items = _items(ok)
        _, overall = DOMAIN.aggregate(items)
        history.append({"epoch": epoch, "val_loss": 5.0 - epoch, "general_ppl": 100.0 + 50 * epoch,
                        "domain_score": overall["score"], "domain": overall})
        e = d / "eval" / f"epoch-{epoch}"
        e.mkdir(parents=True)
        (e / "predictions.jsonl").write_text("".join(json.dumps(it) + "\n" for it in items))
    (d / "config.yaml").write_text(yaml.safe_dump(
        {"method": {"name": "full"}, "data": {"domain_pack": "netops"},
         "train": {"seed": seed, "lr": 1e-3}}))
    (d / "summary.json").write_text(json.dumps({"history": history}))


def test_command_accuracy_gain_per_configuration_with_a_crossed_interval(tmp_path):
    rng = np.random.default_rng(0)
    base = np.zeros(30)
    tuned = [(rng.random(30) < p).astype(float) for p in (0.3, 0.4)]
    for seed, t in enumerate(tuned):
        _run(tmp_path, seed, base, t)
    row = write_report([tmp_path], tmp_path / "report")["rows"][0]
    stats = [lambda idx, t=t: 100 * (t[idx].mean() - base[idx].mean()) for t in tuned]
    # the pack re-aggregates over all 40 items; the refusal ones do not move command accuracy,
    # but they are part of each item resample (the study bootstraps whole eval sets)
    n = 40
    full = [np.concatenate([t, np.ones(10)]) for t in tuned]

    def stat(t):
        def f(idx):
            cfg = idx[idx < 30]
            return None if len(cfg) == 0 else 100 * (t[cfg].mean() - 0.0)
        return f
    lo, hi = crossed_bootstrap_ci(n, [stat(t) for t in full], n_boot=N_BOOT)
    mean = sum(s(np.arange(30)) for s in stats) / 2
    assert row["command acc gain pts [95% CI]"] == \
        f"{mean:.1f} [{lo:.1f}, {hi:.1f}] (2 seeds x items)"
    assert lo > 0  # a real gain: the interval excludes zero
    # refusal was right before and after: a gain of exactly 0 with a zero-width interval
    assert row["refusal acc gain pts [95% CI]"] == "0.0 [0.0, 0.0] (2 seeds x items)"
    # no troubleshooting items: no number rather than a made-up one
    assert row["troubleshoot acc gain pts [95% CI]"] == "-"
    # config items only: config command accuracy moves exactly as the pooled one, translate
    # has no items (no number), and valid syntax moves with it in this fixture
    assert row["config cmd acc gain pts [95% CI]"] == row["command acc gain pts [95% CI]"]
    assert row["translate cmd acc gain pts [95% CI]"] == "-"
    assert row["valid syntax gain pts [95% CI]"] == row["command acc gain pts [95% CI]"]


def test_value_facts_is_the_mean_share_of_facts_right_over_config_items():
    items = [{"id": "a", "category": "config", "scores": {"accuracy": 0.0, "syntax": 1.0,
              "values": 0.0, "values_frac": 0.5, "format": 1.0, "unverified": 0.0}},
             {"id": "b", "category": "translate", "scores": {"accuracy": 1.0, "syntax": 1.0,
              "values": 1.0, "values_frac": 1.0, "format": 1.0, "unverified": 0.0}},
             {"id": "c", "category": "refusal", "scores": {"accuracy": 1.0}}]
    _, overall = DOMAIN.aggregate(items)
    assert overall["command_value_facts"] == 0.75
    assert overall["config_command_accuracy"] == 0.0
    assert overall["translate_command_accuracy"] == 1.0
    assert overall["command_accuracy"] == 0.5
