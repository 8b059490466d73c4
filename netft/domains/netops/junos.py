"""JunOS configs (`set` lines or brace format) checked against a hand-written grammar."""
from __future__ import annotations

import ipaddress
import re

from netft.domains.netops.frr import _is_ipv4
from netft.domains.netops.coverage import JUNOS_FOREIGN, junos_vocab, near_miss
from netft.domains.netops.junos_grammar import CLOSED, END, JUNOS_GRAMMAR, KNOWN, MORE, OPEN
from netft.domains.netops.verdict import Verdict

# Written by hand because no maintained offline JunOS validator exists: junoscfg's
# validation is broken, jnprsr only checks brace nesting, and pyez/napalm need a device.
# The grammar itself is data, in junos_grammar.py.

_JUNOS_IF = (r"(?:(?:ge|xe|et|fe|so|gr|lt|ip|mge|ms|si|vt|pe|pd|ut|sp)-\d+/\d+/\d+(?::\d+)?|"
             r"ae\d+|lo0|irb|vlan|fxp\d|em\d+|me\d|st0|reth\d+|vme|lsi|dsc|fti\d+|ps\d+|"
             r"pp0|gre|ipip|vtep|esi|jsrv|bme\d)")


def _int_in(lo: int, hi: int):
    return lambda s: s.isdigit() and lo <= int(s) <= hi


def _is_ipv6(s: str) -> bool:
    try:
        ipaddress.IPv6Address(s)
        return True
    except ValueError:
        return False


def _is_prefix(s: str, v6: bool = False) -> bool:
    a, _, plen = s.partition("/")
    if not plen.isdigit():
        return False
    return (_is_ipv4(a) and int(plen) <= 32) or (v6 and _is_ipv6(a) and int(plen) <= 128)


_QUOTED_OR_WORD = re.compile(r'"[^"]*"|[^\s"{};\[\]]+')

TYPES = {
    "ipv4": _is_ipv4,
    "ipv6": _is_ipv6,
    "ip46": lambda s: _is_ipv4(s) or _is_ipv6(s),
    "prefix": _is_prefix,
    "prefix46": lambda s: _is_prefix(s, v6=True),
    "ifaddr": _is_prefix,
    "ifaddr6": lambda s: _is_prefix(s, v6=True) and ":" in s,
    "area": lambda s: _is_ipv4(s) or _int_in(0, 4294967295)(s),
    "asn": lambda s: _int_in(1, 4294967295)(s) or re.fullmatch(r"\d{1,5}\.\d{1,5}", s)
    is not None,
    "holdtime": lambda s: s == "0" or _int_in(3, 65535)(s),
    "ifname": lambda s: re.fullmatch(_JUNOS_IF, s) is not None,
    # `re0:mgmt-0.0`: a routing engine's own management interface on dual-RE systems.
    "ospf_if": lambda s: s == "all" or re.fullmatch(rf"{_JUNOS_IF}(?:\.\d+)?", s) is not None
    or re.fullmatch(r"re[01]:mgmt-\d+(?:\.\d+)?", s) is not None,
    "nexthop": lambda s: _is_ipv4(s) or _is_ipv6(s)
    or re.fullmatch(rf"{_JUNOS_IF}\.\d+", s) is not None,
    "name": lambda s: re.fullmatch(r'[A-Za-z0-9_][A-Za-z0-9_.:/\-]{0,254}|"[^"]+"', s)
    is not None,
    # One word or one quoted string: anything a value can be that is not structure.
    "word": lambda s: _QUOTED_OR_WORD.fullmatch(s) is not None,
    "text": lambda s: _QUOTED_OR_WORD.fullmatch(s) is not None,
    "community": lambda s: _QUOTED_OR_WORD.fullmatch(s) is not None and (
        s.startswith('"') or ":" in s or s in ("no-export", "no-advertise",
                                               "no-export-subconfed", "llgr-stale")),
    "applypath": lambda s: _apply_path_ok(s),
    "mac": lambda s: re.fullmatch(r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}", s) is not None,
    "size": lambda s: re.fullmatch(r"\d+[kmg]?", s) is not None,
    "bandwidth": lambda s: re.fullmatch(r"\d+[kmg]?", s) is not None,
    "plen": lambda s: re.fullmatch(r"/(\d+)", s) is not None and int(s[1:]) <= 128,
    "plenrange": lambda s: (re.fullmatch(r"/(\d+)-/(\d+)", s) is not None
                            and int(s[1:].split("-")[0]) <= int(s.split("-/")[1]) <= 128),
}
_TYPES = TYPES


