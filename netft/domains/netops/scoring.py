"""Automatic scoring of model answers on the network-engineering set (scoring only:
predictions come in as strings).

Per category:
  config, translate  syntax (the dialect's real verifier), values (the key values in
                     row["meta"] appear where they belong), accuracy = both, and format
                     (a cheap structural check independent of the verifier)
  troubleshoot       diagnosis (keyword table per diagnosis, see DIAGNOSIS) and next_step
                     (meta.next_command or an equivalent command); for "Insufficient data"
                     items the prediction must abstain too
  refusal            accuracy = the prediction abstains (is_abstention)
  refusal_twin       accuracy = it does not (over-refusal); overall refusal_accuracy is the
                     mean of the two rates
  explain, curated   overlap_weak: recall of the reference's key terms. A WEAK metric: it
                     rewards echoing the question's command and cannot tell right from wrong.

Rows without a category ("general") get the chat domain's scores (netft/domains/chat.py).
netft.domains.netops.DOMAIN wires these functions into the domain contract (netft/domains).
"""
from __future__ import annotations

import ipaddress
import re
from collections import Counter
from typing import Callable

from netft.domains.chat import (CHAT_COLUMNS, GENERIC, category_means, chat_overall,
                                chat_scores, is_abstention, item, mean, overlap_weak, reference,
                                table)
from netft.domains.netops.verifiers import (error_class, extract_config, ios_long_ifname,
                                            ios_to_frr, junos_statements, verify)

CONFIG_CATS = ("config", "translate")
WEAK_CATS = ("explain", "curated")



# --------------------------------------------------------------------------- statements
# Configs are compared as flat statements with their context in front
# ("interface eth1 ip ospf cost 10", "protocols ospf area 0.0.0.1 interface ge-0/0/1.0
# metric 10"), after IOS masks become prefixes and JunOS braces become set paths, so the value
# checks below are one regex per fact and don't care about formatting.

_BLOCK = re.compile(r"^(?:interface \S+|router (?:ospf|bgp)\b.*|route-map \S+ .*)$")
_GLOBAL = re.compile(r"^(?:ip route|ipv6 route|ip prefix-list|hostname|access-list|"
                     r"ip access-list|frr |log |service |line )")


def statements(cfg: str, dialect: str) -> list[str]:
    if dialect.startswith("junos"):
        stmts, _ = junos_statements(cfg)
        out = []
        for _, toks in stmts:
            toks = [t.strip('"') for t in toks]
            if toks[:3] == ["protocols", "ospf", "area"] and len(toks) > 3:
                toks[3] = _dotted_area(toks[3])
            out.append(" ".join(toks))
        return out
    lines = ios_to_frr(cfg)[0] if dialect == "ios" else cfg.splitlines()
    out: list[str] = []
    ctx: list[str] = []
    for line in lines:
        s = " ".join(line.split())
        if not s or s.startswith("!"):
            if s == "!" and not line[:1].isspace() and dialect == "ios":
                ctx = []
            continue
        if dialect == "ios":
            s = re.sub(r"^((?:no )?(?:interface|passive-interface)) (\S+)$",
                       lambda m: f"{m.group(1)} {ios_long_ifname(m.group(2))}", s)
            s = re.sub(r"(update-source) (\S+)$", lambda m: f"{m.group(1)} "
                       f"{ios_long_ifname(m.group(2))}", s)
        if s in ("exit", "end", "exit-address-family"):
            ctx = {"exit": ctx[:-1], "end": [], "exit-address-family": ctx[:1]}[s]
            continue
        indented = line[:1].isspace()
        if _BLOCK.match(s) and not indented:
            ctx = [s]
            out.append(s)
        elif s.startswith("address-family ") and ctx:
            ctx = ctx[:1] + [s]
        elif _GLOBAL.match(s) and not indented:
            ctx = []
            out.append(s)
        else:
            # Unindented body lines still belong to the open block (vtysh reads them so).
            out.append(" ".join(ctx + [s]))
    return out


def _dotted_area(a: str) -> str:
    return str(ipaddress.IPv4Address(int(a))) if a.isdigit() and int(a) < 2**32 else a


def _area_eq(a: str, b: str) -> bool:
    return _dotted_area(a) == _dotted_area(b)


