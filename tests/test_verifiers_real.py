"""The verifiers agree with the devices on real configurations nobody here wrote.

Corpus: tests/data/real_configs (FRR 8.4.4 topotests, IOS/IOS-XE and Junos configs collected
by batfish from real devices; SOURCES.md). Two measurements, printed as tables:
  - false rejects: valid upstream stanzas the verifier refuses, per dialect and kind;
  - mutations: accepted stanzas made invalid one way at a time (tests/real_mutations.py),
    which the verifier must refuse.
Thresholds are the ones issue 11 set: false rejects <= 5% (IOS, JunOS set, JunOS brace),
<= 4% (FRR at the pinned version); >= 98% of mutations rejected per kind and dialect.
"""
import json
import random
import statistics
import time
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from netft.domains.netops.frr import PINNED_FRR, frr_version
from netft.domains.netops.verifiers import have_vtysh, verify
from real_mutations import MUTATORS

DATA = Path(__file__).resolve().parent / "data" / "real_configs"
DIALECTS = ("frr", "ios", "junos_set", "junos_brace")
MAX_FALSE_REJECT = {"frr": 0.04, "ios": 0.05, "junos_set": 0.05, "junos_brace": 0.05}
MIN_MUTATION_REJECT = 0.98
N_MUTATED = 110          # accepted stanzas mutated per dialect (the issue asks for 100+)
KNOWN_INVALID = dict(ln.rstrip("\n").split("\t", 1)
                     for ln in open(DATA / "known_invalid.txt", encoding="utf-8")
                     if ln.strip() and not ln.startswith("#"))


def _dialects():
    return [d for d in DIALECTS if d.startswith("junos") or have_vtysh()]


def _verify_all(texts, dialect):
    """Verdicts and per-call wall times; threads overlap the vtysh subprocess waits."""
    def one(t):
        t0 = time.perf_counter()
        v = verify(t, dialect)
        return v, time.perf_counter() - t0
    with ThreadPoolExecutor(max_workers=4) as ex:
        return list(ex.map(one, texts))


@pytest.fixture(scope="module")
def corpus():
    out = {}
    for d in _dialects():
        rows = [json.loads(ln) for ln in open(DATA / f"{d}.jsonl", encoding="utf-8")]
        res = _verify_all([r["text"] for r in rows], d)
        for r, (v, dt) in zip(rows, res):
            r["verdict"], r["seconds"] = v, dt
        out[d] = rows
    return out


def test_corpus_is_real_and_covers_every_kind(corpus):
    for d, rows in corpus.items():
        kinds = Counter(r["kind"] for r in rows)
        assert len(rows) >= 150, (d, len(rows))
        assert {"interface", "bgp", "policy", "static"} <= set(kinds), (d, kinds)
        assert all(r["source"].split(":")[0] in ("FRRouting/frr", "batfish/batfish",
                                                 "batfish/lab-validation") for r in rows)


