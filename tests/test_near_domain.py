"""The near-domain forgetting probe: text the domain pack names (netops: NX-OS / ASA / IOS-XR
configs from an installed package), measured per epoch like general forgetting, with its own
intervals, column and curve in the report."""
import json
import math
import sys
import types

import numpy as np
import pytest
import torch

from conftest import compose
from netft.distributed import DistInfo
from netft.domains import DataUnavailable, Domain
from netft.domains.netops import near
from netft.eval.forgetting import forgetting
from netft.eval.probes import near_windows

NXOS = "feature bgp\nfeature vpc\ninterface Ethernet1/1\n  switchport mode trunk\n" * 60
ASA = "ASA Version 9.1(2)\nobject-group network WEB\n access-list OUT extended permit tcp\n" * 60


def fake_pack(monkeypatch, texts):
    """A user pack (an importable module with a DOMAIN) whose near-domain text is `texts`
    (a dict, or an exception to raise)."""
    from netft.domains import chat, netops

    def near_domain():
        if isinstance(texts, Exception):
            raise texts
        return texts

    mod = types.ModuleType("near_pack_for_tests")
    base = netops.DOMAIN
    mod.DOMAIN = Domain(name="near-test", eval_rows=chat.eval_rows, score_item=base.score_item,
                        aggregate=base.aggregate, format_table=base.format_table,
                        near_domain=near_domain)
    monkeypatch.setitem(sys.modules, "near_pack_for_tests", mod)
    return "near_pack_for_tests"


def test_near_windows_share_the_tokens_equally_and_interleave(tiny_tokenizer):
    windows = near_windows(tiny_tokenizer, {"nxos": NXOS, "asa": ASA}, 1024, window=128)
    assert len(windows) == 8 and all(len(w.input_ids) == 128 for w in windows)
    text = [tiny_tokenizer.decode(w.input_ids) for w in windows]
    # sorted by name, alternating: asa, nxos, asa, ... (the KL probe's first windows span both)
    assert ["ASA" in t or "access-list" in t or "object-group" in t for t in text] == \
        [True, False] * 4
    assert near_windows(tiny_tokenizer, {}, 1024) == []


def test_the_netops_pack_reads_other_platforms_configs_from_the_installed_package():
    try:
        texts = near.texts()
    except DataUnavailable as e:
        pytest.skip(f"{e}")  # `make setup` installs it; this machine's set-up did not
    assert sorted(texts) == ["asa", "iosxr", "nxos"]
    assert "feature " in texts["nxos"] and "vpc" in texts["nxos"]  # NX-OS feature lines
    assert "ASA Version" in texts["asa"] and "access-list" in texts["asa"]
    assert "router bgp" in texts["iosxr"] or "RP/0/" in texts["iosxr"]
    assert all(len(t) > 10_000 for t in texts.values())


def test_the_near_domain_text_is_outside_the_training_data():
    """"Platforms the training data does not cover": of each platform's distinct config lines
    (12+ characters), under 1% appear verbatim in any training message (measured: NX-OS 1 of
    403, ASA 0 of 357, IOS-XR 4 of 1,655 -- `address-family ipv4 unicast`, `router ospf 1`)."""
    from netft.data.curation import read_sources

    try:
        texts = near.texts()
    except DataUnavailable as e:
        pytest.skip(f"{e}")
    cfg = compose(["model=tiny", "data=netops"])
    seen = {ln.strip() for row in read_sources(cfg.data.train_files)
            for m in row["messages"] for ln in m["content"].splitlines()}
    for platform, text in texts.items():
        lines = {ln.strip() for ln in text.splitlines() if len(ln.strip()) >= 12}
        assert len(lines & seen) < 0.01 * len(lines), (platform, sorted(lines & seen)[:5])


