"""The configuration inside a model answer, whatever the answer's style.

A fine-tune learns the reference format; the base model it is compared with answers like a
chatbot. If formatting decided the score, the measured gain of fine-tuning would be partly
format. So every common style yields the same config text:
  - fenced blocks are judged one by one: the config is the block(s) that look like config
    for the dialect; a second fence with `show ip ospf neighbor` or device output is not
    joined in; a config split over two fences is joined;
  - CLI prompts (`R1(config)#`, `R1(config-if)#`, `user@R1#`, `[edit]`) are removed, and a
    body line typed at a sub-mode prompt is indented as it would be in the config;
  - session commands around a config (configure terminal, end, write memory, copy run
    start, configure / commit / exit for JunOS) and exec commands (show, ping) are dropped;
  - configs written as a bulleted or numbered list, with or without `inline code`, are
    recovered (nesting becomes indentation);
  - without fences, leading and trailing prose and `Note:` lines are dropped; prose in the
    middle of the config is kept, so the verifier sees it and fails it.
"""
from __future__ import annotations

import re

_IOS_FRR_WORDS = {"interface", "router", "ip", "ipv6", "route-map", "hostname", "no", "bgp",
                  "access-list", "line", "service", "exit", "end", "frr", "log", "password",
                  "enable", "key", "bfd", "vrf", "mpls", "spanning-tree", "username",
                  "logging", "ntp", "snmp-server", "banner", "debug", "address-family",
                  "exit-address-family", "!"}

_FENCE = re.compile(r"```[^\n`]*\n(.*?)```", re.S)
# `R1(config-if)#`, `Router#`, `r1(config)# `; the host name touches the `(` / `#` / `>`.
_CLI_PROMPT = re.compile(r"^\s*[A-Za-z][\w.-]*(?:\((?P<mode>[\w-]+)\))?[#>]\s?")
# `user@R1#`, `{master:0}[edit]`, `[edit protocols ospf]`.
_JUNOS_PROMPT = re.compile(r"^\s*(?:\{[\w:]+\}\s*)?[\w.-]+@[\w.-]+[#>%]\s?")
_JUNOS_EDIT = re.compile(r"^\s*(?:\{[\w:]+\}\s*)?\[edit(?: [^\]]*)?\]\s*$")
_BULLET = re.compile(r"^(?P<indent>\s*)(?:[-*+•]|\d{1,2}[.)])\s+(?P<rest>.*)$")
_SESSION_CLI = re.compile(
    r"(?:en(?:able)?|conf(?:ig(?:ure)?)?(?: t(?:erm(?:inal)?)?)?|end|vtysh|"
    r"wr(?:ite)?(?: mem(?:ory)?| file)?|copy run(?:ning-config)? start(?:up-config)?|"
    r"(?:do )?(?:show|sh|ping|traceroute|clear) .*|do .*)", re.I)
_SESSION_JUNOS = re.compile(
    r"(?:cli|configure(?: private| exclusive)?|top|quit|exit(?: configuration-mode)?|"
    r"commit(?: .*)?|rollback.*|(?:run )?show(?: .*)?|run .*|ping .*|traceroute .*)")


def _looks_like_config(line: str, dialect: str) -> bool:
    s = line.strip()
    if not s:
        return False
    if dialect.startswith("junos"):
        # Either JunOS format, whichever was asked for: verify() reports a format mix-up.
        return s.split()[0] in ("set", "delete", "deactivate") or s.endswith(("{", "}", ";"))
    return line[:1].isspace() or s.split()[0] in _IOS_FRR_WORDS


def _clean(text: str, dialect: str) -> list[str]:
    """Lines of `text` without prompts, bullets, inline-code ticks and session commands."""
    junos = dialect.startswith("junos")
    out = []
    for ln in text.splitlines():
        m = _BULLET.match(ln)
        if m and (m.group("rest").startswith("`") or _looks_like_config(
                m.group("rest"), dialect)):
            depth = len(m.group("indent").expandtabs()) // 2
            ln = " " * depth + m.group("rest")
        s = ln.strip()
        if len(s) > 1 and s.startswith("`") and s.endswith("`") and "`" not in s[1:-1]:
            ln = ln[:len(ln) - len(ln.lstrip())] + s[1:-1]
        if junos:
            if _JUNOS_EDIT.match(ln):
                continue
            ln = _JUNOS_PROMPT.sub("", ln, count=1)
            if _SESSION_JUNOS.fullmatch(ln.strip()):
                continue
        else:
            m = _CLI_PROMPT.match(ln)
            if m and not _looks_like_config(ln[:m.end()].rstrip("#> "), dialect):
                # A body line typed at a sub-mode prompt is indented in the config.
                sub = m.group("mode") not in (None, "config")
                ln = (" " if sub else "") + ln[m.end():].lstrip()
            if _SESSION_CLI.fullmatch(ln.strip()):
                continue
        out.append(ln.rstrip())
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return out


def _is_config(lines: list[str], dialect: str) -> bool:
    body = [ln for ln in lines if ln.strip()]
    return bool(body) and sum(_looks_like_config(ln, dialect) for ln in body) >= 0.6 * len(body)


def _junos_format(lines: list[str]) -> str:
    return "set" if any(ln.split()[:1] in (["set"], ["delete"], ["deactivate"])
                        for ln in lines) else "brace"


def config_blocks(answer: str, dialect: str) -> list[str]:
    """The fenced blocks of `answer` that are configuration for `dialect`, cleaned."""
    blocks = [b for b in (_clean(f, dialect) for f in _FENCE.findall(answer))
              if _is_config(b, dialect)]
    want = {"junos_set": "set", "junos_brace": "brace"}.get(dialect)
    if want and any(_junos_format(b) == want for b in blocks):
        # A translation answer may quote its source in the other JunOS format first.
        blocks = [b for b in blocks if _junos_format(b) == want]
    return ["\n".join(b) for b in blocks]


def extract_config(answer: str, dialect: str) -> str:
    """The configuration inside a model answer (see the module docstring)."""
    blocks = config_blocks(answer, dialect)
    if blocks:
        return "\n".join(blocks)
    # No fence holds config: the config, if any, is in the text around the fences.
    text = _FENCE.sub("\n", answer)
    lines = [ln for ln in _clean(text, dialect) if not re.match(r"^\s*note\s*:", ln, re.I)]
    while lines and not _looks_like_config(lines[0], dialect):
        lines.pop(0)
    while lines and not _looks_like_config(lines[-1], dialect):
        lines.pop()
    return "\n".join(lines)
