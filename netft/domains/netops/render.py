"""Render one set of network parameters as Cisco IOS, JunOS (set / brace) or FRR config.

The generator (`netops_gen`) draws parameters once and asks this module for every dialect,
so a config row, its translation and its meta all describe the same network. Everything
here is pure string building: no randomness, so a renderer bug shows up identically in
every row that uses it and is easy to spot in review.

Parameter dicts (built by netops_gen):
  iface:  host, peer, if, addr ("10.0.12.1/30"), desc, loopback (None or "1.1.1.1")
  ospf:   pid, rid, area (int), stub, with_addr,
          link {if, addr, cost, hello, dead, p2p}, lan {if, addr} or None (always passive)
  bgp:    kind ("ebgp"|"ibgp"), local_as, rid, nbr, peer_as, peer, desc, group,
          password, advertise (prefix or None), export_policy,
          filter {rm, pl, prefixes} or None
  static: routes [{prefix, nh (None = discard), ad (None = default)}]
"""
from __future__ import annotations

import ipaddress

DIALECTS = ("ios", "junos_set", "junos_brace", "frr")


# --------------------------------------------------------------------------- names / math

def ifname(dialect: str, n: int) -> str:
    """Interface n on each platform; the same n means the same physical port everywhere."""
    if dialect == "ios":
        return f"GigabitEthernet0/{n}"
    if dialect.startswith("junos"):
        return f"ge-0/0/{n}"
    return f"eth{n}"


def loname(dialect: str) -> str:
    if dialect == "ios":
        return "Loopback0"
    if dialect.startswith("junos"):
        return "lo0"
    return "lo"


def iface(addr: str) -> ipaddress.IPv4Interface:
    return ipaddress.IPv4Interface(addr)


def ip_of(addr: str) -> str:
    return str(iface(addr).ip)


def net_of(addr: str) -> str:
    return str(iface(addr).network)


def mask_of(prefix: str) -> str:
    return str(ipaddress.IPv4Network(prefix, strict=False).netmask)


def wildcard_of(prefix: str) -> str:
    return str(ipaddress.IPv4Network(prefix, strict=False).hostmask)


def junos_area(area: int) -> str:
    """JunOS shows areas dotted; IOS and FRR accept the plain integer."""
    return str(ipaddress.IPv4Address(area))


def _blocks(blocks: list[list[str]], sep: str = "!") -> list[str]:
    """Join non-empty config blocks with the platform's separator line."""
    out: list[str] = []
    for b in blocks:
        if not b:
            continue
        if out:
            out.append(sep)
        out.extend(b)
    return out


def _frr_block(head: str, body: list[str]) -> list[str]:
    # FRR 8 writes an explicit `exit` after every node; vtysh -C accepts it and it keeps
    # pasted configs from falling into the wrong node.
    return [head, *body, "exit"]


# --------------------------------------------------------------------------- interfaces

def iface_lines(d: str, p: dict) -> list[str]:
    ip = iface(p["addr"])
    if d == "ios":
        blocks = [[f"interface {ifname(d, p['if'])}",
                   f" description {p['desc']}",
                   f" ip address {ip.ip} {ip.netmask}",
                   " no shutdown"]]
        if p.get("loopback"):
            blocks.append([f"interface {loname(d)}",
                           f" ip address {p['loopback']} 255.255.255.255"])
        return _blocks(blocks)
    if d == "frr":
        blocks = [_frr_block(f"interface {ifname(d, p['if'])}",
                             [f" description {p['desc']}", f" ip address {ip}"])]
        if p.get("loopback"):
            blocks.append(_frr_block("interface lo", [f" ip address {p['loopback']}/32"]))
        return _blocks(blocks)
    jif = ifname(d, p["if"])
    lines = [f"set interfaces {jif} description {p['desc']}",
             f"set interfaces {jif} unit 0 family inet address {ip}"]
    if p.get("loopback"):
        lines.append(f"set interfaces lo0 unit 0 family inet address {p['loopback']}/32")
    return _junos(d, lines)


# --------------------------------------------------------------------------- OSPF

def ospf_lines(d: str, p: dict) -> list[str]:
    link, lan, area = p["link"], p.get("lan"), p["area"]
    if d == "ios":
        return _ospf_ios(p, link, lan, area)
    if d == "frr":
        return _ospf_frr(p, link, lan, area)
    return _junos(d, _ospf_junos(p, link, lan, area))


