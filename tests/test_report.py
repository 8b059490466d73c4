"""netft report from known numbers: files, non-empty plots, the verdict, the W&B object."""
import json

import matplotlib.image
import yaml

from netft.analysis.report import find_runs, forgetting_at, wandb_report, write_report


def fake_run(root, name, method, r, mix, drops, ppls, scores, seed=0, interp=None):
    d = root / name
    d.mkdir(parents=True)
    cfg = {"method": {"name": method, "lora_r": r}, "data": {"general_mix": mix},
           "train": {"seed": seed, "lr": 1e-3}}
    if interp:
        (d / "interpolation.json").write_text(json.dumps(interp))
    (d / "config.yaml").write_text(yaml.safe_dump(cfg))
    history = [{"epoch": e, "val_loss": 5.0 - drop, "general_ppl": ppl, "domain_score": sc,
                "domain": {"command_accuracy": sc, "refusal_accuracy": 0.5}}
               for e, (drop, ppl, sc) in enumerate(zip(drops, ppls, scores))]
    (d / "summary.json").write_text(json.dumps({"history": history, "best_epoch": 2}))
    return d


def make_study(tmp_path):
    fake_run(tmp_path, "0_full", "full", 16, 0.0, [0, 2, 3], [100, 300, 400], [0, .2, .3])
    fake_run(tmp_path, "1_lora", "lora", 8, 0.0, [0, 1, 2], [100, 150, 200], [0, .1, .2])
    fake_run(tmp_path, "2_mix", "full", 16, 0.1, [0, 2, 3], [100, 120, 130], [0, .2, .3])


