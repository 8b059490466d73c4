"""Cisco IOS configs: IOS-only lines checked against a table of their grammar, the rest
rewritten into FRR form (dotted masks and wildcards become prefixes) and checked by vtysh;
FRR-only spellings are rejected."""
from __future__ import annotations

import ipaddress
import re

from netft.domains.netops import ios_grammar as G
from netft.domains.netops.cli_grammar import IOS_IFNAME, is_ipv4, mask_len, match_line, type_ok
from netft.domains.netops.coverage import (IOS_FOREIGN, ios_coverage, ios_vocab, near_miss,
                                           optional_forms)
from netft.domains.netops.frr import _frr_holes, _vtysh_errors, frr_version, vtysh_path
from netft.domains.netops.verdict import Verdict

_IOS_LONG = {"gi": "GigabitEthernet", "gig": "GigabitEthernet", "te": "TenGigabitEthernet",
             "fa": "FastEthernet", "se": "Serial", "lo": "Loopback", "po": "Port-channel",
             "tu": "Tunnel"}


def ios_long_ifname(name: str) -> str:
    """Gi0/1 -> GigabitEthernet0/1, lo0 -> Loopback0 (other names are only re-cased)."""
    m = re.match(r"^([A-Za-z-]+)\s?(\d.*)$", name)
    if not m:
        return name
    kind = m.group(1)
    full = _IOS_LONG.get(kind.lower())
    if full is None:
        for long in ("GigabitEthernet", "TenGigabitEthernet", "FastEthernet", "Ethernet",
                     "Loopback", "Vlan", "Port-channel", "Tunnel", "Serial", "Null"):
            if long.lower() == kind.lower():
                full = long
                break
    return f"{full or kind}{m.group(2)}"


# IOS forms FRR rejects or does not check, with or without a leading `no`.
_IP_MASK = re.compile(r"^(\s*(?:no )?)ip address (\S+) (\d+\.\d+\.\d+\.\d+)( secondary)?\s*$")
_OSPF_WILD = re.compile(r"^(\s*(?:no )?)network (\S+) (\d+\.\d+\.\d+\.\d+) area (\S+)\s*$")
_BGP_MASK = re.compile(r"^(\s*(?:no )?)network (\S+) mask (\S+)(.*)$")
_ROUTE_MASK = re.compile(r"^(\s*(?:no )?)ip route (\S+) (\d+\.\d+\.\d+\.\d+)(\s.*)$")

# Session commands around a config (typed at the prompt, not configuration): accepted and
# not checked further.
SESSION = re.compile(r"^(?:configure terminal|conf(?:ig(?:ure)?)? t(?:erm(?:inal)?)?|end|exit|"
                     r"write(?: memory)?|wr(?: mem)?|copy run(?:ning-config)? "
                     r"start(?:up-config)?)$")

# FRR (or JunOS) spellings IOS refuses, per mode ("*" = any). Checked before anything else:
# they are exactly what a model confuses between dialects.
_NOT_IOS = [
    ("*", r"(?:set|delete) (?:interfaces|protocols|routing-options|policy-options|system|"
          r"routing-instances|firewall|chassis|vlans|snmp) .*|.*[{}]|.*;", "JunOS syntax"),
    ("interface", r"ip ospf area \S+.*", "FRR syntax; IOS needs the process id: "
                                         "`ip ospf PID area AREA`"),
    ("interface", r"ip ospf passive", "FRR syntax; IOS uses `passive-interface`"),
    ("interface", r"(?:no )?ip address \d+\.\d+\.\d+\.\d+/\d+.*", "IOS needs a dotted netmask"),
    ("interface", r"link-detect|no link-detect", "FRR syntax"),
    ("ospf", r"ospf router-id .*", "FRR syntax; IOS uses `router-id` under router ospf"),
    ("ospf", r"(?:no )?network \S+/\d+ area .*", "IOS needs a wildcard mask"),
    ("bgp", r"neighbor \S+ remote-as (?:external|internal)", "FRR syntax; IOS needs the AS"),
    ("bgp", r"(?:no )?bgp ebgp-requires-policy", "FRR-only knob; IOS has no RFC 8212 default"),
    ("bgp", r"(?:no )?network \d+\.\d+\.\d+\.\d+/\d+.*", "IOS BGP needs `network A mask M`"),
    ("bgp", r"neighbor \S+ interface .*|neighbor \S+ bfd", "FRR syntax"),
    ("global", r"router ospf(?: vrf \S+)?", "IOS needs an OSPF process id: `router ospf PID`"),
    ("global", r"(?:no )?ip route \S+/\d+.*", "IOS needs `ip route PREFIX MASK ...`"),
    ("global", r"(?:no )?ip route .*\bblackhole\b.*", "FRR syntax; IOS routes to Null0"),
    # `lo0` / `eth0/0` are IOS abbreviations (Loopback0, Ethernet0/0); these are not.
    ("global", r"interface (?:eth\d+|ens\S+|enp\S+|eno\d+|lo|veth\S+|br\d*|bond\d+|swp\d+|"
               r"dummy\d*|r\d+-eth\d+)", "Linux interface name (FRR); IOS names are like "
                                          "GigabitEthernet0/1"),
]

