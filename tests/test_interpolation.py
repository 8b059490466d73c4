"""WiSE-FT interpolation: alpha=0 is the base model and alpha=1 the fine-tuned one, exactly
as the run itself measured them (same evaluate, same probe, same items)."""
import json
import subprocess
import sys

import pytest

from conftest import ROOT, netft_train_cmd

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("method", ["lora", "full"])
def test_interpolation_ends_reproduce_base_and_final(tmp_path, tiny_path, method):
    run = tmp_path / "run"
    train = subprocess.run(netft_train_cmd(
        "model=tiny", f"method={method}", "train.epochs=1", "train.max_steps=6", "train.lr=2e-3",
        "logger=none", "eval.domain_max_items=12", "eval.max_new_tokens=32",
        "eval.review_items=0", "eval.general_max_tokens=2048", f"run_dir={run}"),
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr[-3000:]
    proc = subprocess.run([sys.executable, "-m", "netft.cli", "interpolate", str(run),
                           "--alphas", "0,0.5,1"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    points = json.loads((run / "interpolation.json").read_text())
    history = json.loads((run / "summary.json").read_text())["history"]
    # near-domain numbers where the netops pack's source is installed (`make setup` does)
    near_keys = ("near_ppl", "kl_near") if "near_ppl" in history[0] else ()
    for point, h in ((points[0], history[0]), (points[-1], history[-1])):
        for key in ("val_loss", "general_ppl", "kl_general", "kl_domain", *near_keys):
            assert point[key] == pytest.approx(h[key], rel=1e-5, abs=1e-6), (point["alpha"], key)
        assert point["domain_score"] == h["domain_score"]
    assert points[0]["kl_general"] == pytest.approx(0.0, abs=1e-6)
    assert history[-1]["kl_domain"] > 0  # the run moved, so the middle point is a real one
    assert 0 < points[1]["kl_domain"] < history[-1]["kl_domain"]