def test_a_missing_package_says_how_to_install_it_and_the_run_goes_on(monkeypatch, tmp_path,
                                                                      capsys, tiny_tokenizer):
    from importlib import metadata

    def nothing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(near.metadata, "distribution", nothing)
    monkeypatch.setattr(near.sys, "prefix", str(tmp_path))
    with pytest.raises(DataUnavailable, match=r"ciscoconfparse2==0\.9\.18.*make setup"):
        near.texts()
    # The run: one line, no probe, no failure.
    from netft.eval.epoch import near_domain_probe

    cfg = compose(["model=tiny", "data=netops"])
    assert near_domain_probe(tiny_tokenizer, cfg) == []
    assert "near-domain forgetting probe off: near-domain configs come from the PyPI package " \
        "ciscoconfparse2" in capsys.readouterr().out


def test_probe_follows_the_pack_and_the_switch(monkeypatch, tiny_tokenizer):
    from netft.eval.epoch import near_domain_probe

    name = fake_pack(monkeypatch, {"nxos": NXOS, "asa": ASA})
    on = compose(["model=tiny", f"data.domain_pack={name}", "eval.near_max_tokens=512"])
    assert len(near_domain_probe(tiny_tokenizer, on)) == 2  # 256 tokens of each text
    off = compose(["model=tiny", f"data.domain_pack={name}", "eval.near_domain=false"])
    assert near_domain_probe(tiny_tokenizer, off) == []
    # a pack without near-domain text (chat) gives none, silently
    assert near_domain_probe(tiny_tokenizer, compose(["model=tiny", "data.domain_pack=chat"])) == []


def test_each_epoch_records_near_domain_perplexity_interval_windows_and_kl(
        monkeypatch, tmp_path, tiny_path, tiny_tokenizer):
    """evaluate() on the base model and on a moved one, in process: the near-domain numbers
    are the window perplexity of the pack's text, KL from the base is 0 at the base and > 0
    after the weights move, and the per-window file a study pairs across seeds is written."""
    from netft.eval.epoch import build_probes, evaluate
    from netft.eval.probes import window_nll
    from netft.models.load import load_model
    from netft.objectives.tasks import build_task
    from netft.parallel.engine import build_torch_engine

    name = fake_pack(monkeypatch, {"nxos": NXOS, "asa": ASA})
    cfg = compose(["model=tiny", "method=full", f"data.domain_pack={name}", "eval.domain=false",
                   "eval.general_max_tokens=512", "eval.near_max_tokens=1024", "logger=none"])
    info = DistInfo()
    model = load_model(str(tiny_path), cfg.model, cfg.method, info.device)
    engine = build_torch_engine(model, cfg, info, total_steps=1)
    task = build_task(cfg, tiny_tokenizer, model, say=lambda *a: None)
    probes = build_probes(engine, tiny_tokenizer, task, cfg, info, tmp_path)
    assert len(probes["near"]) == 4 and "near" in probes["kl"]
    base = evaluate(engine, tiny_tokenizer, task, cfg, info, probes, [], 0, 0, tmp_path)
    nll, tokens = window_nll(engine.module, probes["near"], info)
    assert base.near_ppl == pytest.approx(math.exp(sum(nll) / sum(tokens)), rel=1e-6)
    lo, hi = base.near_ppl_ci
    assert lo < base.near_ppl < hi
    assert base.kl["near"] == pytest.approx(0.0, abs=1e-6)
    saved = json.loads((tmp_path / "eval" / "epoch-0" / "near_windows.json").read_text())
    assert saved["nll"] == pytest.approx(nll) and saved["tokens"] == tokens

    torch.manual_seed(0)
    with torch.no_grad():
        for p in engine.module.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    moved = evaluate(engine, tiny_tokenizer, task, cfg, info, probes, [], 1, 1, tmp_path)
    assert moved.kl["near"] > 1e-3 and moved.near_ppl != base.near_ppl
    rows = forgetting([base, moved])
    assert rows[1]["near_ppl_increase_rel"] == pytest.approx(
        moved.near_ppl / base.near_ppl - 1)
    assert rows[1]["near_ppl_increase_rel_ci"][0] < rows[1]["near_ppl_increase_rel"]
    assert rows[1]["kl_near"] == moved.kl["near"]


