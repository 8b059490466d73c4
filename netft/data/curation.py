"""Curation before training: read any source, drop duplicates, refuse contaminated splits,
mix in general data against forgetting.

Sources: JSONL/JSON/TXT/Parquet files, `datasets` folders and hub ids, in the netft chat,
Alpaca, ShareGPT, prompt/completion or text formats (netft/data/formats.py) -- all give chat
rows checked the same way (file and row named on error).

Duplicates: exact (same normalised conversation) and near (MinHash over word 5-grams of the
prompt, Jaccard >= `near_threshold`, found with LSH banding so it scales past a few thousand
rows). Contamination: a test or validation prompt whose word 8-grams appear largely (>=
`contamination_threshold`) in one training prompt means the held-out score would be a memory
test; training refuses to start and names the rows.
"""
from __future__ import annotations

import hashlib
import random
import re
from collections import defaultdict
from pathlib import Path

from netft.data.batching import DataReport, tokenize_rows  # curation builds on batching
from netft.data.chat import DataError

ASSETS_DATA = Path(__file__).resolve().parents[1] / "assets" / "data"  # shipped data sets


def read_source(path: str | Path) -> list[dict]:
    """Rows of one source in any supported format (netft/data/formats.py), as chat rows."""
    from netft.data.formats import read_any

    return read_any(path)


def read_sources(paths) -> list[dict]:
    return [row for p in paths for row in read_source(p)]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:[./:-][a-z0-9]+)*", text.lower())


def _shingles(text: str, n: int) -> set[str]:
    w = _words(text)
    return {" ".join(w[i:i + n]) for i in range(max(len(w) - n + 1, 1))}


_RNG = __import__("numpy").random.default_rng(0)
_A = _RNG.integers(1, 2**63, size=64, dtype="uint64") | 1  # odd multipliers
_B = _RNG.integers(0, 2**63, size=64, dtype="uint64")


def _minhash(shingles: set[str], num_perm: int = 64) -> list[int]:
    """MinHash signature: one 64-bit hash per shingle, permuted by multiply-shift hashing
    (vectorised; uint64 wrap-around is part of the hash family)."""
    import numpy as np

    hs = np.fromiter((int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "big")
                      for s in shingles), dtype="uint64", count=len(shingles))
    with np.errstate(over="ignore"):
        sig = ((_A[:num_perm, None] * hs[None, :] + _B[:num_perm, None]) >> np.uint64(32)).min(1)
    return sig.tolist()


def _user_text(row: dict) -> str:
    # The system prompt is usually shared by every row: it would make all rows look alike.
    if "messages" not in row:  # raw text rows have no prompt to leak
        return ""
    return "\n".join(m["content"] for m in row["messages"] if m["role"] == "user")


def _conversation_key(row: dict) -> str:
    if "messages" not in row:
        return "text:" + " ".join(_words(row.get("text", "")))
    return "\n".join(f"{m['role']}:{' '.join(_words(m['content']))}" for m in row["messages"])


def deduplicate(rows: list[dict], near_threshold: float = 0.9, bands: int = 16,
                num_perm: int = 64) -> tuple[list[dict], dict]:
    """Rows without exact or near duplicates (first occurrence kept) and counts dropped."""
    seen, kept, exact = set(), [], 0
    for row in rows:
        key = _conversation_key(row)
        if key in seen:
            exact += 1
            continue
        seen.add(key)
        kept.append(row)
    rows_per_band = num_perm // bands
    buckets: dict[tuple, list[int]] = defaultdict(list)
    shingles = [_shingles(_conversation_key(r), 5) for r in kept]
    out, near = [], 0
    for i, row in enumerate(kept):
        sig = _minhash(shingles[i], num_perm)
        candidates = {j for b in range(bands)
                      for j in buckets.get((b, tuple(sig[b * rows_per_band:(b + 1) * rows_per_band])), [])}
        if any(len(shingles[i] & shingles[j]) / len(shingles[i] | shingles[j]) >= near_threshold
               for j in candidates):
            near += 1
            continue
        for b in range(bands):
            buckets[(b, tuple(sig[b * rows_per_band:(b + 1) * rows_per_band]))].append(i)
        out.append(row)
    return out, {"exact duplicate": exact, "near duplicate": near}


