"""JunOS configs (`set` lines or brace format) checked against a hand-written grammar."""
from __future__ import annotations

import re

from netft.eval.frr import _is_ipv4
from netft.eval.verdict import Verdict

# --------------------------------------------------------------------------- JunOS
# Written by hand because no maintained offline JunOS validator exists: junoscfg's
# validation is broken, jnprsr only checks brace nesting, and pyez/napalm need a device.
# The grammar covers the hierarchies an OSPF/BGP/interface/static-route answer uses, with
# value types and ranges from the Junos documentation; anything outside it is reported as
# unknown, so the vocabulary errs on the strict side.

def _V(kind: str, child: dict | None = None) -> dict:
    """A keyword that takes one value of `kind`, optionally followed by `child`."""
    return {f"<{kind}>": child if child is not None else {}}


MORE = "+more"   # marker: the statement may not end at this node
END = "+end"     # marker: the statement may end here although only a value could follow

_BFD = {"minimum-interval": _V("int:1-255000"), "minimum-receive-interval": _V("int:1-255000"),
        "multiplier": _V("int:1-255")}
_OSPF_IF = {
    "passive": {}, "disable": {}, "metric": _V("int:1-65535"),
    "hello-interval": _V("int:1-255"), "dead-interval": _V("int:1-65535"),
    "retransmit-interval": _V("int:1-65535"), "transit-delay": _V("int:1-65535"),
    "priority": _V("int:0-255"),
    "interface-type": {"p2p": {}, "nbma": {}, "p2mp": {}, "p2mp-over-lan": {}, MORE: True},
    "authentication": {"md5": _V("int:0-255", {"key": _V("text")}),
                       "simple-password": _V("text"), MORE: True},
    "bfd-liveness-detection": _BFD,
}
_OSPF = {
    "area": _V("area", {
        "interface": _V("ospf_if", _OSPF_IF),
        "stub": {"no-summaries": {}, "default-metric": _V("int:1-16777215")},
        "nssa": {"no-summaries": {}, "default-lsa": {"default-metric": _V("int:1-16777215")}},
        "area-range": _V("prefix", {"restrict": {}}),
    }),
    "reference-bandwidth": _V("bandwidth"), "export": _V("name"), "import": _V("name"),
}
_BGP_PEER = {
    "description": _V("text"), "peer-as": _V("asn"), "local-address": _V("ipv4"),
    "authentication-key": _V("text"), "import": _V("name"), "export": _V("name"),
    "local-as": _V("asn"), "hold-time": _V("holdtime"), "multihop": {"ttl": _V("int:1-255")},
    "passive": {}, "bfd-liveness-detection": _BFD, "cluster": _V("ipv4"),
    "multipath": {"multiple-as": {}}, "remove-private": {}, "as-override": {},
    "log-updown": {}, "family": {"inet": {"unicast": {}, MORE: True}, MORE: True},
}
_BGP_GROUP = {**_BGP_PEER, "type": {"internal": {}, "external": {}, MORE: True},
              "neighbor": _V("ipv4", _BGP_PEER)}
_RF_ACTION = {"accept": {}, "reject": {}}
_ROUTE_FILTER = {"exact": _RF_ACTION, "orlonger": _RF_ACTION, "longer": _RF_ACTION,
                 "upto": _V("plen", _RF_ACTION),
                 "prefix-length-range": _V("plenrange", _RF_ACTION),
                 "through": _V("prefix", _RF_ACTION), MORE: True}
_FROM = {"prefix-list": _V("name"), "route-filter": _V("prefix", _ROUTE_FILTER),
         "protocol": {p: {} for p in ("bgp", "ospf", "static", "direct", "local", "aggregate",
                                      "isis", "rip")} | {MORE: True},
         "neighbor": _V("ipv4"), "community": _V("name"), "as-path": _V("name"),
         "interface": _V("ospf_if"), "area": _V("area"), MORE: True}
