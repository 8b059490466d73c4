"""The real-config corpus on both sides of the held-out split, and the tables measured on it.

Sides (tests/data/real_configs/SPLIT.md): a stanza is on the held-out side when its source
repository is listed there as held-out, on the tuning-extra side when listed as TUNING_EXTRA
(a source moved from held-out to tuning; its stanzas are the external data set
`real_configs_tuning_extra`), else on the tuning side. The tuning stanzas are in
tests/data/real_configs/<dialect>.jsonl; the held-out stanzas are third-party data netft does
not ship: they are the external data set `real_configs_heldout` (netft/data/external.py),
built by `tests/data/real_configs/build_corpus.py --more` (SOURCES.md says from what). When
it is absent only the tuning side is measured. Used by tests/test_verifiers_real.py (which
asserts the limits) and, run as a script, to print or write the tables of docs/dataset.md:

    python tests/real_corpus.py            # print the tables (the sides present)
    python tests/real_corpus.py --write    # rewrite them in docs/dataset.md (needs both)
"""
from __future__ import annotations

import json
import math
import random
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
DATA = HERE / "data" / "real_configs"
DOC = HERE.parent / "docs" / "dataset.md"
DIALECTS = ("frr", "ios", "junos_set", "junos_brace")
# "tuning-extra": sources moved from held-out to tuning by a decision in SPLIT.md; like the
# held-out ones they are not shipped (external data set `real_configs_tuning_extra`), and they
# are kept apart from the shipped tuning side so that its numbers can be checked everywhere.
SIDES = ("tuning", "tuning-extra", "held-out")
EXTERNAL_SIDES = {"held-out": "real_configs_heldout", "tuning-extra": "real_configs_tuning_extra"}
HELDOUT_DATA = "real_configs_heldout"
HELDOUT_HOW = ("build it with `python tests/data/real_configs/build_corpus.py --more MIRRORS` "
               "from clones of the held-out repositories at the commits in "
               "tests/data/real_configs/SOURCES.md")
N_MUTATED = 110          # accepted stanzas mutated per dialect and side (at most)
KNOWN_INVALID = dict(ln.rstrip("\n").split("\t", 1)
                     for ln in open(DATA / "known_invalid.txt", encoding="utf-8")
                     if ln.strip() and not ln.startswith("#"))
HELDOUT, TUNING_EXTRA = (set(re.search(rf"^{k} = (.*)$", (DATA / "SPLIT.md").read_text(),
                                         re.M).group(1).split())
                         for k in ("HELDOUT", "TUNING_EXTRA"))
NAMES = {"frr": "FRR 8.4.4 (vtysh)", "ios": "IOS / IOS-XE", "junos_set": "JunOS set",
         "junos_brace": "JunOS brace"}


def side_of(row: dict) -> str:
    repo = row["source"].split(":")[0]
    return "held-out" if repo in HELDOUT else "tuning-extra" if repo in TUNING_EXTRA else "tuning"


def side_dir(side: str) -> Path | None:
    """The external folder of an unshipped side's stanzas, or None when this machine has not
    got them."""
    from netft.data import external
    return external.find(EXTERNAL_SIDES[side])


def side_missing(side: str) -> str:
    """Why an unshipped side is not measured here (a skip reason)."""
    from netft.data import external
    return external.missing_message(EXTERNAL_SIDES[side], HELDOUT_HOW)


def heldout_dir() -> Path | None:
    return side_dir("held-out")


def heldout_missing() -> str:
    return side_missing("held-out")


def files(dialect: str) -> list[Path]:
    """Where `dialect`'s stanzas are: the shipped tuning file, and the unshipped sides' files
    when their external data sets are present."""
    out = [DATA / f"{dialect}.jsonl"]
    for side in EXTERNAL_SIDES:
        ext = side_dir(side)
        if ext is not None:
            out.append(ext / f"{dialect}.jsonl")
    return out


def load(dialects=DIALECTS) -> dict[tuple[str, str], list[dict]]:
    """{(dialect, side): rows}, rows as in <dialect>.jsonl (shipped) and the held-out
    <dialect>.jsonl (external). The side comes from each row's source, not from its file, so
    a held-out stanza in the shipped corpus would show up on the held-out side (and fail the
    split test) instead of passing for tuning data."""
    out: dict[tuple[str, str], list[dict]] = {(d, s): [] for d in dialects for s in SIDES}
    for d in dialects:
        for path in files(d):
            if path.exists():
                for ln in open(path, encoding="utf-8"):
                    r = json.loads(ln)
                    r["file"] = str(path)
                    out[(d, side_of(r))].append(r)
    return out


def verify_all(texts, dialect):
    from netft.domains.netops.verifiers import verify
    with ThreadPoolExecutor(max_workers=4) as ex:
        return list(ex.map(lambda t: verify(t, dialect), texts))


def attach_verdicts(corpus: dict) -> None:
    for (d, _), rows in corpus.items():
        for r, v in zip(rows, verify_all([r["text"] for r in rows], d)):
            r["verdict"] = v


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval of a rate k/n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def false_rejects(rows: list[dict]) -> dict:
    """n, rejected, rate, per-kind counts, unverified line share of the valid stanzas."""
    valid = [r for r in rows if r["source"] not in KNOWN_INVALID]
    bad = [r for r in valid if not r["verdict"].ok]
    lines = sum(getattr(r["verdict"], "n_lines", 0) for r in valid)
    unv = sum(len(getattr(r["verdict"], "unverified", [])) for r in valid)
    return {"n": len(valid), "rejected": len(bad),
            "rate": len(bad) / len(valid) if valid else 0.0,
            "by_kind": {k: (sum(r["kind"] == k for r in valid), sum(r["kind"] == k for r in bad))
                        for k in sorted({r["kind"] for r in valid})},
            "unverified_share": unv / lines if lines else 0.0,
            "with_unverified": sum(bool(getattr(r["verdict"], "unverified", []))
                                   for r in valid),
            "examples": [(r["id"], r["verdict"].errors[:2]) for r in bad][:10]}


