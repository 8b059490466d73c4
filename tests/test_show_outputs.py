"""The synthesised IOS `show` outputs in the troubleshooting items are well formed: they parse
back with ntc-templates (the TextFSM templates network automation uses for real devices),
one record per table row, with the same neighbour addresses."""
import json
import re

import pytest

from conftest import ROOT

ntc = pytest.importorskip("ntc_templates.parse", reason="ntc-templates is a dev dependency")

BLOCK = re.compile(r"^\S+#\s*(show ip ospf neighbor|show ip bgp summary)[ \t]*\n(.*?)"
                   r"(?=^\S+#|^\*|^[A-Z][a-z]+[^\n]*\?$|\Z)", re.M | re.S)
ROW = re.compile(r"^(\d+\.\d+\.\d+\.\d+)\s", re.M)


def ios_blocks():
    for split in ("train", "validation", "test"):
        for line in (ROOT / f"netft/assets/data/netops/{split}.jsonl").read_text().splitlines():
            row = json.loads(line)
            if row["category"] == "troubleshoot" and row["meta"].get("dialect") == "ios":
                for m in BLOCK.finditer(row["messages"][1]["content"]):
                    yield row["id"], m.group(1), m.group(2)


def test_ios_show_outputs_parse_back():
    blocks = list(ios_blocks())
    assert len(blocks) > 40
    non_empty = 0
    for rid, command, output in blocks:
        records = ntc.parse_output(platform="cisco_ios", command=command, data=output)
        expected = ROW.findall(output)
        assert len(records) == len(expected), (rid, command, output)
        key = "neighbor_id" if command.endswith("neighbor") else "bgp_neighbor"
        assert [r[key] for r in records] == expected, (rid, records)
        non_empty += bool(expected)
    assert non_empty > 20  # most blocks have rows to check, not just headers