_THEN = {"accept": {}, "reject": {}, "next": {"term": {}, "policy": {}, MORE: True},
         "local-preference": _V("int:0-4294967295"), "metric": _V("int:0-4294967295"),
         "community": {"add": _V("name"), "set": _V("name"), "delete": _V("name"), MORE: True},
         "next-hop": {"self": {}, "<ipv4>": {}, MORE: True}, "as-path-prepend": _V("text"),
         MORE: True}
_POLICY = {"term": _V("name", {"from": _FROM, "then": _THEN}), "from": _FROM, "then": _THEN}
_STATIC_ROUTE = {"next-hop": _V("nexthop"), "discard": {}, "reject": {},
                 "preference": _V("int:0-4294967295"), "metric": _V("int:0-4294967295"),
                 "qualified-next-hop": _V("nexthop", {"preference": _V("int:0-4294967295"),
                                                      "metric": _V("int:0-4294967295")}),
                 "no-readvertise": {}, "tag": _V("int:0-4294967295")}
_FAMILY_INET = {"address": _V("ifaddr", {"primary": {}, "preferred": {}}),
                "mtu": _V("int:500-9192"), "filter": {"input": _V("name"), "output": _V("name")}}
_UNIT = {"description": _V("text"), "vlan-id": _V("int:1-4094"), "disable": {},
         "family": {"inet": _FAMILY_INET, "inet6": {"address": _V("text")}, "iso": {},
                    "mpls": {}, MORE: True}}
JUNOS_GRAMMAR = {
    "system": {"host-name": _V("name")},
    "interfaces": _V("ifname", {"description": _V("text"), "disable": {},
                                "mtu": _V("int:256-9216"), "vlan-tagging": {},
                                "unit": _V("int:0-16385", _UNIT)}),
    "routing-options": {"router-id": _V("ipv4"),
                        "autonomous-system": _V("asn", {"asdot-notation": {}}),
                        "static": {"route": _V("prefix", _STATIC_ROUTE)}},
    "protocols": {"ospf": _OSPF, "bgp": {"group": _V("name", _BGP_GROUP), "import": _V("name"),
                                         "export": _V("name"), "log-updown": {}}},
    "policy-options": {"prefix-list": _V("name", {"<prefix>": {}, END: True}),
                       "policy-statement": _V("name", _POLICY),
                       "community": _V("name", {"members": _V("text")})},
}

_JUNOS_IF = (r"(?:(?:ge|xe|et|fe|so|gr|lt|ip)-\d+/\d+/\d+(?::\d+)?|"
             r"ae\d+|lo0|irb|vlan|fxp0|em\d+|me0|st0|reth\d+)")


def _int_in(lo: int, hi: int):
    return lambda s: s.isdigit() and lo <= int(s) <= hi


def _is_prefix(s: str) -> bool:
    if "/" not in s:
        return False
    a, plen = s.split("/", 1)
    return _is_ipv4(a) and plen.isdigit() and int(plen) <= 32


_TYPES = {
    "ipv4": _is_ipv4,
    "prefix": _is_prefix,
    "ifaddr": _is_prefix,
    "area": lambda s: _is_ipv4(s) or _int_in(0, 4294967295)(s),
    "asn": _int_in(1, 4294967295),
    "holdtime": lambda s: s == "0" or _int_in(3, 65535)(s),
    "ifname": lambda s: re.fullmatch(_JUNOS_IF, s) is not None,
    "ospf_if": lambda s: s == "all" or re.fullmatch(rf"{_JUNOS_IF}(?:\.\d+)?", s) is not None,
    "nexthop": lambda s: _is_ipv4(s) or re.fullmatch(rf"{_JUNOS_IF}\.\d+", s) is not None,
    "name": lambda s: re.fullmatch(r'[A-Za-z0-9][A-Za-z0-9_.\-]{0,254}|"[^"]+"', s) is not None,
    "text": lambda s: s not in ("{", "}", ";") and (not s.startswith('"') or s.endswith('"')),
    "bandwidth": lambda s: re.fullmatch(r"\d+[kmg]?", s) is not None,
    "plen": lambda s: re.fullmatch(r"/(\d+)", s) is not None and int(s[1:]) <= 32,
    "plenrange": lambda s: (re.fullmatch(r"/(\d+)-/(\d+)", s) is not None
                            and int(s[1:].split("-")[0]) <= int(s.split("-/")[1]) <= 32),
}