_TABLES = {"interface": G.INTERFACE, "ospf": G.OSPF, "bgp": G.BGP, "global": G.GLOBAL,
           "route-map": G.ROUTE_MAP}


def _key(pattern: str) -> tuple[str, ...]:
    """The words that name a pattern's command: its leading literals and typed values up to
    the last literal before anything optional or alternative (`[no]` dropped)."""
    out: list[str] = []
    for t in pattern.replace("[no] ", "").split():
        if t.startswith("["):
            break
        out.append(t)
        if "|" in t:          # a choice of keywords names the command too, then stop
            break
    while out and out[-1].startswith("{"):
        out.pop()
    return tuple(out)


def _key_matches(key: tuple[str, ...], words: list[str]) -> bool:
    if len(words) < len(key):
        return False
    for k, w in zip(key, words):
        if k.startswith("{"):
            if not type_ok(k[1:-1], w):
                return False
        elif w not in k.split("|"):
            return False
    return True


def _owns(pattern: str, words: list[str]) -> bool:
    """Whether `pattern` owns a line: its key words lead the line. A bare command (`[no]
    switchport`, `[no] autostate`: nothing after its key) owns only itself: `switchport
    port-security` is another command, which the table may not model (not covered)."""
    key = _key(pattern)
    bare = len(pattern.replace("[no] ", "").split()) == len(key)
    return _key_matches(key, words) and (not bare or len(words) == len(key))


NOT_COVERED = "not covered: "


def _check_table(mode: str, s: str) -> str | None | bool:
    """False: no pattern of `mode` owns the line. None: it is valid. Else the error, or a
    reason starting with NOT_COVERED (a form of a known command the table does not model)."""
    words = s.split()
    neg = words[:1] == ["no"]
    base = words[1:] if neg else words
    owners = [p for p in _TABLES.get(mode, []) if _owns(p, base) or _owns(p, words)]
    if not owners:
        return False
    best = None
    for p in owners:
        bad = match_line(p, s)
        if bad is None and neg:
            # IOS takes `no` before any configuration command (`no neighbor X activate`).
            # Which negated forms may drop their arguments varies per command, so a shorter
            # negated line is still judged by the patterns that spell their `[no]`.
            bad = match_line(p.replace("[no] ", ""), " ".join(base))
        if bad == []:
            return None
        if bad:
            best = best or f"bad value: {', '.join(bad)}"
    if best:
        return best
    shortest = min(len(p.replace("[no] ", "").split("[")[0].split()) for p in owners)
    if len(base) < shortest:
        return f"Command incomplete: {s}"
    kin = [p for p in _TABLES.get(mode, []) if _key(p)[:1] == tuple(base[:1])]
    return _unmodelled_form(owners, kin, base, s)


def _shape_error(patterns: list[str], words: list[str]) -> str | None:
    """A line with a pattern's keywords in place but a value that is not one (`standby
    version 9`: 1|2; `vlan ad 10`: add|remove|except, `ad` being no IOS word) or with its
    last arguments missing: invalid."""
    vocab = ios_vocab(vtysh_path())
    for p in patterns:
        for form in optional_forms(p.replace("[no] ", "").split()):
            if len(words) > len(form) or form[-1] == "{text}":
                continue
            same = True
            for t, w in zip(form, words):
                alts = t.lower().split("|")
                value = t.startswith("{") or all(a.isdigit() for a in alts)
                if value or w.lower() in alts or (len(alts) > 1 and w.lower() not in vocab):
                    continue
                same = False
                break
            if same:
                return "Command incomplete" if len(words) < len(form) else "bad value"
    return None


