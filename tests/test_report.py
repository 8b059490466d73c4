"""netft report from known numbers: files, non-empty plots, the verdict, the W&B object."""
import json

import matplotlib.image
import yaml

from netft.report import find_runs, forgetting_at, wandb_report, write_report


def fake_run(root, name, method, r, mix, drops, ppls, scores):
    d = root / name
    d.mkdir(parents=True)
    cfg = {"method": {"name": method, "lora_r": r}, "data": {"general_mix": mix}}
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
    assert html.count("data:image/png;base64,") == 2  # self-contained


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


def test_wandb_report_object_builds_without_a_server():
    report = wandb_report("netft", "team", "study-1")
    assert report.title.startswith("netft") and report.project == "netft"
    grid = report.blocks[-1]
    assert len(grid.panels) == 4 and grid.runsets[0].filters
