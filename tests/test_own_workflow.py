"""The README's "Your own data and model" path, end to end on the tiny model:
convert -> train (Alpaca + ShareGPT files, data=own) -> eval (generic) -> merge -> export ->
chat --prompt -> push (offline fake); and a 2-trial Optuna sweep over train.lr."""
import json
import subprocess

import pytest
import yaml

from conftest import ROOT, netft_train_cmd

pytestmark = pytest.mark.slow

NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
         "mallory", "oscar", "peggy", "trent", "victor", "wendy"]
COLOURS = ["red", "green", "blue", "yellow", "purple", "orange"]


def own_files(d):
    """A team's data as it comes: Alpaca (.json array) and ShareGPT (.jsonl), no categories."""
    alpaca = [{"instruction": f"What is the favourite colour of {n}?", "input": "",
               "output": f"The favourite colour of {n} is {COLOURS[i % 6]}."}
              for i, n in enumerate(NAMES)]
    (d / "alpaca.json").write_text(json.dumps(alpaca[:12]))
    (d / "test.json").write_text(json.dumps(alpaca[12:]))
    sharegpt = [{"conversations": [
        {"from": "system", "value": "You answer questions about the team roster."},
        {"from": "human", "value": f"Which team is {n} on?"},
        {"from": "gpt", "value": f"{n} is on team {i % 3 + 1}."},
        {"from": "human", "value": "And which room?"},
        {"from": "gpt", "value": f"Room {100 + i}."}]} for i, n in enumerate(NAMES)]
    (d / "sharegpt.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sharegpt[:12]))
    (d / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sharegpt[12:]))
    return d