def _unmodelled_form(owners: list[str], kin: list[str], words: list[str], s: str) -> str:
    """A line a table command owns but no pattern matches: invalid when it has a pattern's
    keywords with a bad or missing value, or a word after the command's key is a typo of a
    keyword, another dialect's word, or junk after a complete command (coverage.py's rules);
    else not covered (`encapsulation ppp`, `standby 1 track 1 decrement 10`: forms of known
    commands the table does not list)."""
    shape = _shape_error(kin, words)     # kin: the mode's patterns of the same first word
    if shape:
        return f"{shape}: {s}"
    vocab = ios_vocab(vtysh_path())
    key = max(len(_key(p)) for p in owners)
    complete = [k for k in range(1, len(words)) if any(
        match_line(p, " ".join(words[:k])) == [] for p in kin)]
    for i, w in enumerate(words[key:], key):
        lw = w.lower()
        if not re.fullmatch(r"[a-z][a-z-]*", lw):
            continue                    # a value: a number, an address, a name with digits
        if lw in IOS_FOREIGN:
            return f"Unknown command: {s} (wrong dialect: '{w}' is JunOS)"
        typo = None if lw in vocab else near_miss(lw, vocab)
        if typo:
            return f"Unknown command: {s} (unknown keyword '{w}' (did you mean '{typo}'?))"
        if lw not in vocab and complete and i >= complete[0]:
            return f"Unknown command: {s} ('{' '.join(words[:complete[0]])}' takes nothing more)"
    return f"{NOT_COVERED}'{s}' (a form of '{' '.join(words[:key])}' the IOS table does not model)"


def _check_options(w: list[str], i: int, opts: dict, s: str) -> str | None:
    """Trailing `keyword [value]` options from w[i] on: each keyword known, each value typed."""
    while i < len(w):
        if w[i] not in opts:
            return f"Unknown command (unexpected '{w[i]}'): {s}"
        kind = opts[w[i]]
        if kind == "+route-types":
            # `match internal external 1 nssa-external 2`: one or more route types.
            j = i + 1
            while j < len(w) and w[j] in G.REDIST_MATCH:
                sub = G.REDIST_MATCH[w[j]]
                j += 2 if sub and j + 1 < len(w) and type_ok(sub, w[j + 1]) else 1
            if j == i + 1:
                return (f"Command incomplete: {s}" if j >= len(w) else
                        f"bad value: {w[j]} (expected internal, external or nssa-external)")
            i = j
            continue
        if kind:
            if i + 1 >= len(w):
                return f"Command incomplete: {s}"
            if not type_ok(kind, w[i + 1]):
                return f"bad value: {w[i + 1]} (expected {kind})"
            i += 1
        i += 1
    return None


def _check_redistribute(s: str) -> str | None:
    w = s.split()[1:]
    if not w or w[0] not in G.REDIST_PROTOS:
        return f"Unknown command: {s}"
    kind = G.REDIST_PROTOS[w[0]]
    i = 1
    if kind:
        if len(w) < 2:
            return f"Command incomplete: {s}"
        if not type_ok(kind, w[1]):
            return f"bad value: {w[1]} (expected {kind})"
        i = 2
    return _check_options(w, i, G.REDIST_OPTS, s)


def _check_route(s: str) -> str | None:
    """`ip route [vrf V] PREFIX MASK (NEXTHOP | IFNAME [NEXTHOP]) [DIST] [tag N] [name X]...`"""
    w = s.split()
    i = 3 if w[:1] == ["no"] else 2
    if w[i:i + 1] == ["vrf"]:
        if len(w) < i + 2 or not type_ok("name", w[i + 1]):
            return f"Command incomplete: {s}"
        i += 2
    if len(w) < i + 3:
        return f"Command incomplete: {s}"
    pfx, mask, hop = w[i:i + 3]
    if not is_ipv4(pfx) or mask_len(mask) is None:
        return f"bad value: invalid prefix or netmask {pfx} {mask}"
    if int(ipaddress.IPv4Address(pfx)) & ~(0xFFFFFFFF << (32 - mask_len(mask))) & 0xFFFFFFFF:
        return f"bad value: inconsistent address and mask {pfx} {mask}"
    i += 3
    if IOS_IFNAME.match(hop):
        if i < len(w) and is_ipv4(w[i]):
            i += 1
    elif not is_ipv4(hop):
        return f"bad value: {hop} is neither a next hop address nor an IOS interface"
    if i < len(w) and w[i].isdigit():
        if not 1 <= int(w[i]) <= 255:
            return f"bad value: administrative distance {w[i]} is outside 1-255"
        i += 1
    return _check_options(w, i, G.ROUTE_OPTS, s)


def _host_bits_error(s: str) -> str | None:
    """IOS refuses an interface address that is the subnet's network or broadcast address."""
    m = re.fullmatch(r"ip address (\S+) (\S+)(?: secondary)?", s)
    if not m or not is_ipv4(m.group(1)) or mask_len(m.group(2)) is None:
        return None
    plen = mask_len(m.group(2))
    if plen >= 31:
        return None
    host = int(ipaddress.IPv4Address(m.group(1))) & ((1 << (32 - plen)) - 1)
    if host in (0, (1 << (32 - plen)) - 1):
        return f"bad value: bad mask /{plen} for address {m.group(1)}"
    return None