def test_report_has_a_near_domain_column_with_crossed_intervals_and_a_curve(tmp_path):
    """Two seeds with per-window near-domain files: the report's near-domain column is the
    crossed seeds x windows bootstrap of each seed's paired rise, recomputed here; the curves
    figure gets a fourth panel; the near-domain statements compare it with general forgetting."""
    import matplotlib.image

    from netft.eval.stats import crossed_bootstrap_ci
    from netft.analysis.report import write_report
    from netft.analysis.study import N_BOOT
    from test_report import fake_run

    rng = np.random.default_rng(0)
    base_nll, tokens = rng.uniform(4, 6, 16) * 255, [255] * 16
    stats = []
    for seed, rise in enumerate([1.10, 1.15]):
        d = fake_run(tmp_path, f"run-{seed}", "full", 16, 0.0, [0, 1], [100, 200], [0, 0],
                     seed=seed)
        tuned = base_nll * rise + rng.normal(0, 10, 16)
        summary = json.loads((d / "summary.json").read_text())
        for h, nll in zip(summary["history"], (base_nll, tuned)):
            h["near_ppl"] = math.exp(sum(nll) / sum(tokens))
            h["kl_near"] = 0.0 if nll is base_nll else 0.2
            e = d / "eval" / f"epoch-{h['epoch']}"
            e.mkdir(parents=True)
            (e / "near_windows.json").write_text(json.dumps({"nll": list(nll), "tokens": tokens}))
        (d / "summary.json").write_text(json.dumps(summary))
        stats.append(lambda idx, n=tuned: 100 * (math.exp(
            n[idx].sum() / (255 * len(idx)) - base_nll[idx].sum() / (255 * len(idx))) - 1))
    out = write_report([tmp_path], tmp_path / "report")
    row = out["rows"][0]
    lo, hi = crossed_bootstrap_ci(16, stats, n_boot=N_BOOT)
    mean = sum(s(np.arange(16)) for s in stats) / 2
    assert row["near-domain forgetting % [95% CI]"] == \
        f"{mean:.1f} [{lo:.1f}, {hi:.1f}] (2 seeds x items)"
    assert row["KL near"] == pytest.approx(0.2)
    assert any(line.startswith("full epoch 1: near-domain perplexity") and
               line.endswith("vs general 100.0 [100.0, 100.0]%") for line in out["near"])
    md = (tmp_path / "report" / "report.md").read_text()
    assert "near-domain forgetting % [95% CI]" in md and "Near-domain forgetting" in md
    img = matplotlib.image.imread(tmp_path / "report" / "curves.png")
    assert img.shape[1] / img.shape[0] > 3.4  # four panels side by side (three: ~2.8)


def test_runs_without_the_probe_keep_the_report_as_it_was(tmp_path):
    from netft.analysis.report import write_report
    from test_report import make_study

    make_study(tmp_path)
    out = write_report([tmp_path], tmp_path / "report")
    assert "near-domain forgetting % [95% CI]" not in out["rows"][0] and out["near"] == []


def test_copy_gain_tells_a_model_that_copies_from_its_context_from_one_that_does_not():
    """The builder's copy measurement (netft_tiny.json "copy_gain_nats"): a stand-in model that
    predicts the token `span` positions back gains ~log(vocab) nats on the repeated half; one
    that predicts the same distribution everywhere gains nothing."""
    from types import SimpleNamespace

    from netft.models.tiny import copy_gain

    vocab, span = 500, 8
    stream = torch.randint(0, vocab, (400,), generator=torch.Generator().manual_seed(0))

    def copier(input_ids):
        logits = torch.zeros(*input_ids.shape, vocab)
        # the token `span` back, as the next one: perfect on a repeat, uniform before it
        logits[:, span - 1:].scatter_(-1, input_ids[:, :input_ids.shape[1] - span + 1, None], 20.0)
        return SimpleNamespace(logits=logits)

    def blind(input_ids):
        return SimpleNamespace(logits=torch.zeros(*input_ids.shape, vocab))

    for m in (copier, blind):
        m.eval = lambda: None
    assert copy_gain(copier, stream, span=span, rows=4) > 5
    assert copy_gain(blind, stream, span=span, rows=4) == pytest.approx(0.0, abs=1e-6)