def _ospf_if_knobs(link: dict) -> list[str]:
    # IOS and FRR share these interface commands word for word.
    out = []
    if link.get("p2p"):
        out.append(" ip ospf network point-to-point")
    if link.get("cost") is not None:
        out.append(f" ip ospf cost {link['cost']}")
    if link.get("hello") is not None:
        out.append(f" ip ospf hello-interval {link['hello']}")
    if link.get("dead") is not None:
        out.append(f" ip ospf dead-interval {link['dead']}")
    return out


def _ospf_ios(p, link, lan, area):
    blocks = []
    body = []
    if p.get("with_addr"):
        ip = iface(link["addr"])
        body += [f" ip address {ip.ip} {ip.netmask}", " no shutdown"]
    body += _ospf_if_knobs(link)
    if body:
        blocks.append([f"interface {ifname('ios', link['if'])}", *body])
    if lan and p.get("with_addr"):
        ip = iface(lan["addr"])
        blocks.append([f"interface {ifname('ios', lan['if'])}",
                       f" ip address {ip.ip} {ip.netmask}", " no shutdown"])
    rtr = [f"router ospf {p['pid']}", f" router-id {p['rid']}"]
    if p.get("stub"):
        rtr.append(f" area {area} stub")
    if lan:
        rtr.append(f" passive-interface {ifname('ios', lan['if'])}")
    for x in [link] + ([lan] if lan else []):
        net = net_of(x["addr"])
        rtr.append(f" network {net.split('/')[0]} {wildcard_of(net)} area {area}")
    blocks.append(rtr)
    return _blocks(blocks)


def _ospf_frr(p, link, lan, area):
    blocks = []
    body = [f" ip address {link['addr']}"] if p.get("with_addr") else []
    body += _ospf_if_knobs(link)
    if body:
        blocks.append(_frr_block(f"interface {ifname('frr', link['if'])}", body))
    if lan:
        # Per-interface `ip ospf passive` is the FRR 8+ form; the router-level
        # `passive-interface IFNAME` is deprecated there.
        body = [f" ip address {lan['addr']}"] if p.get("with_addr") else []
        blocks.append(_frr_block(f"interface {ifname('frr', lan['if'])}",
                                 body + [" ip ospf passive"]))
    rtr = [f" ospf router-id {p['rid']}"]
    for x in [link] + ([lan] if lan else []):
        rtr.append(f" network {net_of(x['addr'])} area {area}")
    if p.get("stub"):
        rtr.append(f" area {area} stub")
    blocks.append(_frr_block("router ospf", rtr))
    return _blocks(blocks)


def _ospf_junos(p, link, lan, area):
    lines = []
    if p.get("with_addr"):
        for x in [link] + ([lan] if lan else []):
            lines.append(f"set interfaces {ifname('junos', x['if'])} unit 0 family inet "
                         f"address {x['addr']}")
    lines.append(f"set routing-options router-id {p['rid']}")
    base = f"set protocols ospf area {junos_area(area)}"
    if p.get("stub"):
        lines.append(f"{base} stub")
    unit = f"{base} interface {ifname('junos', link['if'])}.0"
    knobs = []
    if link.get("p2p"):
        knobs.append(f"{unit} interface-type p2p")
    if link.get("cost") is not None:
        knobs.append(f"{unit} metric {link['cost']}")
    if link.get("hello") is not None:
        knobs.append(f"{unit} hello-interval {link['hello']}")
    if link.get("dead") is not None:
        knobs.append(f"{unit} dead-interval {link['dead']}")
    lines += knobs or [unit]
    if lan:
        lines.append(f"{base} interface {ifname('junos', lan['if'])}.0 passive")
    return lines


# --------------------------------------------------------------------------- BGP

def bgp_lines(d: str, p: dict) -> list[str]:
    if d == "ios":
        return _bgp_ios(p)
    if d == "frr":
        return _bgp_frr(p)
    return _junos(d, _bgp_junos(p))


def _prefix_list(pl: str, prefixes: list[str]) -> list[str]:
    # IOS and FRR prefix-lists both take prefix notation.
    return [f"ip prefix-list {pl} seq {5 * (i + 1)} permit {pfx}" for i, pfx in enumerate(prefixes)]


def _bgp_ios(p):
    n = p["nbr"]
    rtr = [f"router bgp {p['local_as']}", f" bgp router-id {p['rid']}",
           f" neighbor {n} remote-as {p['peer_as']}",
           f" neighbor {n} description {p['desc']}"]
    if p.get("password"):
        rtr.append(f" neighbor {n} password {p['password']}")
    if p["kind"] == "ibgp":
        rtr.append(f" neighbor {n} update-source Loopback0")
    if p.get("advertise"):
        net = p["advertise"]
        rtr.append(f" network {net.split('/')[0]} mask {mask_of(net)}")
    f = p.get("filter")
    if f:
        rtr.append(f" neighbor {n} route-map {f['rm']} in")
    blocks = [rtr]
    if f:
        blocks.append(_prefix_list(f["pl"], f["prefixes"]))
        blocks.append([f"route-map {f['rm']} permit 10",
                       f" match ip address prefix-list {f['pl']}"])
    return _blocks(blocks)


