"""Chat rows: read and check JSONL, then tokenise with the loss on assistant tokens only."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from netft.errors import NetftError

IGNORE = -100
ROLES = ("system", "user", "assistant", "tool")  # tool: where the chat template has it


class DataError(NetftError, ValueError):
    """Bad input data. The message names file:line and what to do."""


def jsonl_objects(path: Path):
    """(line number, "file:line", object) for every non-blank line of a JSONL file; a line
    that is not UTF-8 or not JSON fails naming file:line and the fix."""
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as e:
                raise DataError(f"{path}:{lineno}: not UTF-8 (byte {raw[e.start]:#04x} at column "
                                f"{e.start + 1}); re-save the file as UTF-8, e.g. "
                                f"iconv -f latin1 -t utf-8") from None
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                yield lineno, where, json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{where}: not valid JSON ({e.msg} at column {e.colno}); "
                                "each line must be one JSON object") from None


def read_chat_jsonl(path: str | Path) -> list[dict]:
    """Rows of {"messages": [{"role", "content"}, ...], ...}; fails on the first bad line."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path}: file not found (check data.*_files)")
    if path.is_dir():
        raise DataError(f"{path}: is a directory; name the JSONL file(s) inside it in "
                        "data.*_files (or save a datasets directory without the .jsonl suffix)")
    rows = []
    for lineno, where, row in jsonl_objects(path):
        check_chat_row(row, where)
        row.setdefault("id", f"{path.stem}-{lineno}")
        rows.append(row)
    return rows


def check_chat_row(row, where: str) -> None:
    if not isinstance(row, dict) or "messages" not in row:
        raise DataError(f"{where}: expected an object with a 'messages' list")
    msgs = row["messages"]
    if not isinstance(msgs, list) or not msgs:
        raise DataError(f"{where}: 'messages' must be a non-empty list")
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or not isinstance(m.get("content"), str):
            raise DataError(f"{where}: messages[{i}] needs string 'role' and 'content'")
        if m.get("role") not in ROLES:
            raise DataError(f"{where}: messages[{i}].role={m.get('role')!r}; "
                            f"allowed roles are {', '.join(ROLES)}")
    if not any(m["role"] == "assistant" for m in msgs):
        raise DataError(f"{where}: no assistant message, so nothing to learn from this row")
    turns = [(i, m) for i, m in enumerate(msgs) if m["role"] != "system"]
    if turns and turns[0][1]["role"] != "user":
        raise DataError(f"{where}: messages[{turns[0][0]}] is an {turns[0][1]['role']} turn "
                        "before any user turn; a conversation starts with the user (after an "
                        "optional system message)")
    for (_, a), (j, b) in zip(turns, turns[1:]):
        if a["role"] == b["role"]:
            raise DataError(f"{where}: messages[{j}] is a second {b['role']} turn in a row; "
                            f"merge the two {b['role']} messages or add the missing reply")
    for i, m in turns:
        if m["role"] == "assistant" and not m["content"].strip():
            raise DataError(f"{where}: messages[{i}] is an empty assistant reply; the model "
                            "would learn to answer nothing. Fill it in or drop the row")


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]  # IGNORE except on assistant tokens (already aligned with input_ids)

    @property
    def n_targets(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE)


def _render(tokenizer, messages, add_generation_prompt: bool) -> list[int]:
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                        add_generation_prompt=add_generation_prompt)
    return list(out["input_ids"])


def tokenize_chat(tokenizer, messages: list[dict]) -> Example:
    """Token ids of the whole conversation; labels only where an assistant speaks.

    Assistant spans are found by rendering the conversation up to each assistant turn (with
    the generation prompt) and up to its end: the tokens in between are the reply, including
    the end-of-turn token, so the model learns to stop. This works for any chat template,
    unlike `{% generation %}` markers that most real templates (Llama 3.1) lack. Templates
    that re-tokenise across turn boundaries would break the prefix property: we check it.
    """
    ids = _render(tokenizer, messages, add_generation_prompt=False)
    labels = [IGNORE] * len(ids)
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        start = len(_render(tokenizer, messages[:i], add_generation_prompt=True))
        upto = _render(tokenizer, messages[:i + 1], add_generation_prompt=False)
        # Where the conversation so far and the whole one agree. Some templates (Phi-3) close
        # a conversation with EOS only when it ends there: that tail is not part of this turn
        # in the full conversation, so the turn ends where the renderings part.
        end = next((k for k, (a, b) in enumerate(zip(upto, ids)) if a != b), min(len(upto), len(ids)))
        if start >= end or len(upto) - end > 4:
            raise DataError(f"the chat template does not render conversations prefix-stably "
                            f"(assistant turn messages[{i}]: rendered alone it differs from the "
                            f"whole conversation at token {end}); assistant tokens cannot be "
                            "located. Supply a template with model.chat_template")
        labels[start:end] = ids[start:end]
    return Example(ids, labels)


def tokenize_reply(tokenizer, prompt: list[dict], reply: str) -> Example:
    """prompt + one assistant reply; labels on that reply only (DPO's answer tokens).

    Earlier assistant turns in a multi-turn prompt are context, not answer: everything up to
    the prompt rendered with the generation prompt is ignored, so log-probs, rewards and
    per-token accuracies measure the final answer alone.
    """
    ids = _render(tokenizer, prompt + [{"role": "assistant", "content": reply}],
                  add_generation_prompt=False)
    head = _render(tokenizer, prompt, add_generation_prompt=True)
    if ids[:len(head)] != head or len(head) >= len(ids):
        raise DataError("the chat template does not render conversations prefix-stably; "
                        "the answer tokens cannot be located")
    return Example(ids, [IGNORE] * len(head) + ids[len(head):])
