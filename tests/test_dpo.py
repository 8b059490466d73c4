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


MULTI_TURN = [
    {"role": "system", "content": "You are a network engineer."},
    {"role": "user", "content": "Configure OSPF area 0 on eth0 in FRR."},
    {"role": "assistant", "content": "router ospf\n network 10.0.0.0/24 area 0"},
    {"role": "user", "content": "Now give it router id 1.1.1.1."},
]
ANSWERS = [("router ospf\n ospf router-id 1.1.1.1", "router-id 1.1.1.1"),
           ("ospf router-id 1.1.1.1", "router ospf\n router-id 1.1.1.1.1 area")]


def hand_logp(model, tok, prompt, reply):
    """log p(reply | prompt) summed over the reply's tokens, and their number: by hand."""
    render = lambda msgs, gen: tok.apply_chat_template(  # noqa: E731
        msgs, tokenize=True, return_dict=True, add_generation_prompt=gen)["input_ids"]
    full = list(render(prompt + [{"role": "assistant", "content": reply}], False))
    head = len(render(prompt, True))
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([full])).logits[0].double(), -1)
    return sum(float(logp[t - 1, full[t]]) for t in range(head, len(full))), len(full) - head


@pytest.mark.parametrize("loss,ipo_logps", [("sigmoid", "mean"), ("ipo", "mean"), ("ipo", "sum")])
def test_dpo_statistics_cover_the_final_answer_only(tiny_path, tiny_tokenizer, loss, ipo_logps):
    """Multi-turn prompts: the earlier assistant turn is context. Loss, rewards, log-probs and
    accuracies equal a hand computation over the final answer alone."""
    from omegaconf import OmegaConf

    from netft.data.chat import tokenize_chat
    from netft.models.load import load_model
    from netft.objectives import dpo
    from conftest import compose

    tok = tiny_tokenizer
    rows = [{"messages": MULTI_TURN, "chosen": c, "rejected": r} for c, r in ANSWERS]
    pairs, _ = dpo.tokenize_pairs(rows, tok, 512)
    cfg = compose(["run_dir=/tmp/x", "objective=dpo", f"objective.loss={loss}",
                   f"objective.ipo_logps={ipo_logps}", "objective.beta=0.5"])
    policy = load_model(str(tiny_path), cfg.model, cfg.method, torch.device("cpu")).eval()
    reference = load_model(str(tiny_path), cfg.model, cfg.method, torch.device("cpu")).eval()
    torch.manual_seed(0)
    with torch.no_grad():  # a policy that differs from its reference
        for p in policy.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    hand = [[hand_logp(m, tok, MULTI_TURN, side) for side in pair]
            for m in (policy, reference) for pair in ANSWERS]
    pol, ref = hand[:2], hand[2:]
    # only the final answer is labelled (the old labelling also took the earlier turn)
    for pair, (c, r) in zip(pairs, pol):
        assert pair.chosen.n_targets == c[1] and pair.rejected.n_targets == r[1]
    old = tokenize_chat(tok, MULTI_TURN + [{"role": "assistant", "content": ANSWERS[0][0]}])
    assert old.n_targets > pairs[0].chosen.n_targets

    table = torch.tensor([[c[0], r[0]] for c, r in ref], dtype=torch.float64)
    batch = dpo.collate_pairs(pairs, [[0], [1]], tok.pad_token_id, table)
    with torch.no_grad():
        loss_sum, k, stats = dpo.make_loss_fn(policy, OmegaConf.create(cfg.objective))(policy, batch)
    beta, exp = 0.5, {"loss": 0.0, "reward_acc": 0.0, "reward_margin": 0.0, "logp_chosen": 0.0,
                      "logp_rejected": 0.0, "pref_acc": 0.0}
    for (pc, nc), (pr, nr), (rc, _), (rr, _) in [(*p_, *r_) for p_, r_ in zip(pol, ref)]:
        if loss == "ipo" and ipo_logps == "mean":
            h = (pc / nc - rc / nc) - (pr / nr - rr / nr)
            wc, wr = beta * (pc - rc) / nc, beta * (pr - rr) / nr
        else:
            h, wc, wr = (pc - rc) - (pr - rr), beta * (pc - rc), beta * (pr - rr)
        exp["loss"] += (h - 1 / (2 * beta)) ** 2 if loss == "ipo" else math.log1p(math.exp(-beta * h))
        exp["reward_acc"] += float(wc > wr)
        exp["reward_margin"] += wc - wr
        exp["logp_chosen"] += pc
        exp["logp_rejected"] += pr
        exp["pref_acc"] += float(pc / nc > pr / nr)
    assert k == 2
    assert float(loss_sum) == pytest.approx(exp["loss"], rel=1e-4, abs=1e-5)
    for key in ("reward_acc", "reward_margin", "logp_chosen", "logp_rejected", "pref_acc"):
        assert float(stats[key]) == pytest.approx(exp[key], rel=1e-4, abs=1e-4), key


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
def test_dpo_learns_the_held_out_preferences(tmp_path, tiny_path, method):
    run_dir = tmp_path / "run"
    proc = subprocess.run(netft_train_cmd(*COMMON, f"method={method}", "train.max_steps=12",
                                          f"run_dir={run_dir}"),
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    h = history(run_dir)
    assert h[0]["val_loss"] == pytest.approx(math.log(2), abs=1e-6)  # policy == reference
    # Learning, asserted with margins that hold on any CPU: measured here (lora) val loss
    # 0.693 -> 0.321, reward margin 0 -> 1.19, reward accuracy 0 -> 1.0. The held-out
    # per-token preference accuracy moved 35/39 -> 36/39: one item, too small to assert (it
    # went the other way on another machine), so it is logged, not tested.
    assert h[-1]["val_reward_acc"] > 0.8 and h[-1]["val_reward_margin"] > 0.5
    assert h[-1]["val_loss"] < h[0]["val_loss"] - 0.2
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
