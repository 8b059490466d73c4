"""Mutations of real config stanzas that make them invalid, for tests/test_verifiers_real.py.

Each mutator takes (text, dialect, rng) and returns the mutated text, or None when the
mutation does not apply to that stanza (no line of the right shape). Every mutation is one
that the device would refuse; where a dialect's grammar legitimately accepts the mutated
form (FRR reads a trailing word after `ip route A/M NH` as an interface name, `router ospf`
without an id is valid FRR), that line is not a candidate, and the docstrings say so.
"""
from __future__ import annotations

import random
import re

from netft.domains.netops.junos_grammar import JUNOS_GRAMMAR

JUNK = "xyzzy"
_FREE_TEXT = re.compile(r"\b(?:description|remark|banner|apply-path|as-path|password|"
                        r"authentication-key)\b")


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _pick(rng: random.Random, items: list):
    return rng.choice(items) if items else None


def _swap(word: str) -> str:
    """Misspell by swapping two inner letters (never a prefix of the word: vtysh and IOS
    accept unique abbreviations, which would make a dropped last letter no typo at all)."""
    for i in range(1, len(word) - 2):
        if word[i] != word[i + 1] and word[i].isalpha() and word[i + 1].isalpha():
            return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word + word[-1]


def _junos_literals(tokens: list[str]) -> list[int]:
    """Positions of tokens the JunOS grammar reads as keywords (not values)."""
    node, out = JUNOS_GRAMMAR, []
    for i, t in enumerate(tokens):
        if not isinstance(node, dict):
            break
        if t in node and not t.startswith(("<", "+")):
            out.append(i)
            node = node[t]
        else:
            typed = [k for k in node if k.startswith("<")]
            if not typed:
                break
            node = node[typed[0]]
    return out


def _is_set(dialect: str) -> bool:
    return dialect == "junos_set"


# --------------------------------------------------------------------------- mutators

def misspelt_keyword(text: str, dialect: str, rng: random.Random) -> str | None:
    lines = _lines(text)
    cands = []
    for i, ln in enumerate(lines):
        toks = ln.split()
        if dialect in ("ios", "frr"):
            words = [w for w in toks[:2] if re.fullmatch(r"[a-z][a-z-]{3,}", w)
                     and w != "no"]
            if words and not ln.lstrip().startswith("!"):
                cands.append((i, words[0]))
        elif _is_set(dialect):
            pos = [p for p in _junos_literals(toks[1:]) if len(toks[p + 1]) >= 4]
            if pos:
                cands.append((i, toks[_pick(rng, pos) + 1]))
        else:
            first = [t for t in toks if t not in ("inactive:", "protect:")][:1]
            if first and re.fullmatch(r"[a-z][a-z-]{3,}", first[0]):
                cands.append((i, first[0]))
    if not cands:
        return None
    i, word = _pick(rng, cands)
    lines[i] = re.sub(rf"(?<![\w-]){re.escape(word)}(?![\w-])", _swap(word), lines[i], count=1)
    return "\n".join(lines)


def out_of_range(text: str, dialect: str, rng: random.Random) -> str | None:
    """A number past every range in these grammars (1e11 > 2^32), or an IPv4 octet of 999."""
    lines = _lines(text)
    nums, addrs = [], []
    for i, ln in enumerate(lines):
        if _FREE_TEXT.search(ln) or '"' in ln or ln.lstrip().startswith(("!", "#")):
            continue
        for m in re.finditer(r"(?<![\w.:/-])\d+(?![\w.:/-])", ln):
            # A number that is a name (`term 10`, `group 1`) has no range.
            if not re.search(r"(?:term|group|policy-statement|prefix-list|community|as-path|"
                             r"condition|instance|rib|filter|peer-group|route-map|vrf) $",
                             ln[:m.start()]):
                nums.append((i, m.start(), m.end()))
        for m in re.finditer(r"(?<![\w.:-])\d+(?=\.\d+\.\d+\.\d+)", ln):
            addrs.append((i, m.start(), m.end()))
    pool, new = (nums, "99999999999") if nums else (addrs, "999")
    if not pool:
        return None
    i, a, b = _pick(rng, pool)
    lines[i] = lines[i][:a] + new + lines[i][b:]
    return "\n".join(lines)