def _net_eq(a: str, b: str) -> bool:
    try:
        return ipaddress.IPv4Network(a, strict=False) == ipaddress.IPv4Network(b, strict=False)
    except ValueError:
        return False


def _has(stmts: list[str], pattern: str, check: Callable | None = None) -> bool:
    rx = re.compile(pattern)
    for s in stmts:
        m = rx.fullmatch(s)
        if m and (check is None or check(m)):
            return True
    return False


# --------------------------------------------------------------------------- facts

Fact = tuple[str, Callable[[list[str]], bool]]
E = re.escape


def _ifname(dialect: str, n: int) -> str:
    return {"ios": f"GigabitEthernet0/{n}", "frr": f"eth{n}"}.get(dialect, f"ge-0/0/{n}")


def expected_facts(row: dict) -> list[Fact]:
    """What a right answer must contain, derived from row["meta"] (never from the reference
    text, so a renderer bug would show up as a failing reference)."""
    m = row["meta"]
    d = m["dialect"]
    fam = "junos" if d.startswith("junos") else d
    topic = m["topic"]
    if topic == "iface":
        return _iface_facts(m, fam)
    if topic == "ospf":
        return _ospf_facts(m, fam, row["category"])
    if topic == "bgp":
        return _bgp_facts(m, fam)
    if topic == "static":
        return _static_facts(m, fam)
    raise ValueError(f"{row['id']}: unknown topic {topic!r}")


def _iface_facts(m: dict, fam: str) -> list[Fact]:
    i, addr, desc, lo = m["interface_index"], m["address"], m["description"], m["loopback"]
    if fam == "junos":
        base = f"interfaces ge-0/0/{i}"
        facts = [("address", lambda st: _has(st, rf"{E(base)} unit \d+ family inet address "
                                                 rf"{E(addr)}( primary| preferred)?")),
                 ("description", lambda st: _has(st, rf"{E(base)}( unit \d+)? description "
                                                     rf"{E(desc)}"))]
        if lo:
            facts.append(("loopback", lambda st: _has(st, rf"interfaces lo0 unit \d+ family inet "
                                                          rf"address {E(lo)}/32")))
        return facts
    base = f"interface {_ifname(fam, i)}"
    lo_if = r"Loopback\d+" if fam == "ios" else r"lo"
    facts = [("address", lambda st: _has(st, rf"{E(base)} ip address {E(addr)}")),
             ("description", lambda st: _has(st, rf"{E(base)} description {E(desc)}"))]
    if lo:
        facts.append(("loopback", lambda st: _has(st, rf"interface {lo_if} ip address "
                                                      rf"{E(lo)}/32")))
    return facts