def _bgp_frr(p):
    n = p["nbr"]
    rtr = [f" bgp router-id {p['rid']}"]
    if p["kind"] == "ebgp":
        # FRR follows RFC 8212 by default: an eBGP peer without both an inbound and an
        # outbound policy exchanges no routes. IOS and JunOS have no such default, so the
        # equivalent FRR config has to switch it off.
        rtr.append(" no bgp ebgp-requires-policy")
    rtr += [f" neighbor {n} remote-as {p['peer_as']}",
            f" neighbor {n} description {p['desc']}"]
    if p.get("password"):
        rtr.append(f" neighbor {n} password {p['password']}")
    if p["kind"] == "ibgp":
        rtr.append(f" neighbor {n} update-source lo")
    af = []
    if p.get("advertise"):
        af.append(f"  network {p['advertise']}")
    f = p.get("filter")
    if f:
        af.append(f"  neighbor {n} route-map {f['rm']} in")
    if af:
        rtr += [" !", " address-family ipv4 unicast", *af, " exit-address-family"]
    blocks = [_frr_block(f"router bgp {p['local_as']}", rtr)]
    if f:
        blocks.append(_prefix_list(f["pl"], f["prefixes"]))
        blocks.append(_frr_block(f"route-map {f['rm']} permit 10",
                                 [f" match ip address prefix-list {f['pl']}"]))
    return _blocks(blocks)


def _bgp_junos(p):
    g = f"set protocols bgp group {p['group']}"
    lines = [f"set routing-options router-id {p['rid']}",
             f"set routing-options autonomous-system {p['local_as']}"]
    if p["kind"] == "ebgp":
        lines += [f"{g} type external", f"{g} peer-as {p['peer_as']}"]
    else:
        lines += [f"{g} type internal", f"{g} local-address {p['rid']}"]
    lines.append(f"{g} neighbor {p['nbr']} description {p['desc']}")
    if p.get("password"):
        lines.append(f"{g} neighbor {p['nbr']} authentication-key {p['password']}")
    f = p.get("filter")
    if f:
        lines.append(f"{g} import {f['rm']}")
    if p.get("advertise"):
        lines.append(f"{g} export {p['export_policy']}")
    if f:
        lines += [f"set policy-options prefix-list {f['pl']} {pfx}" for pfx in f["prefixes"]]
        ps = f"set policy-options policy-statement {f['rm']}"
        # The final reject mirrors the implicit deny at the end of an IOS/FRR route-map;
        # without it JunOS would fall through to the default BGP import policy (accept).
        lines += [f"{ps} term 10 from prefix-list {f['pl']}", f"{ps} term 10 then accept",
                  f"{ps} then reject"]
    if p.get("advertise"):
        # JunOS has no `network` statement: an export policy that matches the prefix does
        # the same job (like `network`, it only exports the route if it is active).
        ps = f"set policy-options policy-statement {p['export_policy']}"
        lines += [f"{ps} term 10 from route-filter {p['advertise']} exact",
                  f"{ps} term 10 then accept"]
    return lines


# --------------------------------------------------------------------------- static routes

def static_lines(d: str, p: dict) -> list[str]:
    routes = p["routes"]
    if d in ("ios", "frr"):
        out = []
        for r in routes:
            if d == "ios":
                dest = f"{r['prefix'].split('/')[0]} {mask_of(r['prefix'])}"
                nh = r["nh"] or "Null0"
            else:
                dest = r["prefix"]
                nh = r["nh"] or "blackhole"
            out.append(f"ip route {dest} {nh}" + (f" {r['ad']}" if r.get("ad") else ""))
        return out
    lines = []
    plain = {r["prefix"] for r in routes if r["nh"] and not r.get("ad")}
    for r in routes:
        base = f"set routing-options static route {r['prefix']}"
        if r["nh"] is None:
            lines.append(f"{base} discard")
        elif not r.get("ad"):
            lines.append(f"{base} next-hop {r['nh']}")
        elif r["prefix"] in plain:
            # A backup next hop for a prefix that already has a primary one needs its own
            # preference, which only qualified-next-hop can carry.
            lines.append(f"{base} qualified-next-hop {r['nh']} preference {r['ad']}")
        else:
            lines += [f"{base} next-hop {r['nh']}", f"{base} preference {r['ad']}"]
    return _junos(d, lines)


