"""The result type all config verifiers return, and the error classes a report groups by."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

# Why a config failed, coarsely: a report can then say *why* a model fails (it invents
# commands, gets ranges wrong, leaves statements unfinished, or answers in another dialect).
ERROR_CLASSES = ("wrong dialect", "structure", "incomplete", "bad value", "unknown command")
_CLASS_RX = [
    ("wrong dialect", r"wrong dialect|expected JunOS \w+ format|not a `set` statement"),
    ("structure", r"'[{}]'|missing ';'|stray ';'|does not end with|empty configuration|"
                  r"no statements"),
    ("incomplete", r"incomplete|Command incomplete|missing argument"),
    ("bad value", r"invalid|not a valid|outside|out of range|not an IOS interface name|"
                  r"bad value"),
]


def error_class(message: str) -> str:
    """The class of one verifier message (one of ERROR_CLASSES)."""
    for name, rx in _CLASS_RX:
        if re.search(rx, message, re.I):
            return name
    return "unknown command"


@dataclass
class Verdict:
    """Per line, one of three outcomes: valid, invalid (an entry in `errors`), or not covered
    (an entry in `unverified`: a command or hierarchy the checker does not model). `ok` means
    no invalid line; unverified lines never make a config fail, they are counted instead."""
    ok: bool
    errors: list[str] = field(default_factory=list)
    # Lines a verifier deliberately did not check.
    skipped: list[str] = field(default_factory=list)
    # What checked it, with its version where that matters ("vtysh (FRR 8.4.4)"): an error
    # from FRR's parser holds for that FRR version, not necessarily for a newer one.
    checker: str = ""
    # Lines (JunOS: statements) not covered, as "line N: why"; and how many lines were judged.
    unverified: list[str] = field(default_factory=list)
    n_lines: int = 0

    @property
    def unverified_share(self) -> float:
        """Share of the judged lines that are not covered (0 when nothing was judged)."""
        return len(self.unverified) / self.n_lines if self.n_lines else 0.0

    @property
    def error_classes(self) -> list[str]:
        """The distinct classes of self.errors, most specific first."""
        found = {error_class(e) for e in self.errors}
        return [c for c in ERROR_CLASSES if c in found]
