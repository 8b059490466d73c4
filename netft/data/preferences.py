"""Preference pairs for DPO: {"messages": prompt turns, "chosen": str, "rejected": str}.

The shipped pairs are derived from the showcase chat rows of the same split (so the held-out
split stays held out): a complete working config is preferred over a partial snippet of it,
and a command with its explanation over the bare command. Both sides come from the verified
reference, so "chosen" is known-correct and "rejected" is known-worse.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from netft.data.chat import DataError, check_chat_row


def check_preference_row(row, where: str) -> None:
    if not isinstance(row, dict) or not all(k in row for k in ("messages", "chosen", "rejected")):
        raise DataError(f"{where}: a preference row needs 'messages' (the prompt), 'chosen' and "
                        "'rejected'")
    for key in ("chosen", "rejected"):
        if not isinstance(row[key], str) or not row[key].strip():
            raise DataError(f"{where}: '{key}' must be a non-empty string")
    if row["chosen"] == row["rejected"]:
        raise DataError(f"{where}: 'chosen' and 'rejected' are identical")
    if isinstance(row["messages"], list) and row["messages"] and \
            isinstance(row["messages"][-1], dict) and row["messages"][-1].get("role") == "assistant":
        raise DataError(f"{where}: the prompt must not end with an assistant turn")
    check_chat_row({"messages": row["messages"] + [{"role": "assistant", "content": "x"}]}, where)


def read_preferences(path: str | Path) -> list[dict]:
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path}: file not found (check data.*_files)")
    rows = []
    for lineno, line in enumerate(open(path, encoding="utf-8"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
        check_preference_row(row, f"{path}:{lineno}")
        row.setdefault("id", f"{path.stem}-{lineno}")
        rows.append(row)
    return rows


def _config_lines(answer: str) -> tuple[str, list[str]]:
    lines = answer.splitlines()
    head = lines[0] if lines and not re.match(r"^\s*(set |interface |router |ip |[a-z-]+ \{)",
                                              lines[0]) else ""
    body = [ln for ln in lines[1 if head else 0:] if not ln.startswith("Note:")]
    return head, body


def pair_from_row(row: dict) -> dict | None:
    cat = row.get("category")
    prompt = [m for m in row["messages"] if m["role"] != "assistant"]
    answer = next(m["content"] for m in reversed(row["messages"]) if m["role"] == "assistant")
    if cat in ("config", "translate"):
        head, body = _config_lines(answer)
        if len(body) < 4:
            return None
        # A partial snippet: the first ~40% of the config, cut at a line boundary.
        rejected = "\n".join(body[: max(2, int(len(body) * 0.4))])
        kind = "complete_vs_partial"
    elif cat == "explain":
        commands = re.findall(r"`([^`]+)`", answer)
        if not commands:
            return None
        rejected = "\n".join(dict.fromkeys(commands))  # the bare commands, no explanation
        kind = "explained_vs_bare"
    else:
        return None
    if rejected.strip() == answer.strip():
        return None
    return {"id": f"pref-{row['id']}", "category": cat, "kind": kind, "messages": prompt,
            "chosen": answer, "rejected": rejected}


def write_pairs(source: str | Path, out: str | Path) -> int:
    from netft.data.chat import read_chat_jsonl

    pairs = [p for p in map(pair_from_row, read_chat_jsonl(source)) if p]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        for p in pairs:
            fh.write(json.dumps(p, ensure_ascii=False) + "\n")
    return len(pairs)