TOPIC_RENDERERS = {
    "iface": iface_lines,
    "ospf": ospf_lines,
    "bgp": bgp_lines,
    "static": static_lines,
}


def render(topic: str, dialect: str, p: dict) -> str:
    return "\n".join(TOPIC_RENDERERS[topic](dialect, p))


# --------------------------------------------------------------------------- JunOS brace

# Keywords followed by a name or value that belongs to the same hierarchy level
# (`unit 0 {`, `family inet {`, `metric 10;`). Anything else is a bare keyword or a name.
_JUNOS_ARGS = {
    "unit": 1, "family": 1, "area": 1, "interface": 1, "group": 1, "neighbor": 1,
    "term": 1, "policy-statement": 1, "prefix-list": 1, "route": 1,
    "qualified-next-hop": 1, "description": 1, "metric": 1, "hello-interval": 1,
    "dead-interval": 1, "address": 1, "peer-as": 1, "type": 1, "local-address": 1,
    "import": 1, "export": 1, "router-id": 1, "autonomous-system": 1, "next-hop": 1,
    "preference": 1, "authentication-key": 1, "interface-type": 1, "route-filter": 2,
    "minimum-interval": 1, "delay": 1,
}
# JunOS prints these on one line when they hold a single statement
# (`then accept;`, `from prefix-list X;`, `route 0.0.0.0/0 next-hop 10.0.0.1;`).
_JUNOS_COLLAPSE = {"from", "then", "route"}


def _junos(d: str, set_lines: list[str]) -> list[str]:
    return set_lines if d == "junos_set" else set_to_brace(set_lines)


