"""The domain seam: the core imports no pack by name, and a second, small pack (arith) trains
and evaluates end to end with no code of the network-engineering pack loaded."""
import json
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT

# Every netft module outside the netops pack, imported with the arith pack configured and
# validated: none of them may pull in netft.domains.netops.
CORE_IMPORTS = textwrap.dedent("""
    import importlib, sys
    from pathlib import Path
    import netft
    from hydra import compose, initialize_config_dir
    from netft.config import CONF_DIR, validate

    skip = ("netft.domains.netops", "netft.parallel.zero3")  # zero3: deepspeed, not a domain
    root = Path(netft.__file__).parent  # files, not pkgutil: walking imports subpackages
    for f in sorted(root.rglob("*.py")):
        name = ".".join(("netft",) + f.relative_to(root).with_suffix("").parts)
        if not name.startswith(skip):
            importlib.import_module(name.removesuffix(".__init__"))
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["data=arith", "run_dir=/tmp/x"])
    validate(cfg, world=1)
    from netft import domains
    assert domains.load("arith").name == "arith" and domains.load("chat").name == "chat"
    print(sorted(m for m in sys.modules if m.startswith("netft.domains.netops")))
""")


def test_core_imports_no_domain_pack():
    proc = subprocess.run([sys.executable, "-c", CORE_IMPORTS], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout[-2000:]


def test_unknown_pack_is_a_config_error():
    from netft import domains
    from netft.config import ConfigError

    with pytest.raises(ConfigError, match="data.domain_pack=nope: no module netft.domains.nope"):
        domains.load("nope")
    with pytest.raises(ConfigError, match="defines no DOMAIN"):
        domains.load("netft.domains.arith.build")  # a module, but not a pack


def test_arith_scores_exactly():
    from netft import domains
    from netft.domains.arith import DOMAIN

    rows = [json.loads(line) for line in
            (ROOT / "netft/assets/data/arith/test.jsonl").read_text().splitlines()]
    refs = [r["messages"][-1]["content"] for r in rows]
    assert domains.score(DOMAIN, rows, refs)["overall"]["score"] == 1.0
    wrong = domains.score(DOMAIN, rows[:2], ["The answer is 0.", "I think 12345"])
    assert wrong["overall"]["accuracy"] == 0.0 and wrong["overall"]["format"] == 0.5
    assert "acc" in DOMAIN.format_table(wrong)


# Runs netft-train, then writes which netft modules the run imported.
TRAIN_AND_LIST = textwrap.dedent("""
    import json, sys
    from netft.train import main
    out, sys.argv = sys.argv[1], ["netft-train", *sys.argv[2:]]
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code
    json.dump(sorted(m for m in sys.modules if m.startswith("netft")), open(out, "w"))
    sys.exit(code)
""")


@pytest.mark.slow
def test_arith_pack_trains_and_evaluates_without_netops(tmp_path, tiny_path):
    run_dir, mods = tmp_path / "run", tmp_path / "modules.json"
    proc = subprocess.run(
        [sys.executable, "-c", TRAIN_AND_LIST, str(mods), "model=tiny", "data=arith",
         "train.max_steps=3", "train.epochs=1", "train.warmup_ratio=0", "train.lr=3e-3",
         "eval.domain_max_items=6", "eval.max_new_tokens=16", "eval.gen_batch_size=6",
         "eval.general_max_tokens=1024", "eval.kl_probe=false", "eval.review_items=6",
         "logger=none", f"run_dir={run_dir}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(mods.read_text())
    assert "netft.domains.arith" in loaded
    assert not [m for m in loaded if m.startswith("netft.domains.netops")], loaded

    summary = json.loads((run_dir / "summary.json").read_text())
    assert set(summary["domain"]) == {"n", "accuracy", "format", "score"}
    assert summary["domain"]["n"] == 6
    assert [h["epoch"] for h in summary["history"] if "domain_score" in h] == [0, 1]
    scores = json.loads((run_dir / "eval" / "epoch-1" / "scores.json").read_text())
    assert set(scores["categories"]) == {"add", "sub", "mul"}
    assert "accuracy" in (run_dir / "eval" / "epoch-1" / "table.txt").read_text()
    assert "<title>arith review" in (run_dir / "review" / "review.html").read_text()

    report = subprocess.run([sys.executable, "-m", "netft.cli", "report", str(run_dir),
                             "--out", str(tmp_path / "report")], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    md = (tmp_path / "report" / "report.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| run"))
    assert "domain score" in header and "arith acc" in header


def test_netops_generator_reproduces_the_shipped_data(tmp_path):
    """The content tables moved from Python literals to JSON: same bytes out."""
    from netft.data.split import write_splits
    from netft.domains.netops.generate import main as generate

    generate(["--out", str(tmp_path / "all.jsonl"), "--seed", "0", "--n", "900"])
    write_splits(tmp_path / "all.jsonl", tmp_path / "split")
    for name in ("train", "validation", "test"):
        assert (tmp_path / "split" / f"{name}.jsonl").read_bytes() == \
            (ROOT / "netft/assets/data/netops" / f"{name}.jsonl").read_bytes(), name


def test_the_demos_extra_config_rows_are_reproducible_and_share_nothing_with_heldout(
        tmp_path, monkeypatch):
    """train_configs_seed2.jsonl (conf/data/netops_more_configs.yaml): the command in
    docs/dataset.md rebuilds it byte for byte; no question or answer of it is a validation or
    test row's; only config/translate rows, ids that cannot collide with the shipped set's."""
    from netft.data.chat import DataError, read_chat_jsonl
    from netft.data.curation import contamination
    from netft.domains.netops.generate import main as generate

    data = ROOT / "netft/assets/data/netops"
    doc = (ROOT / "docs" / "dataset.md").read_text()
    cmd = next(line for line in doc.splitlines() if "--id-prefix seed2-" in line)
    args = cmd.split("generate", 1)[1].replace("\\", "").split()
    args[args.index("--out") + 1] = str(tmp_path / "extra.jsonl")
    monkeypatch.chdir(ROOT)  # the command's paths are the repository's
    with pytest.raises(SystemExit, match="only .* rows left"):  # too few drawn: says so
        generate([*args[:args.index("--n")], "--n", "100", *args[args.index("--n") + 2:]])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "q"}, '
                   '{"role": "assistant", "content": "a"}]}\n{oops\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2"):  # a bad --exclude file: named
        generate([*args, "--exclude", str(bad)])
    generate(args)
    assert (tmp_path / "extra.jsonl").read_bytes() == \
        (data / "train_configs_seed2.jsonl").read_bytes()
    extra = read_chat_jsonl(data / "train_configs_seed2.jsonl")
    assert len(extra) == 1300 and {r["category"] for r in extra} == {"config", "translate"}
    held = [r for s in ("validation", "test") for r in read_chat_jsonl(data / f"{s}.jsonl")]
    texts = {m["content"] for r in held for m in r["messages"][1:]}
    assert not texts & {m["content"] for r in extra for m in r["messages"][1:]}
    # and training's own contamination check (8-gram overlap of prompts) finds none either
    assert contamination(extra, held) == []
    shipped_ids = {r["id"] for s in ("train", "validation", "test")
                   for r in read_chat_jsonl(data / f"{s}.jsonl")}
    assert not shipped_ids & {r["id"] for r in extra}


def test_plain_name_on_pythonpath_is_a_pack(tmp_path, monkeypatch):
    """docs/domains.md's my_pack.py, put on the path: data.domain_pack=my_pack loads it (a
    plain name is tried in netft/domains/ first, then as a top-level module)."""
    from netft import domains

    doc = (ROOT / "docs" / "domains.md").read_text()
    code = doc.split("# my_pack.py (anywhere on PYTHONPATH)\n", 1)[1].split("```", 1)[0]
    (tmp_path / "my_pack.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        pack = domains.load("my_pack")
        row = {"id": "1", "messages": [{"role": "user", "content": "q"},
                                       {"role": "assistant", "content": "Yes"}]}
        result = domains.score(pack, pack.eval_rows([row]), ["yes"])
        assert pack.name == "mine" and result["overall"]["accuracy"] == 1.0
        assert domains.load("chat").name == "chat"  # a netft pack still wins its own name
    finally:
        sys.modules.pop("my_pack", None)


def test_unknown_plain_name_lists_both_places():
    from netft import domains
    from netft.config import ConfigError

    with pytest.raises(ConfigError, match="no module netft.domains.no_such_pack and no "
                                          "module no_such_pack; .*PYTHONPATH"):
        domains.load("no_such_pack")