_HEADER = re.compile(r"^(interface|router ospf|router bgp|route-map|address-family|"
                     r"ip access-list|router \S+|line|key chain|vrf definition|"
                     # `ip vrf NAME` opens a VRF; `ip vrf forwarding NAME` is an interface line
                     r"ip vrf(?! forwarding\b))\b")


def _mode_of(header: str) -> str:
    if header.startswith("interface "):
        return "interface"
    if header.startswith("router ospf"):
        return "ospf"
    if header.startswith("router bgp"):
        return "bgp"
    if header.startswith("route-map "):
        return "route-map"
    return "other"


def _check_header(s: str) -> str | None:
    w = s.split()
    if w[0] == "interface":
        if len(w) < 2:
            return f"Command incomplete: {s}"
        name = "".join(w[1:3]) if len(w) == 3 and w[2][:1].isdigit() else " ".join(w[1:])
        if not IOS_IFNAME.match(name):
            return f"bad value: not an IOS interface name: {name}"
    elif w[:2] == ["router", "ospf"]:
        bad = match_line("router ospf {int:1-65535} [vrf {name}]", s)
        if bad is None:
            return f"Unknown command: {s}"
        if bad:
            return f"bad value: {', '.join(bad)}"
    elif w[:2] == ["router", "bgp"]:
        bad = match_line("router bgp {asn}", s)
        if bad is None:
            return f"Command incomplete: {s}" if len(w) < 3 else f"Unknown command: {s}"
        if bad:
            return f"bad value: {', '.join(bad)}"
    return None


def _vtysh_form(mode: str, s: str) -> str:
    """The FRR spelling of an IOS line that vtysh is to check."""
    if mode == "global":
        s = re.sub(r"^interface ([A-Za-z-]+) (\d\S*)$", r"interface \1\2", s)
        s = re.sub(r"^route-map (\S+) (permit|deny)$", r"route-map \1 \2 10", s)
        s = re.sub(r"^ip (community-list|as-path access-list) ", r"bgp \1 ", s)
        s = re.sub(r"^router ospf \d+ vrf (\S+)$", r"router ospf vrf \1", s)
    return s


def _lines(text: str):
    """Per input line: (line number, statement form, vtysh form or None, errors, checked).

    statement form: the IOS line in FRR spelling (masks as prefixes), kept for the value
    checks in domain.py; vtysh form: what vtysh is to check (None: checked here)."""
    mode = "global"
    for n, raw in enumerate(text.splitlines(), 1):
        indent = raw[:len(raw) - len(raw.lstrip())]
        s = " ".join(raw.split())
        if not s or s.startswith("!") or SESSION.fullmatch(s):
            if s in ("end",) or (s == "exit" and not indent and mode != "global"):
                mode = "global"
            yield n, indent + "!", indent + "!", [], bool(s and not s.startswith("!"))
            continue
        if s == "exit-address-family":
            yield n, raw, raw, [], False
            continue
        # A top-level line opens a mode; a body line written without indentation stays in
        # its block when the block's table knows it (vtysh reads such files the same way).
        if not indent:
            if _HEADER.match(s):
                if not s.startswith("address-family"):
                    mode = _mode_of(s)
            elif mode == "global" or (_check_table(mode, s) is False and not s.startswith(
                    ("neighbor", "network", "redistribute", "match", "set"))):
                mode = "global"
        errs, stmt, vt = [], raw, None
        for where, rx, why in _NOT_IOS:
            here = "global" if _HEADER.match(s) and not indent else mode
            if where in ("*", here) and re.fullmatch(rx, s):
                errs.append(f"wrong dialect: {why}: {s}")
        if not errs:
            if _HEADER.match(s) and not s.startswith("address-family"):
                e = _check_header(s)
                errs += [e] if e else []
                vt = indent + _vtysh_form("global", s)
            elif re.match(r"^(?:no )?ip route ", s) and mode == "global":
                e = _check_route(s)
                errs += [e] if e else []
            elif s.startswith("redistribute ") and mode in ("ospf", "bgp"):
                e = _check_redistribute(s)
                errs += [e] if e else []
            else:
                e = _check_table(mode, s)
                if e is False:
                    vt = indent + _vtysh_form(mode, s)
                elif e:
                    errs.append(e)       # NOT_COVERED reasons are split off by the callers
                else:
                    e = _host_bits_error(s) if mode == "interface" else None
                    errs += [e] if e else []
        if s.startswith("address-family "):
            # vtysh needs the address-family node for the lines below; IOS's `ipv4 vrf X`
            # and bare `ipv4` are both FRR's `ipv4 unicast` as far as syntax goes.
            vt = indent + "address-family " + ("ipv6 unicast" if "ipv6" in s else
                                                "ipv4 vpn" if "vpnv4" in s else "ipv4 unicast")
        stmt = _rewrite_mask(re.sub(r"^(\s*interface) ([A-Za-z-]+) (\d\S*)\s*$", r"\1 \2\3",
                                    raw))[0]
        stmt = re.sub(r"^(\s*redistribute \S+.*?) subnets\b", r"\1", stmt)
        yield n, stmt, vt, errs, vt is None