def contamination(train: list[dict], held_out: list[dict], n: int = 8,
                  threshold: float = 0.6) -> list[tuple[str, str, float]]:
    """(held-out id, train id, overlap) for held-out prompts largely contained in a train row."""
    index: dict[str, set[int]] = defaultdict(set)
    for j, row in enumerate(train):
        for g in _shingles(_user_text(row), n):
            index[g].add(j)
    hits = []
    for row in held_out:
        grams = _shingles(_user_text(row), n)
        counts: dict[int, int] = defaultdict(int)
        for g in grams:
            for j in index.get(g, ()):
                counts[j] += 1
        if counts:
            j, c = max(counts.items(), key=lambda kv: kv[1])
            if c / len(grams) >= threshold:
                hits.append((row.get("id", "?"), train[j].get("id", "?"), c / len(grams)))
    return hits


def general_rows(texts: list[str], n_rows: int, seed: int, chars: int = 1200) -> list[dict]:
    """Replay rows from general text: passages trained on in full (no chat turn structure),
    marked {"text": ...} so the tokeniser puts loss on every token."""
    rng = random.Random(seed)
    paragraphs = [p for t in texts for p in t.split("\n\n") if len(p) > 200]
    if not paragraphs:
        raise DataError("general mix: no general text to sample from")
    return [{"id": f"general-{i}", "text": rng.choice(paragraphs)[:chars]} for i in range(n_rows)]


def mix_count(n_domain: int, ratio: float) -> int:
    """General rows so that they make up `ratio` of the training mixture."""
    if not 0.0 <= ratio < 1.0:
        raise DataError(f"data.general_mix={ratio} must be in [0, 1)")
    return round(n_domain * ratio / (1.0 - ratio))


def load_examples(files, tokenizer, max_length: int, overlong: str = "drop"):
    """Read any supported source (JSONL, Parquet, datasets dir) and tokenise it."""
    return tokenize_rows(read_sources(files), tokenizer, max_length, overlong)


def build_training_data(data_cfg, max_length: int, seed: int, tokenizer, say=print):
    """The whole data path of a run: read, dedup, contamination check, mix, tokenise.

    Returns (train examples, validation examples, report dict for summary.json)."""
    from netft.data.corpus import corpus_texts

    shipped = str(ASSETS_DATA)
    if (not all(str(f).startswith(shipped) for f in data_cfg.train_files)
            and any(str(f).startswith(shipped) for f in
                    [*data_cfg.validation_files, *data_cfg.test_files])):
        say("[netft] note: data.train_files are your own, but the validation/test files are "
            "still a data set shipped with netft; use data=own (or set data.validation_files / "
            "data.test_files) to validate and evaluate on your own data")
    train_rows = read_sources(data_cfg.train_files)
    val_rows = read_sources(data_cfg.validation_files)
    test_rows = read_sources(data_cfg.test_files)
    train_report = DataReport()
    if data_cfg.dedup:
        n_before = len(train_rows)
        train_rows, dropped = deduplicate(train_rows, data_cfg.near_dup_threshold)
        train_report.rows += n_before - len(train_rows)  # counted as read, then dropped
        for reason, n in dropped.items():
            if n:
                train_report.dropped[reason] = n
    if data_cfg.contamination_check and (val_rows or test_rows):
        hits = contamination(train_rows, test_rows + val_rows)
        if hits:
            shown = "; ".join(f"{h} ~ {t} ({o:.0%})" for h, t, o in hits[:5])
            raise DataError(
                f"{len(hits)} held-out prompts also appear in the training data ({shown}"
                f"{' ...' if len(hits) > 5 else ''}). Remove them from data.train_files, "
                "re-split with `netft data split`, or set data.contamination_check=false.")
    n_general = mix_count(len(train_rows), data_cfg.general_mix)
    if n_general:
        general = (read_sources(data_cfg.general_files) if data_cfg.general_files else
                   general_rows([corpus_texts()["general_train"]], n_general, seed))
        rng = random.Random(seed)
        train_rows = train_rows + [rng.choice(general) for _ in range(n_general)] \
            if data_cfg.general_files else train_rows + general
    train_ex, train_report = tokenize_rows(train_rows, tokenizer, max_length, data_cfg.overlong,
                                           train_report)
    say("[netft] " + train_report.line("train") +
        (f"; general mix {n_general} rows ({data_cfg.general_mix:.0%})" if n_general else ""))
    val_ex, val_report = [], None
    if val_rows:
        val_ex, val_report = tokenize_rows(val_rows, tokenizer, max_length, data_cfg.overlong)
        say("[netft] " + val_report.line("validation"))
    report = {"train": vars(train_report), "general_rows": n_general,
              "validation": vars(val_report) if val_report else None,
              "test_rows": len(test_rows)}
    return train_ex, val_ex, report
