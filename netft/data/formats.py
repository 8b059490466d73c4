"""A team's own data, in the formats it already has, read as netft chat rows.

Row formats (detected per row, so one file may mix them):
    {"messages": [{"role", "content"}, ...]}                    netft / OpenAI chat
    {"conversations": [{"from": "human"|"gpt"|..., "value"}]}   ShareGPT
    {"instruction", "input"?, "output", "system"?}              Alpaca
    {"prompt", "completion"}                                     prompt/completion (TRL), each
                                                                 a string or a list of messages
    {"text"}                                                     raw text: loss on every token
Sources: `.jsonl`, `.json` (an array of rows), `.txt` (raw text for continued pre-training),
`.parquet`, a folder saved with `save_to_disk` (Dataset or DatasetDict), a folder of data
files, or a hub dataset id -- the last two through `datasets.load_dataset`. A split is chosen
with `SOURCE:SPLIT` (e.g. `my_dd:train`, `tatsu-lab/alpaca:train`).

Every row keeps where it came from in `_where` ("file:line" or "source row N"), so a row that
fails later (in the chat template, say) is named in the error.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from netft.data.chat import DataError, check_chat_row, jsonl_objects

SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "model": "assistant", "chatgpt": "assistant", "bing": "assistant",
                  "bard": "assistant", "system": "system", "tool": "tool",
                  "function_call": "assistant", "observation": "tool", "function": "tool"}
FORMATS = "messages, conversations (ShareGPT), instruction/output (Alpaca), prompt/completion, text"
# Raw .txt: paragraphs grouped into rows of about this many characters; rows longer than
# train.max_length tokens are split into windows when tokenised (batching.tokenize_rows).
TXT_ROW_CHARS = 4000
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def to_chat(row, where: str) -> dict:
    """One row of any supported format as {"messages": [...]} (or {"text"}), other keys kept."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    out = {k: v for k, v in row.items()
           if k not in ("conversations", "instruction", "input", "output", "prompt",
                        "completion", "system")}
    if "messages" in row:
        out = dict(row)
    elif "conversations" in row:
        turns = row["conversations"]
        if not isinstance(turns, list):
            raise DataError(f"{where}: 'conversations' must be a list of {{from, value}}")
        msgs = []
        for i, t in enumerate(turns):
            src = t.get("from", t.get("role")) if isinstance(t, dict) else None
            if src not in SHAREGPT_ROLES:
                raise DataError(f"{where}: conversations[{i}].from={src!r}; known: "
                                f"{', '.join(sorted(SHAREGPT_ROLES))}")
            msgs.append({"role": SHAREGPT_ROLES[src], "content": t.get("value", t.get("content"))})
        if isinstance(row.get("system"), str) and row["system"]:
            msgs.insert(0, {"role": "system", "content": row["system"]})
        out["messages"] = msgs
    elif "instruction" in row and "output" in row:
        user = row["instruction"] if not row.get("input") else f"{row['instruction']}\n\n{row['input']}"
        msgs = [{"role": "user", "content": user}, {"role": "assistant", "content": row["output"]}]
        if row.get("system"):
            msgs.insert(0, {"role": "system", "content": row["system"]})
        out["messages"] = msgs
    elif "prompt" in row and "completion" in row:
        p, c = row["prompt"], row["completion"]
        prompt = [{"role": "user", "content": p}] if isinstance(p, str) else list(p)
        reply = [{"role": "assistant", "content": c}] if isinstance(c, str) else list(c)
        out["messages"] = prompt + reply
    elif isinstance(row.get("text"), str):
        return out  # raw text: trained on every token
    else:
        raise DataError(f"{where}: unrecognised row (keys: {', '.join(sorted(row)) or 'none'}); "
                        f"netft reads {FORMATS}. Convert with `netft data convert IN OUT`.")
    check_chat_row(out, where)
    return out


def _stamp(row: dict, where: str, default_id: str) -> dict:
    row.setdefault("id", default_id)
    row["_where"] = where
    return row