def _ospf_facts(m: dict, fam: str, category: str) -> list[Fact]:
    rid, area, pfx, i = m["router_id"], m["area"], m["prefix"], m["interface_index"]
    facts: list[Fact] = []
    if fam == "junos":
        unit = rf"protocols ospf area {E(_dotted_area(area))} interface ge-0/0/{i}(?:\.0)?"
        facts += [("router_id", lambda st: _has(st, rf"routing-options router-id {E(rid)}")),
                  ("area+interface", lambda st: _has(st, rf"{unit}( .*)?"))]
        knob = lambda name, rx: (name, lambda st: _has(st, rf"{unit} {rx}"))  # noqa: E731
        if m["cost"] is not None:
            facts.append(knob("cost", rf"metric {m['cost']}"))
        if m["hello"] is not None:
            facts.append(knob("hello", rf"hello-interval {m['hello']}"))
        if m["dead"] is not None:
            facts.append(knob("dead", rf"dead-interval {m['dead']}"))
        if m["p2p"]:
            facts.append(knob("p2p", "interface-type p2p"))
        if m["stub"]:
            facts.append(("stub", lambda st: _has(
                st, rf"protocols ospf area {E(_dotted_area(area))} stub( .*)?")))
        if m["passive_prefix"]:
            facts.append(("passive", lambda st: _has(
                st, rf"protocols ospf area {E(_dotted_area(area))} interface \S+ passive")))
        if category == "translate":
            # Translations carry the addresses (the source config has them).
            facts.append(("address", lambda st: _has(
                st, rf"interfaces ge-0/0/{i} unit \d+ family inet address (\S+)",
                lambda mm: _net_eq(mm.group(1), pfx))))
        return facts

    ifn = _ifname(fam, i)
    if fam == "ios" and m.get("process_id") and m.get("source_dialect", "ios") == "ios":
        rtr = rf"router ospf {m['process_id']}"
    else:
        # A translation into IOS may pick any process ID (the source has none).
        rtr = r"router ospf \d+" if fam == "ios" else r"router ospf(?: \d+)?"
    rid_kw = "router-id" if fam == "ios" else "(?:ospf )?router-id"

    def in_area(net: str) -> Callable[[list[str]], bool]:
        # A `network` statement covering the subnet, or per-interface `ip ospf area`.
        return lambda st: (
            _has(st, rf"{rtr} network (\S+) area (\S+)",
                 lambda mm: _net_eq(mm.group(1), net) and _area_eq(mm.group(2), area))
            or (net == pfx and _has(st, rf"interface {E(ifn)} ip ospf(?: \d+)? area (\S+)",
                                    lambda mm: _area_eq(mm.group(1), area))))

    facts += [("router_id", lambda st: _has(st, rf"{rtr} {rid_kw} {E(rid)}")),
              ("area+prefix", in_area(pfx))]
    knob = lambda name, rx: (name, lambda st: _has(st, rf"interface {E(ifn)} {rx}"))  # noqa
    if m["cost"] is not None:
        facts.append(knob("cost", rf"ip ospf cost {m['cost']}"))
    if m["hello"] is not None:
        facts.append(knob("hello", rf"ip ospf hello-interval {m['hello']}"))
    if m["dead"] is not None:
        facts.append(knob("dead", rf"ip ospf dead-interval {m['dead']}"))
    if m["p2p"]:
        facts.append(knob("p2p", "ip ospf network point-to-point"))
    if m["stub"]:
        facts.append(("stub", lambda st: _has(st, rf"{rtr} area (\S+) stub( no-summary)?",
                                              lambda mm: _area_eq(mm.group(1), area))))
    if m["passive_prefix"]:
        # meta does not name the LAN interface, so `ip ospf area` counts there when it is on
        # an interface that is made passive.
        def passive_ifs(st):
            return ({s.split()[-1] for s in st
                     if re.fullmatch(rf"{rtr} passive-interface \S+", s)}
                    | {s.split()[1] for s in st
                       if re.fullmatch(r"interface \S+ ip ospf passive", s)})
        facts.append(("passive_prefix", lambda st: in_area(m["passive_prefix"])(st) or any(
            _has(st, rf"interface {E(i)} ip ospf(?: \d+)? area (\S+)",
                 lambda mm: _area_eq(mm.group(1), area)) for i in passive_ifs(st))))
        facts.append(("passive", lambda st: _has(st, rf"{rtr} passive-interface \S+")
                      or _has(st, r"interface \S+ ip ospf passive")))
    if category == "translate":
        facts.append(("address", lambda st: _has(st, rf"interface {E(ifn)} ip address (\S+)",
                                                 lambda mm: _net_eq(mm.group(1), pfx))))
    return facts


