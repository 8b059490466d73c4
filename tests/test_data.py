"""Reading, checking, splitting and masking chat data."""
import json

import pytest

from netft.data.chat import IGNORE, DataError, read_chat_jsonl, tokenize_chat
from netft.data.split import split_rows

GOOD = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


@pytest.mark.parametrize("bad,reason", [
    ('{"messages": [', "not valid JSON"),
    ('{"text": "no messages"}', "'messages' list"),
    ('{"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}',
     "role='robot'"),
    ('{"messages": [{"role": "user", "content": "only a question"}]}', "no assistant message"),
    ('{"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "y"}]}',
     "string 'role' and 'content'"),
])
def test_malformed_line_names_file_and_line(tmp_path, bad, reason):
    f = write_lines(tmp_path / "d.jsonl", [json.dumps(GOOD), "", json.dumps(GOOD), bad])
    with pytest.raises(DataError) as e:
        read_chat_jsonl(f)
    assert f"{f}:4:" in str(e.value) and reason in str(e.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="nope.jsonl: file not found"):
        read_chat_jsonl(tmp_path / "nope.jsonl")


def _rows(n, start=0):
    return [{"messages": [{"role": "user", "content": f"question number {i}"},
                          {"role": "assistant", "content": f"answer {i}"}]}
            for i in range(start, start + n)]


def test_split_is_deterministic_stable_and_sized():
    rows = _rows(2000)
    a = split_rows(rows, test_frac=0.12, val_frac=0.08)
    b = split_rows(list(reversed(rows)), test_frac=0.12, val_frac=0.08)
    key = lambda r: r["messages"][0]["content"]  # noqa: E731
    for name in a:
        assert sorted(map(key, a[name])) == sorted(map(key, b[name]))
    assert 0.10 < len(a["test"]) / len(rows) < 0.14
    assert 0.06 < len(a["validation"]) / len(rows) < 0.10
    # Adding data never moves an existing row to another split.
    grown = split_rows(rows + _rows(500, start=2000), test_frac=0.12, val_frac=0.08)
    for name in a:
        assert set(map(key, a[name])) <= set(map(key, grown[name]))


def test_duplicate_prompts_land_in_the_same_split():
    rows = _rows(300) + [{"messages": [{"role": "user", "content": "  QUESTION   number 7 "},
                                       {"role": "assistant", "content": "other"}]}]
    parts = split_rows(rows)
    where = {name for name, rs in parts.items() for r in rs
             if r["messages"][0]["content"].lower().split() == ["question", "number", "7"]}
    assert len(where) == 1


def test_only_assistant_tokens_carry_loss(tiny_tokenizer):
    tok = tiny_tokenizer
    messages = [{"role": "system", "content": "You are a network engineer."},
                {"role": "user", "content": "Enable OSPF on eth0."},
                {"role": "assistant", "content": "router ospf\n network 10.0.0.0/24 area 0"},
                {"role": "user", "content": "And the router id?"},
                {"role": "assistant", "content": "router ospf\n ospf router-id 1.1.1.1"}]
    ex = tokenize_chat(tok, messages)
    assert len(ex.labels) == len(ex.input_ids)
    labelled = [t for t, lab in zip(ex.input_ids, ex.labels) if lab != IGNORE]
    text = tok.decode(labelled)
    # Exactly the two replies (each closed by the end-of-turn token), nothing else.
    assert text == ("router ospf\n network 10.0.0.0/24 area 0<|eot|>\n"
                    "router ospf\n ospf router-id 1.1.1.1<|eot|>\n")
    assert all(lab == t for t, lab in zip(ex.input_ids, ex.labels) if lab != IGNORE)