def _apply_path_ok(s: str) -> bool:
    """`apply-path "protocols bgp group <*> neighbor <*>"`: a quoted Junos configuration path
    (`<..>` wildcards stand for names). Its words are Junos: it starts at a top-level
    statement, and no word is another dialect's (`router bgp ...` is IOS)."""
    if not (len(s) > 2 and s[0] == s[-1] == '"'):
        return False
    words = [w for w in s[1:-1].split() if not (w.startswith("<") and w.endswith(">"))]
    top = words[0] if words else ""
    return ((top in JUNOS_GRAMMAR or top in JUNOS_GRAMMAR[KNOWN])
            and not any(w in JUNOS_FOREIGN for w in words))


def _type_ok(key: str, tok: str) -> bool:
    kind = key[1:-1]
    if kind.startswith("int:"):
        lo, hi = kind[4:].split("-")
        return _int_in(int(lo), int(hi))(tok)
    return TYPES[kind](tok)


def _expand_lists(tokens: list[str]) -> list[list[str]] | str:
    """`protocol [ static direct ]` -> one statement per element; an error string when the
    brackets do not pair up."""
    if "[" not in tokens and "]" not in tokens:
        return [tokens]
    if tokens.count("[") != 1 or tokens.count("]") != 1 or tokens[-1] != "]" \
            or tokens.index("[") > tokens.index("]"):
        return f"unbalanced '[ ]' list in '{' '.join(tokens)}'"
    i = tokens.index("[")
    items = tokens[i + 1:-1]
    if not items:
        return f"empty '[ ]' list in '{' '.join(tokens)}'"
    return [tokens[:i] + [x] for x in items]


def junos_statement_error(tokens: list[str], partial: bool = False) -> str | None:
    """Why one statement (a `set` line without `set`) is not valid JunOS; None if it is valid
    or not covered (junos_statement_check tells those apart).
    partial: the path may stop anywhere (`deactivate`, `delete` name a subtree)."""
    return junos_statement_check(tokens, partial)[0]


_KEYWORD = re.compile(r"[a-z][a-z0-9-]*")


def _unknown(node: dict, tok: str, said: str) -> tuple[str | None, str | None]:
    """(error, not-covered reason) for a token the grammar has no place for at `node`."""
    typed = [k for k in node if k.startswith("<")]
    words = sorted(k for k in node if not k.startswith(("<", "+")))
    vocab = junos_vocab()
    expected = f" (expected one of: {', '.join(words[:12])})" if words else ""
    if not _KEYWORD.fullmatch(tok):
        # Every Junos keyword is a lower-case word: this is a value where none fits.
        if typed:
            return f"invalid value '{tok}' after '{said}' (expected {typed[0][1:-1]})", None
        return f"unknown keyword '{tok}' after '{said}'{expected}", None
    typo = None if tok in vocab else near_miss(tok, words) or near_miss(tok, vocab)
    if typo:
        return f"unknown keyword '{tok}' after '{said}' (did you mean '{typo}'?)", None
    if tok in JUNOS_FOREIGN:
        return f"wrong dialect: '{tok}' is IOS/FRR, not JunOS (after '{said}')", None
    if typed and not words:
        return f"invalid value '{tok}' after '{said}' (expected {typed[0][1:-1]})", None
    if not words and not typed and OPEN not in node:
        return f"unexpected '{tok}': '{said}' takes nothing more", None
    if KNOWN in node:
        # The real keywords missing here are listed: only those are not covered.
        if tok in node[KNOWN]:
            return None, f"not covered: '{said} {tok}'"
        return f"unknown keyword '{tok}' after '{said}'{expected}", None
    complete = MORE not in node
    if CLOSED in node or (complete and tok not in vocab):
        # After a complete statement, a word that is no Junos keyword is junk.
        return f"unknown keyword '{tok}' after '{said}'{expected}", None
    return None, f"not covered: '{said} {tok}'"