def _bgp_facts(m: dict, fam: str) -> list[Fact]:
    las, pas, nbr, rid = m["local_as"], m["peer_as"], m["neighbor"], m["router_id"]
    pw, adv, f_pfx = m["password"], m["advertise"], m["import_prefixes"]
    rm, pl, ebgp = m["route_map"], m["prefix_list"], m["kind"] == "ebgp"
    if fam == "junos":
        return _bgp_junos_facts(m)
    rtr = f"router bgp {las}"
    af = r"(?: address-family ipv4(?: unicast)?)?"
    remote = rf"(?:{pas}|{'external' if ebgp else 'internal'})" if fam == "frr" else str(pas)
    facts: list[Fact] = [
        ("local_as", lambda st: _has(st, E(rtr))),
        ("router_id", lambda st: _has(st, rf"{E(rtr)} bgp router-id {E(rid)}")),
        ("neighbor+peer_as", lambda st: _has(st, rf"{E(rtr)} neighbor {E(nbr)} remote-as "
                                                 rf"{remote}")),
    ]
    if pw:
        facts.append(("password", lambda st: _has(st, rf"{E(rtr)} neighbor {E(nbr)} password "
                                                      rf"(?:0 )?{E(pw)}")))
    if m["update_source"]:
        lo = r"Loopback\d+" if fam == "ios" else "lo"
        facts.append(("update_source", lambda st: _has(
            st, rf"{E(rtr)} neighbor {E(nbr)} update-source (?:{lo}|{E(rid)})")))
    if adv:
        facts.append(("advertise", lambda st: _has(st, rf"{E(rtr)}{af} network {E(adv)}")))
    if f_pfx:
        for p in f_pfx:
            facts.append((f"prefix-list {p}", lambda st, p=p: _has(
                st, rf"ip prefix-list {E(pl)} (?:seq \d+ )?permit {E(p)}")))
        facts.append(("route-map applied", lambda st: _has(
            st, rf"{E(rtr)}{af} neighbor {E(nbr)} route-map {E(rm)} in")))
        facts.append(("route-map matches prefix-list", lambda st: _has(
            st, rf"route-map {E(rm)} permit \d+ match ip address prefix-list {E(pl)}")))
    if fam == "frr" and ebgp:
        # RFC 8212 (FRR default): an eBGP peer without in and out policy exchanges nothing.
        facts.append(("ebgp policy (RFC 8212)", lambda st: _has(
            st, rf"{E(rtr)} no bgp ebgp-requires-policy") or (
            _has(st, rf"{E(rtr)}{af} neighbor {E(nbr)} route-map \S+ in")
            and _has(st, rf"{E(rtr)}{af} neighbor {E(nbr)} route-map \S+ out"))))
    return facts


def _bgp_junos_facts(m: dict) -> list[Fact]:
    las, pas, nbr, rid = m["local_as"], m["peer_as"], m["neighbor"], m["router_id"]
    ebgp = m["kind"] == "ebgp"

    def groups(st: list[str]) -> list[str]:
        return sorted({s.split()[3] for s in st
                       if re.fullmatch(rf"protocols bgp group \S+ neighbor {E(nbr)}( .*)?", s)})

    def at_peer(rx: str) -> Callable[[list[str]], bool]:
        # A statement at the neighbour's level, or at the level of its group.
        return lambda st: any(_has(st, rf"protocols bgp group {E(g)}(?: neighbor {E(nbr)})? "
                                       rf"{rx}") for g in groups(st))

    def exported(adv: str) -> Callable[[list[str]], bool]:
        def ok(st):
            pols = {s.split()[2] for s in st if re.fullmatch(
                rf"policy-options policy-statement \S+(?: term \S+)? from route-filter "
                rf"{E(adv)} (?:exact|orlonger)(?: accept)?", s)}
            return any(at_peer(f"export {E(p)}")(st) or _has(st, f"protocols bgp export {E(p)}")
                       for p in pols)
        return ok

    facts: list[Fact] = [
        ("router_id", lambda st: _has(st, rf"routing-options router-id {E(rid)}")),
        ("local_as", lambda st: _has(st, rf"routing-options autonomous-system {las}")),
        ("neighbor", lambda st: bool(groups(st))),
        ("type", at_peer(f"type {'external' if ebgp else 'internal'}")),
    ]
    if ebgp:
        facts.append(("peer_as", at_peer(f"peer-as {pas}")))
    if m["update_source"]:
        facts.append(("local-address", at_peer(f"local-address {E(rid)}")))
    if m["password"]:
        facts.append(("password", at_peer(f"authentication-key {E(m['password'])}")))
    if m["advertise"]:
        facts.append(("advertise", exported(m["advertise"])))
    if m["import_prefixes"]:
        pl, rm = m["prefix_list"], m["route_map"]
        for p in m["import_prefixes"]:
            facts.append((f"prefix-list {p}", lambda st, p=p: _has(
                st, rf"policy-options prefix-list {E(pl)} {E(p)}")))
        facts.append(("import policy applied", at_peer(f"import {E(rm)}")))
        facts.append(("policy matches prefix-list", lambda st: _has(
            st, rf"policy-options policy-statement {E(rm)}(?: term \S+)? from prefix-list "
                rf"{E(pl)}")))
    return facts


