"""Scores do not reward our own answer format (issue 11, DESIGN decision 7).

Every config/translate reference of the shipped test split is rewritten in the styles a
chat model uses (prose around a fence, CLI prompts, session commands, two fences, a config
split over two fences, a bulleted list, the other JunOS notation) and must score exactly what
the reference scores: 100% command accuracy, and 100% format except where the style is the
other JunOS notation than the one asked for (then format, and only format, says so).
"""
import json
from pathlib import Path

import pytest

from netft.domains.chat import reference
from netft.domains.netops import score
from netft.domains.netops.junos import brace_to_set, junos_statements
from netft.domains.netops.junos_grammar import JUNOS_GRAMMAR
from netft.domains.netops.verifiers import extract_config, have_vtysh

DATA = Path(__file__).resolve().parents[1] / "netft" / "assets" / "data" / "netops"
ROWS = [r for r in (json.loads(ln) for ln in open(DATA / "test.jsonl", encoding="utf-8"))
        if r["category"] in ("config", "translate")
        and (have_vtysh() or r["meta"]["dialect"].startswith("junos"))]
LANG = {"ios": "cisco", "frr": "text", "junos_set": "junos", "junos_brace": "junos"}
SHOW = {"ios": "show ip ospf neighbor\nshow ip route", "frr": "show ip ospf neighbor",
        "junos_set": "show ospf neighbor", "junos_brace": "run show bgp summary"}


def _junos_segments(tokens):
    """Tokens grouped as JunOS prints them: a keyword with its value (`unit 0`)."""
    node, segs, i = JUNOS_GRAMMAR, [], 0
    while i < len(tokens):
        t = tokens[i]
        if isinstance(node, dict) and t in node:
            nxt = node[t]
            keys = [k for k in nxt if not k.startswith("+")] if isinstance(nxt, dict) else []
            if keys and all(k.startswith("<") for k in keys) and i + 1 < len(tokens):
                segs.append(f"{t} {tokens[i + 1]}")
                node = nxt[next(k for k in keys)]
                i += 2
                continue
            segs.append(t)
            node = nxt
        else:
            segs.append(t)
            typed = [k for k in node if k.startswith("<")] if isinstance(node, dict) else []
            node = node[typed[0]] if typed else {}
        i += 1
    return segs


def set_to_brace(cfg: str) -> str:
    tree: dict = {}
    for _, toks in junos_statements(cfg)[0]:
        segs = _junos_segments(toks)
        node = tree
        for s in segs[:-1]:
            node = node.setdefault(s, {})
        node.setdefault(segs[-1], None)

    def render(node, depth):
        out = []
        for k, v in node.items():
            pad = "    " * depth
            out += [f"{pad}{k};"] if v is None else [f"{pad}{k} {{", *render(v, depth + 1),
                                                     f"{pad}}}"]
        return out
    return "\n".join(render(tree, 0))


def _sub_prompt(header: str) -> str:
    return {"interface": "config-if", "router": "config-router",
            "route-map": "config-route-map"}.get(header.split()[0], "config")


