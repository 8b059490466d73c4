"""Offline syntax verifiers for the config dialects of the netops set (FRR, Cisco IOS, JunOS).

  check_frr(text)    FRR's own parser: `vtysh -C -f FILE` (dry run, no daemon needed), plus the
                     holes in it closed by hand (frr.py).
  check_ios(text)    IOS-only lines against an IOS table with types and ranges (ios_grammar.py),
                     the rest rewritten into FRR form and checked by vtysh; FRR and JunOS
                     spellings rejected as "wrong dialect" (ios.py).
  check_junos(text)  a hand-written JunOS grammar for `set` lines and brace format (junos.py,
                     junos_grammar.py).
  extract_config(answer, dialect)  the configuration inside a model answer, whatever its
                     style (extract.py).

Each check returns a Verdict(ok, errors); Verdict.error_classes says why (verdict.py). None of
them knows what the config is *for*: a valid config with the wrong router ID passes here; the
domain scorer checks the values. Agreement with real devices is measured on real configs
(tests/test_verifiers_real.py, docs/dataset.md "How far the verifiers can be trusted").
"""
from __future__ import annotations

from netft.domains.netops.extract import extract_config
from netft.domains.netops.frr import _vtysh_errors, check_frr, have_vtysh, vtysh_path
from netft.domains.netops.ios import IOS_IFNAME, check_ios, ios_long_ifname, ios_to_frr
from netft.domains.netops.junos import (JUNOS_GRAMMAR, brace_to_set, check_junos,
                              junos_format, junos_statement_error, junos_statements)
from netft.domains.netops.verdict import ERROR_CLASSES, Verdict, error_class

__all__ = ["DIALECTS", "ERROR_CLASSES", "IOS_IFNAME", "JUNOS_GRAMMAR", "Verdict", "brace_to_set",
           "check_frr", "check_ios", "check_junos", "error_class", "extract_config",
           "have_vtysh", "ios_long_ifname", "ios_to_frr", "junos_format",
           "junos_statement_error", "junos_statements", "verify", "vtysh_path",
           "_vtysh_errors"]

DIALECTS = ("ios", "frr", "junos_set", "junos_brace")


def verify(text: str, dialect: str) -> Verdict:
    """The verifier for a dialect name as used in the dataset's meta; "junos" takes either
    notation (set or brace)."""
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

