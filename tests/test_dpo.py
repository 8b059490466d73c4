"""DPO: the loss by hand, preference data checks, training raises held-out preference
accuracy, and 2 ranks (fsdp2, zero3) match 1 process."""
import json
import math
import subprocess

import pytest
import torch

from conftest import ROOT, netft_train_cmd, read_metrics, torchrun_cmd
from netft.data.chat import DataError
from netft.data.preferences import read_preferences
from netft.objectives.dpo import dpo_loss


def test_sigmoid_and_ipo_loss_by_hand():
    pc, pr, rc, rr = (torch.tensor([v]) for v in (-10.0, -12.0, -11.0, -11.0))
    loss, reward_c, reward_r = dpo_loss(pc, pr, rc, rr, beta=0.1)
    # log-ratio difference = (−10 − −11) − (−12 − −11) = 2; loss = −log σ(0.1 · 2)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-0.2)), abs=1e-7)  # 0.598139
    assert reward_c.item() == pytest.approx(0.1) and reward_r.item() == pytest.approx(-0.1)
    ipo, _, _ = dpo_loss(pc, pr, rc, rr, beta=0.1, kind="ipo")
    assert ipo.item() == pytest.approx((2 - 1 / 0.2) ** 2)  # 9.0


@pytest.mark.parametrize("line,reason", [
    ('{"messages": [{"role": "user", "content": "q"}], "chosen": "a"}', "'rejected'"),
    ('{"messages": [{"role": "user", "content": "q"}], "chosen": "a", "rejected": "a"}',
     "identical"),
    ('{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "x"}], '
     '"chosen": "a", "rejected": "b"}', "must not end with an assistant turn"),
])
def test_bad_preference_rows_name_file_and_line(tmp_path, line, reason):
    ok = '{"messages": [{"role": "user", "content": "q"}], "chosen": "a", "rejected": "b"}'
    f = tmp_path / "p.jsonl"
    f.write_text(ok + "\n" + line + "\n")
    with pytest.raises(DataError) as e:
        read_preferences(f)
    assert f"{f}:2:" in str(e.value) and reason in str(e.value)


COMMON = ["objective=dpo", "data=netops_prefs", "model=tiny", "train.epochs=1",
          "train.lr=1e-3", "logger=none", "eval.domain=false", "eval.general_ppl=false",
          "train.save_every_epoch=false"]


def history(run_dir):
    return json.loads((run_dir / "summary.json").read_text())["history"]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lora", "full"])
def test_dpo_raises_held_out_preference_accuracy(tmp_path, tiny_path, method):
    run_dir = tmp_path / "run"
    proc = subprocess.run(netft_train_cmd(*COMMON, f"method={method}", "train.max_steps=12",
                                          f"run_dir={run_dir}"),
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    h = history(run_dir)
    assert h[0]["val_loss"] == pytest.approx(math.log(2), abs=1e-6)  # policy == reference
    assert h[-1]["val_pref_acc"] > h[0]["val_pref_acc"]
    assert h[-1]["val_reward_acc"] > 0.8 and h[-1]["val_loss"] < h[0]["val_loss"]
    if method == "full":  # the precomputed reference, not a second model
        table = torch.load(run_dir / "reference_logps_train.pt")
        assert table.shape == (350, 2) and (table < 0).all()
    assert any("train/reward_acc" in r for r in read_metrics(run_dir))


@pytest.mark.slow
@pytest.mark.parametrize("method,parallel", [("lora", "fsdp2"), ("full", "zero3")])
def test_dpo_two_ranks_match_one_process(tmp_path, tiny_path, method, parallel):
    common = [*COMMON, f"method={method}", "train.max_steps=3", "train.micro_batch_size=1"]
    single, multi = tmp_path / "single", tmp_path / "multi"
    for cmd in (netft_train_cmd(*common, "train.grad_accum=4", f"run_dir={single}"),
                torchrun_cmd(2, *common, f"parallel={parallel}", "train.grad_accum=2",
                             f"run_dir={multi}")):
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    a = [r for r in read_metrics(single) if "train/loss" in r]
    b = [r for r in read_metrics(multi) if "train/loss" in r]
    assert len(a) == len(b) == 3
    for ra, rb in zip(a, b):
        for key in ("train/loss", "train/reward_margin", "train/reward_acc"):
            assert rb[key] == pytest.approx(ra[key], abs=1e-4), key
    assert history(multi)[-1]["val_loss"] == pytest.approx(history(single)[-1]["val_loss"],
                                                           rel=1e-4)