# Keywords whose value may be left out (the mutation would be valid): peer-group (then it
# defines the group), ebgp-multihop/allowas-in (defaults), router-info area (FRR default
# area), IOS route-map sequence numbers (default 10).
_OPTIONAL_VALUE = {"peer-group", "ebgp-multihop", "allowas-in", "area", "multihop"}


def missing_argument(text: str, dialect: str, rng: random.Random) -> str | None:
    """Drop a required value: the last word of a line whose word before it is a keyword.
    Not candidates: FRR's `router ospf N` / `router bgp N` (the number is optional there)
    and `neighbor X peer-group NAME` (without NAME it defines a peer group)."""
    lines = _lines(text)
    cands = []
    for i, ln in enumerate(lines):
        body = ln.rstrip().rstrip(";").rstrip()
        toks = body.split()
        if len(toks) < 2 or not re.search(r"\d", toks[-1]) or _FREE_TEXT.search(ln):
            continue
        if dialect == "frr" and re.match(r"\s*router (?:ospf|bgp)\b", ln):
            continue
        if toks[-2] in _OPTIONAL_VALUE or toks[0].startswith(("!", "#")) or \
                (dialect == "ios" and toks[0] == "route-map"):
            continue
        if dialect.startswith("junos"):
            path = toks[1:] if _is_set(dialect) else [t for t in toks
                                                       if t not in ("inactive:",)]
            lit = _junos_literals(path) if _is_set(dialect) else (
                [len(path) - 2] if re.fullmatch(r"[a-z][a-z0-9-]*", path[-2]) else [])
            if len(path) - 2 not in lit:
                continue
        elif not re.fullmatch(r"[a-z][a-z-]*", toks[-2]):
            continue
        cands.append(i)
    i = _pick(rng, cands)
    if i is None:
        return None
    ln = lines[i]
    semi = ln.rstrip().endswith(";")
    toks = ln.rstrip().rstrip(";").rstrip().split(" ")
    lines[i] = " ".join(toks[:-1]) + (";" if semi else "")
    return "\n".join(lines)


def trailing_junk(text: str, dialect: str, rng: random.Random) -> str | None:
    """A stray word at the end of a statement. Not candidates: free-text lines, FRR static
    routes (a word after the next hop is an interface name there), lines ending in
    `peer-group` (a word after it names the group) and IOS `match` lines (lists of names)."""
    lines = _lines(text)
    cands = []
    for i, ln in enumerate(lines):
        s = ln.strip()
        if not s or s.startswith(("!", "#", "/*", "}")) or _FREE_TEXT.search(ln):
            continue
        if dialect == "frr" and re.match(r"(?:no )?ipv?6? ?route ", s):
            continue
        if s.endswith("peer-group") or s.endswith("{"):
            continue
        # IOS takes several names here: a trailing word is one more list name.
        if dialect == "ios" and re.match(r"match (?:ip address|community|as-path)\b", s):
            continue
        if dialect == "junos_brace" and not s.endswith(";"):
            continue
        cands.append(i)
    i = _pick(rng, cands)
    if i is None:
        return None
    ln = lines[i].rstrip()
    lines[i] = ln[:-1] + f" {JUNK};" if ln.endswith(";") else f"{ln} {JUNK}"
    return "\n".join(lines)