def ios_to_frr(text: str) -> tuple[list[str], list[str], list[str]]:
    """IOS lines in FRR spelling, line for line (masks as prefixes): (lines, errors, lines
    checked here rather than by vtysh). The errors are those found without vtysh."""
    out, errs, checked = [], [], []
    for n, stmt, _, e, own in _lines(text):
        out.append(stmt)
        errs += [f"line {n}: {x}" for x in e if not x.startswith(NOT_COVERED)]
        if own:
            checked.append(f"line {n}: {stmt.strip()}")
    return out, errs, checked


def _rewrite_mask(line: str) -> tuple[str, str | None]:
    m = _IP_MASK.match(line)
    if m:
        plen = mask_len(m.group(3))
        if plen is None:
            return line, f"invalid netmask {m.group(3)}"
        # FRR has no `secondary` keyword: every `ip address` line adds an address.
        return f"{m.group(1)}ip address {m.group(2)}/{plen}", None
    m = _OSPF_WILD.match(line)
    if m:
        plen = mask_len(m.group(3), wildcard=True)
        if plen is None:
            return line, f"invalid wildcard mask {m.group(3)}"
        return f"{m.group(1)}network {m.group(2)}/{plen} area {m.group(4)}", None
    m = _BGP_MASK.match(line)
    if m:
        plen = mask_len(m.group(3))
        if plen is None:
            return line, f"invalid netmask {m.group(3)}"
        return f"{m.group(1)}network {m.group(2)}/{plen}{m.group(4)}", None
    m = _ROUTE_MASK.match(line)
    if m:
        plen = mask_len(m.group(3))
        if plen is None:
            return line, f"invalid netmask {m.group(3)}"
        return f"{m.group(1)}ip route {m.group(2)}/{plen}{m.group(4)}", None
    return line, None


def check_ios(text: str) -> Verdict:
    """Cisco IOS config: IOS-only lines against ios_grammar, the rest by vtysh in FRR form.

    Verdict.skipped lists nothing: every line is checked, by one or the other.
    """
    if not text.strip():
        return Verdict(False, ["empty configuration"])
    recs = list(_lines(text))
    errs = [f"line {n}: {x}" for n, _, _, e, _ in recs for x in e
            if not x.startswith(NOT_COVERED)]
    unverified = [f"line {n}: {x}" for n, _, _, e, _ in recs for x in e
                  if x.startswith(NOT_COVERED)]
    vt = [v if v is not None and not e else (" !" if s[:1].isspace() else "!")
          for _, s, v, e, _ in recs]
    errs += _frr_holes(vt)
    orig = text.splitlines()
    for e in _vtysh_errors("\n".join(vt)):
        # Report vtysh's complaint against the line the user wrote, not our rewrite of it.
        m = re.match(r"^line (\d+): ([^:]+):", e)
        if m and 0 < int(m.group(1)) <= len(orig):
            line = orig[int(m.group(1)) - 1].strip()
            e = f"line {m.group(1)}: {m.group(2)}: {line}"
            # FRR lacks the command: a typo, another dialect or junk after a known command
            # is still an error; a real IOS command neither grammar models is not covered.
            if re.match(r"(?:Unknown command|Command incomplete)", m.group(2)):
                covered, why = ios_coverage(line.split(), vtysh_path())
                if not covered:
                    unverified.append(f"line {m.group(1)}: {why}")
                    continue
                if why != "known command":
                    e += f" ({why})"
        errs.append(e)
    errs.sort(key=lambda e: int(re.match(r"line (\d+)", e).group(1)) if e.startswith("line ")
              else 0)
    n_lines = sum(1 for ln in orig if (t := " ".join(ln.split())) and not t.startswith("!")
                  and not SESSION.fullmatch(t))
    return Verdict(not errs, errs, checker=f"ios_grammar + vtysh (FRR {frr_version()})",
                   unverified=unverified, n_lines=n_lines)