def _static_facts(m: dict, fam: str) -> list[Fact]:
    facts: list[Fact] = []
    for r in m["routes"]:
        p, nh, ad = r["prefix"], r["next_hop"], r["distance"]
        name = f"route {p} via {nh or 'discard'}" + (f" ad {ad}" if ad else "")
        if fam == "junos":
            base = f"routing-options static route {E(p)}"
            if nh is None:
                fn = lambda st, base=base: _has(st, f"{base} (?:discard|reject)")  # noqa: E731
            elif not ad:
                fn = lambda st, base=base, nh=nh: _has(st, f"{base} next-hop {E(nh)}")  # noqa
            else:
                fn = (lambda st, base=base, nh=nh, ad=ad:
                      _has(st, f"{base} qualified-next-hop {E(nh)} preference {ad}")
                      or (_has(st, f"{base} next-hop {E(nh)}")
                          and _has(st, f"{base} preference {ad}")))
        else:
            hop = (r"(?:Null0|null0|Null 0)" if fam == "ios" else r"(?:blackhole|Null0|null0)") \
                if nh is None else E(nh)
            dist = rf" {ad}" if ad else r"(?: 1)?"
            fn = lambda st, p=p, hop=hop, dist=dist: _has(st, rf"ip route {E(p)} {hop}{dist}")
        facts.append((name, fn))
    return facts


# --------------------------------------------------------------------------- format

_TOP_OK = re.compile(r"^(?:interface \S+|router ospf(?: \d+)?|router bgp \d+|ip route |"
                     r"ip prefix-list |route-map \S+ (?:permit|deny) \d+|!|exit$|end$)")


def format_problems(cfg: str, dialect: str) -> list[str]:
    """A cheap structural check of the answer's shape for its dialect (no verifier)."""
    if not cfg.strip():
        return ["no configuration found in the answer"]
    lines = [ln for ln in cfg.splitlines() if ln.strip()]
    probs = []
    if dialect == "junos_set":
        probs += [f"not a set line: {ln.strip()}" for ln in lines if not ln.startswith("set ")]
    elif dialect == "junos_brace":
        depth = 0
        for ln in lines:
            depth += ln.count("{") - ln.count("}")
            if depth < 0:
                probs.append("'}' closes more blocks than were opened")
                break
            if not ln.rstrip().endswith(("{", "}", ";")):
                probs.append(f"line does not end with {{, }} or ;: {ln.strip()}")
        if depth > 0:
            probs.append(f"{depth} unclosed '{{'")
        if not any("{" in ln for ln in lines):
            probs.append("no hierarchy ({ ... }) in a brace-format answer")
        probs += [f"set line in brace format: {ln.strip()}" for ln in lines
                  if ln.startswith("set ")]
    else:
        open_block = False
        for ln in lines:
            if ln[:1].isspace():
                if not open_block:
                    probs.append(f"indented line outside a block: {ln.strip()}")
            elif _TOP_OK.match(ln):
                open_block = bool(_BLOCK.match(ln.strip()))
            else:
                probs.append(f"unexpected top-level line: {ln.strip()}")
        if any("{" in ln or ln.startswith("set ") for ln in lines):
            probs.append("JunOS syntax in an IOS/FRR answer")
    return probs


# --------------------------------------------------------------------------- troubleshoot