def _elements(tokens: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(tokens):
        n = _JUNOS_ARGS.get(tokens[i], 0)
        out.append(" ".join(tokens[i:i + 1 + n]))
        i += 1 + n
    return out


def set_to_brace(set_lines: list[str]) -> list[str]:
    """Turn `set` lines into the hierarchical form `show configuration` prints."""
    tree: dict = {}
    for line in set_lines:
        tokens = line.split()
        assert tokens[0] == "set", line
        node = tree
        for el in _elements(tokens[1:]):
            node = node.setdefault(el, {})
    out: list[str] = []

    def emit(node: dict, depth: int) -> None:
        pad = "    " * depth
        for el, kids in node.items():
            if not kids:
                out.append(f"{pad}{el};")
            elif (el.split()[0] in _JUNOS_COLLAPSE and len(kids) == 1
                  and not next(iter(kids.values()))):
                out.append(f"{pad}{el} {next(iter(kids))};")
            else:
                out.append(f"{pad}{el} {{")
                emit(kids, depth + 1)
                out.append(f"{pad}}}")

    emit(tree, 0)
    return out


# --------------------------------------------------------------------------- show output
# Column layouts follow what each platform prints (IOS 15.x, FRR 8.x, Junos); the header
# goes through the same format string as the rows so the columns always line up.

def _ios_ospf_nbr_row(*c) -> str:
    return f"{c[0]:<15} {c[1]:>3}   {c[2]:<15} {c[3]:<11} {c[4]:<15} {c[5]}".rstrip()


def ios_ospf_neighbors(rows: list[tuple]) -> str:
    """rows: (neighbor_id, pri, state, dead, address, interface). IOS prints nothing at all
    when there is no neighbour."""
    if not rows:
        return ""
    head = _ios_ospf_nbr_row("Neighbor ID", "Pri", "State", "Dead Time", "Address", "Interface")
    return "\n".join([head] + [_ios_ospf_nbr_row(*r) for r in rows])


def _frr_ospf_nbr_row(*c) -> str:
    return (f"{c[0]:<15} {c[1]:>3} {c[2]:<15} {c[3]:<15} {c[4]:>9} {c[5]:<15} {c[6]:<32} "
            f"{c[7]:>5} {c[8]:>5} {c[9]:>5}")


def frr_ospf_neighbors(rows: list[tuple]) -> str:
    """rows: (neighbor_id, pri, state, up, dead, address, 'eth1:10.0.12.1', rxmt, rqst, dbsm).
    FRR prints the header even when the table is empty."""
    head = _frr_ospf_nbr_row("Neighbor ID", "Pri", "State", "Up Time", "Dead Time", "Address",
                             "Interface", "RXmtL", "RqstL", "DBsmL")
    return "\n".join([head] + [_frr_ospf_nbr_row(*r) for r in rows])


def junos_ospf_neighbors(rows: list[tuple]) -> str:
    """rows: (address, interface, state, id, pri, dead)."""
    fmt = "{:<16} {:<22} {:<15} {:<16} {:>4} {:>5}"
    head = fmt.format("Address", "Interface", "State", "ID", "Pri", "Dead")
    return "\n".join([head] + [fmt.format(*r) for r in rows])


def _ios_bgp_row(*c) -> str:
    return (f"{c[0]:<15} {c[1]:<1} {c[2]:>12} {c[3]:>7} {c[4]:>7} {c[5]:>8} {c[6]:>4} {c[7]:>4} "
            f"{c[8]:<8} {c[9]}")


def ios_bgp_summary(rid: str, local_as: int, rows: list[tuple]) -> str:
    """rows: (neighbor, as, msg_rcvd, msg_sent, updown, state_or_pfx)."""
    out = [f"BGP router identifier {rid}, local AS number {local_as}",
           "BGP table version is 1, main routing table version 1", "",
           _ios_bgp_row("Neighbor", "V", "AS", "MsgRcvd", "MsgSent", "TblVer", "InQ", "OutQ",
                        "Up/Down", "State/PfxRcd")]
    out += [_ios_bgp_row(n, 4, a, r, s, 1, 0, 0, u, st) for n, a, r, s, u, st in rows]
    return "\n".join(out)


def _frr_bgp_row(*c) -> str:
    return (f"{c[0]:<15} {c[1]:>1} {c[2]:>10} {c[3]:>9} {c[4]:>9} {c[5]:>8} {c[6]:>4} {c[7]:>4} "
            f"{c[8]:>8} {c[9]:>12} {c[10]:>8} {c[11]}")


def frr_bgp_summary(rid: str, local_as: int, rows: list[tuple]) -> str:
    """rows: (neighbor, as, msg_rcvd, msg_sent, updown, state_or_pfx, pfx_sent, desc)."""
    out = ["IPv4 Unicast Summary (VRF default):",
           f"BGP router identifier {rid}, local AS number {local_as} vrf-id 0",
           "BGP table version 1", "",
           _frr_bgp_row("Neighbor", "V", "AS", "MsgRcvd", "MsgSent", "TblVer", "InQ", "OutQ",
                        "Up/Down", "State/PfxRcd", "PfxSnt", "Desc")]
    out += [_frr_bgp_row(n, 4, a, r, s, 0, 0, 0, u, st, ps, d) for n, a, r, s, u, st, ps, d in rows]
    out += ["", f"Total number of neighbors {len(rows)}"]
    return "\n".join(out)


def ios_show_interface(name: str, state: str, desc: str, addr: str, mac: str, mtu: int) -> str:
    """state: 'up', 'down' (no carrier) or 'admin' (shutdown)."""
    first = {"up": "is up, line protocol is up",
             "down": "is down, line protocol is down",
             "admin": "is administratively down, line protocol is down"}[state]
    return "\n".join([
        f"{name} {first}",
        f"  Hardware is iGbE, address is {mac} (bia {mac})",
        f"  Description: {desc}",
        f"  Internet address is {addr}",
        f"  MTU {mtu} bytes, BW 1000000 Kbit/sec, DLY 10 usec,",
        "  Full Duplex, Auto Speed, link type is auto, media type is RJ45" if state == "up" else
        "  Auto Duplex, Auto Speed, link type is auto, media type is RJ45",
    ])


def frr_show_interface(name: str, state: str, addr: str, mac: str, mtu: int) -> str:
    """Zebra's view of a Linux link: UP = admin up, RUNNING/LOWER_UP = carrier."""
    flags = {"up": "<UP,LOWER_UP,BROADCAST,RUNNING,MULTICAST>",
             "down": "<UP,BROADCAST,MULTICAST>",
             "admin": "<BROADCAST,MULTICAST>"}[state]
    return "\n".join([
        f"Interface {name} is {'up' if state == 'up' else 'down'}",
        "  vrf: default",
        f"  index 3 metric 0 mtu {mtu}",
        f"  flags: {flags}",
        "  Type: Ethernet",
        f"  HWaddr: {mac}",
        f"  inet {addr}",
    ])


def junos_terse(name: str, state: str, addr: str) -> str:
    admin, link = {"up": ("up", "up"), "down": ("up", "down"), "admin": ("down", "down")}[state]
    fmt = "{:<23} {:<5} {:<4} {:<8} {}"
    return "\n".join([fmt.format("Interface", "Admin", "Link", "Proto", "Local").rstrip(),
                      fmt.format(name, admin, link, "", "").rstrip(),
                      fmt.format(f"{name}.0", admin, link, "inet", addr).rstrip()])
