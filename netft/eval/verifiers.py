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

from netft.eval.extract import extract_config  # noqa: F401  (re-exported)
from netft.eval.frr import (_vtysh_errors, check_frr, have_vtysh,  # noqa: F401
                            vtysh_path)
from netft.eval.ios import IOS_IFNAME, check_ios, ios_long_ifname, ios_to_frr  # noqa: F401
from netft.eval.junos import (JUNOS_GRAMMAR, brace_to_set, check_junos,  # noqa: F401
                              junos_format, junos_statement_error, junos_statements)
from netft.eval.verdict import ERROR_CLASSES, Verdict, error_class  # noqa: F401

DIALECTS = ("ios", "frr", "junos_set", "junos_brace")


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