W, E = r"(?<![\w-])", r"(?![\w-])"
# (pattern, replacement) per target dialect: the other dialects' spelling of the same thing.
_FOREIGN = {
    "ios": [  # FRR (and JunOS) spellings in an IOS answer
        (r"^(\s*ip address \S+) 255\.255\.255\.\d+", r"\1/24"),
        (r"^(\s*network \S+) \d+\.\d+\.\d+\.\d+ (area \S+)", r"\1/24 \2"),
        (r"^router ospf \d+$", "router ospf"),
        (r"^(\s*neighbor \S+ remote-as) \d+", r"\1 external"),
        (r"^(ip route \S+) \d+\.\d+\.\d+\.\d+", r"\1/24"),
        (r"^(\s*network \S+) mask \S+", r"\1/24"),
        (r"^(\s*)router-id ", r"\1ospf router-id "),
        (r"^interface GigabitEthernet\S+", "interface eth1"),
        (r"^(\s*)set local-preference ", r"\1then local-preference "),
        (r"^(\s*)match ip address prefix-list ", r"\1from prefix-list "),
        (r"^(\s*)set (metric|community) ", r"\1then \2 "),
        (r"^ip prefix-list (\S+) (?:seq \d+ )?permit (\S+).*", r"set policy-options "
                                                               r"prefix-list \1 \2"),
    ],
    "frr": [  # IOS (and JunOS) spellings in an FRR answer
        (r"^(\s*ip address \d+\.\d+\.\d+\.\d+)/\d+", r"\1 255.255.255.0"),
        (r"^(\s*network \d+\.\d+\.\d+\.\d+)/\d+ (area)", r"\1 0.0.0.255 \2"),
        (r"^(\s*redistribute (?:connected|static))\b", r"\1 subnets"),
        (r"^(\s*neighbor \S+) bfd$", r"\1 fall-over bfd"),
        (r"^interface (\S+)$", r"interface GigabitEthernet 0/1"),
        (r"^(\s*)set local-preference ", r"\1then local-preference "),
        (r"^(\s*)match ip address prefix-list ", r"\1from prefix-list "),
        (r"^(\s*)set (metric|community) ", r"\1then \2 "),
        (r"^ip prefix-list (\S+) (?:seq \d+ )?permit (\S+).*", r"set policy-options "
                                                               r"prefix-list \1 \2"),
    ],
    "junos": [  # IOS / FRR words in a JunOS answer (W: a word boundary that keeps hyphens)
        (W + r"peer-as" + E, "remote-as"), (W + r"local-address" + E, "update-source"),
        (W + r"family inet address" + E, "ip address"),
        (W + r"policy-statement" + E, "route-map"), (W + r"prefix-list" + E, "ip prefix-list"),
        (W + r"route-filter" + E, "match ip address"), (W + r"then accept" + E, "permit"),
        (W + r"next-hop" + E, "ip next-hop"),
        (W + r"hello-interval" + E, "ip ospf hello-interval"), (W + r"unit" + E, "subinterface"),
        (W + r"members" + E, "community"), (W + r"authentication-key" + E, "password"),
        (W + r"autonomous-system" + E, "router bgp"), (W + r"interfaces (\S+)", r"interface \1"),
        (W + r"protocols bgp" + E, "router bgp"), (W + r"protocols ospf" + E, "router ospf"),
        # as an action only (`accept;`), not inside a term name
        (W + r"accept(?=;|$)", "permit"), (W + r"reject(?=;|$)", "deny"),
        (W + r"metric" + E, "cost"),
    ],
}


def other_dialect(text: str, dialect: str, rng: random.Random) -> str | None:
    table = _FOREIGN["junos" if dialect.startswith("junos") else dialect]
    lines = _lines(text)
    cands = [(i, rx, rep) for rx, rep in table for i, ln in enumerate(lines)
             if re.search(rx, ln) and not (_FREE_TEXT.search(ln) and "description" in ln)]
    if not cands:
        return None
    i, rx, rep = _pick(rng, cands)
    lines[i] = re.sub(rx, rep, lines[i], count=1)
    out = "\n".join(lines)
    return out if out != text else None


def unbalanced_braces(text: str, dialect: str, rng: random.Random) -> str | None:
    """JunOS brace format only: one `}` dropped or one extra `}` added."""
    if dialect != "junos_brace":
        return None
    lines = _lines(text)
    closers = [i for i, ln in enumerate(lines) if ln.strip() == "}"]
    if not closers:
        return None
    i = _pick(rng, closers)
    if rng.random() < 0.5:
        del lines[i]
    else:
        lines.insert(i, lines[i])
    return "\n".join(lines)


MUTATORS = {
    "misspelt keyword": misspelt_keyword,
    "out-of-range value": out_of_range,
    "missing argument": missing_argument,
    "trailing junk": trailing_junk,
    "other dialect's spelling": other_dialect,
    "unbalanced braces": unbalanced_braces,
}