def _utf8(data: bytes, path: Path, lineno: int | None = None) -> str:
    """Decoded text, or a DataError naming file:line and the fix for a non-UTF-8 file."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = lineno or data[:e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 (byte 0x{data[e.start]:02x}); re-save the "
                        "file as UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None


def _read_jsonl(path: Path) -> list[dict]:
    return [_stamp(to_chat(raw, where), where, f"{path.stem}-{lineno}")
            for lineno, where, raw in jsonl_objects(path)]


def _read_json(path: Path) -> list[dict]:
    try:
        data = json.loads(_utf8(path.read_bytes(), path))
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":  # JSON lines saved as .json
            return _read_jsonl(path)
        raise DataError(f"{path}:{e.lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
    if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), list):
        data = next(iter(data.values()))  # {"data": [...]} / {"train": [...]}
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON array of rows (or JSON lines)")
    return [_stamp(to_chat(r, f"{path}: row {i}"), f"{path}: row {i}", f"{path.stem}-{i}")
            for i, r in enumerate(data)]


def _read_txt(path: Path) -> list[dict]:
    """Raw text for continued pre-training: paragraphs grouped into rows of ~TXT_ROW_CHARS."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", _utf8(path.read_bytes(), path))
                  if p.strip()]
    rows, buf = [], ""
    for p in paragraphs:
        if buf and len(buf) + len(p) > TXT_ROW_CHARS:
            rows.append(buf)
            buf = ""
        buf = f"{buf}\n\n{p}" if buf else p
    if buf:
        rows.append(buf)
    if not rows:
        raise DataError(f"{path}: no text")
    return [_stamp({"text": t}, f"{path} chunk {i}", f"{path.stem}-{i}") for i, t in enumerate(rows)]


def _pick_split(dd, name: str, split: str | None):
    import datasets

    if not isinstance(dd, (datasets.DatasetDict, dict)):
        return dd
    splits = list(dd)
    if split is None and len(splits) == 1:
        return dd[splits[0]]
    if split not in dd:
        raise DataError(f"{name} has splits {', '.join(splits)}; name one as {name}:<split> "
                        f"(e.g. {name}:{splits[0]})" + (f" -- there is no split {split!r}"
                                                         if split else ""))
    return dd[split]


def _rows_of(ds, name: str) -> list[dict]:
    return [_stamp(to_chat(dict(r), f"{name}: row {i}"), f"{name}: row {i}",
                   f"{Path(name).name}-{i}") for i, r in enumerate(ds)]


def split_spec(spec: str) -> tuple[str, str | None]:
    """"SOURCE:SPLIT" -> (SOURCE, SPLIT); a plain path or id -> (it, None)."""
    spec = str(spec)
    head, sep, tail = spec.rpartition(":")
    if sep and head and re.fullmatch(r"[\w.-]+", tail) and not Path(spec).expanduser().exists():
        return head, tail
    return spec, None


def is_hub_id(spec: str) -> bool:
    source, _ = split_spec(spec)
    return not Path(source).expanduser().exists() and bool(_HUB_ID.match(source)) \
        and Path(source).suffix not in (".jsonl", ".json", ".txt", ".parquet")


def source_exists(spec: str) -> bool:
    """For config checks: a local file/folder (with or without :split), or a hub id."""
    source, _ = split_spec(spec)
    return Path(source).expanduser().exists() or is_hub_id(spec)


def read_any(spec) -> list[dict]:
    """Rows of one source (see the module docstring), as chat or text rows."""
    source, split = split_spec(spec)
    path = Path(source).expanduser()
    if path.is_file():
        readers = {".jsonl": _read_jsonl, ".json": _read_json, ".txt": _read_txt}
        if path.suffix in readers:
            return readers[path.suffix](path)
        if path.suffix == ".parquet":
            import datasets

            return _rows_of(datasets.Dataset.from_parquet(str(path)), str(path))
        raise DataError(f"{path}: unknown file type; use .jsonl, .json, .txt, .parquet, a "
                        "datasets folder or a hub dataset id")
    import datasets

    if path.is_dir():
        if (path / "dataset_dict.json").exists() or (path / "state.json").exists():
            ds = datasets.load_from_disk(str(path))  # saved with save_to_disk
        else:  # a folder of data files, as a hub dataset repo is laid out
            try:
                ds = datasets.load_dataset(str(path))
            except (datasets.data_files.EmptyDatasetError, FileNotFoundError):
                raise DataError(f"{path}: is a directory with no data files and no saved "
                                "dataset; name the .jsonl/.json/.parquet files in "
                                "data.*_files") from None
        return _rows_of(_pick_split(ds, str(path), split), str(path))
    if is_hub_id(spec):
        try:
            ds = datasets.load_dataset(source, split=split)
        except Exception as e:  # offline, private, misspelt: one line, not a traceback
            raise DataError(f"{source}: could not load it as a hub dataset "
                            f"({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
        return _rows_of(_pick_split(ds, source, split), source)
    raise DataError(f"{path}: file not found (check data.*_files)")


def clean(row: dict) -> dict:
    """A row as written to netft chat JSONL (without netft's bookkeeping keys)."""
    return {k: v for k, v in row.items() if not k.startswith("_")}
