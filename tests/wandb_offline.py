"""Read the history rows back out of an offline W&B run file (`run-<id>.wandb`).

Test-only (tests/test_e2e_single.py, tests/test_sweeps.py): wandb 0.31 moved its writer to a
Go core and ships no Python reader for offline files, yet tests must prove what was logged. The format is LevelDB's log format (32 KiB blocks; records split into FULL / FIRST /
MIDDLE / LAST chunks behind a 7-byte header) after a 7-byte ":W&B" file header; each record is
a `wandb_internal_pb2.Record` protobuf, which wandb does ship.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

BLOCK = 32 * 1024
FILE_HEADER = struct.Struct("<4sHB")  # ident ":W&B", magic 0xBEE1, version
CHUNK_HEADER = struct.Struct("<IHB")  # crc32c, length, type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: str | Path):
    """Yield the raw protobuf bytes of every record in the file."""
    data = Path(path).read_bytes()
    ident, magic, _ = FILE_HEADER.unpack_from(data, 0)
    if ident != b":W&B" or magic != 0xBEE1:
        raise ValueError(f"{path}: not a W&B run file")
    pos, pending = FILE_HEADER.size, b""
    while pos + CHUNK_HEADER.size <= len(data):
        left_in_block = BLOCK - pos % BLOCK
        if left_in_block < CHUNK_HEADER.size:  # block trailer padding
            pos += left_in_block
            continue
        _, length, kind = CHUNK_HEADER.unpack_from(data, pos)
        if kind not in (FULL, FIRST, MIDDLE, LAST):  # zero padding: skip to the next block
            pos += left_in_block
            continue
        pos += CHUNK_HEADER.size
        chunk, pos = data[pos:pos + length], pos + length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        else:
            yield pending + chunk
            pending = b""


def history(path: str | Path) -> list[dict]:
    """The logged rows ({"_step": n, "train/loss": ...}) in order."""
    from wandb.proto import wandb_internal_pb2 as pb

    rows = []
    for raw in records(path):
        rec = pb.Record()
        rec.ParseFromString(raw)
        if rec.WhichOneof("record_type") == "history":
            row = {}
            for item in rec.history.item:
                key = item.key or "/".join(item.nested_key)
                row[key] = json.loads(item.value_json)
            rows.append(row)
    return rows


def config(path: str | Path) -> dict:
    """The run config as W&B stored it (the last config record wins)."""
    from wandb.proto import wandb_internal_pb2 as pb

    out: dict = {}
    for raw in records(path):
        rec = pb.Record()
        rec.ParseFromString(raw)
        if rec.WhichOneof("record_type") in ("config", "run"):
            items = rec.config.update if rec.WhichOneof("record_type") == "config" \
                else rec.run.config.update
            for item in items:
                key = item.key or "/".join(item.nested_key)
                out[key] = json.loads(item.value_json)
    return out