def _split_top(cfg: str, dialect: str) -> tuple[str, str] | None:
    """The config cut in two at a top-level boundary (None when it has one block only)."""
    lines = cfg.split("\n")
    if dialect == "junos_set":
        cut = len(lines) // 2
    else:
        starts = [i for i, ln in enumerate(lines) if i and ln.strip() not in ("!", "}")
                  and not ln[:1].isspace() and not lines[i - 1].rstrip().endswith("{")]
        if dialect == "junos_brace":
            starts = [i for i in range(1, len(lines)) if lines[i - 1] == "}"]
        if not starts:
            return None
        cut = starts[len(starts) // 2]
    return ("\n".join(lines[:cut]), "\n".join(lines[cut:])) if 0 < cut < len(lines) else None


def styles(cfg: str, dialect: str) -> dict[str, str]:
    lang = LANG[dialect]
    out = {
        "prose + fence": f"Sure! Here is the configuration:\n\n```{lang}\n{cfg}\n```\n\n"
                         "This applies the requested settings. Let me know if you need more.",
        "two fences (config + show)": f"Configuration:\n```{lang}\n{cfg}\n```\nThen check "
                                      f"it with:\n```\n{SHOW[dialect]}\n```",
        "bare config": cfg,
    }
    parts = _split_top(cfg, dialect)
    if parts:
        out["config split over two fences"] = (f"First:\n```{lang}\n{parts[0]}\n```\n"
                                               f"Then:\n```{lang}\n{parts[1]}\n```")
    if dialect.startswith("junos"):
        other = ("\n".join("set " + " ".join(t) for _, t in brace_to_set(cfg)[0])
                 if dialect == "junos_brace" else set_to_brace(cfg))
        out["other JunOS notation"] = f"```\n{other}\n```"
        out["session commands"] = f"```\nconfigure\n{cfg}\ncommit and-quit\n```"
        if dialect == "junos_set":
            out["prompts"] = "```\n[edit]\n" + "\n".join(
                f"admin@R1# {ln}" for ln in cfg.split("\n")) + "\n```"
            out["bulleted list"] = "Apply these:\n" + "\n".join(
                f"- `{ln}`" for ln in cfg.split("\n"))
        else:
            out["prompts"] = f"```\n[edit]\nadmin@R1# show\n{cfg}\n```"
        return out
    out["session commands"] = (f"```\nR1# configure terminal\n{cfg}\nend\nwrite memory\n"
                               "copy running-config startup-config\n```")
    prompt_lines, mode = [], "config"
    for ln in cfg.split("\n"):
        if not ln.strip():
            continue
        if ln[:1].isspace():
            prompt_lines.append(f"R1({mode})# {ln.strip()}")
        else:
            prompt_lines.append(f"R1(config)# {ln}")
            mode = _sub_prompt(ln) if ln.split()[0] in ("interface", "router",
                                                        "route-map") else "config"
    out["prompts"] = "```\nR1# conf t\n" + "\n".join(prompt_lines) + "\nR1(config)# end\n```"
    out["bulleted list"] = "Steps:\n" + "\n".join(
        ("  " * (len(ln) - len(ln.lstrip()))) + f"- `{ln.strip()}`"
        for ln in cfg.split("\n") if ln.strip())
    return out


@pytest.fixture(scope="module")
def by_style():
    preds: dict[str, dict[str, str]] = {}
    for r in ROWS:
        d = r["meta"]["dialect"]
        for name, text in styles(extract_config(reference(r), d), d).items():
            preds.setdefault(name, {})[r["id"]] = text
    return preds


def test_rows_and_styles_cover_every_dialect(by_style):
    dialects = {r["meta"]["dialect"] for r in ROWS}
    assert {"junos_set", "junos_brace"} <= dialects and len(ROWS) >= 20
    assert len(by_style) >= 8


def test_every_style_scores_like_the_reference(by_style, capsys):
    ref = score(ROWS, {r["id"]: reference(r) for r in ROWS})["overall"]
    assert ref["command_accuracy"] == 1.0 and ref["format_compliance"] == 1.0
    lines, bad = [], {}
    for name, preds in sorted(by_style.items()):
        rows = [r for r in ROWS if r["id"] in preds]
        res = score(rows, preds)
        o = res["overall"]
        lines.append(f"{name:<32}{len(rows):>4}{100 * o['command_accuracy']:>9.1f}"
                     f"{100 * o['format_compliance']:>9.1f}")
        want_fmt = 0.0 if name == "other JunOS notation" else 1.0
        if o["command_accuracy"] != 1.0 or o["format_compliance"] != want_fmt:
            bad[name] = [(it["id"], it["errors"][:2]) for it in res["items"]
                         if it["errors"] and not (want_fmt == 0.0 and all(
                             e.startswith("format:") for e in it["errors"]))][:3]
    with capsys.disabled():
        print(f"\nreference answers rewritten per style\n{'style':<32}{'n':>4}"
              f"{'accuracy':>9}{'format':>9}\n" + "\n".join(lines))
    assert not bad, bad


def test_show_fence_and_prose_are_not_config():
    ans = ("Use:\n```\nrouter ospf 1\n network 10.0.0.0 0.0.0.255 area 0\n```\n"
           "Verify:\n```\nshow ip ospf neighbor\n```")
    assert extract_config(ans, "ios") == "router ospf 1\n network 10.0.0.0 0.0.0.255 area 0"
    assert extract_config("```\nshow ip route\n```\nNo config needed.", "ios") == ""
    listed = "1. `set system host-name R1`\n2. `set routing-options router-id 1.1.1.1`"
    assert extract_config(listed, "junos_set") == ("set system host-name R1\n"
                                                   "set routing-options router-id 1.1.1.1")
    prompts = "R1(config)# interface Gi0/1\nR1(config-if)# ip address 10.0.0.1 255.255.255.0"
    assert extract_config(prompts, "ios") == ("interface Gi0/1\n"
                                              " ip address 10.0.0.1 255.255.255.0")
