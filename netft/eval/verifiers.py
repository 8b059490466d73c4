"""Offline syntax verifiers for the config dialects of the netops set (FRR, Cisco IOS, JunOS).

  check_frr(text)    FRR's own parser: `vtysh -C -f FILE` (dry run, no daemon needed), plus two
                     holes in it that we close by hand (see _frr_holes).
  check_ios(text)    IOS text rewritten into FRR form (dotted masks and wildcards become
                     prefixes) and then checked with vtysh; IOS-only lines FRR has no grammar for
                     are skipped from an explicit list, FRR-only syntax is rejected.
  check_junos(text)  a small hand-written JunOS grammar for `set` lines and brace format.
  extract_config(answer, dialect)  the configuration block inside a model answer.

Each check returns a Verdict(ok, errors). None of them knows what the config is *for*: a
valid config with the wrong router ID passes here; the domain scorer checks the values.
"""
from __future__ import annotations

import atexit
import functools
import ipaddress
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field

VTYSH_TIMEOUT_S = 10
DIALECTS = ("ios", "frr", "junos_set", "junos_brace")


@dataclass
class Verdict:
    ok: bool
    errors: list[str] = field(default_factory=list)
    # Lines a verifier deliberately did not check (IOS-only lines FRR cannot parse).
    skipped: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- vtysh (FRR)

_cfg_dir: str | None = None
_cfg_lock = threading.Lock()


def vtysh_path() -> str | None:
    return shutil.which("vtysh") or (os.path.exists("/usr/bin/vtysh") and "/usr/bin/vtysh") or None


def have_vtysh() -> bool:
    return vtysh_path() is not None


def _config_dir() -> str:
    """A private --config_dir holding an empty vtysh.conf.

    Measured: with --config_dir vtysh reads only DIR/vtysh.conf and the -f file; it never
    opens /etc/frr (mode 0750 frr:frr, so an unprivileged user would otherwise get a
    "Can't open configuration file" line in the output). Works as root and as nobody.
    """
    global _cfg_dir
    with _cfg_lock:
        if _cfg_dir is None:
            d = tempfile.mkdtemp(prefix="netft-vtysh-")
            open(os.path.join(d, "vtysh.conf"), "w").close()
            atexit.register(shutil.rmtree, d, True)
            _cfg_dir = d
        return _cfg_dir


_VTYSH_ERR = re.compile(r"^line (\d+): % ([^:\[]+?)(?:\[\d+\])?:\s*(.*)$")