# Each diagnosis label -> what naming it looks like. Matched case-insensitively against the
# diagnosis part of the answer (before "Fix"/"Next step"), so a "check the cable" in the next
# step is not read as a diagnosis.
DIAGNOSIS = {
    "mtu_mismatch": r"\bmtu\b",
    "hello_dead_mismatch": r"hello[-/ ]?(?:and[- ]dead[- ]|/dead[- ])?(?:intervals?|timers?)|"
                           r"dead[- ]intervals?|hello/dead|\bhello (?:and|/) dead\b|"
                           r"timers? (?:mismatch|differ)",
    "area_mismatch": r"\barea(?:[- ]id)?s? (?:id )?(?:mismatch|differ|do not match|don't match)|"
                     r"different areas?|\bsame area\b|\bwrong area\b",
    "auth_type_mismatch": r"authenticat",
    "different_subnets": r"different (?:ip )?(?:sub)?nets?|"
                         r"not (?:in )?the same (?:ip )?(?:sub)?net|"
                         r"addressing (?:error|problem|mismatch)|(?:sub)?net mismatch|"
                         r"wrong (?:ip )?(?:address|subnet|mask)",
    "wrong_remote_as": r"remote[- ]as\b|wrong (?:peer |remote |neighbou?r )?as\b|bad peer as|"
                       r"\bas (?:number )?mismatch|peer in wrong as",
    "no_route_to_peer": r"no route|unreachable|not reachable|not in the (?:routing )?table|"
                        r"network not in table|\bigp\b",
    "missing_ebgp_policy": r"ebgp-requires-policy|rfc ?8212|\(policy\)|"
                           r"no (?:inbound|outbound|import|export)?(?: and outbound)? ?polic",
    "physical_link_down": r"physical|carrier|cable|optic|layer[- ]?1\b",
    "admin_down": r"administratively down|admin(?:istrative(?:ly)?)? (?:is )?down|"
                  r"\bshut ?down\b|\bdisabled\b|lack[s]? up\b",
}
# Naming another diagnosis of the same family is a hedge ("MTU or area or hello..."), not a
# diagnosis. Physical excludes admin but not the other way round: the physical-layer answer
# has to say it is *not* administratively down.
_EXCLUDES = {
    **{k: {"mtu_mismatch", "hello_dead_mismatch", "area_mismatch", "auth_type_mismatch",
           "different_subnets"} - {k}
       for k in ("mtu_mismatch", "hello_dead_mismatch", "area_mismatch", "auth_type_mismatch",
                 "different_subnets")},
    **{k: {"wrong_remote_as", "no_route_to_peer", "missing_ebgp_policy"} - {k}
       for k in ("wrong_remote_as", "no_route_to_peer", "missing_ebgp_policy")},
    "admin_down": {"physical_link_down"},
    "physical_link_down": set(),
}
INSUFFICIENT = re.compile(
    r"insufficient (?:data|information|info)|not enough (?:data|information|info)|"
    r"can(?:not|'t|’t) (?:tell|determine|distinguish|be determined)|cannot be determined|"
    r"need (?:more|the output of|to see)", re.I)


def _diagnosis_part(text: str) -> str:
    cut = re.search(r"\n\s*(?:fix\b|next step)|next step:", text, re.I)
    return text[:cut.start()] if cut else text


_ABBREV = {"sh": "show", "int": "interface", "interfaces": "interface", "nei": "neighbor",
           "neigh": "neighbor", "neighbors": "neighbor", "neighbour": "neighbor",
           "neighbours": "neighbor", "run": "running-config", "br": "brief", "ro": "route"}


def norm_command(cmd: str) -> str:
    """Lower-case, no pipe filter, abbreviations spelled out, IOS interface names shortened."""
    cmd = cmd.split("|")[0].strip().strip("`").lower()
    words = [_ABBREV.get(w, w) for w in cmd.split()]
    s = " ".join(words)
    s = re.sub(r"\bgigabitethernet\s?(\d)", r"gi\1", s)
    s = re.sub(r"\bshow ip bgp(?: ipv4 unicast)?\b", "show bgp", s)
    s = re.sub(r"\bshow bgp ipv4 unicast\b", "show bgp", s)
    s = re.sub(r"\bip link show(?: dev)? (\S+)", r"ethtool \1", s)
    return s


def _commands_in(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text) + text.splitlines()


def names_command(text: str, wanted: str) -> bool:
    """Does `text` name `wanted` (or an equivalent: abbreviations, `show ip bgp` vs
    `show bgp`, more detail such as `... detail`, or the same command without its last
    argument when that argument is an interface or address)?"""
    w = norm_command(wanted)
    head, last = w.rsplit(" ", 1) if " " in w else (w, "")
    argless = bool(re.fullmatch(r"[a-z-]+\d[\d/.:]*|\d+\.\d+\.\d+\.\d+", last))
    for cand in _commands_in(text):
        c = norm_command(cand)
        if re.search(rf"(?:^|[\s:(]){re.escape(w)}(?:$|[\s.,;)])", c):
            return True
        if argless and re.fullmatch(rf"{re.escape(head)}(?: detail| brief)?", c):
            return True
    return False