def test_false_reject_rates(corpus, capsys):
    lines = [f"{'dialect':<12}{'kind':<11}{'n':>5}{'rejected':>10}{'rate':>8}"]
    failed = {}
    for d, rows in corpus.items():
        valid = [r for r in rows if r["source"] not in KNOWN_INVALID]
        by_kind = Counter(r["kind"] for r in valid)
        bad = Counter(r["kind"] for r in valid if not r["verdict"].ok)
        for k in sorted(by_kind):
            lines.append(f"{d:<12}{k:<11}{by_kind[k]:>5}{bad[k]:>10}"
                         f"{100 * bad[k] / by_kind[k]:>7.1f}%")
        rate = sum(bad.values()) / len(valid)
        lines.append(f"{d:<12}{'ALL':<11}{len(valid):>5}{sum(bad.values()):>10}"
                     f"{100 * rate:>7.1f}%   (limit {100 * MAX_FALSE_REJECT[d]:.0f}%)")
        if rate > MAX_FALSE_REJECT[d]:
            failed[d] = [(r["id"], r["verdict"].errors[:2]) for r in valid
                         if not r["verdict"].ok][:10]
        # The known-invalid list must stay true: each entry is rejected.
        wrongly_listed = [r["source"] for r in rows if r["source"] in KNOWN_INVALID
                          and r["verdict"].ok]
        assert not wrongly_listed, f"listed as invalid but accepted: {wrongly_listed}"
    if "frr" in corpus and frr_version() != PINNED_FRR:
        # The FRR limit holds for the pinned version (the corpus is its topotests tag);
        # another vtysh checks another grammar, so its rate is shown, not judged.
        warnings.warn(f"vtysh is FRR {frr_version()}, the corpus is frr-{PINNED_FRR}: "
                      "FRR false-reject limit not applied")
        failed.pop("frr", None)
    with capsys.disabled():
        print(f"\nvtysh: FRR {frr_version()} (pinned {PINNED_FRR}; corpus tag frr-{PINNED_FRR})")
        print("false rejects on real stanzas (known-invalid upstream stanzas excluded: "
              f"{len(KNOWN_INVALID)})\n" + "\n".join(lines))
    assert not failed, failed


def test_mutated_real_stanzas_are_rejected(corpus, capsys):
    table, rates, accepted = [], {}, {}
    for d, rows in corpus.items():
        ok_rows = [r for r in rows if r["verdict"].ok]
        random.Random(1).shuffle(ok_rows)
        ok_rows = ok_rows[:N_MUTATED]
        assert len(ok_rows) >= 100, d
        jobs = []
        for kind, fn in MUTATORS.items():
            for r in ok_rows:
                m = fn(r["text"], d, random.Random(r["id"] + kind))
                if m is not None and m != r["text"]:
                    jobs.append((kind, r["id"], m))
        verdicts = _verify_all([m for _, _, m in jobs], d)
        n, rejected = Counter(), Counter()
        for (kind, rid, m), (v, _) in zip(jobs, verdicts):
            n[kind] += 1
            rejected[kind] += not v.ok
            if v.ok:
                accepted.setdefault((d, kind), []).append((rid, m))
        for kind in MUTATORS:
            if n[kind]:
                rates[(d, kind)] = rejected[kind] / n[kind]
                table.append(f"{d:<12}{kind:<26}{n[kind]:>5}{rejected[kind]:>10}"
                             f"{100 * rates[(d, kind)]:>7.1f}%")
        # Every kind that applies to the dialect must have a real sample to judge by.
        for kind in ("misspelt keyword", "out-of-range value", "missing argument",
                     "trailing junk", "other dialect's spelling"):
            assert n[kind] >= 50, (d, kind, n[kind])
    with capsys.disabled():
        print(f"\nmutations of accepted real stanzas ({N_MUTATED} per dialect)\n"
              f"{'dialect':<12}{'mutation':<26}{'n':>5}{'rejected':>10}{'rate':>8}\n"
              + "\n".join(table))
    too_lenient = {k: accepted[k][:3] for k, rate in rates.items()
                   if rate < MIN_MUTATION_REJECT}
    assert not too_lenient, too_lenient
    assert ("junos_brace", "unbalanced braces") in rates


def test_per_call_latency(corpus, capsys):
    """One call at a time, cache cleared: vtysh costs a process start per call; the grammar
    checks must stay far below it."""
    from netft.domains.netops import frr
    lines = []
    for d, rows in corpus.items():
        frr._vtysh_errors.cache_clear()
        ts = []
        for r in rows[:25]:
            t0 = time.perf_counter()
            verify(r["text"], d)
            ts.append(time.perf_counter() - t0)
        ts.sort()
        med, worst = statistics.median(ts), ts[-1]
        lines.append(f"{d:<12} median {1000 * med:7.2f} ms   max {1000 * worst:7.2f} ms")
        assert med < (0.5 if d in ("frr", "ios") else 0.02), (d, med)
    with capsys.disabled():
        print("\nper-call verifier latency (sequential, 25 stanzas, this machine)\n"
              + "\n".join(lines))