def own_overrides(d, *extra):
    return ["model=tiny", "method=lora", "data=own",
            f"data.train_files=[{d}/alpaca.json,{d}/sharegpt.jsonl]",
            f"data.validation_files=[{d}/val.jsonl]", "train.warmup_ratio=0",
            "train.micro_batch_size=2", "train.packing=false", "train.epochs=1", "eval.general_max_tokens=1024",
            "eval.kl_probe=false", "logger=none", *extra]


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_path):
    d = own_files(tmp_path_factory.mktemp("own"))
    run_dir = d / "run"
    proc = subprocess.run(netft_train_cmd(*own_overrides(
        d, f"data.test_files=[{d}/test.json]", "train.lr=3e-3", "train.max_steps=3", "eval.max_new_tokens=12",
        "eval.review_items=0", f"run_dir={run_dir}")),
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return d, run_dir, proc


def test_train_and_eval_own_data(run, capsys):
    from netft.cli import main

    d, run_dir, proc = run
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 3 and summary["data"]["train"]["kept"] == 24
    lrs = [r["train/lr"] for r in map(json.loads, (run_dir / "metrics.jsonl").read_text()
                                      .splitlines()) if "train/lr" in r]
    assert lrs[0] == pytest.approx(3e-3)  # the rate step 1 used (no warm-up), not step 2's
    h = summary["history"]
    assert h[-1]["val_loss"] < h[0]["val_loss"]  # it learned the team's data
    assert summary["domain"]["n"] == 4 and "answer_overlap" in summary["domain"]
    preds = (run_dir / "eval" / "epoch-1" / "predictions.jsonl").read_text().splitlines()
    assert {json.loads(p)["category"] for p in preds} == {"general"}
    assert "netops" not in (run_dir / "config.yaml").read_text()
    # netft eval on the run with the team's own test file (no category): generic table.
    assert main(["eval", str(run_dir), "--data", str(d / "test.json"), "--max-new-tokens", "8",
                 "--review", "0", "--out", str(d / "eval")]) == 0
    assert "answer_overlap" in capsys.readouterr().out
    scores = json.loads((d / "eval" / "scores.json").read_text())
    assert scores["overall"]["n"] == 4 and 0 <= scores["overall"]["score"] <= 1
    # convert writes what training read: the same chat rows.
    assert main(["data", "convert", str(d / "alpaca.json"), str(d / "sharegpt.jsonl"),
                 str(d / "train.jsonl")]) == 0
    rows = [json.loads(line) for line in (d / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 24 and rows[12]["messages"][0]["role"] == "system"


def test_merge_export_chat_push(run, capsys, monkeypatch):
    import torch
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from netft.cli import main
    from netft.serving import chat

    d, run_dir, _ = run
    assert main(["merge", str(run_dir), "--out", str(d / "merged"), "--dtype", "float32"]) == 0
    merged = d / "merged"
    assert (merged / "model.safetensors").exists() and not (merged / "adapter_config.json").exists()
    assert not list(merged.glob("*.bin"))
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.no_grad():
        a = AutoPeftModelForCausalLM.from_pretrained(run_dir / "final")(input_ids=ids).logits
        b = AutoModelForCausalLM.from_pretrained(merged)(input_ids=ids).logits
    assert torch.allclose(a, b, atol=1e-4)  # the merge is the adapter, folded in

    calls = []

    class FakeApi:  # huggingface_hub offline: record what would be uploaded
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, **kw):
            calls.append(("create", repo_id, kw))

        def upload_folder(self, folder_path, repo_id, **kw):
            calls.append(("upload", repo_id, sorted(p.name for p in
                                                     __import__("pathlib").Path(folder_path).iterdir())))
            return type("Info", (), {"commit_url": f"https://hf.co/{repo_id}/commit/1"})()

    monkeypatch.setattr("huggingface_hub.HfApi", FakeApi)
    served = d / "served"
    assert main(["export", str(run_dir), "--out", str(served), "--gguf",
                 "--push-to-hub", "team/roster-bot"]) == 0
    out = capsys.readouterr().out
    assert "convert_hf_to_gguf.py" in out and "pushed" in out
    tok = AutoTokenizer.from_pretrained(served)
    gen = GenerationConfig.from_pretrained(served)
    assert tok.chat_template and tok.eos_token_id in (
        gen.eos_token_id if isinstance(gen.eos_token_id, list) else [gen.eos_token_id])
    assert calls[0] == ("create", "team/roster-bot",
                        {"repo_type": "model", "private": True, "exist_ok": True})
    assert calls[1][1] == "team/roster-bot" and {"model.safetensors", "generation_config.json",
                                                 "tokenizer.json", "config.json"} <= set(calls[1][2])

    # One turn, non-interactively, from the run (adapter) and from the export (merged).
    for target in (run_dir, served):
        assert main(["chat", str(target), "--prompt", "What is the favourite colour of alice?",
                     "--max-new-tokens", "8"]) == 0
        assert capsys.readouterr().out.strip()
    # Interactive: turns until EOF, the history carried along.
    lines = iter(["Which team is bob on?", "And which room?"])

    def read(_prompt):
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    import io

    buf = io.StringIO()
    history = chat(served, max_new_tokens=6, stream=buf, read=read)
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]
    assert history[1]["content"] in buf.getvalue()  # streamed as it was generated
    lines = iter(["Which team is bob on?", "/exit", "never read"])
    monkeypatch.setattr("builtins.input", lambda _p: next(lines))
    assert main(["chat", str(served), "--max-new-tokens", "4"]) == 0  # the README's command
    assert next(lines) == "never read"
    # bfloat16 as the README merges: the saved weights are bfloat16.
    from safetensors import safe_open

    assert main(["merge", str(run_dir), "--out", str(d / "merged16"), "--dtype", "bfloat16"]) == 0
    with safe_open(d / "merged16" / "model.safetensors", "pt") as f:
        assert all(f.get_tensor(k).dtype == torch.bfloat16 for k in f.keys())


def test_optuna_sweep_minimises_val_loss(tmp_path, tiny_path):
    d = own_files(tmp_path)
    sweep = tmp_path / "sweep"
    proc = subprocess.run(netft_train_cmd(
        "-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=1",
        "hydra.sweeper.sampler.seed=0", "train.lr=interval(1e-4,1e-2)",
        *own_overrides(d, "train.max_steps=2", "eval.domain=false", "eval.general_ppl=false",
                       "eval.val_before_training=false", "train.save_every_epoch=false",
                       "eval.keep_best=false", "train.warmup_ratio=0.9"),
        f"hydra.sweep.dir={sweep}"), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "warning: all 2 optimizer step(s) are warm-up" in proc.stdout
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    runs = sorted(p for p in sweep.iterdir() if (p / "summary.json").exists())
    assert len(runs) == 2  # one flat folder per trial, even with path-valued overrides
    losses = [json.loads((p / "summary.json").read_text())["final_val_loss"] for p in runs]
    assert best["best_value"] == pytest.approx(min(losses))
    lrs = [yaml.safe_load((p / "config.yaml").read_text())["train"]["lr"] for p in runs]
    assert len(set(lrs)) == 2 and all(1e-4 <= lr <= 1e-2 for lr in lrs)
    assert best["best_params"]["train.lr"] == pytest.approx(lrs[losses.index(min(losses))])