def _score_troubleshoot(row: dict, pred: str) -> tuple[dict, list[str]]:
    m = row["meta"]
    want = m["diagnosis"]
    errs = []
    says_insufficient = bool(INSUFFICIENT.search(_diagnosis_part(pred)))
    if want == "insufficient_data":
        diag = says_insufficient
        if not diag:
            errs.append("should say the data is insufficient")
    else:
        part = _diagnosis_part(pred)
        hit = re.search(DIAGNOSIS[want], part, re.I) is not None
        hedged = [k for k in _EXCLUDES[want] if re.search(DIAGNOSIS[k], part, re.I)]
        diag = hit and not hedged and not says_insufficient
        if not hit:
            errs.append(f"diagnosis {want} not named")
        if hedged:
            errs.append(f"also names {', '.join(sorted(hedged))}")
        if says_insufficient:
            errs.append("abstains although the data is sufficient")
    nxt = names_command(pred, m["next_command"])
    if not nxt:
        errs.append(f"next command `{m['next_command']}` not named")
    return {"diagnosis": float(diag), "next_step": float(nxt),
            "accuracy": float(diag and nxt)}, errs


# --------------------------------------------------------------------------- scoring

def _score_config(row: dict, pred: str) -> tuple[dict, list[str], list[str]]:
    d = row["meta"]["dialect"]
    cfg = extract_config(pred, d)
    # Syntax is the dialect's grammar; for JunOS either notation is valid config, and
    # answering in brace format when set was asked is a format problem (the format metric),
    # not a syntax error, so syntax/accuracy do not punish the notation twice.
    v = verify(cfg, "junos" if d.startswith("junos") else d) if cfg.strip() else None
    errs = [f"syntax: {e}" for e in (v.errors if v else ["no configuration found"])]
    st = statements(cfg, d) if cfg.strip() else []
    facts = expected_facts(row)
    missing = [name for name, fn in facts if not fn(st)]
    errs += [f"value missing: {name}" for name in missing]
    fmt = format_problems(cfg, d)
    errs += [f"format: {p}" for p in fmt]
    # syntax: no invalid line. Lines the verifier does not model are not errors; their share
    # is reported ("unverified") so an answer padded with unverifiable lines is visible.
    syntax = bool(v and v.ok)
    values = not missing
    return {"syntax": float(syntax), "values": float(values),
            "values_frac": 1 - len(missing) / len(facts) if facts else 1.0,
            "accuracy": float(syntax and values), "format": float(not fmt),
            "unverified": v.unverified_share if v else 0.0}, errs, (v.unverified if v else [])


def score_item(row: dict, prediction: str) -> dict:
    """Scores for one prediction: {"id", "category", "scores": {...}, "errors": [...]}."""
    cat = row.get("category") or GENERIC
    pred = prediction or ""
    if cat == GENERIC:
        scores, errs = chat_scores(row, pred)
    elif cat in CONFIG_CATS:
        scores, errs, unverified = _score_config(row, pred)
    elif cat == "troubleshoot":
        scores, errs = _score_troubleshoot(row, pred)
    elif cat == "refusal":
        ok = is_abstention(pred)
        scores, errs = {"accuracy": float(ok)}, ([] if ok else ["did not abstain"])
    elif cat == "refusal_twin":
        ok = bool(pred.strip()) and not is_abstention(pred)
        scores, errs = {"accuracy": float(ok)}, ([] if ok else ["refused an answerable question"])
    else:
        scores, errs = {"overlap_weak": overlap_weak(pred, reference(row))}, []
    out = item(row, pred, scores, errs)
    if cat in CONFIG_CATS:
        # Why the syntax failed, coarsely (verdict.ERROR_CLASSES), for the report.
        out["syntax_classes"] = sorted({error_class(e[len("syntax: "):]) for e in errs
                                        if e.startswith("syntax: ")})
        # The lines the verifier does not model (neither valid nor invalid), per answer.
        out["unverified"] = unverified
    return out


def syntax_errors_by_class(items: list[dict]) -> dict:
    """Why configs failed: items whose syntax failed, per error class (one item can count in
    several), per config category."""
    cats: dict[str, list] = {}
    for it in items:
        if it["category"] in CONFIG_CATS:
            cats.setdefault(it["category"], []).append(it)
    return {"syntax_errors_by_class": {
        name: dict(sorted(Counter(c for it in its for c in it["syntax_classes"]).items()))
        for name, its in cats.items()}}


