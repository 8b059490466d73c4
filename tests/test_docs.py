"""Docs that cannot drift from the code (issue 24 item 9): tables the code prints are generated
between markers (scripts/gen_docs.py) and checked here; a generator rewrites only its block."""
import importlib.util
import sys
from types import SimpleNamespace

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import gen_docs  # noqa: E402


def test_plan_tables_in_the_docs_are_what_netft_plan_prints():
    """docs/scale.md's plan tables and advice lines equal `netft plan`'s output now (after a
    planner change: `make docs`)."""
    names = [name for name, _ in gen_docs.blocks((ROOT / "docs" / "scale.md").read_text())
             if name.startswith("netft plan ")]
    assert sum("--table" in n for n in names) == 2 and len(names) >= 5, names
    for page in gen_docs.pages():
        assert gen_docs.stale(page) == [], f"{page.name}: run `make docs`"


def test_a_drifted_table_is_found_and_rewritten(tmp_path):
    name = "netft plan --table model=llama3_8b"
    good = gen_docs.render(name)
    assert good.count("\n") == 18 and good.startswith("| method | parallel |")
    page = tmp_path / "page.md"
    row = good.splitlines()[2]  # the first data row, as an older planner might have printed it
    old = good.replace(row, row.replace("| ", "| 1", 3))
    assert old != good
    page.write_text(f"intro\n\n{gen_docs.begin(name)}\n{old}{gen_docs.end(name)}\n\noutro\n")
    assert gen_docs.stale(page) == [name]
    gen_docs.write_block(page, name, good)
    assert gen_docs.stale(page) == []
    assert page.read_text().startswith("intro\n\n") and page.read_text().endswith("\n\noutro\n")


def _bench_sft():
    spec = importlib.util.spec_from_file_location("bench_sft", ROOT / "bench" / "bench_sft.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_rewrites_only_its_block(tmp_path, monkeypatch):
    """`make bench` rewrites its results and keeps the sections it does not own (the GPU one)."""
    bench = _bench_sft()
    monkeypatch.setattr(bench, "machine", lambda: "a test machine")
    page = tmp_path / "benchmarks.md"
    page.write_text((ROOT / "docs" / "benchmarks.md").read_text())
    gpu = page.read_text().split("## GPU", 1)[1]
    fused = ["F(fused_lm_head=True)"]
    bench.write_doc(page, "bench/bench_sft.py --steps 1", "| the table |", "", 11e6, 4,
                    SimpleNamespace(warmup=1, steps=1, repeats=1), 12.0,
                    {"netft": [{"loss_chunk_tokens": 256, "vocab": 4096, "tokens_per_s": 9}],
                     "trl": [{"loss_outputs": fused, "first_loss": 8.5, "trl_version": "1.16.0",
                              "tokens_per_s": 9}],
                     "trl_padding_free": [{"loss_outputs": fused, "first_loss": 8.5,
                                           "max_seq": 500, "tokens_per_s": 9}],
                     "trl_packing": [{"loss_outputs": fused, "padding_free": True,
                                      "tokens_per_s": 9}]},
                    [0.5, 1.0])
    text = page.read_text()
    assert "Machine: a test machine. Total benchmark time 12 s." in text
    assert "| the table |" in text and text.split("## GPU", 1)[1] == gpu
    assert [n for n, _ in gen_docs.blocks(text)] == ["bench/bench_sft.py"]


def test_bench_ratios_per_round_and_targets():
    """The ratio table gives each round's ratio, flags a median that meets a target no round
    backs, and states no target where none was set (TRL padding-free)."""
    bench = _bench_sft()

    def runs(*tps):
        return [{"tokens_per_s": t, "peak_rss_mb": 100.0, "padding_eff": 0.98} for t in tps]

    results = {"netft": runs(300, 200, 100), "trl": runs(100, 100, 100),
               "trl_padding_free": runs(100, 400, 100), "trl_packing": runs(500, 100, 100)}
    text, r = bench.ratios(results)
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines()}
    assert r["rounds_vs_trl"] == [3.0, 2.0, 1.0] and r["tps_vs_trl"] == 2.0
    assert "| 3.00, 2.00, 1.00 |" in rows["vs TRL defaults"]
    assert rows["vs TRL defaults"].endswith("| met (median; not in every round) |")
    assert "none set | (ratio only)" in rows["vs TRL padding-free"]
    assert rows["vs TRL packing"].endswith("| met (median; not in every round) |")
    assert bench.spread(results) == (5.0, "trl_packing")


def test_design_doc_states_what_validation_refuses():
    """QLoRA runs on CPU (bitsandbytes >= 0.46): validation accepts it, and design.md says so."""
    from conftest import compose

    from netft.config import validate

    validate(compose(["method=qlora", "run_dir=."]), cuda_available=False)
    with pytest.raises(ValueError, match="zero3"):
        validate(compose(["method=qlora", "parallel=zero3", "run_dir=."]), cuda_available=False)
    text = " ".join((ROOT / "docs" / "design.md").read_text().split())
    assert "QLoRA without CUDA" not in text
    assert "QLoRA + ZeRO-3" in text
