"""2 ranks (gloo, CPU) against 1 process with the same global batch, for every backend.

Tolerance: per-step losses within 1e-4 absolute (fp32 on CPU; the only differences are the
order of floating-point reductions), validation loss within 1e-4 relative.
"""
import json
import subprocess
import sys

import pytest

from conftest import ROOT, netft_train_cmd, torchrun_cmd, train_losses

pytestmark = pytest.mark.slow

COMBOS = [("full", "zero3"), ("lora", "fsdp2"), ("full", "fsdp2"), ("lora", "zero3"),
          ("lora", "ddp")]
COMMON = ["model=tiny", "train.epochs=1", "train.max_steps=4", "train.micro_batch_size=1",
          "train.lr=1e-3", "logger=none", "eval.domain=false", "train.save_every_epoch=false"]
PLACEMENT = {"fsdp2": "S(0)", "zero3": "zero3-partition", "ddp": "replicated"}
LOSS_TOL = 1e-4

LOGITS = r"""
import json, sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
path, method = sys.argv[1], sys.argv[2]
tok = AutoTokenizer.from_pretrained(path)
if method == "full":
    model = AutoModelForCausalLM.from_pretrained(path)
else:
    from peft import AutoPeftModelForCausalLM
    model = AutoPeftModelForCausalLM.from_pretrained(path)
ids = tok.apply_chat_template([{"role": "user", "content": "show ip ospf neighbor on R1"}],
                              add_generation_prompt=True, return_tensors="pt", return_dict=True)
with torch.no_grad():
    print(json.dumps(model(input_ids=ids["input_ids"]).logits[0].tolist()))
"""


def run_ok(cmd, timeout=600):
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-4000:])
    return proc


@pytest.fixture(scope="module")
def single_runs(tmp_path_factory, tiny_path):
    out = {}
    for method in ("full", "lora"):
        run_dir = tmp_path_factory.mktemp(f"single-{method}") / "run"
        run_ok(netft_train_cmd(*COMMON, f"method={method}", "parallel=single",
                               "train.grad_accum=4", f"run_dir={run_dir}"))
        out[method] = run_dir
    return out