def mutations(rows: list[dict], dialect: str) -> dict:
    """{kind: (n, rejected, accepted examples)} over up to N_MUTATED accepted stanzas whose
    every line is covered: a mutation of a line the verifier does not model stays not
    covered, which is no measure of its teeth (issue 23: "mutations of covered lines")."""
    from real_mutations import MUTATORS
    ok_rows = [r for r in rows if r["verdict"].ok and not getattr(r["verdict"], "unverified", [])]
    random.Random(1).shuffle(ok_rows)
    ok_rows = ok_rows[:N_MUTATED]
    jobs = []
    for kind, fn in MUTATORS.items():
        for r in ok_rows:
            m = fn(r["text"], dialect, random.Random(r["id"] + kind))
            if m is not None and m != r["text"]:
                jobs.append((kind, r["id"], m))
    verdicts = verify_all([m for _, _, m in jobs], dialect)
    out: dict[str, list] = {}
    for (kind, rid, m), v in zip(jobs, verdicts):
        n, rej, acc = out.setdefault(kind, [0, 0, []])
        out[kind][0] += 1
        out[kind][1] += not v.ok
        if v.ok:
            acc.append((rid, m))
    return {k: tuple(v) for k, v in out.items()}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def all_mutations(corpus: dict) -> dict:
    return {(d, side): mutations(rows, d) for (d, side), rows in corpus.items() if rows}


def markdown(corpus: dict, muts: dict | None = None) -> str:
    """The two tables of docs/dataset.md (false rejects and mutations, both sides)."""
    muts = muts if muts is not None else all_mutations(corpus)
    fr = ["| dialect | side | sources | valid stanzas | false reject (95% CI) | "
          "stanzas with unverified lines | unverified line share |",
          "|---|---|---|---:|---:|---:|---:|"]
    mut_rows = {}
    for (d, side), rows in corpus.items():
        if not rows:
            continue
        f = false_rejects(rows)
        lo, hi = wilson(f["rejected"], f["n"])
        srcs = len({r["source"].split(":")[0] for r in rows})
        fr.append(f"| {NAMES[d]} | {side} | {srcs} | {f['n']} | {_pct(f['rate'])} "
                  f"({_pct(lo)}-{_pct(hi)}) | {f['with_unverified']} | "
                  f"{_pct(f['unverified_share'])} |")
        for kind, (n, rej, _) in muts[(d, side)].items():
            mut_rows.setdefault(kind, {})[(d, side)] = (n, rej)
    cols = [(d, s) for d in DIALECTS for s in SIDES if corpus.get((d, s))]
    mt = ["| mutation | " + " | ".join(f"{NAMES[d].split(' (')[0]} {s}" for d, s in cols) + " |",
          "|---|" + "---:|" * len(cols)]
    for kind, cells in mut_rows.items():
        mt.append(f"| {kind} | " + " | ".join(
            f"{_pct(cells[c][1] / cells[c][0])} of {cells[c][0]}" if c in cells else "-"
            for c in cols) + " |")
    return "\n".join(fr) + "\n\n" + "\n".join(mt)


BEGIN = "<!-- real-config tables: generated by tests/real_corpus.py --write -->"
END = "<!-- end of generated tables -->"


def doc_tables() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text[text.index(BEGIN) + len(BEGIN):text.index(END)].strip()


def restrict(md: str, side: str) -> str:
    """The part of the two tables that measures `side`: false-reject rows of that side, and
    the mutation columns of that side (column headers end in the side's name). Lets the
    tuning numbers in docs/dataset.md be checked where the held-out data is absent."""
    tables = []
    for table in md.strip().split("\n\n"):
        rows = [r.strip("|").split("|") for r in table.strip().split("\n")]
        head = [c.strip() for c in rows[0]]
        if "side" in head:                       # false rejects: one row per (dialect, side)
            i = head.index("side")
            rows = rows[:2] + [r for r in rows[2:] if r[i].strip() == side]
        else:                                    # mutations: one column per (dialect, side)
            keep = [0] + [j for j, c in enumerate(head) if c.endswith(" " + side)]
            rows = [[r[j] for j in keep] for r in rows]
        tables.append("\n".join("|" + "|".join(r) + "|" for r in rows))
    return "\n\n".join(tables)


def main():
    for side in EXTERNAL_SIDES:
        if "--write" in sys.argv and side_dir(side) is None:
            # Writing without it would drop that side's numbers from docs/dataset.md.
            sys.exit(f"real_corpus.py --write: {side_missing(side)}")
    corpus = load()
    attach_verdicts(corpus)
    md = markdown(corpus)
    if "--write" in sys.argv:
        text = DOC.read_text(encoding="utf-8")
        a, b = text.index(BEGIN) + len(BEGIN), text.index(END)
        DOC.write_text(text[:a] + "\n" + md + "\n" + text[b:], encoding="utf-8")
    else:
        for side in EXTERNAL_SIDES:
            if side_dir(side) is None:
                print(f"{side} side not measured: {side_missing(side)}\n")
    print(md)
    if "--examples" in sys.argv:
        for (d, side), rows in corpus.items():
            if side in sys.argv:
                for rid, errs in false_rejects(rows)["examples"]:
                    print(d, rid, errs)


if __name__ == "__main__":
    main()