def test_report_files_plots_and_table(tmp_path):
    make_study(tmp_path / "study")
    out = write_report([tmp_path / "study"], tmp_path / "report")
    assert out["runs"] == 3
    for name in ("report.html", "report.md", "curves.png", "tradeoff.png"):
        assert (tmp_path / "report" / name).stat().st_size > 1000, name
    for name in ("curves.png", "tradeoff.png"):
        img = matplotlib.image.imread(tmp_path / "report" / name)
        assert img.shape[0] > 300 and img[..., :3].std() > 0.05  # something is drawn
    labels = [r["run"] for r in out["rows"]]
    assert labels == ["full", "full +10% general", "lora r=8"]  # sorted by val-loss drop
    full = out["rows"][0]
    assert full["forgetting (%)"] == 300.0 and full["domain gain (pts)"] == 30.0  # best epoch 2
    html = (tmp_path / "report" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3  # self-contained: frontier, curves, trade-off


def test_matched_comparison_from_known_numbers(tmp_path):
    make_study(tmp_path)
    runs = {r.label: r for r in find_runs([tmp_path])}
    # full: drop 0->2->3, forgetting 0->200->300%; at drop 1 -> 100%, at drop 2 -> 200%.
    assert forgetting_at(runs["full"], 1.0) == 100.0
    assert forgetting_at(runs["full"], 4.0) is None
    verdict = write_report([tmp_path], tmp_path / "r")["verdict"]
    # lora at drops 1 and 2 forgot 50% and 100%; full at the same drops 100% and 200%.
    assert "full fine-tuning forgot MORE than the adapters: general perplexity +150% vs +75%" \
        in verdict
    assert "forgetting +30% vs +300% without" in verdict


def test_mixing_sentence_pools_seeds(tmp_path):
    """Two seeds of a mixing configuration and two of its unmixed twin: one sentence, means."""
    for seed, (f_mix, f_full) in enumerate([(120, 300), (140, 500)]):
        fake_run(tmp_path, f"mix-{seed}", "full", 16, 0.1, [0, 3], [100, f_mix], [0, .2],
                 seed=seed)
        fake_run(tmp_path, f"full-{seed}", "full", 16, 0.0, [0, 3], [100, f_full], [0, .2],
                 seed=seed)
    fake_run(tmp_path, "lora", "lora", 8, 0.0, [0, 1], [100, 150], [0, .1])
    verdict = write_report([tmp_path], tmp_path / "r")["verdict"]
    assert verdict.count("Mixing general data") == 1, verdict
    assert "forgetting +30% vs +300% without, at a val-loss drop of 3.00 vs 3.00" in verdict


def test_wandb_report_object_builds_without_a_server():
    report = wandb_report("netft", "team", "study-1")
    assert report.title.startswith("netft") and report.project == "netft"
    grid = report.blocks[-1]
    assert len(grid.panels) == 4 and grid.runsets[0].filters


def test_seeds_pool_into_intervals_noise_is_called_and_budget_picks_a_point(tmp_path):
    """Two configurations x 3 seeds, one with interpolated weights: known numbers in, the
    intervals, 'within noise' verdicts, frontier and recommendation out."""
    from netft.eval.stats import mean_ci

    for seed, (jit_full, jit_lora) in enumerate([(0.0, 0.0), (0.2, 5.0), (-0.2, -5.0)]):
        # full: drop 3 at +300% (+-20 across seeds); lora: drop 1 at +20% (+-5) -- and the
        # lora's learning (1, 1, 1) vs an alpha=0.5 full point (1.5 drop at +8%).
        interp = [{"alpha": 0.0, "val_loss": 5.0, "general_ppl": 100},
                  {"alpha": 0.5, "val_loss": 3.5, "general_ppl": 108},
                  {"alpha": 1.0, "val_loss": 2.0, "general_ppl": 400 + 20 * seed}]
        fake_run(tmp_path, f"full-{seed}", "full", 16, 0.0, [0, 3 + jit_full],
                 [100, 400 + 20 * (seed - 1)], [0, .3], seed=seed, interp=interp)
        fake_run(tmp_path, f"lora-{seed}", "lora", 8, 0.0, [0, 1.0],
                 [100, 120 + jit_lora], [0, .1], seed=seed)
    out = write_report([tmp_path], tmp_path / "report", budget=10)
    rows = {r["run"]: r for r in out["rows"]}
    assert rows["full"]["seeds"] == 3 and rows["lora r=8"]["seeds"] == 3
    expect = mean_ci([3.0, 3.2, 2.8])
    assert rows["full"]["learning [95% CI]"] == \
        f"{expect.mean:.2f} [{expect.lo:.2f}, {expect.hi:.2f}] (3 seeds)"
    noise = "\n".join(out["noise"])
    assert "full vs lora r=8, forgetting: 300.00 vs 20.00 -> different" in noise
    assert "full vs lora r=8, learning: 3.00 vs 1.00 -> different" in noise
    # within +10% only the interpolated full point (+8%) and epoch 0 qualify; it learned 1.5
    assert out["recommended"].name == "full alpha=0.5"
    assert "full alpha=0.5 learned most" in out["verdict"]
    assert [p.name for p in out["frontier"]][:2] == ["full epoch 0", "full alpha=0.5"] or \
        out["frontier"][0].forgetting.mean == 0.0


def test_per_item_results_give_a_crossed_seed_by_item_interval(tmp_path):
    """Runs that kept per-item eval files: the learning (domain gain) and forgetting intervals
    are the crossed seeds x items bootstrap of each seed's paired change, recomputed here."""
    import math

    import numpy as np

    from netft.eval.stats import crossed_bootstrap_ci
    from netft.analysis.study import N_BOOT

    rng = np.random.default_rng(0)
    base_nll, tokens = rng.uniform(4, 6, 20) * 255, [255] * 20
    base_ov = rng.uniform(0, 0.4, 30)
    stats_learn, stats_forget = [], []
    for seed, (gain, rise) in enumerate([(0.10, 1.30), (0.14, 1.40)]):
        d = fake_run(tmp_path, f"run-{seed}", "full", 16, 0.0, [0, 1], [100, 100], [0, 0],
                     seed=seed)
        tuned_ov = np.clip(base_ov + gain + rng.normal(0, 0.05, 30), 0, 1)
        tuned_nll = base_nll * rise + rng.normal(0, 20, 20)
        for epoch, ov, nll in ((0, base_ov, base_nll), (1, tuned_ov, tuned_nll)):
            e = d / "eval" / f"epoch-{epoch}"
            e.mkdir(parents=True)
            (e / "general_windows.json").write_text(json.dumps({"nll": list(nll),
                                                                "tokens": tokens}))
            (e / "predictions.jsonl").write_text("".join(json.dumps(
                {"id": f"q{i}", "category": "general", "scores": {"exact": 0.0, "overlap": v,
                                                                   "abstained": 0.0}}) + "\n"
                for i, v in enumerate(ov)))
        stats_learn.append(lambda idx, t=tuned_ov: 100 * (t[idx].mean() - base_ov[idx].mean()))
        stats_forget.append(lambda idx, n=tuned_nll: 100 * (math.exp(
            n[idx].sum() / (255 * len(idx)) - base_nll[idx].sum() / (255 * len(idx))) - 1))
    out = write_report([tmp_path], tmp_path / "report", budget=10, learning="domain_gain")
    row = out["rows"][0]
    lo, hi = crossed_bootstrap_ci(30, stats_learn, n_boot=N_BOOT)
    mean = sum(s(np.arange(30)) for s in stats_learn) / 2
    assert row["learning [95% CI]"] == f"{mean:.2f} [{lo:.2f}, {hi:.2f}] (2 seeds x items)"
    assert 9 < mean < 15 and lo > 5  # a gain of 10-14 points, clearly above zero
    assert row["domain gain pts [95% CI]"] == f"{mean:.1f} [{lo:.1f}, {hi:.1f}] (2 seeds x items)"
    assert f"Domain score gain of full epoch 1: {mean:.1f} [{lo:.1f}, {hi:.1f}] points, above " \
        "zero: a real gain." in out["verdict"]
    lo, hi = crossed_bootstrap_ci(20, stats_forget, n_boot=N_BOOT)
    mean = sum(s(np.arange(20)) for s in stats_forget) / 2
    assert row["forgetting % [95% CI]"] == f"{mean:.1f} [{lo:.1f}, {hi:.1f}] (2 seeds x items)"


def test_seeds_of_one_configuration_share_a_colour_and_one_legend_entry():
    from types import SimpleNamespace

    from netft.analysis.report import _seed_styles

    runs = [SimpleNamespace(label=lab, method=m) for lab, m in
            [("full", "full"), ("lora r=32", "lora"), ("full", "full"), ("lora r=32", "lora")]]
    st = _seed_styles(runs)
    assert st[0]["color"] == st[2]["color"] != st[1]["color"] == st[3]["color"]
    assert [s["label"] for s in st] == ["full", "lora r=32", "_nolegend_", "_nolegend_"]
    assert st[1]["linestyle"] == "--" and st[0]["linestyle"] == "-"