def junos_statement_check(tokens: list[str], partial: bool = False
                          ) -> tuple[str | None, str | None]:
    """(error, not-covered reason) of one statement: (None, None) valid, (error, None)
    invalid, (None, reason) a hierarchy or statement the grammar does not model."""
    expanded = _expand_lists(tokens)
    if isinstance(expanded, str):
        return expanded, None
    if len(expanded) > 1:
        results = [junos_statement_check(t, partial) for t in expanded]
        return (next((e for e, _ in results if e), None),
                next((u for _, u in results if u), None))
    node = JUNOS_GRAMMAR
    for i, tok in enumerate(tokens):
        if tok in ("apply-groups", "apply-groups-except") and i + 2 == len(tokens):
            return (None if TYPES["name"](tokens[-1]) else
                    f"invalid group name {tokens[-1]}"), None
        said = " ".join(tokens[:i]) or "set"
        if tok in node and not tok.startswith(("<", "+")):
            node = node[tok]
        else:
            typed = [k for k in node if k.startswith("<")]
            match = next((k for k in typed if _type_ok(k, tok)), None)
            if match is None:
                return _unknown(node, tok, said)
            node = node[match]
    literal = [k for k in node if not k.startswith(("<", "+"))]
    if node and not partial and (MORE in node or not (literal or END in node or OPEN in node)):
        return f"incomplete statement: '{' '.join(tokens)}'", None
    return None, None


_SET_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\S+')
_BRACE_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{};]|[^\s{};"]+')


def _strip_comments(text: str) -> str:
    """Annotations (`/* .. */`), `#` / `##` comment lines and comments after a statement go;
    line numbers stay."""
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return "\n".join(re.sub(r'([;{}])\s+#.*$', r"\1", re.sub(r'^\s*#.*$', "", ln))
                     for ln in text.splitlines())


# `deactivate X` / `delete X` / `activate X` name a subtree: any prefix of a valid path.
_PARTIAL = ("deactivate", "activate", "delete", "protect", "unprotect")


def junos_format(text: str) -> str:
    """'set' when any statement is a set (or delete) command, else 'brace'."""
    lines = [ln.split() for ln in _strip_comments(text).splitlines() if ln.strip()]
    # A brace statement ends in `;`, `{` or `}`: `protect core;` is routing-options' BGP
    # PIC statement, not the `protect` command.
    if any(t[0] in ("set",) + _PARTIAL and t[-1][-1:] not in (";", "{", "}")
           for t in lines) or not lines:
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
            elif tok in ("inactive:", "protect:"):
                continue      # a deactivated statement is still checked as a statement
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
        if s.split()[0] in _PARTIAL:
            continue          # checked by check_junos as a partial path
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


# IOS / FRR commands: in a JunOS answer they are the other dialect, not a typo.
_CLI_LINE = re.compile(r"^\s*(?:interface|router|ip|ipv6|neighbor|network|route-map|hostname|"
                       r"redistribute|passive-interface|no|exit|end)\b[^{};]*$")


def check_junos(text: str, complete: bool = False) -> Verdict:
    """JunOS config in `set` or brace format, checked against JUNOS_GRAMMAR; with
    complete=True also the cross-references a commit of a standalone config would check.
    Statements the grammar does not model are listed in Verdict.unverified, not errors."""
    if not text.strip():
        return Verdict(False, ["empty configuration"])
    stmts, errs = junos_statements(text)
    cli = {n for n, ln in enumerate(_strip_comments(text).splitlines(), 1) if _CLI_LINE.match(ln)}
    if cli:
        errs = [f"line {n}: wrong dialect: IOS/FRR syntax in a JunOS answer: "
                f"{text.splitlines()[n - 1].strip()}" for n in sorted(cli)] + [
            e for e in errs if not any(e.startswith(f"line {n}:") for n in cli)]
    if not stmts and not errs:
        errs.append("no statements")
    unverified = []
    n_judged = len(stmts)
    for n, toks in stmts:
        e, u = junos_statement_check(toks)
        if e:
            errs.append(f"line {n}: {e}")
        elif u:
            unverified.append(f"line {n}: {u}")
    if junos_format(text) == "set":
        for n, ln in enumerate(_strip_comments(text).splitlines(), 1):
            toks = _SET_TOKEN.findall(ln.strip())
            if toks and toks[0] in _PARTIAL:
                n_judged += 1
                e, u = junos_statement_check(toks[1:], partial=True) if len(toks) > 1 else \
                    (f"incomplete statement: '{toks[0]}'", None)
                if e:
                    errs.append(f"line {n}: {e}")
                elif u:
                    unverified.append(f"line {n}: {u}")
    if complete and not errs:
        errs += _junos_commit_checks(stmts)
    return Verdict(not errs, errs, checker="junos_grammar", unverified=unverified,
                   n_lines=n_judged)
