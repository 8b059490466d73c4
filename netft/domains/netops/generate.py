"""Seeded generator of a small network-engineering chat SFT set (netops).

    python3 -m netft.domains.netops.generate --out /tmp/all.jsonl --seed 0 --n 900
    netft data split /tmp/all.jsonl netft/assets/data/netops     (docs/dataset.md)

Every row is {"id", "category", "messages": [system, user, assistant], "meta"}; `meta` holds
the known answer (dialect, key values, fault/diagnosis, twin links) so evaluations can score
outputs without parsing prose. Categories:

  curated       hand-written core concepts (OSPF/BGP states, admin distance, ...)
  config        one task rendered in IOS, JunOS set, JunOS brace or FRR
  translate     a config in one dialect, answer in another (same parameters)
  troubleshoot  show output with one injected fault; ambiguous outputs are answered
                "Insufficient data: ..." plus the command to run next
  refusal       made-up commands/knobs, or questions missing what they need
  refusal_twin  a close, answerable question per refusal row (meta.twin_of), so that
                over-refusal can be measured
  explain       one real command and a one-paragraph explanation

For config and translate rows the assistant's first line is prose and the configuration
follows verbatim (a trailing "Note:" line may explain a dialect difference), so a checker
can feed the middle block to `vtysh -C` or a JunOS/IOS parser.

The large content tables (made-up commands, explanations, curated Q&A) are data files in
content/. Standard library only: each category draws from its own `random.Random`, seeded from the
seed and the category name, so the output is byte-identical for a given (seed, n) and
editing one category's templates does not reshuffle the others.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import random
from pathlib import Path

from netft.domains.netops import render as R
from netft.domains.netops.content import content
from netft.domains.netops.render import ifname, ip_of, net_of, mask_of, wildcard_of, junos_area

SYSTEM = ("You are a network engineer. Answer with exact configuration or commands. "
          "If you do not know or the question cannot be answered from what is given, say so.")

# A tiny model is trained on this with 512-token sequences; ~1200 characters of config-heavy
# text stays under that with room for the chat template.
MAX_CHARS = 1200
MAX_TRIES = 400

PLATFORM = {"ios": "Cisco IOS", "junos": "JunOS", "frr": "FRR"}
# Phrased so each fits "Platform: X", "X: ...", "Use X syntax", "Write the X configuration".
DIALECT_SAYS = {
    "ios": ["Cisco IOS", "IOS", "Cisco IOS CLI"],
    "junos_set": ["JunOS set-format", "Junos set-command", "JunOS (set commands)"],
    "junos_brace": ["JunOS brace-format", "Junos hierarchical (curly-brace)",
                    "JunOS (brace format)"],
    "frr": ["FRR", "FRRouting", "FRR vtysh"],
}
ANSWER_INTRO = {
    "ios": ["Cisco IOS configuration:", "IOS config:", "On IOS:"],
    "junos_set": ["JunOS set commands:", "Junos (set format):", "In JunOS set form:"],
    "junos_brace": ["JunOS configuration (brace format):", "Junos hierarchy:",
                    "JunOS, brace format:"],
    "frr": ["FRR configuration:", "FRR (vtysh) config:", "In FRR:"],
}


def family(dialect: str) -> str:
    return "junos" if dialect.startswith("junos") else dialect


# --------------------------------------------------------------------------- random params

HOSTS = ["R1", "R2", "R3", "R4", "R5", "R6", "core1", "core2", "edge1", "edge2", "pe1", "pe2",
         "ce1", "ce2", "br1", "br2", "dc1-rtr1", "dc1-rtr2", "wan1", "wan2"]


def hosts(rng: random.Random) -> tuple[str, str]:
    a, b = rng.sample(HOSTS, 2)
    return a, b


def router_id(rng: random.Random) -> str:
    if rng.random() < 0.5:
        k = rng.randint(1, 9)
        return f"{k}.{k}.{k}.{k}"
    return f"10.255.{rng.randint(0, 9)}.{rng.randint(1, 254)}"


def two_rids(rng: random.Random) -> tuple[str, str]:
    while True:
        a, b = router_id(rng), router_id(rng)
        if a != b:
            return a, b


def link(rng: random.Random, plens=(30, 30, 30, 30, 31, 29, 24, 28)) -> tuple[str, str]:
    """A point-to-point subnet: (local addr, peer addr), both 'a.b.c.d/len'."""
    plen = rng.choice(plens)
    size = 2 ** (32 - plen)
    base = int(ipaddress.IPv4Address(f"10.{rng.randint(0, 99)}.{rng.randint(0, 255)}.0"))
    net = ipaddress.IPv4Network((base + size * rng.randrange(256 // size if size < 256 else 1),
                                 plen))
    a, b = (net[0], net[1]) if plen == 31 else (net[1], net[2])
    if rng.random() < 0.3:
        a, b = b, a
    return f"{a}/{plen}", f"{b}/{plen}"


def lan(rng: random.Random) -> str:
    plen = rng.choice([24, 24, 24, 25, 26])
    first = rng.choice(["192.168", f"172.{rng.randint(16, 31)}"])
    net = ipaddress.IPv4Network((int(ipaddress.IPv4Address(f"{first}.{rng.randint(0, 255)}.0")),
                                 plen))
    return f"{net[1]}/{plen}"


def lan_prefix(rng: random.Random) -> str:
    return net_of(lan(rng))


def asn(rng: random.Random) -> int:
    if rng.random() < 0.1:
        return 4200000000 + rng.randint(1, 9999)
    return rng.randint(64512, 65534)


def asn2(rng: random.Random) -> int:
    """2-byte private ASN: log lines print the AS as two bytes, so fault rows need one."""
    return rng.randint(64512, 65534)


def if_num(rng: random.Random, avoid: int | None = None) -> int:
    while True:
        n = rng.randint(1, 7)
        if n != avoid:
            return n


def password(rng: random.Random) -> str:
    return rng.choice(["Bgp", "Peer", "Lnk", "Sess", "Md5"]) + str(rng.randint(100, 999)) + \
        rng.choice(["key", "Sec", "x", "Auth", "pw"])


def say_addr(rng: random.Random, addr: str) -> str:
    """Engineers give addresses in several ways; the answer must normalise them."""
    ip = ipaddress.IPv4Interface(addr)
    return rng.choice([f"{addr}", f"{addr}", f"{ip.ip} {ip.netmask}",
                       f"{ip.ip} with a /{ip.network.prefixlen} mask",
                       f"{ip.ip} mask {ip.netmask}"])


def draw_iface(rng):
    h, peer = hosts(rng)
    a, _ = link(rng, plens=(30, 30, 31, 29, 24, 28, 27))
    if rng.random() < 0.3:
        a = lan(rng)
    return {"host": h, "peer": peer, "if": if_num(rng), "addr": a,
            "desc": rng.choice([f"to-{peer}", f"uplink-{peer}", f"{peer}-link", f"p2p-{peer}",
                                "user-LAN", "mgmt-net"]),
            "loopback": router_id(rng) if rng.random() < 0.35 else None}


def draw_ospf(rng, with_addr=False):
    h, peer = hosts(rng)
    area = 0 if rng.random() < 0.5 else rng.randint(1, 20)
    hello = None
    if rng.random() < 0.4:
        hello = rng.choice([1, 2, 3, 5, 5, 10, 15, 20, 30])
    n = if_num(rng)
    p = {"host": h, "peer": peer, "pid": rng.choice([1, 1, 1, 10, 100, rng.randint(2, 999)]),
         "rid": router_id(rng), "area": area, "with_addr": with_addr,
         "stub": area != 0 and rng.random() < 0.3,
         "link": {"if": n, "addr": link(rng)[0],
                  "cost": rng.choice([None, None, 5, 10, 20, 50, 100, rng.randint(1, 500)]),
                  "hello": hello,
                  "dead": hello * rng.choice([4, 4, 3]) if hello else None,
                  "p2p": rng.random() < 0.3},
         "lan": ({"if": if_num(rng, avoid=n), "addr": lan(rng)} if rng.random() < 0.5 else None)}
    return p


def policy_names(rng, peer):
    up = peer.upper()
    return {"rm": rng.choice([f"FROM-{up}", f"{up}-IN", f"IMPORT-{up}", f"RM-{up}-IN"]),
            "pl": rng.choice([f"{up}-PREFIXES", f"PL-{up}-IN", f"ALLOWED-FROM-{up}"])}


def draw_bgp(rng, kind=None):
    h, peer = hosts(rng)
    kind = kind or rng.choice(["ebgp", "ebgp", "ibgp"])
    local_as = asn(rng)
    p = {"host": h, "peer": peer, "kind": kind, "local_as": local_as,
         "desc": rng.choice([peer, f"{peer}-{kind}", f"to-{peer}"]),
         "password": password(rng) if rng.random() < 0.3 else None,
         "advertise": lan_prefix(rng) if rng.random() < 0.5 else None,
         "filter": None}
    if kind == "ebgp":
        while True:
            p["peer_as"] = asn(rng)
            if p["peer_as"] != local_as:
                break
        a, b = link(rng)
        p["rid"], p["nbr"] = router_id(rng), ip_of(b)
        p["local_ip"] = ip_of(a)
        p["group"] = rng.choice([f"EBGP-{peer.upper()}", peer.upper(), f"TRANSIT-{peer.upper()}"])
        if rng.random() < 0.45:
            f = policy_names(rng, peer)
            f["prefixes"] = sorted({lan_prefix(rng) for _ in range(rng.choice([1, 1, 2, 3]))})
            p["filter"] = f
    else:
        p["peer_as"] = local_as
        p["rid"], p["nbr"] = two_rids(rng)
        p["group"] = rng.choice(["IBGP", "INTERNAL", "IBGP-MESH"])
    p["export_policy"] = rng.choice(["EXPORT-LAN", f"ADVERTISE-{peer.upper()}",
                                     f"TO-{peer.upper()}-OUT", "ORIGINATE"])
    return p


def draw_static(rng):
    h, peer = hosts(rng)
    routes, used = [], set()
    for _ in range(rng.choice([1, 1, 2, 2, 3])):
        kind = rng.choice(["plain", "plain", "floating", "backup", "discard", "default"])
        pfx = "0.0.0.0/0" if kind == "default" else lan_prefix(rng)
        if pfx in used:
            continue
        used.add(pfx)
        nh = ip_of(link(rng)[1])
        if kind == "discard":
            routes.append({"prefix": pfx, "nh": None, "ad": None, "kind": kind})
        elif kind == "floating":
            routes.append({"prefix": pfx, "nh": nh, "ad": rng.choice([200, 210, 250]),
                           "kind": kind})
        elif kind == "backup":
            routes.append({"prefix": pfx, "nh": nh, "ad": None, "kind": "plain"})
            # Not 5: that is JunOS's default static preference, so a "backup" at 5 would tie
            # with the primary there (IOS/FRR default to 1, JunOS to 5).
            routes.append({"prefix": pfx, "nh": ip_of(link(rng)[1]),
                           "ad": rng.choice([10, 20, 200, 250]), "kind": "backup"})
        else:
            routes.append({"prefix": pfx, "nh": nh, "ad": None, "kind": kind})
    return {"host": h, "peer": peer, "routes": routes}


DRAW = {"iface": draw_iface, "ospf": draw_ospf, "bgp": draw_bgp, "static": draw_static}


# --------------------------------------------------------------------------- config rows

def ask_iface(rng, d, p):
    ifn = ifname(d, p["if"])
    a = say_addr(rng, p["addr"])
    lo = ""
    if p["loopback"]:
        lo = rng.choice([f", and add loopback {R.loname(d)} with {p['loopback']}/32",
                         f". Also create a loopback ({R.loname(d)}) with address "
                         f"{p['loopback']}/32"])
    dn = rng.choice(DIALECT_SAYS[d])
    return rng.choice([
        f"Configure {ifn} on {p['host']} with IP address {a} and description {p['desc']}{lo}. "
        f"Platform: {dn}.",
        f"{dn}: {p['host']}'s {ifn} connects to {p['peer']}. Give it {a} and set the "
        f"description to {p['desc']}{lo}.",
        f"Write the {dn} configuration to address {ifn} as {a} (description {p['desc']}){lo}.",
        f"I need {ifn} on {p['host']} addressed {a} with description \"{p['desc']}\"{lo}. "
        f"{dn} config please.",
        f"Address {p['host']}'s {ifn} ({p['desc']}) with {a}{lo}. Use {dn} syntax.",
    ])


def meta_iface(p):
    return {"interface_index": p["if"], "address": p["addr"], "prefix": net_of(p["addr"]),
            "description": p["desc"], "loopback": p["loopback"]}


def ask_ospf(rng, d, p):
    lk, ln, area = p["link"], p["lan"], p["area"]
    ifn, a = ifname(d, lk["if"]), say_addr(rng, lk["addr"])
    dn = rng.choice(DIALECT_SAYS[d])
    area_s = junos_area(area) if d.startswith("junos") and rng.random() < 0.5 else str(area)
    ex = []
    if d == "ios":
        ex.append(rng.choice([f" Use OSPF process {p['pid']}.", f" Process ID {p['pid']}."]))
    if lk["p2p"]:
        ex.append(rng.choice([f" The link to {p['peer']} is point-to-point; skip the DR election.",
                              " Set the OSPF network type to point-to-point on it."]))
    if lk["cost"] is not None:
        ex.append(rng.choice([f" Set its OSPF cost to {lk['cost']}.",
                              f" The interface cost should be {lk['cost']}."]))
    if lk["hello"] is not None:
        ex.append(rng.choice([f" Use a hello interval of {lk['hello']}s and a dead interval of "
                              f"{lk['dead']}s.", f" Hello {lk['hello']}, dead {lk['dead']}."]))
    if ln:
        lif, la = ifname(d, ln["if"]), say_addr(rng, ln["addr"])
        ex.append(rng.choice([f" Also advertise {lif} ({la}) in the same area, as a passive "
                              "interface.",
                              f" {lif} ({la}) is a user LAN: include it in OSPF without forming "
                              "adjacencies there."]))
    if p["stub"]:
        ex.append(rng.choice([f" Area {area_s} is a stub area.", f" Make area {area_s} a stub."]))
    ex.append(rng.choice([" Addressing is already configured.", " IPs are already in place.",
                          " The interfaces already have their addresses."]))
    head = rng.choice([
        f"Configure OSPF on {p['host']} ({dn}). Router ID {p['rid']}; {ifn} ({a}) goes in "
        f"area {area_s}.",
        f"{dn}: enable OSPF area {area_s} on {p['host']}'s {ifn}, which is addressed {a}. Use "
        f"router ID {p['rid']}.",
        f"Bring up OSPF on {p['host']} using {dn}: router-id {p['rid']}, interface {ifn} with "
        f"{a} in area {area_s}.",
        f"Write {dn} config so that {p['host']} (router ID {p['rid']}) runs OSPF in area "
        f"{area_s} on {ifn} ({a}).",
    ])
    return head + "".join(ex)


def meta_ospf(p, d):
    lk, ln = p["link"], p["lan"]
    m = {"router_id": p["rid"], "area": str(p["area"]), "prefix": net_of(lk["addr"]),
         "interface_index": lk["if"], "cost": lk["cost"], "hello": lk["hello"],
         "dead": lk["dead"], "p2p": lk["p2p"], "stub": p["stub"],
         "passive_prefix": net_of(ln["addr"]) if ln else None}
    if d == "ios":
        m["process_id"] = p["pid"]
    return m


def ask_bgp(rng, d, p):
    dn = rng.choice(DIALECT_SAYS[d])
    h, peer, las, pas, nbr, rid = (p["host"], p["peer"], p["local_as"], p["peer_as"], p["nbr"],
                                   p["rid"])
    ex = [rng.choice([f" Neighbour description: {p['desc']}.", f" Describe it as {p['desc']}.",
                      f" Set the neighbour description to {p['desc']}."])]
    if d.startswith("junos"):
        ex.append(rng.choice([f" Put it in BGP group {p['group']}.", f" Use group {p['group']}."]))
    if p["password"]:
        ex.append(rng.choice([f" Protect the session with MD5 password {p['password']}.",
                              f" TCP MD5 key: {p['password']}."]))
    if p["advertise"]:
        adv = p["advertise"]
        s = rng.choice([f" Advertise {adv} to the peer.", f" Originate {adv} into BGP."])
        if d.startswith("junos"):
            s = s[:-1] + f" with an export policy named {p['export_policy']}."
        ex.append(s)
    f = p["filter"]
    if f:
        pf = " and ".join(f["prefixes"])
        obj = "import policy" if d.startswith("junos") else "route-map"
        ex.append(rng.choice([
            f" Accept only {pf} from this peer, using prefix-list {f['pl']} and {obj} {f['rm']}.",
            f" Inbound, permit just {pf} (prefix-list {f['pl']}, {obj} {f['rm']}).",
        ]))
    if p["kind"] == "ebgp":
        head = rng.choice([
            f"Configure eBGP on {h} ({dn}): local AS {las}, router ID {rid}, neighbour {nbr} "
            f"({peer}) in AS {pas}.",
            f"{dn}: peer {h} (AS {las}, router-id {rid}) with {peer} at {nbr}, remote AS {pas}.",
            f"Set up an external BGP session from {h} to {nbr} (AS {pas}). Our AS is {las} and "
            f"the router ID {rid}. Use {dn}.",
            f"Write the BGP config for {h} in {dn}: AS {las}, router ID {rid}, eBGP neighbour "
            f"{nbr} in AS {pas}.",
        ])
    else:
        head = rng.choice([
            f"Configure iBGP on {h} ({dn}) in AS {las}: peer with {peer}'s loopback {nbr}, "
            f"sourcing the session from our loopback {rid} (also the router ID).",
            f"{dn}: {h} and {peer} are both in AS {las}. Build an iBGP session loopback to "
            f"loopback: ours is {rid} (use it as router ID), theirs {nbr}.",
            f"Write {dn} config for an iBGP peering from {h} (AS {las}, loopback/router ID {rid}) "
            f"to {nbr}, using the loopback as update source.",
        ])
        ex.append(rng.choice([" Loopbacks already exist and are in the IGP.",
                              " Both loopbacks are reachable via OSPF."]))
    return head + "".join(ex)


def meta_bgp(p, d):
    f = p["filter"]
    return {"kind": p["kind"], "router_id": p["rid"], "local_as": p["local_as"],
            "peer_as": p["peer_as"], "neighbor": p["nbr"],
            "update_source": R.loname(d) if p["kind"] == "ibgp" else None,
            "advertise": p["advertise"], "password": p["password"],
            "import_prefixes": f["prefixes"] if f else None,
            "route_map": f["rm"] if f else None, "prefix_list": f["pl"] if f else None}


def say_route(rng, d, r):
    ad_word = "preference" if d.startswith("junos") else "administrative distance"
    dest = "a default route" if r["prefix"] == "0.0.0.0/0" else r["prefix"]
    if r["nh"] is None:
        return rng.choice([f"{dest} to the bit bucket (silently drop)",
                           f"{dest} as a discard/null route"])
    if r["kind"] == "backup":
        return rng.choice([f"a backup for {dest} via {r['nh']} with {ad_word} {r['ad']}",
                           f"{dest} via {r['nh']} as a backup path ({ad_word} {r['ad']})"])
    if r["ad"]:
        return rng.choice([f"a floating static for {dest} via {r['nh']} with {ad_word} {r['ad']}",
                           f"{dest} via {r['nh']}, {ad_word} {r['ad']} so it only wins when the "
                           "dynamic route is gone"])
    return rng.choice([f"{dest} via {r['nh']}", f"{dest} with next hop {r['nh']}"])


def ask_static(rng, d, p):
    dn = rng.choice(DIALECT_SAYS[d])
    items = [say_route(rng, d, r) for r in p["routes"]]
    lst = items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
    return rng.choice([
        f"Add static routing on {p['host']} ({dn}): {lst}.",
        f"{dn}: configure {lst}.",
        f"On {p['host']}, I need {lst}. Give me the {dn} commands.",
        f"Write {dn} static routes for {p['host']}: {lst}.",
    ])


def meta_static(p):
    return {"routes": [{"prefix": r["prefix"], "next_hop": r["nh"], "distance": r["ad"]}
                       for r in p["routes"]]}


ASK = {"iface": ask_iface, "ospf": ask_ospf, "bgp": ask_bgp, "static": ask_static}


def config_meta(topic, d, p):
    m = {"dialect": d, "topic": topic}
    if topic == "iface":
        m.update(meta_iface(p))
    elif topic == "ospf":
        m.update(meta_ospf(p, d))
    elif topic == "bgp":
        m.update(meta_bgp(p, d))
    else:
        m.update(meta_static(p))
    return m


def frr_note(topic, d, p) -> str | None:
    if d == "frr" and topic == "bgp" and p["kind"] == "ebgp":
        return ("Note: `no bgp ebgp-requires-policy` is needed because FRR otherwise sends and "
                "accepts no routes on an eBGP session unless both an inbound and an outbound "
                "policy are applied.")
    return None


def make_config(rng):
    topic = rng.choice(["iface", "ospf", "ospf", "bgp", "bgp", "static"])
    d = rng.choice(R.DIALECTS)
    p = DRAW[topic](rng)
    user = ask_iface(rng, d, p) if topic == "iface" else ASK[topic](rng, d, p)
    parts = [rng.choice(ANSWER_INTRO[d]), R.render(topic, d, p)]
    note = frr_note(topic, d, p)
    if note:
        parts.append(note)
    return user, "\n".join(parts), config_meta(topic, d, p)


# --------------------------------------------------------------------------- translate rows

PAIRS = [("ios", "junos_set"), ("ios", "frr"), ("junos_set", "ios"), ("frr", "ios"),
         ("junos_set", "frr"), ("frr", "junos_set"), ("junos_set", "junos_brace"),
         ("junos_brace", "junos_set"), ("ios", "junos_brace"), ("frr", "junos_brace")]
TR_NAMES = {
    "ios": ["IOS", "Cisco IOS"],
    "junos_set": ["JunOS set format", "Junos set commands"],
    "junos_brace": ["JunOS brace format", "Junos curly-brace config"],
    "frr": ["FRR", "FRRouting"],
}


def topic_ifaces(topic, p) -> list[int]:
    if topic == "iface":
        return [p["if"]]
    if topic == "ospf":
        return [p["link"]["if"]] + ([p["lan"]["if"]] if p["lan"] else [])
    return []


def translate_notes(topic, src, dst, p) -> list[str]:
    fs, fd = family(src), family(dst)
    notes = []
    if topic == "ospf" and fd == "ios" and fs != "ios":
        notes.append("IOS needs an OSPF process ID; 1 is used.")
    if topic == "ospf" and fd == "junos" and fs != "junos":
        notes.append("JunOS enables OSPF per interface, so each network statement becomes the "
                     "interface that owns that subnet.")
    if topic == "bgp" and fd == "junos" and fs != "junos":
        if p["advertise"]:
            notes.append(f"JunOS has no `network` statement, so export policy "
                         f"{p['export_policy']} advertises {p['advertise']}; it and group "
                         f"{p['group']} are names of my choosing.")
        else:
            notes.append(f"The group name {p['group']} is my choice.")
        if p["filter"]:
            notes.append("The final `then reject` replaces the route-map's implicit deny.")
    n = frr_note(topic, dst, p)
    if n and fs != "frr":
        notes.append(n[len("Note: "):])
    if topic == "bgp" and p["kind"] == "ebgp" and fs == "frr" and fd != "frr":
        notes.append("`no bgp ebgp-requires-policy` is dropped: the target has no such "
                     "default to turn off.")
    if topic == "bgp" and p["kind"] == "ibgp" and fs != fd:
        # IOS/FRR name the loopback, JunOS names its address; the link is an assumption.
        notes.append(f"This assumes the loopback ({R.loname(src)}) carries the router ID "
                     f"{p['rid']}.")
    if topic == "static" and fs != fd:
        if any(r["nh"] is None for r in p["routes"]) and "junos" in (fs, fd):
            notes.append("Null0/blackhole corresponds to JunOS `discard`.")
        if any(r["ad"] for r in p["routes"]) and "junos" in (fs, fd):
            notes.append("IOS/FRR administrative distance maps to JunOS `preference`.")
    return notes


def make_translate(rng):
    topic = rng.choice(["iface", "ospf", "ospf", "bgp", "bgp", "static"])
    src, dst = rng.choice(PAIRS)
    p = DRAW[topic](rng)
    if topic == "ospf":
        # Without the addresses a network statement cannot be mapped to an interface.
        p["with_addr"] = True
        if src != "ios":
            p["pid"] = 1
    sn, dn = rng.choice(TR_NAMES[src]), rng.choice(TR_NAMES[dst])
    cfg = R.render(topic, src, p)
    user = rng.choice([
        f"Translate this {sn} config to {dn}:\n{cfg}",
        f"Convert the following {sn} configuration to {dn}.\n\n{cfg}",
        f"We're moving {p['host']} from {sn} to {dn}. Rewrite this config:\n{cfg}",
        f"{cfg}\n\nGive me the {dn} equivalent of the {sn} config above.",
        f"What is this in {dn}?\n{cfg}",
    ])
    notes = translate_notes(topic, src, dst, p)
    ifs = topic_ifaces(topic, p)
    if ifs and family(src) != family(dst):
        mapping = ", ".join(f"{ifname(src, i)} -> {ifname(dst, i)}" for i in ifs)
        if rng.random() < 0.5:
            user += f"\n(Interface mapping: {mapping}.)"
        else:
            notes.insert(0, f"Interfaces assumed to map {mapping}.")
    lines = [rng.choice(ANSWER_INTRO[dst]), R.render(topic, dst, p)]
    if notes:
        lines.append("Note: " + " ".join(notes))
    meta = config_meta(topic, dst, p)
    meta.update({"source_dialect": src, "target_dialect": dst})
    return user, "\n".join(lines), meta


# --------------------------------------------------------------------------- troubleshoot rows

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _clock(rng):
    return f"{rng.choice(MONTHS)} {rng.randint(1, 28):>2} {rng.randint(0, 23):02d}:" \
           f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"


def ios_log(rng, msg):
    return f"*{_clock(rng)}.{rng.randint(0, 999):03d}: {msg}"


def frr_logger(rng, host, daemon):
    """Log lines from one daemon share a PID and arrive within the same second."""
    prefix = f"{_clock(rng)} {host} {daemon}[{rng.randint(300, 4000)}]: "
    return lambda msg: prefix + msg


def mac(rng, d):
    b = [0x52, 0x54, 0x00] + [rng.randint(0, 255) for _ in range(3)]
    if d == "ios":
        return "{:02x}{:02x}.{:02x}{:02x}.{:02x}{:02x}".format(*b)
    return ":".join(f"{x:02x}" for x in b)


def cli(d, host, cmd, out):
    """A command as typed at the device prompt, then its output."""
    prompt = {"ios": f"{host}#", "frr": f"{host}# ", "junos": f"admin@{host}> "}[d]
    return f"{prompt}{cmd}" + (f"\n{out}" if out else "")


def ts_setup(rng, d):
    """Two routers on a shared link, named and addressed the same way in every fault."""
    h1, h2 = hosts(rng)
    a, b = link(rng, plens=(30, 30, 29, 24))
    r1, r2 = two_rids(rng)
    n1, n2 = if_num(rng), if_num(rng)
    return {"h1": h1, "h2": h2, "a": a, "b": b, "rid1": r1, "rid2": r2,
            "if1": ifname(d, n1), "if2": ifname(d, n2), "n1": n1, "n2": n2}


ASK_NEXT = ["What's wrong, and what should I check next?", "Diagnose this.",
            "What is the problem?", "What's the cause and the next step?",
            "Why is this happening?"]

OSPF_CMD = {"ios": "show ip ospf neighbor", "frr": "show ip ospf neighbor",
            "junos": "show ospf neighbor"}


def _ospf_nbr_table(rng, d, s, state):
    """One neighbour row in `state` (e.g. EXSTART), as seen from h1."""
    peer_ip = ip_of(s["b"])
    if d == "ios":
        st = state.upper() + rng.choice(["/DR", "/BDR", "/DROTHER"])
        return R.ios_ospf_neighbors([(s["rid2"], 1, st, f"00:00:{rng.randint(30, 39)}",
                                      peer_ip, s["if1"])])
    if d == "frr":
        st = state + rng.choice(["/DR", "/Backup", "/DROther"])
        up = f"{rng.randint(1, 9)}m{rng.randint(10, 59)}s"
        return R.frr_ospf_neighbors([(s["rid2"], 1, st, up,
                                      f"{rng.randint(30, 39)}.{rng.randint(100, 999)}s", peer_ip,
                                      f"{s['if1']}:{ip_of(s['a'])}", 0, 0, rng.randint(0, 3))])
    return R.junos_ospf_neighbors([(peer_ip, f"{s['if1']}.0", state, s["rid2"], 128,
                                    rng.randint(30, 39))])


def ts_ospf_mtu(rng, d):
    s = ts_setup(rng, d)
    state = rng.choice(["ExStart", "Exchange"])
    m1 = 1500
    m2 = rng.choice([9000, 9216, 1546, 4470, 9100])
    if rng.random() < 0.5:
        m1, m2 = m2, m1
    # The side with the smaller MTU is the one that drops the other's DBDs and logs it.
    small, big = min(m1, m2), max(m1, m2)
    outs = [cli(d, s["h1"], OSPF_CMD[d], _ospf_nbr_table(rng, d, s, state))]
    evidence = rng.random() < 0.5 and d != "junos"
    if evidence and d == "ios":
        outs += [cli(d, s["h1"], f"show interfaces {s['if1']} | include MTU",
                     f"  MTU {m1} bytes, BW 1000000 Kbit/sec, DLY 10 usec,"),
                 cli(d, s["h2"], f"show interfaces {s['if2']} | include MTU",
                     f"  MTU {m2} bytes, BW 1000000 Kbit/sec, DLY 10 usec,")]
    elif evidence:
        m1, m2 = small, big
        log = frr_logger(rng, s["h1"], "ospfd")
        outs.append("Log:\n" + log(f"Packet[DD]: Neighbor {s['rid2']} MTU {m2} is larger "
                                    f"than [{s['if1']}:{ip_of(s['a'])}]'s MTU {m1}"))
    user = rng.choice([
        f"OSPF between {s['h1']} and {s['h2']} never reaches Full on {s['if1']}.",
        f"{s['h1']} sees {s['h2']} ({s['rid2']}) but the adjacency is stuck.",
        f"The OSPF adjacency on {s['if1']} hangs. From {s['h1']}:",
    ]) + "\n" + "\n".join(outs) + "\n" + rng.choice(ASK_NEXT)
    nxt = {"ios": f"show interfaces {s['if1']} | include MTU",
           "frr": f"show interface {s['if1']}",
           "junos": f"show interfaces {s['if1']} | match MTU"}[family(d)]
    stuck = state.upper() if d == "ios" else state
    if evidence:
        diag = (f"Diagnosis: OSPF MTU mismatch. {s['h1']} has MTU {m1}, {s['h2']} has {m2}; "
                f"the router with MTU {small} rejects database description packets advertising "
                f"MTU {big}, so the neighbour stays in {stuck}.")
        step = (f"Next step: set the same MTU on both ends of the link (check with `{nxt}` on "
                "each router). `ip ospf mtu-ignore` would hide the mismatch but is only a "
                "workaround.")
    else:
        diag = (f"Diagnosis: most likely an interface MTU mismatch. A neighbour stuck in "
                f"{stuck} means the database description exchange keeps failing, and differing "
                "MTUs on the two ends are by far the most common reason.")
        step = (f"Next step: run `{nxt}` on both routers and compare the MTU, then make them "
                "match.")
    meta = {"dialect": d, "fault": "ospf_mtu_mismatch", "diagnosis": "mtu_mismatch",
            "next_command": nxt, "evidence": evidence}
    return user, f"{diag}\n{step}", meta


def _timer_line(d, hello, dead):
    if d == "ios":
        return (f"  Timer intervals configured, Hello {hello}, Dead {dead}, Wait {dead}, "
                "Retransmit 5")
    return f"  Timer intervals configured, Hello {hello}s, Dead {dead}s, Wait {dead}s, Retransmit 5"


def _empty_nbrs(d, host):
    return cli(d, host, OSPF_CMD[d], R.frr_ospf_neighbors([]) if d == "frr" else "")


def ts_ospf_hello(rng, d):
    s = ts_setup(rng, d)
    h1 = rng.choice([10, 10, 5, 30])
    h2 = rng.choice([x for x in (1, 2, 5, 10, 15, 30) if x != h1])
    t1, t2 = (h1, h1 * 4), (h2, h2 * 4)
    outs = [_empty_nbrs(d, s["h1"]),
            cli(d, s["h1"], f"show ip ospf interface {s['if1']} | include Timer",
                _timer_line(d, *t1)),
            cli(d, s["h2"], f"show ip ospf interface {s['if2']} | include Timer",
                _timer_line(d, *t2))]
    user = rng.choice([
        f"{s['h1']} and {s['h2']} share a link but never become OSPF neighbours.",
        f"No OSPF neighbour on {s['if1']} of {s['h1']}. Outputs:",
        f"OSPF won't come up between {s['h1']} and {s['h2']}.",
    ]) + "\n" + "\n".join(outs) + "\n" + rng.choice(ASK_NEXT)
    if d == "ios":
        fix = (f"interface {s['if2']}\n ip ospf hello-interval {t1[0]}\n"
               f" ip ospf dead-interval {t1[1]}")
    else:
        fix = (f"interface {s['if2']}\n ip ospf hello-interval {t1[0]}\n"
               f" ip ospf dead-interval {t1[1]}\nexit")
    nxt = "show ip ospf neighbor"
    ans = (f"Diagnosis: hello/dead interval mismatch. {s['h1']} uses Hello {t1[0]}/Dead {t1[1]}, "
           f"{s['h2']} uses Hello {t2[0]}/Dead {t2[1]}; OSPF discards hellos whose intervals "
           f"differ from its own, so no neighbour is formed.\nFix on {s['h2']} (or change "
           f"{s['h1']} instead):\n{fix}\nNext step: `{nxt}` should then show the neighbour "
           "reaching Full.")
    meta = {"dialect": d, "fault": "ospf_hello_mismatch", "diagnosis": "hello_dead_mismatch",
            "next_command": nxt, "hello": [t1[0], t2[0]], "dead": [t1[1], t2[1]]}
    return user, ans, meta


def ts_ospf_area(rng, d):
    s = ts_setup(rng, d)
    a1 = rng.choice([0, 0, 1, 2, 10])
    a2 = rng.choice([x for x in (0, 1, 2, 3, 5, 10, 20) if x != a1])

    def area_line(addr, area):
        if d == "ios":
            return f"  Internet Address {addr}, Area {area}, Attached via Network Statement"
        bcast = ipaddress.IPv4Interface(addr).network.broadcast_address
        return f"  Internet Address {addr}, Broadcast {bcast}, Area {junos_area(area)}"

    outs = [_empty_nbrs(d, s["h1"]),
            cli(d, s["h1"], f"show ip ospf interface {s['if1']} | include Area",
                area_line(s["a"], a1)),
            cli(d, s["h2"], f"show ip ospf interface {s['if2']} | include Area",
                area_line(s["b"], a2))]
    user = rng.choice([
        f"{s['h1']} and {s['h2']} are directly connected but have no OSPF adjacency.",
        f"OSPF neighbour missing between {s['h1']} and {s['h2']}:",
        f"Why don't {s['h1']} and {s['h2']} peer in OSPF?",
    ]) + "\n" + "\n".join(outs) + "\n" + rng.choice(ASK_NEXT)
    net = net_of(s["b"])
    if d == "ios":
        fix = (f"router ospf 1\n no network {net.split('/')[0]} {wildcard_of(net)} area {a2}\n"
               f" network {net.split('/')[0]} {wildcard_of(net)} area {a1}")
        pid_note = " (use its real process ID)"
    else:
        fix = f"router ospf\n no network {net} area {a2}\n network {net} area {a1}\nexit"
        pid_note = ""
    nxt = "show ip ospf neighbor"
    ans = (f"Diagnosis: area ID mismatch. The link is in area {a1} on {s['h1']} but in area "
           f"{a2} on {s['h2']}; both ends of a link must be in the same area or the hellos "
           f"are rejected.\nFix on {s['h2']}{pid_note}:\n{fix}\nNext step: confirm with "
           f"`{nxt}`.")
    meta = {"dialect": d, "fault": "ospf_area_mismatch", "diagnosis": "area_mismatch",
            "next_command": nxt, "areas": [str(a1), str(a2)]}
    return user, ans, meta


AUTH_TYPES = {0: "no authentication (null, type 0)", 1: "plain-text authentication (type 1)",
              2: "MD5 authentication (type 2)"}


def ts_ospf_auth(rng, d):
    s = ts_setup(rng, "ios")
    theirs, ours = rng.choice([(0, 2), (2, 0), (1, 2), (2, 1), (0, 1)])
    peer_ip = ip_of(s["b"])
    debug = ios_log(rng, f"OSPF: Rcv pkt from {peer_ip}, {s['if1']} : Mismatch Authentication "
                         f"type. Input packet specified type {theirs}, we use type {ours}")
    user = rng.choice([
        f"No OSPF adjacency between {s['h1']} and {s['h2']}. With debug ip ospf adj on "
        f"{s['h1']} I see:",
        f"{s['h1']} ({s['if1']}) won't form OSPF with {s['h2']}. Debug output:",
    ]) + "\n" + debug + "\n" + rng.choice(ASK_NEXT)
    nxt = f"show ip ospf interface {s['if2']}"
    ans = (f"Diagnosis: OSPF authentication type mismatch. {s['h1']} uses {AUTH_TYPES[ours]} "
           f"on {s['if1']}, while {s['h2']} sends packets with {AUTH_TYPES[theirs]}, so "
           f"{s['h1']} drops them.\nNext step: on {s['h2']} run `{nxt}` to see its "
           "authentication setting, then configure the same type (and the same key) on both "
           "ends.")
    meta = {"dialect": "ios", "fault": "ospf_auth_mismatch", "diagnosis": "auth_type_mismatch",
            "next_command": nxt, "auth_types": [ours, theirs]}
    return user, ans, meta


def ts_ospf_empty(rng, d):
    s = ts_setup(rng, d)
    outs = [_empty_nbrs(d, s["h1"])]
    if d == "ios" and rng.random() < 0.5:
        fmt = "{:<12} {:<5} {:<15} {:<18} {:<5} {:<5} {}"
        short = s["if1"].replace("GigabitEthernet", "Gi")
        outs.append(cli(d, s["h1"], "show ip ospf interface brief", "\n".join([
            fmt.format("Interface", "PID", "Area", "IP Address/Mask", "Cost", "State",
                       "Nbrs F/C"),
            fmt.format(short, 1, 0, s["a"], 1, "DR", "0/0")])))
    user = rng.choice([
        f"{s['h1']} has no OSPF neighbour on {s['if1']} towards {s['h2']}.",
        f"OSPF isn't forming between {s['h1']} and {s['h2']}. All I have is this:",
        f"Why is the OSPF neighbour table empty on {s['h1']}?",
    ]) + "\n" + "\n".join(outs) + "\n" + rng.choice(ASK_NEXT)
    nxt = f"show ip ospf interface {s['if1']}"
    ans = (f"Insufficient data: an empty neighbour table only shows that no valid hellos are "
           f"being accepted. On {s['if1']} that can be an area ID, hello/dead interval, "
           "authentication, subnet mask or network-type mismatch, or a passive interface, and "
           f"this output cannot tell them apart.\nNext step: run `{nxt}` on {s['h1']} (and the "
           f"equivalent on {s['h2']}) and compare area, timers, authentication and network "
           "type.")
    meta = {"dialect": d, "fault": "ospf_no_neighbor", "diagnosis": "insufficient_data",
            "next_command": nxt}
    return user, ans, meta


def _bgp_summary(d, s, las, pas, state, updown="never", rcv=0, snt=0, pfx_snt=0):
    if d == "ios":
        return R.ios_bgp_summary(s["rid1"], las, [(s["nbr"], pas, rcv, snt, updown, state)])
    return R.frr_bgp_summary(s["rid1"], las, [(s["nbr"], pas, rcv, snt, updown, state, pfx_snt,
                                                s.get("desc", "N/A"))])


BGP_SUM = {"ios": "show ip bgp summary", "frr": "show bgp summary"}
BGP_NBR = {"ios": "show ip bgp neighbors", "frr": "show bgp neighbors"}


def ts_bgp_wrong_as(rng, d):
    s = ts_setup(rng, d)
    s["nbr"] = ip_of(s["b"])
    las, cfg = asn2(rng), asn2(rng)
    while True:
        # Usually a typo-sized difference, as in real misconfigurations.
        real = cfg + rng.choice([1, -1, 10, 100]) if rng.random() < 0.6 else asn2(rng)
        if real not in (cfg, las) and 64512 <= real <= 65534:
            break
    summ = cli(d, s["h1"], BGP_SUM[d], _bgp_summary(d, s, las, cfg, "Idle"))
    if d == "ios":
        logs = [ios_log(rng, f"%BGP-3-NOTIFICATION: sent to neighbor {s['nbr']} 2/2 (peer in "
                             f"wrong AS) 2 bytes {real:04X}")]
    else:
        b = f"{real:04x}"
        log = frr_logger(rng, s["h1"], "bgpd")
        logs = [log(f"{s['nbr']} bad OPEN, remote AS is {real}, expected {cfg}"),
                log(f"%NOTIFICATION: sent to neighbor {s['nbr']} 2/2 (OPEN Message Error/Bad "
                    f"Peer AS) 2 bytes {b[:2]} {b[2:]}")]
    user = rng.choice([
        f"The eBGP session from {s['h1']} to {s['nbr']} won't come up.",
        f"BGP to {s['h2']} ({s['nbr']}) stays down.",
        f"{s['h1']} can't establish BGP with {s['nbr']}. Summary and log:",
    ]) + "\n" + summ + "\n" + "\n".join(logs) + "\n" + rng.choice(ASK_NEXT)
    hexnote = f" (0x{real:04X})" if d == "ios" else ""
    fix = (f"router bgp {las}\n neighbor {s['nbr']} remote-as {real}" +
           ("\nexit" if d == "frr" else ""))
    nxt = f"{BGP_NBR[d]} {s['nbr']}"
    ans = (f"Diagnosis: wrong remote-as. {s['h1']} expects AS {cfg} for {s['nbr']}, but the "
           f"peer's OPEN carries AS {real}{hexnote}, so {s['h1']} answers with a NOTIFICATION "
           f"2/2 (Bad Peer AS) and the session stays Idle.\nFix (if {real} is the peer's "
           f"intended AS; otherwise correct the AS on {s['h2']}):\n{fix}\nNext step: `{nxt}` "
           "to confirm the state reaches Established.")
    meta = {"dialect": d, "fault": "bgp_wrong_remote_as", "diagnosis": "wrong_remote_as",
            "next_command": nxt, "configured_as": cfg, "peer_as": real}
    return user, ans, meta


def ts_bgp_idle(rng, d):
    s = ts_setup(rng, d)
    s["nbr"] = ip_of(s["b"])
    las, pas = asn2(rng), asn2(rng)
    summ = cli(d, s["h1"], BGP_SUM[d], _bgp_summary(d, s, las, pas, "Idle"))
    user = rng.choice([
        f"BGP to {s['nbr']} is down on {s['h1']}:",
        f"My eBGP session to {s['h2']} never establishes.",
        f"{s['h1']}'s neighbour {s['nbr']} is stuck:",
    ]) + "\n" + summ + "\n" + rng.choice(ASK_NEXT)
    nxt = f"{BGP_NBR[d]} {s['nbr']}"
    ans = (f"Insufficient data: plain Idle (not Idle (Admin) or Idle (PfxCt)) only says the "
           "session keeps failing and backing off. It can be a rejected OPEN (wrong remote-as, "
           "duplicate router ID, bad password), no route to the peer, or the peer resetting "
           "the session; the summary alone doesn't show which.\nNext step: run "
           f"`{nxt}` and read the last reset reason and any NOTIFICATION sent or received; "
           "the log around the resets helps too.")
    meta = {"dialect": d, "fault": "bgp_idle", "diagnosis": "insufficient_data",
            "next_command": nxt}
    return user, ans, meta


def ts_bgp_unreachable(rng, d):
    s = ts_setup(rng, d)
    s["rid1"], s["nbr"] = two_rids(rng)
    las = asn2(rng)
    summ = cli(d, s["h1"], BGP_SUM[d], _bgp_summary(d, s, las, las, "Active"))
    route = cli(d, s["h1"], f"show ip route {s['nbr']}", "% Network not in table")
    user = rng.choice([
        f"iBGP between the loopbacks of {s['h1']} ({s['rid1']}) and {s['h2']} ({s['nbr']}) is "
        "not coming up.",
        f"{s['h1']}'s iBGP peer {s['nbr']} (loopback of {s['h2']}) stays down.",
    ]) + "\n" + summ + "\n" + route + "\n" + rng.choice(ASK_NEXT)
    nxt = "show ip ospf neighbor"
    ans = (f"Diagnosis: the peer is unreachable. {s['h1']} has no route to {s['h2']}'s "
           f"loopback {s['nbr']}, so the TCP connection to port 179 can never be built and "
           "the neighbour sits in Active. BGP itself is not the problem; the IGP is not "
           f"carrying {s['nbr']}.\nNext step: check the IGP with `{nxt}` on {s['h1']}, then "
           f"make sure {s['h2']} advertises its loopback {s['nbr']}/32 (e.g. into OSPF).")
    meta = {"dialect": d, "fault": "bgp_peer_unreachable", "diagnosis": "no_route_to_peer",
            "next_command": nxt}
    return user, ans, meta


def ts_bgp_active(rng, d):
    s = ts_setup(rng, d)
    s["rid1"], s["nbr"] = two_rids(rng)
    las = asn2(rng)
    pas = las if rng.random() < 0.5 else asn2(rng)
    summ = cli(d, s["h1"], BGP_SUM[d], _bgp_summary(d, s, las, pas, "Active"))
    user = rng.choice([
        f"BGP from {s['h1']} to {s['nbr']} is not establishing:",
        f"Neighbour {s['nbr']} on {s['h1']} never comes up.",
        f"What's going on with this BGP peer on {s['h1']}?",
    ]) + "\n" + summ + "\n" + rng.choice(ASK_NEXT)
    nxt = f"show ip route {s['nbr']}"
    ans = (f"Insufficient data: Active means {s['h1']} keeps trying and failing to open the "
           f"TCP session to {s['nbr']}. That can be no route to {s['nbr']}, TCP port 179 "
           "filtered, a wrong neighbour address or update-source, or the peer not being "
           "configured for this session; the summary can't distinguish them.\nNext step: "
           f"run `{nxt}`; if a route exists, test reachability from the session's source "
           "address with ping and then check filters and the peer's config.")
    meta = {"dialect": d, "fault": "bgp_active", "diagnosis": "insufficient_data",
            "next_command": nxt}
    return user, ans, meta


def ts_bgp_policy(rng, d):
    s = ts_setup(rng, "frr")
    s["nbr"] = ip_of(s["b"])
    las, pas = asn2(rng), asn2(rng)
    up = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    summ = cli("frr", s["h1"], "show bgp ipv4 unicast summary",
               R.frr_bgp_summary(s["rid1"], las, [(s["nbr"], pas, rng.randint(5, 90),
                                                   rng.randint(5, 90), up, "(Policy)",
                                                   "(Policy)", "N/A")]))
    user = rng.choice([
        f"The eBGP session from {s['h1']} (FRR) to {s['nbr']} is up, but no routes are "
        "exchanged.",
        f"FRR router {s['h1']} peers with AS {pas} fine, yet I get no prefixes:",
    ]) + "\n" + summ + "\n" + rng.choice(ASK_NEXT)
    nxt = "show running-config"
    ans = (f"Diagnosis: the session is Established, but FRR's RFC 8212 default "
           "(`bgp ebgp-requires-policy`) blocks every route to and from an eBGP peer that has "
           "no inbound and outbound policy; that is what (Policy) means.\nFix: apply route-maps "
           f"in both directions under `address-family ipv4 unicast` (`neighbor {s['nbr']} "
           f"route-map NAME in` and `out`), or add `no bgp ebgp-requires-policy` under "
           f"`router bgp {las}`.\nNext step: `{nxt}` to confirm no route-map is applied to "
           f"{s['nbr']}, then recheck the summary.")
    meta = {"dialect": "frr", "fault": "bgp_ebgp_requires_policy",
            "diagnosis": "missing_ebgp_policy", "next_command": nxt}
    return user, ans, meta


def _show_if(rng, d, s, state):
    if d == "ios":
        return cli(d, s["h1"], f"show interfaces {s['if1']}",
                   R.ios_show_interface(s["if1"], state, f"to-{s['h2']}", s["a"], mac(rng, d),
                                        1500))
    if d == "frr":
        return cli(d, s["h1"], f"show interface {s['if1']}",
                   R.frr_show_interface(s["if1"], state, s["a"], mac(rng, d), 1500))
    return cli(d, s["h1"], f"show interfaces {s['if1']} terse",
               R.junos_terse(s["if1"], state, s["a"]))


def ts_if_down(rng, d):
    s = ts_setup(rng, d)
    user = rng.choice([
        f"{s['h1']} lost the link to {s['h2']} on {s['if1']}.",
        f"Nothing works over {s['if1']} on {s['h1']}:",
        f"{s['if1']} on {s['h1']} (to {s['h2']}) is down.",
    ]) + "\n" + _show_if(rng, d, s, "down") + "\n" + rng.choice(ASK_NEXT)
    why = {"ios": "it is not administratively down (that would read \"administratively "
                  "down\") but has no carrier",
           "frr": "the UP flag shows it is administratively enabled, but RUNNING/LOWER_UP is "
                  "missing, i.e. there is no carrier",
           "junos": "Admin is up but Link is down, i.e. there is no carrier"}[family(d)]
    nxt = {"ios": f"show interfaces {s['if2']}", "frr": f"ethtool {s['if1']}",
           "junos": f"show interfaces {s['if1']} extensive"}[family(d)]
    where = {"ios": f"on {s['h2']} to see whether its side is shut down or errored",
             "frr": f"from the Linux shell on {s['h1']} (look at \"Link detected\")",
             "junos": "and look at the physical-layer errors and alarms"}[family(d)]
    ans = (f"Diagnosis: a physical-layer problem: {why}. Typical causes are a bad or unplugged "
           f"cable, a faulty optic, or the far end on {s['h2']} being shut down.\nNext step: "
           f"run `{nxt}` {where}, then check the cable/optic. Nothing in the IP or routing "
           "configuration will help until the link comes up.")
    meta = {"dialect": d, "fault": "interface_down", "diagnosis": "physical_link_down",
            "next_command": nxt}
    return user, ans, meta


def ts_if_admin(rng, d):
    s = ts_setup(rng, d)
    user = rng.choice([
        f"I can't ping {s['h2']} over {s['if1']} from {s['h1']}.",
        f"{s['if1']} on {s['h1']} isn't passing traffic:",
        f"Link from {s['h1']} to {s['h2']} is dead:",
    ]) + "\n" + _show_if(rng, d, s, "admin") + "\n" + rng.choice(ASK_NEXT)
    if d == "ios":
        why = "the interface is administratively down (shutdown)"
        fix = f"interface {s['if1']}\n no shutdown"
        nxt = "show ip interface brief"
    elif d == "frr":
        why = "the flags lack UP, so the link is administratively down"
        fix = f"interface {s['if1']}\n no shutdown\nexit\n(or `ip link set {s['if1']} up` in Linux)"
        nxt = "show interface brief"
    else:
        why = "Admin is down, so the interface is disabled in the configuration"
        fix = f"delete interfaces {s['if1']} disable\ncommit"
        nxt = f"show interfaces {s['if1']} terse"
    ans = (f"Diagnosis: {why}.\nFix:\n{fix}\nNext step: `{nxt}` to confirm it comes up; "
           f"if it then shows down/down, look at the cable and {s['h2']}'s side.")
    meta = {"dialect": d, "fault": "interface_admin_down", "diagnosis": "admin_down",
            "next_command": nxt}
    return user, ans, meta


def ts_subnet(rng, d):
    s = ts_setup(rng, "ios")
    net = ipaddress.IPv4Interface(s["a"]).network
    plen = net.prefixlen
    other = ipaddress.IPv4Network((int(net.network_address) + net.num_addresses, plen))
    b = f"{other[2] if plen < 31 else other[1]}/{plen}"
    outs = [cli("ios", s["h1"], f"show ip interface {s['if1']} | include Internet",
                f"  Internet address is {s['a']}"),
            cli("ios", s["h2"], f"show ip interface {s['if2']} | include Internet",
                f"  Internet address is {b}")]
    user = rng.choice([
        f"{s['h1']} and {s['h2']} are cabled together and both interfaces are up/up, but "
        "they can't ping each other or form OSPF.",
        f"Up/up link between {s['h1']} and {s['h2']}, no ping, no OSPF:",
    ]) + "\n" + "\n".join(outs) + "\n" + rng.choice(ASK_NEXT)
    nxt = f"ping {ip_of(s['a'])}"
    ans = (f"Diagnosis: addressing error. {s['h1']} is in {net} but {s['h2']} is in {other}, "
           "so neither sees the other as directly connected: ARP/ping fail and OSPF ignores "
           f"the hellos.\nFix: readdress one side into the same subnet, e.g. on {s['h2']}:\n"
           f"interface {s['if2']}\n ip address {net[2] if ip_of(s['a']) != str(net[2]) else net[1]}"
           f" {net.netmask}\nNext step: from {s['h2']}, `{nxt}`.")
    meta = {"dialect": "ios", "fault": "subnet_mismatch", "diagnosis": "different_subnets",
            "next_command": nxt}
    return user, ans, meta


# (builder, dialects it renders, weight). Insufficient-data cases are ~30% of the mix so the
# model learns that an empty table or a bare state is not enough to name a cause.
FAULTS = [
    (ts_ospf_mtu, ("ios", "frr", "junos"), 3),
    (ts_ospf_hello, ("ios", "frr"), 2),
    (ts_ospf_area, ("ios", "frr"), 2),
    (ts_ospf_auth, ("ios",), 1),
    (ts_ospf_empty, ("ios", "frr"), 2),
    (ts_bgp_wrong_as, ("ios", "frr"), 3),
    (ts_bgp_idle, ("ios", "frr"), 1),
    (ts_bgp_unreachable, ("ios", "frr"), 2),
    (ts_bgp_active, ("ios", "frr"), 2),
    (ts_bgp_policy, ("frr",), 1),
    (ts_if_down, ("ios", "frr", "junos"), 2),
    (ts_if_admin, ("ios", "frr", "junos"), 2),
    (ts_subnet, ("ios",), 1),
]


def make_troubleshoot(rng):
    fn, dialects, _ = rng.choices(FAULTS, weights=[w for *_, w in FAULTS])[0]
    return fn(rng, rng.choice(dialects))


# --------------------------------------------------------------------------- refusal rows
# Each made-up command comes with what the asker most likely wanted and the real way to do
# it; the twin asks for exactly that real thing, so a model that refuses the twin is
# over-refusing rather than knowing. Placeholders are filled from refusal_params().

FAKES = content("fakes")

ALT_PLACEHOLDER = {"asn": "<your-AS>", "iif": "<interface>", "jif": "<interface>",
                   "fif": "<interface>", "nbr": "<neighbor-address>", "pid": "<process-id>",
                   "jarea": "<area>", "area": "<area>", "lanpfx": "<peer-subnet>",
                   "group": "<group>", "cost": "<cost>", "nh": "<next-hop-address>"}

FAKE_ASK = [
    "What does `{fake}`{where} do on {plat}?",
    "Configure `{fake}`{where} on {plat} for me.",
    "How do I use `{fake}` on {plat} to {goal}?",
    "Is `{fake}` the right {plat} command to {goal}?",
    "I read that `{fake}` is the best way to {goal} on {plat}. Give me the exact config.",
    "{plat}: explain `{fake}`{where}.",
]
FAKE_DENY = [
    "I don't know of such a command: {plat} has no `{fake}`.",
    "`{fake}` does not exist on {plat}, so I can't configure or explain it.",
    "There is no `{fake}` command in {plat}; I won't guess what it would do.",
]
PLAT_SAYS = {"ios": ["Cisco IOS", "IOS"], "junos": ["JunOS", "Junos"],
             "frr": ["FRR", "FRRouting"]}


def refusal_params(rng):
    h, _ = hosts(rng)
    n = if_num(rng)
    pfx = lan_prefix(rng)
    area = rng.randint(1, 30)
    return {"host": h, "iif": ifname("ios", n), "jif": ifname("junos", n),
            "fif": ifname("frr", n), "nbr": ip_of(link(rng)[1]), "asn": asn(rng),
            "area": area, "jarea": junos_area(rng.choice([0, area])),
            "pid": rng.choice([1, 1, 10, 100]), "pfx": pfx,
            "pfx_ios": f"{pfx.split('/')[0]} {mask_of(pfx)}", "nh": ip_of(link(rng)[1]),
            "lanpfx": net_of(link(rng, plens=(24, 26))[0]), "group": draw_bgp(rng)["group"],
            "cost": rng.choice([5, 10, 20, 50, 100]), "pw": password(rng)}


def fake_pair(rng):
    e = rng.choice(FAKES)
    p = refusal_params(rng)
    fake = e["fake"].format(**p)
    plat = rng.choice(PLAT_SAYS[e["fam"]])
    f = dict(p, fake=fake, plat=plat, where=e.get("where", ""), goal=e["goal"].format(**p))
    operational = fake.split()[0] in ("show", "clear", "request")
    asks = [t for t in FAKE_ASK if not (operational and "config" in t.lower())]
    user = rng.choice(asks).format(**f)
    deny = e["deny"].format(**f) if "deny" in e else rng.choice(FAKE_DENY).format(**f)
    # The asker gave no AS, interface or neighbour, so the suggested alternative must not
    # invent them: anything not named in the question stays a placeholder.
    named = e["fake"] + e["goal"]
    alt = e["alt"].format(**{k: v if "{" + k + "}" in named else ALT_PLACEHOLDER.get(k, v)
                             for k, v in p.items()})
    if "deny" in e:
        answer = f"{deny} To {f['goal']}, {alt}"
    else:
        answer = f"{deny} If the goal is to {f['goal']}, {alt}"
    twin_q = rng.choice(e["twin_q"]).format(**p)
    twin_a = e["twin_a"].format(**p)
    meta = {"kind": "fake_command", "dialect": e["fam"], "command": fake}
    return (user, answer, meta), (twin_q, twin_a, {"dialect": e["fam"]})


def missing_pair(rng):
    """A question that cannot be answered as asked, and the same question made complete."""
    kind = rng.choice(["bgp_as", "static", "ospf_area", "ospf_cost", "bgp_down", "peer_ip"])
    d = rng.choice(R.DIALECTS)
    dn, plat = rng.choice(DIALECT_SAYS[d]), PLATFORM[family(d)]
    intro = rng.choice(ANSWER_INTRO[d])
    if kind == "bgp_as":
        p = draw_bgp(rng, kind="ebgp")
        p.update(password=None, advertise=None, filter=None)
        user = rng.choice([f"Configure a BGP session to {p['nbr']} on {p['host']} ({dn}).",
                           f"{dn}: add BGP neighbour {p['nbr']}.",
                           f"Set up BGP peering with {p['nbr']} in {dn}."])
        ans = (f"I can't write that exactly: a BGP neighbour needs the local AS number and the "
               f"neighbour's AS (remote-as), and neither is given. Tell me both (and the router "
               f"ID you want) and I'll give the {plat} config.")
        missing = ["local_as", "remote_as"]
        tq, ta = ask_bgp(rng, d, p), "\n".join(
            [intro, R.render("bgp", d, p)] + ([frr_note("bgp", d, p)] if frr_note("bgp", d, p)
                                              else []))
    elif kind == "static":
        p = draw_static(rng)
        p["routes"] = [{"prefix": lan_prefix(rng), "nh": ip_of(link(rng)[1]), "ad": None,
                        "kind": "plain"}]
        net = p["routes"][0]["prefix"].split("/")[0]
        user = rng.choice([f"Add a static route to the {net} network on {p['host']} ({dn}).",
                           f"{dn}: I need a static route for {net}.",
                           f"Route {net} statically on {p['host']}. {dn} please."])
        ans = (f"Insufficient information: I need the prefix length (mask) of {net} and the "
               f"next-hop address or exit interface before I can give the exact {plat} "
               "command.")
        missing = ["prefix_length", "next_hop"]
        tq, ta = ask_static(rng, d, p), f"{intro}\n{R.render('static', d, p)}"
    elif kind == "ospf_area":
        p = draw_ospf(rng)
        p["lan"], p["stub"] = None, False
        p["link"].update(cost=None, hello=None, dead=None, p2p=False)
        ifn = ifname(d, p["link"]["if"])
        user = rng.choice([f"Enable OSPF on {ifn} on {p['host']} ({dn}).",
                           f"{dn}: put {ifn} into OSPF.",
                           f"Run OSPF on {p['host']}'s {ifn}. Give me the {dn} config."])
        extra = " and an OSPF process ID" if d == "ios" else ""
        ans = (f"I can't give an exact config: the OSPF area for {ifn} is missing (and I'd need "
               f"its subnet{extra} too). Tell me the area and the address and I'll write the "
               f"{plat} configuration.")
        missing = ["area", "prefix"] + (["process_id"] if d == "ios" else [])
        tq, ta = ask_ospf(rng, d, p), f"{intro}\n{R.render('ospf', d, p)}"
    elif kind == "ospf_cost":
        h, peer = hosts(rng)
        n, cost, area = if_num(rng), rng.choice([5, 10, 20, 50, 100, 200]), rng.choice([0, 1, 2])
        ifn = ifname(d, n)
        user = rng.choice([f"Set the OSPF cost on {h}'s link to {peer} ({dn}).",
                           f"{dn}: change the OSPF cost towards {peer}."])
        ans = (f"Insufficient information: I need the interface that faces {peer} and the cost "
               "value you want before I can give the exact command.")
        missing = ["interface", "cost"]
        tq = rng.choice([f"{dn}: set the OSPF cost of {ifn} to {cost}",
                         f"On {h}, change the OSPF cost of {ifn} to {cost}. Use {dn}"])
        if family(d) == "junos":
            tq += f" (area {area})."
            lines = [f"set protocols ospf area {junos_area(area)} interface {ifn}.0 metric {cost}"]
            cfg = "\n".join(lines if d == "junos_set" else R.set_to_brace(lines))
        else:
            tq += "."
            cfg = f"interface {ifn}\n ip ospf cost {cost}" + ("\nexit" if d == "frr" else "")
        ta = f"{intro}\n{cfg}"
    elif kind == "bgp_down":
        d = rng.choice(["ios", "frr"])
        plat = PLATFORM[d]
        h, _ = hosts(rng)
        nbr = ip_of(link(rng)[1])
        user = rng.choice([f"My {plat} router's BGP session to {nbr} is down. Why?",
                           f"BGP with {nbr} is down on {h} ({plat}). What's wrong?",
                           f"{h} lost its BGP neighbour {nbr}. Why?"])
        summ, nb = BGP_SUM[d], f"{BGP_NBR[d]} {nbr}"
        ans = (f"Insufficient data: nothing here shows the session state or why it went down. "
               f"Run `{summ}` and `{nb}` (look at the state and the last reset reason) and "
               "check the log for NOTIFICATION messages.")
        missing = ["show_output"]
        tq = rng.choice([f"Which {plat} command shows why the BGP session to {nbr} was last "
                         "reset?",
                         f"On {plat}, how do I find the last reset reason for BGP neighbour "
                         f"{nbr}?"])
        ta = (f"{nb}\nThe \"Last reset\" line gives the reason, including any NOTIFICATION "
              "sent or received.")
    else:
        h, peer = hosts(rng)
        a, b = link(rng, plens=(30, 31))
        net = net_of(a)
        user = rng.choice([f"What IP should {peer} use on its side of the link to {h}?",
                           f"Which address do I give {peer}'s interface towards {h}?"])
        ans = (f"I can't tell from that: I need the link's subnet (or {h}'s address and prefix "
               "length) to say which address is free for the other side.")
        missing = ["subnet"]
        d = "any"
        plen = int(net.split("/")[1])
        tq = rng.choice([f"The link between {h} and {peer} is {net} and {h} has {ip_of(a)}. "
                         f"What address does {peer} get?",
                         f"{h} uses {a} on the link to {peer}. What's the only other usable "
                         "address on it?"])
        why = ("a /30 has exactly two usable host addresses" if plen == 30 else
               "a /31 point-to-point link (RFC 3021) uses both of its addresses")
        ta = f"{b}: {why}, and {h} already has {ip_of(a)}."
    meta = {"kind": "missing_info", "dialect": d, "missing": missing}
    return (user, ans, meta), (tq, ta, {"dialect": d})


def make_refusal_pair(rng):
    return fake_pair(rng) if rng.random() < 0.7 else missing_pair(rng)


# --------------------------------------------------------------------------- explain rows

EXPLAIN = content("explain")

EXPLAIN_ASK = [
    "What does `{cmd}` do on {plat}?",
    "Explain the {plat} command `{cmd}`.",
    "I came across `{cmd}` on {plat}. What is it for?",
    "In one paragraph: what is `{cmd}` ({plat})?",
    "Briefly explain `{cmd}` on {plat}.",
]


def make_explain(rng):
    fam, cmd, text = rng.choice(EXPLAIN)
    p = refusal_params(rng)
    p.update(paths=rng.choice([2, 4, 8]), refbw=rng.choice([10000, 40000, 100000]),
             rm=policy_names(rng, hosts(rng)[0])["rm"], pl=policy_names(rng, hosts(rng)[0])["pl"])
    cmd = cmd.format(**p)
    plat = rng.choice(PLAT_SAYS[fam])
    user = rng.choice(EXPLAIN_ASK).format(cmd=cmd, plat=plat)
    return user, f"`{cmd}`: " + text.format(**p), {"dialect": fam, "command": cmd}


# --------------------------------------------------------------------------- curated rows

CURATED = content("curated")


# --------------------------------------------------------------------------- assembly

BUILDERS = {"config": make_config, "translate": make_translate,
            "troubleshoot": make_troubleshoot, "explain": make_explain}


def row(category: str, idx: int, user: str, answer: str, meta: dict) -> dict:
    return {"id": f"{category}-{idx}", "category": category,
            "messages": [{"role": "system", "content": SYSTEM},
                         {"role": "user", "content": user},
                         {"role": "assistant", "content": answer}],
            "meta": meta}


def fits(*texts: str) -> bool:
    return len(SYSTEM) + sum(len(t) for t in texts) <= MAX_CHARS


def quotas(n: int) -> dict[str, int]:
    """Curated first, then five roughly equal shares; refusal and its twins share one."""
    cur = min(len(CURATED), n)
    rest = n - cur
    share = rest // 5
    pairs = (rest - 4 * share) // 2
    q = {"curated": cur, "config": share, "translate": share, "troubleshoot": share,
         "explain": share, "refusal_pairs": pairs}
    q["config"] += rest - 4 * share - 2 * pairs
    return q


def generate(seed: int, n: int) -> list[dict]:
    """`n` rows, deterministic in (seed, n); every user prompt is unique."""
    q = quotas(n)
    seen: set[str] = set()
    rows = [row("curated", i, u, a, {"topic": "concept"})
            for i, (u, a) in enumerate(CURATED[:q["curated"]])]
    seen.update(u for u, _ in CURATED)
    for cat, build in BUILDERS.items():
        rng = random.Random(f"netops:{seed}:{cat}")
        for i in range(q[cat]):
            for _ in range(MAX_TRIES):
                user, answer, meta = build(rng)
                if user not in seen and fits(user, answer):
                    break
            else:
                raise RuntimeError(f"{cat}: no new prompt that fits after {MAX_TRIES} tries")
            seen.add(user)
            rows.append(row(cat, i, user, answer, meta))
    rng = random.Random(f"netops:{seed}:refusal")
    for i in range(q["refusal_pairs"]):
        for _ in range(MAX_TRIES):
            (u, a, m), (tu, ta, tm) = make_refusal_pair(rng)
            if u not in seen and tu not in seen and u != tu and fits(u, a) and fits(tu, ta):
                break
        else:
            raise RuntimeError(f"refusal: no new pair after {MAX_TRIES} tries")
        seen.update((u, tu))
        m["twin"] = f"refusal_twin-{i}"
        tm.update(twin_of=f"refusal-{i}", kind=m["kind"])
        # Pairs sit next to each other so a splitter can keep twins in the same split.
        rows.append(row("refusal", i, u, a, m))
        rows.append(row("refusal_twin", i, tu, ta, tm))
        # A shared split group keeps each pair in the same split (netft/data/split.py).
        rows[-2]["group"] = rows[-1]["group"] = f"refusal-pair-{i}"
    return rows


def write_jsonl(rows: list[dict], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8", newline="\n") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=900)
    # Extra training rows (docs/dataset.md, "More config rows"): some categories of another
    # seed, none equal to a held-out row, ids prefixed so they never collide with the set's.
    ap.add_argument("--categories", default="", help="keep only these (comma-separated)")
    ap.add_argument("--exclude", type=Path, action="append", default=[],
                    help="drop rows whose question or answer equals one of this JSONL's rows")
    ap.add_argument("--limit", type=int, default=0, help="keep the first LIMIT rows")
    ap.add_argument("--id-prefix", default="")
    args = ap.parse_args(argv)
    rows = generate(args.seed, args.n)
    if args.categories:
        keep = set(args.categories.split(","))
        rows = [r for r in rows if r["category"] in keep]
    if args.exclude:
        from netft.data.chat import read_chat_jsonl  # names the file and line of a bad row

        held = {m["content"] for f in args.exclude for row in read_chat_jsonl(f)
                for m in row["messages"] if m["role"] != "system"}
        rows = [r for r in rows
                if not {m["content"] for m in r["messages"] if m["role"] != "system"} & held]
    if args.limit:
        if len(rows) < args.limit:
            raise SystemExit(f"only {len(rows)} rows left to keep {args.limit}: raise --n")
        rows = rows[:args.limit]
    for r in rows:
        r["id"] = args.id_prefix + r["id"]
    write_jsonl(rows, args.out)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["category"]] = counts.get(r["category"], 0) + 1
    print(f"wrote {len(rows)} rows to {args.out}: " +
          ", ".join(f"{k}={v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
