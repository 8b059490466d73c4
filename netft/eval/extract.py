"""The configuration inside a model answer, whatever the answer's style."""
from __future__ import annotations

import re

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