def final_logits(run_dir, method):
    proc = run_ok([sys.executable, "-c", LOGITS, str(run_dir / "final"), method], timeout=300)
    import torch

    return torch.tensor(json.loads(proc.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("method,parallel", COMBOS)
def test_two_ranks_match_one_process(tmp_path, single_runs, method, parallel):
    run_dir = tmp_path / "run"
    proc = run_ok(torchrun_cmd(2, *COMMON, f"method={method}", f"parallel={parallel}",
                               "train.grad_accum=2", f"run_dir={run_dir}"))
    log = proc.stdout + proc.stderr
    # Both ranks announced themselves, and each holds its share of the parameters.
    for rank in (0, 1):
        assert f"[netft] rank {rank}/2 " in log
        line = next(ln for ln in log.splitlines() if ln.startswith(f"[netft] rank {rank} holds"))
        assert PLACEMENT[parallel] in line, line
        frac = float(line.split("(")[1].split("%")[0]) / 100
        if parallel == "ddp":
            assert frac == 1.0
        else:
            assert 0.45 < frac < 0.55, line  # ~1/world of every sharded parameter

    ref_dir = single_runs[method]
    ref, got = train_losses(ref_dir), train_losses(run_dir)
    assert len(got) == len(ref) == 4
    assert max(abs(a - b) for a, b in zip(got, ref)) < LOSS_TOL, (got, ref)
    assert abs(got[-1] - got[0]) > 10 * LOSS_TOL, "the model did not train"
    s_ref = json.loads((ref_dir / "summary.json").read_text())
    s_got = json.loads((run_dir / "summary.json").read_text())
    assert s_got["world"] == 2 and s_got["parallel"] == parallel
    assert s_got["final_val_loss"] == pytest.approx(s_ref["final_val_loss"], rel=1e-4)

    # final/ reloads with plain transformers/PEFT and gives the trained model's logits.
    if method == "lora":
        from safetensors.torch import load_file

        adapter = load_file(run_dir / "final" / "adapter_model.safetensors")
        assert adapter and all(t.numel() > 0 for t in adapter.values())  # never empty adapters
    diff = (final_logits(run_dir, method) - final_logits(ref_dir, method)).abs().max().item()
    assert diff < 1e-3, diff


@pytest.mark.parametrize("parallel,copy", [("fsdp2", "auto"), ("zero3", "auto"),
                                           ("fsdp2", "never"), ("zero3", "never")])
def test_sharded_domain_eval_does_not_hang_and_matches(tmp_path, parallel, copy, tiny_path):
    """5 items in batches of 2 over 2 ranks: 3 batches, so one rank runs a dummy batch.
    auto: from a whole copy gathered once (eval/whole_copy.py); never: from the shards."""
    evals = ["eval.domain=true", "eval.domain_max_items=5", "eval.gen_batch_size=2",
             "eval.max_new_tokens=16", "train.max_steps=2"]
    common = [o for o in COMMON if o not in ("eval.domain=false", "train.max_steps=4")] + evals
    single, multi = tmp_path / "single", tmp_path / "multi"
    run_ok(netft_train_cmd(*common, "method=lora", "train.grad_accum=4", f"run_dir={single}"))
    proc = run_ok(torchrun_cmd(2, *common, "method=lora", f"parallel={parallel}",
                               "train.grad_accum=2", f"eval.gen_whole_copy={copy}",
                               f"run_dir={multi}"), timeout=300)
    assert ("generating from a whole copy" in proc.stdout) == (copy == "auto"), proc.stdout[-2000:]
    for epoch in (0, 1):
        a = (single / "eval" / f"epoch-{epoch}" / "predictions.jsonl").read_text().splitlines()
        b = (multi / "eval" / f"epoch-{epoch}" / "predictions.jsonl").read_text().splitlines()
        assert len(a) == len(b) == 5
        answers = lambda lines: [json.loads(x)["answer"] for x in lines]  # noqa: E731
        if epoch == 0:  # identical weights: identical greedy answers
            assert answers(a) == answers(b)


@pytest.mark.parametrize("parallel", ["fsdp2", "zero3"])
def test_lm_eval_on_sharded_weights_matches_single_process(tmp_path, parallel, tiny_path):
    """lm-eval (offline local task) on weights gathered from shards = on the plain model."""
    evals = ["eval.lm_eval_tasks=[netft_general_cloze]", "eval.lm_eval_limit=40",
             "train.max_steps=1", "eval.general_ppl=false", "eval.val_every_epoch=false"]
    common = [o for o in COMMON if o != "train.max_steps=4"] + evals
    single, multi = tmp_path / "single", tmp_path / "multi"
    run_ok(netft_train_cmd(*common, "method=lora", "train.grad_accum=4", f"run_dir={single}"))
    run_ok(torchrun_cmd(2, *common, "method=lora", f"parallel={parallel}", "train.grad_accum=2",
                        f"run_dir={multi}"), timeout=400)
    a = json.loads((single / "summary.json").read_text())["history"][0]
    b = json.loads((multi / "summary.json").read_text())["history"][0]
    assert 0.0 <= a["general_acc"] <= 1.0 and "netft_general_cloze" in a
    assert b["general_acc"] == pytest.approx(a["general_acc"], abs=1e-9)


@pytest.mark.parametrize("parallel", ["zero3", "fsdp2"])
def test_activation_checkpointing_changes_no_loss(tmp_path, parallel, tiny_path):
    """Issue 24 item 3: activation checkpointing is set up in one place (parallel/base.py) for
    every backend; recomputing the layers in the backward gives the same training losses."""
    losses = {}
    for ac in ("false", "true"):
        run_dir = tmp_path / f"ac-{ac}"
        run_ok(torchrun_cmd(2, *COMMON, "method=lora", f"parallel={parallel}",
                            "train.grad_accum=2", "eval.val_before_training=false",
                            "eval.val_every_epoch=false", "eval.keep_best=false",
                            f"parallel.activation_checkpointing={ac}", f"run_dir={run_dir}"),
               timeout=300)
        losses[ac] = train_losses(run_dir)
    assert len(losses["true"]) == 4
    assert losses["true"] == pytest.approx(losses["false"], abs=1e-5)