def _type_ok(key: str, tok: str) -> bool:
    kind = key[1:-1]
    if kind.startswith("int:"):
        lo, hi = kind[4:].split("-")
        return _int_in(int(lo), int(hi))(tok)
    return _TYPES[kind](tok)


def junos_statement_error(tokens: list[str]) -> str | None:
    """Why one statement (a `set` line without `set`) is not valid JunOS; None if it is."""
    node = JUNOS_GRAMMAR
    for i, tok in enumerate(tokens):
        said = " ".join(tokens[:i]) or "set"
        if tok in node and not tok.startswith(("<", "+")):
            node = node[tok]
        else:
            typed = [k for k in node if k.startswith("<")]
            match = next((k for k in typed if _type_ok(k, tok)), None)
            if match is None:
                if typed and not any(not k.startswith(("<", "+")) for k in node):
                    return f"invalid value '{tok}' after '{said}' (expected {typed[0][1:-1]})"
                words = sorted(k for k in node if not k.startswith(("<", "+")))
                if not words and not typed:
                    return f"unexpected '{tok}': '{said}' takes nothing more"
                return (f"unknown keyword '{tok}' after '{said}'"
                        + (f" (expected one of: {', '.join(words[:12])})" if words else ""))
            node = node[match]
    literal = [k for k in node if not k.startswith(("<", "+"))]
    if node and (MORE in node or not (literal or END in node)):
        return f"incomplete statement: '{' '.join(tokens)}'"
    return None


