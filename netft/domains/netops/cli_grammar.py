"""A tiny grammar notation for CLI lines, with typed and range-checked values.

    "mtu {int:64-9216}"                       one value with a range
    "duplex auto|full|half"                   one of the listed keywords
    "ip route [vrf {name}] {ipv4} {mask} ..." [..] is optional (may nest)
    "bgp confederation peers {asnlist}"       {TYPElist}: the rest of the line, each word TYPE
    "description {text}"                      {text} takes the rest of the line

A pattern matches a whole line (after whitespace is collapsed); every value is then checked
by its type, so `mtu 99999999` is a bad value and `speed fast` an unknown command. Used for
the IOS lines FRR's parser has no grammar for, and for the exact shapes of the commands whose
FRR parse is too lenient (abbreviations, trailing words read as interface names).
"""
from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import Callable


def is_ipv4(s: str) -> bool:
    try:
        ipaddress.IPv4Address(s)
        return True
    except ValueError:
        return False


def mask_len(mask: str, wildcard: bool = False) -> int | None:
    """Prefix length of a dotted netmask (or wildcard); None when it is not contiguous."""
    if not is_ipv4(mask):
        return None
    bits = int(ipaddress.IPv4Address(mask))
    if wildcard:
        bits ^= 0xFFFFFFFF
    n = bin(bits).count("1")
    return n if bits == (0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF else None


def _int_range(lo: int, hi: int) -> Callable[[str], bool]:
    return lambda s: s.isdigit() and lo <= int(s) <= hi


def _prefix(s: str) -> bool:
    a, _, plen = s.partition("/")
    return is_ipv4(a) and plen.isdigit() and int(plen) <= 32


def _ipv6(s: str) -> bool:
    try:
        ipaddress.IPv6Address(s)
        return True
    except ValueError:
        return False


def _asn(s: str) -> bool:
    if "." in s:   # asdot, 1.10 = 65546
        hi, _, lo = s.partition(".")
        return hi.isdigit() and lo.isdigit() and int(hi) <= 65535 and int(lo) <= 65535
    return _int_range(1, 4294967295)(s)


# IOS interface names: type + slot/port (GigabitEthernet0/1, GigabitEthernet1 on IOS-XE
# virtual routers), optional sub-interface. Linux names (`eth1`, `lo`) are FRR's, not IOS's.
# Current IOS-XE hardware (Catalyst 9000, ISR/ASR, C8000) adds the 2.5/5/25/50/400G families.
_IOS_IF_TYPES = (r"GigabitEthernet|Gig|Gi|TenGigabitEthernet|Te|FastEthernet|Fa|Ethernet|Eth|Et|"
                 r"TwoGigabitEthernet|Tw|FiveGigabitEthernet|Fi|TwentyFiveGigE|Twe|"
                 r"FortyGigabitEthernet|Fo|FiftyGigE|Fif|HundredGigE|Hu|TwoHundredGigE|"
                 r"FourHundredGigE|Fou|Serial|Se|Loopback|Lo|"
                 r"Vlan|Vl|Port-channel|Po|Tunnel|Tu|Null|BDI|Dialer|Virtual-Template|"
                 r"Virtual-Access|Virtual-PortGroup|VirtualPortGroup|nve|NVE|"
                 r"AppGigabitEthernet|Wlan-GigabitEthernet|Multilink|Cellular|"
                 r"Embedded-Service-Engine|BVI|Async|ATM|POS|Group-Async|LISP|"
                 r"Port-channel-subinterface|Service-Engine|ucse|Bluetooth|Auto-Template")
IOS_IFNAME = re.compile(rf"^(?:{_IOS_IF_TYPES}) ?\d+(?:/\d+){{0,3}}(?:\.\d+)?(?::\d+)?$",
                        re.I)

TYPES: dict[str, Callable[[str], bool]] = {
    "ipv4": is_ipv4,
    "mask": lambda s: mask_len(s) is not None,
    "wildcard": lambda s: mask_len(s, wildcard=True) is not None,
    "prefix": _prefix,
    "ipv6": _ipv6,
    "ipv6prefix": lambda s: re.fullmatch(r"[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*/\d{1,3}", s) is not None,
    "area": lambda s: is_ipv4(s) or _int_range(0, 4294967295)(s),
    "asn": _asn,
    "ifname": lambda s: IOS_IFNAME.match(s) is not None,
    "name": lambda s: re.fullmatch(r"[A-Za-z0-9_.:\-]{1,63}", s) is not None
    and not s.isdigit(),
    "word": lambda s: re.fullmatch(r"[!-~]{1,80}", s) is not None,
    "community": lambda s: re.fullmatch(r"\d{1,5}:\d{1,5}", s) is not None
    and all(int(x) <= 65535 for x in s.split(":")) or _int_range(1, 4294967295)(s)
    or s in ("internet", "no-export", "no-advertise", "local-AS", "additive", "none",
             "gshut"),
    "rt": lambda s: re.fullmatch(r"(?:\d+|\d+\.\d+\.\d+\.\d+):\d+", s) is not None,
    "bgp_peer": lambda s: is_ipv4(s) or _ipv6(s)
    or re.fullmatch(r"[A-Za-z][A-Za-z0-9_.\-]{0,62}", s) is not None,
    # Cisco's dotted MAC address: `0011.2233.4455`.
    "cmac": lambda s: re.fullmatch(r"[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}", s)
    is not None,
    # IOS access lists: standard/extended numbers or a name that is not a number.
    "acl": lambda s: _int_range(1, 199)(s) or _int_range(1300, 2699)(s)
    or (re.fullmatch(r"[A-Za-z0-9_.\-]{1,63}", s) is not None and not s.isdigit()
        and s != "prefix-list"),
    "text": lambda s: bool(s.strip()),
    # VLAN lists: `10,20,30-40` (each 1-4094, ranges ascending), or all / none.
    "vlans": lambda s: s in ("all", "none") or all(
        re.fullmatch(r"\d{1,4}(?:-\d{1,4})?", p) is not None
        and all(1 <= int(x) <= 4094 for x in p.split("-"))
        and (len(p.split("-")) == 1 or int(p.split("-")[0]) <= int(p.split("-")[1]))
        for p in s.split(",")),
}


def type_ok(kind: str, value: str) -> bool:
    if kind.endswith("list"):      # {asnlist}: the rest of the line, each word an asn
        return all(type_ok(kind[:-4], v) for v in value.split())
    if kind.startswith("int:"):
        lo, hi = kind[4:].split("-")
        return _int_range(int(lo), int(hi))(value)
    return TYPES[kind](value)


_TOKEN = re.compile(r"\[|\]|\{[^}]+\}|[^\s\[\]]+")


@lru_cache(maxsize=None)
def compile_pattern(pattern: str) -> tuple[re.Pattern, tuple[str, ...]]:
    """(regex over " " + a whitespace-collapsed line, value types in group order)."""
    kinds: list[str] = []
    out: list[str] = []      # regex pieces, each preceded by its separating space
    depth = 0
    for tok in _TOKEN.findall(pattern):
        if tok == "[":
            out.append("(?:")
            depth += 1
        elif tok == "]":
            out.append(")?")
            depth -= 1
        elif tok.startswith("{"):
            kind = tok[1:-1]
            kinds.append(kind)
            out.append(" (.+)" if kind == "text" or kind.endswith("list") else r" (\S+)")
        else:
            alts = "|".join(re.escape(a) for a in tok.split("|"))
            out.append(f" (?:{alts})")
    assert depth == 0, pattern
    # Every piece starts with its own space, and lines are matched with one space in front.
    return re.compile("".join(out)), tuple(kinds)


def match_line(pattern: str, line: str) -> list[str] | None:
    """None when `line` does not have the pattern's shape; else the values that fail their
    type (empty list: the line is valid)."""
    rx, kinds = compile_pattern(pattern)
    m = rx.fullmatch(" " + line)
    if m is None:
        return None
    return [f"{v} (expected {k})" for k, v in zip(kinds, m.groups())
            if v is not None and not type_ok(k, v)]
