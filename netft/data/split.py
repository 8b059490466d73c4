"""The held-out split, fixed before any training and stable when data is added.

Each row goes to train / validation / test by a hash of its normalised prompt (system + user
turns), not by a shuffle: adding rows never moves existing ones between splits, and the same
prompt written twice lands in the same split (no leak from a duplicate). Rows that must stay
together (a refusal item and its answerable twin) share a "group" field, hashed instead.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from netft.errors import UsageError


SPLITS = ("train", "validation", "test")


def prompt_key(row: dict) -> str:
    text = ("\n".join(m["content"] for m in row["messages"] if m["role"] != "assistant")
            if "messages" in row else row.get("text", ""))  # raw-text rows hash their text
    return re.sub(r"\s+", " ", text.lower()).strip()


def bucket(row: dict, salt: str = "netft") -> float:
    """A number in [0, 1) fixed by the prompt (or the row's group) alone."""
    key = f"group:{row['group']}" if row.get("group") else prompt_key(row)
    digest = hashlib.sha256((salt + "\x00" + key).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(row: dict, test_frac: float, val_frac: float) -> str:
    b = bucket(row)
    if b < test_frac:
        return "test"
    return "validation" if b < test_frac + val_frac else "train"


def split_rows(rows: list[dict], test_frac: float = 0.12, val_frac: float = 0.08) -> dict:
    if not 0.0 < test_frac < 1.0 or not 0.0 <= val_frac < 1.0 - test_frac:
        raise UsageError(f"test_frac={test_frac}, val_frac={val_frac}: need 0 < test < 1 and "
                         "val >= 0 with test + val < 1")
    out = {s: [] for s in SPLITS}
    for row in rows:
        out[assign(row, test_frac, val_frac)].append(row)
    return out


def write_splits(source: str | Path, out_dir: str | Path, test_frac: float = 0.12,
                 val_frac: float = 0.08) -> dict[str, int]:
    """Split a data source (any format netft reads) into out_dir/{train,validation,test}.jsonl
    of netft chat rows; returns counts.

    Duplicates are removed first, and training rows that would contaminate a held-out prompt
    are dropped (not the held-out ones: the test set stays as the hash assigned it)."""
    from netft.data.curation import contamination, deduplicate, read_source
    from netft.data.formats import clean

    # Any supported format in (Alpaca, ShareGPT, ...); netft chat JSONL out.
    rows, dropped = deduplicate([clean(r) for r in read_source(source)])
    parts = split_rows(rows, test_frac, val_frac)
    leaks: set = set()
    while True:  # each pass removes the closest match; a held-out row may have several
        found = {t for _, t, _ in contamination(parts["train"], parts["test"] + parts["validation"])}
        if not found:
            break
        leaks |= found
        # A dropped row takes its group (e.g. a refusal and its twin) with it.
        groups = {r["group"] for r in parts["train"] if r.get("id") in found and r.get("group")}
        parts["train"] = [r for r in parts["train"]
                          if r.get("id") not in found and r.get("group") not in groups]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, part in parts.items():
        with open(out_dir / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            for row in part:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return {**{name: len(part) for name, part in parts.items()}, **dropped,
            "train rows dropped as contamination": len(leaks)}
