"""Deduplication, contamination check, general-data mixing, Parquet sources."""
import json

import pytest

from conftest import compose
from netft.data.batching import tokenize_rows
from netft.data.chat import IGNORE, DataError
from netft.data.curation import (build_training_data, contamination, deduplicate, mix_count,
                                 read_source)

SYSTEM = {"role": "system", "content": "You are a network engineer."}


def row(i, user, answer="ok"):
    return {"id": f"r{i}", "messages": [SYSTEM, {"role": "user", "content": user},
                                        {"role": "assistant", "content": answer}]}


LONG = ("On router R{n} configure OSPF area 0 on interface eth1 with cost 10, hello interval 5 "
        "seconds, dead interval 20 seconds, and make eth2 passive; the router id is 1.1.1.{n}")


def test_exact_and_near_duplicates_are_dropped_and_counted():
    rows = [row(i, LONG.format(n=i)) for i in range(30)]
    rows.append(row(100, LONG.format(n=3)))  # exact copy of r3
    rows.append(row(101, LONG.format(n=4), "okay"))  # same prompt, answer differs by a word
    kept, dropped = deduplicate(rows)
    assert dropped == {"exact duplicate": 1, "near duplicate": 1}
    assert [r["id"] for r in kept] == [f"r{i}" for i in range(30)]


def test_contamination_found_and_training_refused(tmp_path):
    train = [row(i, LONG.format(n=i)) for i in range(20)]
    test = [row(50, "Explain the OSPF ExStart state in two sentences please, briefly."),
            row(51, LONG.format(n=7).replace("R7", "router R7"))]
    hits = contamination(train, test)
    assert [(h[0], h[1]) for h in hits] == [("r51", "r7")]

    for name, rows in (("train", train), ("test", test), ("val", test[:1])):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = compose(["run_dir=/tmp/x", f"data.train_files=[{tmp_path}/train.jsonl]",
                   f"data.validation_files=[{tmp_path}/val.jsonl]",
                   f"data.test_files=[{tmp_path}/test.jsonl]"])
    with pytest.raises(DataError, match=r"1 held-out prompts .*r51 ~ r7"):
        build_training_data(cfg.data, 512, 0, tokenizer=None, say=lambda *a: None)


@pytest.mark.parametrize("ratio", [0.01, 0.1, 0.3])
def test_general_mix_ratio(tiny_tokenizer, tmp_path, ratio):
    rows = [row(i, LONG.format(n=i), "router ospf") for i in range(200)]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = compose(["run_dir=/tmp/x", f"data.train_files=[{tmp_path}/train.jsonl]",
                   "data.validation_files=[]", "data.test_files=[]", f"data.general_mix={ratio}"])
    train, _, report = build_training_data(cfg.data, 512, 0, tiny_tokenizer, say=lambda *a: None)
    n_general = report["general_rows"]
    assert n_general == mix_count(200, ratio)
    assert abs(n_general / len(train) - ratio) < 0.01
    # General rows train on every token (plain text replay), domain rows on answers only.
    general = train[200:]
    assert all(sum(lab != IGNORE for lab in ex.labels) == len(ex.input_ids) - 1 for ex in general)


def test_parquet_source_and_bad_row(tmp_path):
    import datasets

    good = [row(i, f"question {i}") for i in range(3)]
    datasets.Dataset.from_list(good).to_parquet(str(tmp_path / "d.parquet"))
    assert [r["id"] for r in read_source(tmp_path / "d.parquet")] == ["r0", "r1", "r2"]
    bad = good + [{"id": "x", "messages": [{"role": "robot", "content": "beep"}]}]
    datasets.Dataset.from_list(bad).to_parquet(str(tmp_path / "bad.parquet"))
    with pytest.raises(DataError, match=r"bad.parquet: row 3: messages\[0\].role='robot'"):
        read_source(tmp_path / "bad.parquet")


def test_shipped_splits_are_clean():
    from conftest import ROOT

    d = ROOT / "netft/assets/data/netops"
    train, val, test = (read_source(d / f"{s}.jsonl") for s in ("train", "validation", "test"))
    n = len(train) + len(val) + len(test)
    assert 0.10 <= len(test) / n <= 0.15
    assert contamination(train, val + test) == []
    assert deduplicate(train)[1] == {"exact duplicate": 0, "near duplicate": 0}
    # Refusal items and their answerable twins are never split apart.
    where = {}
    for name, rows in (("train", train), ("val", val), ("test", test)):
        for r in rows:
            if r.get("group"):
                where.setdefault(r["group"], set()).add(name)
    assert where and all(len(v) == 1 for v in where.values())


def test_tokenize_rows_counts_drops(tiny_tokenizer):
    rows = [row(0, "short", "yes"), row(1, "x " * 600, "long")]
    exs, report = tokenize_rows(rows, tiny_tokenizer, max_length=64)
    assert len(exs) == 1 and report.dropped == {"longer than train.max_length=64": 1}
