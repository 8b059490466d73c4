"""Issue 25 item 2: the starting model's evaluation is computed once and reused by runs that
would compute the same numbers; a changed eval setting or eval data file recomputes."""
import json
from pathlib import Path

import pytest

from conftest import compose
from netft import train

RUN = ["model=tiny", "method=lora", "train.epochs=1", "train.max_steps=1", "logger=none",
       "eval.domain_max_items=3", "eval.max_new_tokens=12", "eval.general_max_tokens=1024",
       "eval.kl_probe=false", "eval.review_items=0", "eval.sample_generations=0",
       "eval.keep_best=false", "train.save_every_epoch=false"]


def epoch0(run_dir: Path) -> dict:
    history = json.loads((run_dir / "summary.json").read_text())["history"]
    return next(h for h in history if h["epoch"] == 0)


def files0(run_dir: Path) -> dict:
    d = run_dir / "eval" / "epoch-0"
    return {p.name: p.read_text() for p in sorted(d.iterdir())}


@pytest.fixture
def run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NETFT_BASE_EVAL_CACHE", str(tmp_path / "base-eval"))

    def go(name, *overrides):
        run_dir = tmp_path / name
        capsys.readouterr()
        train.run(compose([*RUN, *overrides, f"run_dir={run_dir}"]))
        out = capsys.readouterr()
        return run_dir, out.out + out.err
    return go


@pytest.mark.slow  # five tiny runs in-process (~75 s on the shared machine)
def test_base_eval_reused_identical_and_recomputed_on_change(run, tmp_path):
    a, log_a = run("a")
    assert "base eval cached as" in log_a and "base eval reused" not in log_a
    assert len(list((tmp_path / "base-eval").glob("*.json"))) == 1

    # Another run of a sweep (other lr, other seed): reused, and its epoch 0 is exactly what
    # computing it gives -- intervals drawn with its own seed included.
    b, log_b = run("b", "train.lr=3e-3", "train.seed=1")
    assert "base eval reused from cache" in log_b
    c, log_c = run("c", "train.lr=3e-3", "train.seed=1", "eval.base_cache=false")
    assert "base eval" not in log_c
    assert epoch0(b) == epoch0(c)
    assert files0(b) == files0(c)
    assert epoch0(a)["domain_score"] == epoch0(b)["domain_score"]
    assert epoch0(a)["general_ppl"] == epoch0(b)["general_ppl"]

    # A changed eval setting misses.
    _, log_d = run("d", "eval.max_new_tokens=8")
    assert "base eval reused" not in log_d and "base eval cached as" in log_d

    # A changed eval data file misses (one reference answer edited, same path otherwise).
    cfg = compose(RUN)
    original = Path(cfg.data.test_files[0])
    rows = [json.loads(line) for line in original.read_text().splitlines() if line.strip()]
    rows[0] = {**rows[0], "messages": [dict(m) for m in rows[0]["messages"]]}
    rows[0]["messages"][0]["content"] += " (edited)"
    edited = tmp_path / "test.jsonl"
    edited.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _, log_e = run("e", f"data.test_files=[{edited}]")
    assert "base eval reused" not in log_e and "base eval cached as" in log_e
    assert len(list((tmp_path / "base-eval").glob("*.json"))) == 3


def test_cache_off_for_the_suite_by_default():
    import os

    from netft.eval.base_cache import cache_dir

    assert os.environ["NETFT_BASE_EVAL_CACHE"] == "off" and cache_dir() is None


@pytest.mark.slow  # two 2-rank runs (~2 x 60 s on the shared machine)
def test_two_ranks_take_the_same_path_and_reuse(tmp_path):
    """At 2 ranks (fsdp2) the fingerprint is a collective forward, rank 0 alone reads and
    writes the cache and every rank follows its hit/miss: the second run reuses it and its
    epoch 0 equals the first's."""
    import os
    import subprocess

    from conftest import ROOT, torchrun_cmd

    env = {**os.environ, "NETFT_BASE_EVAL_CACHE": str(tmp_path / "base-eval")}
    logs = []
    for name in ("a", "b"):
        proc = subprocess.run(torchrun_cmd(2, *RUN, "parallel=fsdp2", f"run_dir={tmp_path / name}"),
                              cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        logs.append(proc.stdout)
    assert "base eval cached as" in logs[0] and "base eval reused" not in logs[0]
    assert logs[1].count("base eval reused from cache") == 1  # rank 0 says it, once
    assert epoch0(tmp_path / "a") == epoch0(tmp_path / "b")
    assert files0(tmp_path / "a") == files0(tmp_path / "b")


def test_a_concurrent_run_waits_for_the_one_computing_and_reuses(tmp_path, monkeypatch):
    """The demo's two concurrent sweeps: the second process to miss waits for the first's
    computation and reads it instead of computing the base again (single-process runs)."""
    import fcntl
    import threading
    import time
    from types import SimpleNamespace

    from netft.eval import base_cache

    monkeypatch.setenv("NETFT_BASE_EVAL_CACHE", str(tmp_path / "be"))
    monkeypatch.setattr(base_cache, "lookup", lambda *a, **k: ("k1", {}))
    info = SimpleNamespace(world=1, is_main=True)
    said, got = [], {}

    def second_run():
        with base_cache.once(None, None, None, None, info, {}, [], said.append) as memo:
            got["memo"] = dict(memo)
            memo.setdefault("computed_here", True)   # what evaluate() would fill on a miss

    (tmp_path / "be").mkdir()
    with open(tmp_path / "be" / ".k1.lock", "w") as fh:       # the first run is computing
        fcntl.flock(fh, fcntl.LOCK_EX)
        t = threading.Thread(target=second_run)
        t.start()
        time.sleep(0.5)
        assert t.is_alive() and "memo" not in got, "the second run did not wait"
        base_cache.store("k1", {"val": [1.5]}, info, said.append)   # the first run stores
        fcntl.flock(fh, fcntl.LOCK_UN)
    t.join(10)
    assert got["memo"] == {"val": [1.5]}
    assert any("computed by a concurrent run" in s for s in said)
    assert base_cache._read("k1") == {"val": [1.5]}     # not overwritten by the second run

    # Alone, a miss computes and stores; a multi-rank run takes no lock at all.
    monkeypatch.setattr(base_cache, "lookup", lambda *a, **k: ("k2", {}))
    with base_cache.once(None, None, None, None, info, {}, [], said.append) as memo:
        assert memo == {}
        memo["val"] = [2.0]
    assert base_cache._read("k2") == {"val": [2.0]}
    monkeypatch.setattr(base_cache, "lookup", lambda *a, **k: ("k3", {}))
    with base_cache.once(None, None, None, None, SimpleNamespace(world=2, is_main=True), {},
                         [], said.append) as memo:
        memo["val"] = [3.0]
    assert not (tmp_path / "be" / ".k3.lock").exists()


def test_an_unwritable_cache_costs_the_reuse_never_the_run(tmp_path, monkeypatch):
    """A cache folder that cannot be created (here: under a file) must not end the run: the
    base is computed as without the cache, and store() only warns."""
    from types import SimpleNamespace

    from netft.eval import base_cache

    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("NETFT_BASE_EVAL_CACHE", str(tmp_path / "a-file" / "be"))
    monkeypatch.setattr(base_cache, "lookup", lambda *a, **k: ("k1", {}))
    said = []
    with base_cache.once(None, None, None, None, SimpleNamespace(world=1, is_main=True), {},
                         [], said.append) as memo:
        memo["val"] = [1.0]
    assert any("base eval not cached" in s for s in said), said