_SET_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\S+')
_BRACE_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{};]|[^\s{};"]+')


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return "\n".join(re.sub(r'^\s*#.*$', "", ln) for ln in text.splitlines())


def junos_format(text: str) -> str:
    """'set' when any statement is a set (or delete) command, else 'brace'."""
    lines = [ln.split() for ln in _strip_comments(text).splitlines() if ln.strip()]
    if any(t[0] in ("set", "delete") for t in lines) or not lines:
        return "set"
    return "brace"


def brace_to_set(text: str) -> tuple[list[tuple[int, list[str]]], list[str]]:
    """Brace-format JunOS as statements: ([(line, tokens)], nesting errors)."""
    errs, stmts = [], []
    lines = _strip_comments(text).splitlines()
    # JunOS prints one statement per line: each line ends in `{`, `}` or `;`.
    for n, ln in enumerate(lines, 1):
        s = ln.strip()
        if s and not s.endswith(("{", "}", ";")):
            errs.append(f"line {n}: statement does not end with ';': {s}")
    # One frame per open block: [line, header tokens, has a statement inside].
    stack: list[list] = []
    cur: list[str] = []
    cur_line = 0

    def path(tokens: list[str]) -> list[str]:
        return [t for f in stack for t in f[1]] + tokens

    for n, ln in enumerate(lines, 1):
        for tok in _BRACE_TOKEN.findall(ln):
            if tok == "{":
                if not cur:
                    errs.append(f"line {n}: '{{' without a statement before it")
                if stack:
                    stack[-1][2] = True
                stack.append([n, cur, False])
                cur = []
            elif tok == "}":
                if cur:
                    errs.append(f"line {n}: missing ';' after '{' '.join(cur)}'")
                    cur = []
                if not stack:
                    errs.append(f"line {n}: '}}' without a matching '{{'")
                    continue
                opened, head, has_child = stack.pop()
                if not has_child:
                    # An empty block (`ospf { }`) still configures its container.
                    stmts.append((opened, path(head)))
            elif tok == ";":
                if not cur:
                    errs.append(f"line {n}: empty statement (stray ';')")
                else:
                    stmts.append((cur_line, path(cur)))
                    if stack:
                        stack[-1][2] = True
                cur = []
            else:
                if not cur:
                    cur_line = n
                cur.append(tok)
    if cur:
        errs.append(f"line {cur_line}: missing ';' after '{' '.join(cur)}'")
    for opened, head, _ in stack:
        errs.append(f"line {opened}: '{{' opened after '{' '.join(head)}' is never closed")
    return stmts, errs


def junos_statements(text: str) -> tuple[list[tuple[int, list[str]]], list[str]]:
    """(line, tokens) per statement, set or brace format, plus format errors."""
    if junos_format(text) == "brace":
        return brace_to_set(text)
    stmts, errs = [], []
    for n, ln in enumerate(_strip_comments(text).splitlines(), 1):
        s = ln.strip()
        if not s:
            continue
        if not s.startswith("set "):
            errs.append(f"line {n}: not a `set` statement: {s}")
            continue
        stmts.append((n, _SET_TOKEN.findall(s)[1:]))
    return stmts, errs


def _junos_commit_checks(stmts: list[tuple[int, list[str]]]) -> list[str]:
    """Checks `commit` would fail on a complete config: undefined policies and prefix-lists,
    a BGP group without a type, an external group without peer-as. Off by default: an answer
    may be a change to an existing config (`set protocols bgp group G bfd-...`), where the
    rest lives on the router."""
    paths = [" ".join(t) for _, t in stmts]
    policies = {t[2] for _, t in stmts if t[:2] == ["policy-options", "policy-statement"]
                and len(t) > 2}
    plists = {t[2] for _, t in stmts if t[:2] == ["policy-options", "prefix-list"] and len(t) > 2}
    errs = []
    for n, t in stmts:
        if t[0] == "protocols" and len(t) >= 2 and t[-2] in ("import", "export") \
                and t[-1] not in policies:
            errs.append(f"line {n}: policy {t[-1]} is used but not defined")
        if "from" in t and "prefix-list" in t and t[0] == "policy-options":
            pl = t[t.index("prefix-list") + 1] if t.index("prefix-list") + 1 < len(t) else None
            if pl and pl not in plists:
                errs.append(f"line {n}: prefix-list {pl} is used but not defined")
    groups = {t[3] for _, t in stmts if t[:3] == ["protocols", "bgp", "group"] and len(t) > 3}
    for g in sorted(groups):
        base = f"protocols bgp group {g} "
        if not any(p.startswith(base + "type ") for p in paths):
            errs.append(f"BGP group {g} has no `type internal|external`")
        elif any(p == base + "type external" for p in paths):
            nbrs = {p.split()[5] for p in paths if p.startswith(base + "neighbor ")}
            group_as = any(p.startswith(base + "peer-as ") for p in paths)
            missing = [x for x in sorted(nbrs)
                       if not any(p.startswith(f"{base}neighbor {x} peer-as ") for p in paths)]
            if not group_as and (missing or not nbrs):
                errs.append(f"external BGP group {g} has no peer-as")
    return errs


def check_junos(text: str, complete: bool = False) -> Verdict:
    """JunOS config in `set` or brace format, checked against JUNOS_GRAMMAR; with
    complete=True also the cross-references a commit of a standalone config would check."""
    if not text.strip():
        return Verdict(False, ["empty configuration"])
    stmts, errs = junos_statements(text)
    if not stmts and not errs:
        errs.append("no statements")
    for n, toks in stmts:
        e = junos_statement_error(toks)
        if e:
            errs.append(f"line {n}: {e}")
    if complete and not errs:
        errs += _junos_commit_checks(stmts)
    return Verdict(not errs, errs)

