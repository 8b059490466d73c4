"""Cisco IOS configs: IOS-only lines checked against a table of their grammar, the rest
rewritten into FRR form (dotted masks and wildcards become prefixes) and checked by vtysh;
FRR-only spellings are rejected."""
from __future__ import annotations

import ipaddress
import re

from netft.eval.frr import _frr_holes, _is_ipv4, _vtysh_errors
from netft.eval.verdict import Verdict

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