def aggregate(items: list[dict]) -> tuple[dict, dict]:
    """Per-category and overall rates of scored items (also what the bootstrap resamples)."""
    categories = category_means(items)
    if "refusal" in categories:
        categories["refusal"]["abstain_rate"] = categories["refusal"]["accuracy"]
    if "refusal_twin" in categories:
        categories["refusal_twin"]["answer_rate"] = categories["refusal_twin"]["accuracy"]

    def pooled(cat_names, key):
        return mean(it["scores"][key] for it in items if it["category"] in cat_names)

    overall: dict = {"n": len(items)}
    if any(c in categories for c in CONFIG_CATS):
        for key, out in (("accuracy", "command_accuracy"), ("syntax", "command_syntax"),
                         ("values", "command_values"), ("format", "format_compliance"),
                         ("unverified", "unverified_line_share")):
            overall[out] = pooled(CONFIG_CATS, key)
        # the share of value facts right: moves before "all of them right" can
        facts = [it["scores"]["values_frac"] for it in items
                 if it["category"] in CONFIG_CATS and "values_frac" in it["scores"]]
        if facts:  # (items scored before this score existed have none)
            overall["command_value_facts"] = mean(facts)
        for cat in CONFIG_CATS:  # per category too: writing a config and translating one differ
            if cat in categories:
                overall[f"{cat}_command_accuracy"] = categories[cat]["accuracy"]
    if "troubleshoot" in categories:
        overall["troubleshoot_accuracy"] = categories["troubleshoot"]["accuracy"]
    rates = [categories[c]["accuracy"] for c in ("refusal", "refusal_twin") if c in categories]
    if rates:
        overall["refusal_accuracy"] = mean(rates)
    headline = [overall[k] for k in ("command_accuracy", "format_compliance",
                                     "troubleshoot_accuracy", "refusal_accuracy")
                if overall.get(k) is not None]
    overall.update(chat_overall(categories))
    if not headline and GENERIC in categories:  # own rows only: their overlap is the headline
        headline = [categories[GENERIC]["overlap"]]
    overall["score"] = mean(headline)
    if any(c in categories for c in WEAK_CATS):
        overall["overlap_weak"] = pooled(WEAK_CATS, "overlap_weak")
    return categories, overall


_COLS = [("accuracy", "acc"), ("syntax", "syntax"), ("values", "values"), ("format", "format"),
         ("unverified", "unverif"),
         ("diagnosis", "diag"), ("next_step", "next"), ("overlap_weak", "overlap*"),
         *CHAT_COLUMNS]
_ORDER = ["config", "translate", "troubleshoot", "refusal", "refusal_twin", "explain", "curated"]
_OVERALL = ("command_accuracy", "command_syntax", "command_values", "format_compliance",
            "unverified_line_share",
            "troubleshoot_accuracy", "refusal_accuracy", "exact_match", "answer_overlap",
            "abstain_rate", "score", "overlap_weak")


def format_table(result: dict) -> str:
    """Fixed-width per-category table, then the overall numbers and syntax failure classes."""
    lines = table(result, _COLS, _ORDER, _OVERALL)
    for name, counts in sorted(result.get("syntax_errors_by_class", {}).items()):
        if counts:
            lines.append(f"syntax failures in {name} by class: "
                         + ", ".join(f"{k} {v}" for k, v in counts.items()))
    lines.append("acc: refusal = abstain rate, refusal_twin = answer rate. "
                 "* overlap is a weak reference-overlap metric. unverif: mean share of an "
                 "answer's config lines the verifier does not model (not counted as errors).")
    return "\n".join(lines)


def preflight(rows: list[dict]) -> None:
    """FRR's vtysh checks the config categories only; rows without them need nothing."""
    from netft.errors import ConfigError
    from netft.domains.netops.verifiers import have_vtysh

    if any(r.get("category") in CONFIG_CATS for r in rows) and not have_vtysh():
        raise ConfigError("eval.domain=true needs FRR's vtysh for the command verifiers "
                          "(Debian package frr: `apt-get install frr`), or set "
                          "eval.domain=false.")