@functools.lru_cache(maxsize=8192)
def _vtysh_errors(text: str) -> tuple[str, ...]:
    """vtysh's complaints about `text`, one string per problem; () when it is valid.

    Cached: the scorer and the tests verify the same reference text more than once, and
    each vtysh start costs ~30 ms.
    """
    exe = vtysh_path()
    if exe is None:
        raise RuntimeError("vtysh not found: install FRRouting's shell, Debian package `frr` "
                           "(apt-get install frr)")
    d = _config_dir()
    fd, path = tempfile.mkstemp(suffix=".conf", dir=d)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
        try:
            p = subprocess.run([exe, "--config_dir", d, "-C", "-f", path], capture_output=True,
                               text=True, timeout=VTYSH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return (f"vtysh did not finish within {VTYSH_TIMEOUT_S} s",)
    finally:
        os.unlink(path)
    out = [ln.rstrip() for ln in (p.stdout + p.stderr).splitlines() if ln.strip()]
    if p.returncode == 0 and not out:
        return ()
    errs = []
    for ln in out:
        m = _VTYSH_ERR.match(ln)
        errs.append(f"line {m.group(1)}: {m.group(2).strip()}: {m.group(3).strip()}" if m else ln)
    return tuple(errs) or (f"vtysh exited with status {p.returncode}",)


_DOTTED = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def _frr_holes(lines: list[str]) -> list[str]:
    """Errors vtysh -C lets through, measured on FRR 8.4.4.

    Where FRR accepts an interface name in place of an address, an impossible address
    (`neighbor 10.0.12.300 remote-as 65002`, `ip route 10.0.0.0/8 10.0.0.300`) is read as an
    interface called "10.0.12.300", and a distance of 300 after a next hop as an interface
    "300". No real interface is named like that, so both are reported as errors.
    """
    errs = []
    for n, line in enumerate(lines, 1):
        toks = line.split()
        for t in toks:
            if _DOTTED.match(t.split("/")[0]) and not _is_ipv4(t.split("/")[0]):
                errs.append(f"line {n}: not a valid IPv4 address: {t}")
        if toks[:2] == ["ip", "route"]:
            for prev, t in zip(toks[2:], toks[3:]):
                if t.isdigit() and prev not in ("tag", "table", "label", "metric") \
                        and not 1 <= int(t) <= 255:
                    errs.append(f"line {n}: administrative distance {t} is outside 1-255")
    return errs


def check_frr(text: str) -> Verdict:
    """FRR config (vtysh syntax): valid when `vtysh -C` exits 0 and prints nothing."""
    if not text.strip():
        return Verdict(False, ["empty configuration"])
    errs = _frr_holes(text.splitlines()) + list(_vtysh_errors(text))
    return Verdict(not errs, errs)


# --------------------------------------------------------------------------- IOS via FRR

def _is_ipv4(s: str) -> bool:
    try:
        ipaddress.IPv4Address(s)
        return True
    except ValueError:
        return False


def _mask_len(mask: str, wildcard: bool = False) -> int | None:
    """Prefix length of a dotted netmask (or wildcard); None when it is not contiguous."""
    if not _is_ipv4(mask):
        return None
    bits = int(ipaddress.IPv4Address(mask))
    if wildcard:
        bits ^= 0xFFFFFFFF
    n = bin(bits).count("1")
    return n if bits == (0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF else None


# IOS interface types (full names and the usual abbreviations). Linux names such as `eth1`
# or `lo` are FRR's and not IOS's.
_IOS_SLOTTED = (r"(?:GigabitEthernet|Gig|Gi|TenGigabitEthernet|Te|FastEthernet|Fa|Ethernet|"
                r"TwentyFiveGigE|FortyGigabitEthernet|HundredGigE|Serial|Se)\s?\d+(?:/\d+)+"
                r"(?:\.\d+)?")
_IOS_NUMBERED = r"(?:Loopback|Lo|Vlan|Port-channel|Po|Tunnel|Tu|Null|BDI)\s?\d+(?:\.\d+)?"
IOS_IFNAME = re.compile(rf"^(?:{_IOS_SLOTTED}|{_IOS_NUMBERED})$", re.I)
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

# Valid IOS that FRR has no grammar for. They are blanked (replaced by `!`, so vtysh's line
# numbers still match the input) and listed in Verdict.skipped: not checked, not penalised.
IOS_SKIPPED = [
    (re.compile(r"^\s*(?:configure terminal|conf(?:ig)? t(?:erm)?)\s*$"),
     "mode switch typed before the config, not configuration"),
    (re.compile(r"^\s+(?:duplex|speed|negotiation|mtu|media-type|carrier-delay|"
                r"load-interval|cdp|lldp)\b"),
     "physical-port setting; on FRR the Linux kernel owns the port"),
    (re.compile(r"^\s*(?:spanning-tree|switchport)\b"),
     "layer-2 switching; FRR only routes"),
    (re.compile(r"^\s+encapsulation dot1[qQ] \d+(?: native)?\s*$"),
     "802.1Q sub-interface tag; FRR sees VLANs as kernel interfaces"),
    (re.compile(r"^\s+bfd interval \d+ min_rx \d+ multiplier \d+\s*$"),
     "IOS interface BFD timers; FRR configures them in bfdd's own `bfd` node"),
    (re.compile(r"^\s+neighbor \S+ fall-over bfd\s*$"),
     "IOS spelling of BGP BFD (`neighbor X bfd` in FRR)"),
]

# FRR syntax that IOS rejects: without this check an FRR answer to an IOS question would pass.
_NOT_IOS = [
    (re.compile(r"^\s*ospf router-id\b"), "FRR syntax; IOS uses `router-id` under router ospf"),
    (re.compile(r"^\s*ip ospf passive\b"), "FRR syntax; IOS uses `passive-interface`"),
    (re.compile(r"\bbgp ebgp-requires-policy\b"), "FRR-only knob; IOS has no RFC 8212 default"),
    (re.compile(r"^\s*(?:no )?ip route \S+ .*\bblackhole\b"), "FRR syntax; IOS routes to Null0"),
    (re.compile(r"^\s*(?:no )?ip address \d+\.\d+\.\d+\.\d+/\d+"), "IOS needs a dotted netmask"),
    (re.compile(r"^\s*(?:no )?network \S+/\d+ area\b"), "IOS needs a wildcard mask"),
    (re.compile(r"^\s*(?:no )?network \d+\.\d+\.\d+\.\d+/\d+\s*(?:route-map \S+)?\s*$"),
     "IOS BGP needs `network A.B.C.D mask M`"),
    (re.compile(r"^\s*(?:no )?ip route \d+\.\d+\.\d+\.\d+/\d+"),
     "IOS needs `ip route PREFIX MASK ...`"),
]
_IOS_IF_ARG = re.compile(r"^\s*(?:interface|passive-interface|no passive-interface)\s+(\S+)\s*$|"
                         r"^\s*neighbor \S+ update-source (\S+)\s*$")


def ios_to_frr(text: str) -> tuple[list[str], list[str], list[str]]:
    """IOS lines rewritten into FRR grammar, line for line: (lines, errors, skipped).

    Only the forms FRR rejects are rewritten (measured): `ip address A MASK`, OSPF
    `network A WILDCARD area X`. BGP `network A mask M` and `ip route A MASK NH` are also
    turned into prefixes although FRR takes them, because FRR does not check that the mask is
    contiguous. Interface names such as GigabitEthernet0/1 are kept: vtysh -C accepts them.
    """
    out, errs, skipped = [], [], []
    for n, line in enumerate(text.splitlines(), 1):
        if any(rx.search(line) for rx, _ in IOS_SKIPPED):
            skipped.append(f"line {n}: {line.strip()}")
            out.append("!")
            continue
        for rx, why in _NOT_IOS:
            if rx.search(line):
                errs.append(f"line {n}: {why}: {line.strip()}")
        m = _IOS_IF_ARG.match(line)
        name = m and (m.group(1) or m.group(2))
        if name and not IOS_IFNAME.match(name) and not (m.group(2) and _is_ipv4(name)) \
                and name != "default":
            errs.append(f"line {n}: not an IOS interface name: {name}")
        # `interface GigabitEthernet 0/1`: IOS takes the space, FRR would read two words.
        line = re.sub(r"^(\s*interface) ([A-Za-z-]+) (\d\S*)\s*$", r"\1 \2\3", line)
        line, bad = _rewrite_mask(line)
        if bad:
            errs.append(f"line {n}: {bad}: {line.strip()}")
            line = "!"  # already reported; vtysh would only repeat it
        # `redistribute connected subnets`: IOS's classful-era keyword; FRR is classless.
        line = re.sub(r"^(\s*redistribute \S+.*?) subnets\b", r"\1", line)
        out.append(line)
    return out, errs, skipped


def _rewrite_mask(line: str) -> tuple[str, str | None]:
    m = _IP_MASK.match(line)
    if m:
        plen = _mask_len(m.group(3))
        if plen is None:
            return line, f"invalid netmask {m.group(3)}"
        # FRR has no `secondary` keyword: every `ip address` line adds an address.
        return f"{m.group(1)}ip address {m.group(2)}/{plen}", None
    m = _OSPF_WILD.match(line)
    if m:
        plen = _mask_len(m.group(3), wildcard=True)
        if plen is None:
            return line, f"invalid wildcard mask {m.group(3)}"
        return f"{m.group(1)}network {m.group(2)}/{plen} area {m.group(4)}", None
    m = _BGP_MASK.match(line)
    if m:
        plen = _mask_len(m.group(3))
        if plen is None:
            return line, f"invalid netmask {m.group(3)}"
        return f"{m.group(1)}network {m.group(2)}/{plen}{m.group(4)}", None
    m = _ROUTE_MASK.match(line)
    if m:
        plen = _mask_len(m.group(3))
        if plen is None:
            return line, f"invalid netmask {m.group(3)}"
        return f"{m.group(1)}ip route {m.group(2)}/{plen}{m.group(4)}", None
    return line, None


def check_ios(text: str) -> Verdict:
    """Cisco IOS config, checked by FRR's parser after the rewrite in ios_to_frr."""
    if not text.strip():
        return Verdict(False, ["empty configuration"])
    lines, errs, skipped = ios_to_frr(text)
    orig = text.splitlines()
    errs += _frr_holes(lines)
    for e in _vtysh_errors("\n".join(lines)):
        # Report vtysh's complaint against the line the user wrote, not our rewrite of it.
        m = re.match(r"^line (\d+): ([^:]+):", e)
        if m and 0 < int(m.group(1)) <= len(orig):
            e = f"line {m.group(1)}: {m.group(2)}: {orig[int(m.group(1)) - 1].strip()}"
        errs.append(e)
    return Verdict(not errs, errs, skipped)


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


def verify(text: str, dialect: str) -> Verdict:
    """The verifier for a dialect name as used in the dataset's meta."""
    if dialect == "frr":
        return check_frr(text)
    if dialect == "ios":
        return check_ios(text)
    if dialect.startswith("junos"):
        v = check_junos(text)
        want = {"junos_set": "set", "junos_brace": "brace"}.get(dialect)
        if want and text.strip() and junos_format(text) != want:
            v.errors.insert(0, f"expected JunOS {want} format")
            v.ok = False
        return v
    raise ValueError(f"unknown dialect {dialect!r}; expected one of {DIALECTS}")


# --------------------------------------------------------------------------- extraction

_IOS_FRR_WORDS = {"interface", "router", "ip", "ipv6", "route-map", "hostname", "no", "bgp",
                  "access-list", "line", "service", "exit", "end", "frr", "log", "password",
                  "enable", "key", "bfd", "vrf", "mpls", "spanning-tree", "username",
                  "logging", "ntp", "snmp-server", "banner", "debug", "address-family",
                  "exit-address-family", "configure", "conf", "!"}


def _looks_like_config(line: str, dialect: str) -> bool:
    s = line.strip()
    if not s:
        return False
    if dialect.startswith("junos"):
        # Either JunOS format, whichever was asked for: verify() reports a format mix-up.
        return s.split()[0] in ("set", "delete") or s.endswith(("{", "}", ";"))
    return line[:1].isspace() or s.split()[0] in _IOS_FRR_WORDS


def extract_config(answer: str, dialect: str) -> str:
    """The configuration inside a model answer.

    Fenced code blocks win when present. Otherwise leading prose (the "IOS config:" line),
    `Note:` lines and trailing prose are dropped; prose in the middle of the config is kept,
    so the verifier sees it and fails it.
    """
    fences = re.findall(r"```[^\n`]*\n(.*?)```", answer, flags=re.S)
    if fences:
        return "\n".join(f.strip("\n") for f in fences).strip("\n")
    lines = [ln for ln in answer.splitlines() if not re.match(r"^\s*note\s*:", ln, re.I)]
    while lines and not _looks_like_config(lines[0], dialect):
        lines.pop(0)
    while lines and not _looks_like_config(lines[-1], dialect):
        lines.pop()
    return "\n".join(lines)
