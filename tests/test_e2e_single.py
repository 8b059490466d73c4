"""netft-train end to end on the tiny model: run dir, metrics, W&B offline files, final/."""
import glob
import json
import subprocess
import sys

import pytest

from conftest import ROOT, netft_train_cmd
import wandb_offline  # tests/wandb_offline.py: reads W&B offline run files

pytestmark = pytest.mark.slow

RELOAD = r"""
import json, sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
final, method, val_file = sys.argv[1], sys.argv[2], sys.argv[3]
tok = AutoTokenizer.from_pretrained(final)
if method == "full":
    model = AutoModelForCausalLM.from_pretrained(final)
else:
    from peft import AutoPeftModelForCausalLM
    model = AutoPeftModelForCausalLM.from_pretrained(final)
model.eval()
# Validation loss recomputed from the reloaded weights (plain transformers/PEFT forward).
from netft.data.curation import load_examples
exs, _ = load_examples([val_file], tok, 512)
nll, n = 0.0, 0
with torch.no_grad():
    for ex in exs:
        ids = torch.tensor([ex.input_ids]); labels = torch.tensor([ex.labels])
        logits = model(input_ids=ids).logits[:, :-1]
        mask = labels[:, 1:] != -100
        nll += torch.nn.functional.cross_entropy(logits[mask], labels[:, 1:][mask], reduction="sum").item()
        n += int(mask.sum())
prompt = tok.apply_chat_template([{"role": "user", "content": "Configure OSPF area 0 on eth1 in FRR."}],
                                 add_generation_prompt=True, return_tensors="pt", return_dict=True)
out = model.generate(**prompt, max_new_tokens=20, do_sample=False, pad_token_id=tok.pad_token_id)
print(json.dumps({"val_loss": nll / n, "text": tok.decode(out[0, prompt["input_ids"].shape[1]:])}))
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_path):
    out = {}
    for method in ("lora", "full"):
        run_dir = tmp_path_factory.mktemp(method) / "run"
        proc = subprocess.run(
            netft_train_cmd("model=tiny", f"method={method}", "train.epochs=1", "train.lr=1e-3",
                            "train.max_steps=12", "eval.domain_max_items=12",
                            "eval.max_new_tokens=48", f"run_dir={run_dir}"),
            cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out[method] = (run_dir, proc)
    return out


@pytest.mark.parametrize("method", ["lora", "full"])
def test_run_dir_contents(runs, method):
    run_dir, proc = runs[method]
    for name in ("config.yaml", "metrics.jsonl", "summary.json", "final"):
        assert (run_dir / name).exists(), name
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if "train/loss" in r]
    assert len(train) == 12 and all(r["train/tokens_per_s"] > 0 for r in train)
    for key in ("train/mfu", "train/tokens_per_s_per_device", "train/peak_mem_gb"):
        assert all(r[key] > 0 for r in train), key
    assert all(r["train/mfu"] < 1.5 for r in train)  # a fraction of the device's peak
    assert [r["step"] for r in train] == list(range(1, 13))
    assert any("eval/val_loss" in r for r in rows)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 12 and summary["method"] == method
    assert summary["final_val_loss"] == pytest.approx(
        [r["eval/val_loss"] for r in rows if "eval/val_loss" in r][-1])
    assert f"run dir {run_dir}" in proc.stdout
    # Domain eval at epoch 0 and 1: predictions, scores and the printed table.
    for epoch in (0, 1):
        ev = run_dir / "eval" / f"epoch-{epoch}"
        assert len((ev / "predictions.jsonl").read_text().splitlines()) == 12
        assert "command_accuracy" in json.loads((ev / "scores.json").read_text())["overall"]
    assert "category" in proc.stdout and "refusal_accuracy" in proc.stdout
    assert summary["domain"]["score"] is not None and summary["best_epoch"] == 1
    assert [f["epoch"] for f in summary["forgetting"]] == [0, 1]
    if method == "lora":
        assert (run_dir / "final" / "adapter_model.safetensors").exists()
    else:
        assert (run_dir / "final" / "model.safetensors").exists()
    assert not list((run_dir / "final").glob("*.bin")), "weights must be safetensors"


@pytest.mark.parametrize("method", ["lora", "full"])
def test_validation_loss_falls_below_the_base_model(runs, method):
    history = json.loads((runs[method][0] / "summary.json").read_text())["history"]
    assert history[0]["epoch"] == 0 and history[-1]["epoch"] == 1
    assert history[-1]["val_loss"] < history[0]["val_loss"] - 0.05, history


@pytest.mark.parametrize("method", ["lora", "full"])
def test_final_reloads_in_fresh_process(runs, method):
    run_dir, _ = runs[method]
    val_file = ROOT / "netft/assets/data/netops/validation.jsonl"
    proc = subprocess.run([sys.executable, "-c", RELOAD, str(run_dir / "final"), method,
                           str(val_file)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    summary = json.loads((run_dir / "summary.json").read_text())
    # The reloaded weights are the trained ones: same validation loss as the run measured.
    assert out["val_loss"] == pytest.approx(summary["final_val_loss"], rel=1e-4)
    assert len(out["text"]) > 0


def test_wandb_offline_files_hold_the_train_loss(runs):
    run_dir, _ = runs["lora"]
    files = glob.glob(str(run_dir / "wandb" / "offline-run-*" / "run-*.wandb"))
    assert len(files) == 1
    logged = {r["_step"]: r["train/loss"] for r in wandb_offline.history(files[0]) if "train/loss" in r}
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    expected = {r["step"]: r["train/loss"] for r in rows if "train/loss" in r}
    assert logged == pytest.approx(expected)
    cfg = wandb_offline.config(files[0])
    assert cfg["method.name"] == "lora" and cfg["train.max_steps"] == 12


def test_netft_eval_and_review_round_trip(runs, tmp_path):
    import csv

    run_dir, _ = runs["full"]
    assert (run_dir / "review" / "review.csv").exists()  # written after training
    proc = subprocess.run([sys.executable, "-m", "netft.cli", "eval", str(run_dir),
                           "--max-items", "8", "--max-new-tokens", "16", "--review", "8"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "command_accuracy" in proc.stdout
    sheet = run_dir / "eval" / "final" / "review" / "review.csv"
    rows = list(csv.DictReader(open(sheet)))
    assert len(rows) == 8
    for i, row in enumerate(rows):
        row["score_1_to_5"], row["correct_yes_no"] = str(1 + i % 5), "yes" if i % 2 else "no"
    filled = tmp_path / "filled.csv"
    with open(filled, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    proc = subprocess.run([sys.executable, "-m", "netft.cli", "review", "import", str(filled),
                           "--run-dir", str(run_dir)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["human_review"]["overall"]["n_reviewed"] == 8
    assert summary["human_review"]["overall"]["pct_correct"] == 50.0
    assert "domain_eval_final" in summary


def test_nan_loss_stops_with_a_clear_message(tmp_path, tiny_path):
    # A learning rate this large blows the tiny model up within a few steps.
    proc = subprocess.run(netft_train_cmd("model=tiny", "method=full", "train.lr=1e6",
                                          "train.max_grad_norm=1e12", "train.max_steps=30",
                                          "logger=none", "eval.domain=false",
                                          "eval.val_before_training=false", "train.epochs=1",
                                          f"run_dir={tmp_path}/run"),
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    # Caught at the first non-finite value: the gradient norm (before the update) or the loss.
    assert ("loss is nan" in proc.stderr or "gradient norm is" in proc.stderr), proc.stderr[-2000:]
    assert "lower train.lr" in proc.stderr
    assert not (tmp_path / "run" / "final").exists()
