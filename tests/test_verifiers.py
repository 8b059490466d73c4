"""The config verifiers accept every shipped reference answer and reject broken ones."""
import json
import re
from pathlib import Path

import pytest

from netft.domains.netops import frr
from netft.domains.netops.verifiers import (check_frr, check_ios, check_junos, extract_config, have_vtysh,
                                  verify)

DATA = Path(__file__).resolve().parents[1] / "netft" / "assets" / "data" / "netops"
ROWS = [json.loads(line) for split in ("train", "validation", "test")
        for line in open(DATA / f"{split}.jsonl", encoding="utf-8")]
CONFIG_ROWS = [r for r in ROWS if r["category"] in ("config", "translate")]
needs_vtysh = pytest.mark.skipif(not have_vtysh(), reason="needs FRR's vtysh (Debian package frr)")


def _needs(dialect):
    return [needs_vtysh] if dialect in ("ios", "frr") else []


def refs(dialect):
    return [(r["id"], extract_config(r["messages"][-1]["content"], dialect))
            for r in CONFIG_ROWS if r["meta"]["dialect"] == dialect]


DIALECTS = [pytest.param(d, marks=_needs(d)) for d in ("ios", "frr", "junos_set", "junos_brace")]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_reference_answer_passes(dialect):
    cases = refs(dialect)
    assert len(cases) > 50, "the shipped set should have many rows per dialect"
    verdicts = {rid: verify(cfg, dialect) for rid, cfg in cases}
    bad = {rid: v.errors for rid, v in verdicts.items() if not v.ok}
    assert not bad, bad
    # Reference IOS never needs the skip list: everything in it is checked.
    assert not [rid for rid, v in verdicts.items() if v.skipped]
    if dialect.startswith("junos"):
        # The answers are whole configs: the commit-time cross-references hold too.
        bad = {rid: check_junos(cfg, complete=True).errors for rid, cfg in cases
               if not check_junos(cfg, complete=True).ok}
        assert not bad, bad


# (dialect, what the mutation does, pattern that must occur in the config, replacement)
MUTATIONS = [
    ("frr", "misspelled keyword", r" ip address ", " ip adress "),
    ("frr", "misspelled keyword", r"ospf router-id", "ospf routerid"),
    ("frr", "OSPF cost 70000", r"ip ospf cost \d+", "ip ospf cost 70000"),
    ("frr", "area id 1.2.3", r"(network \S+ area) \d+", r"\1 1.2.3"),
    ("frr", "AS 99999999999", r"router bgp \d+", "router bgp 99999999999"),
    ("frr", "prefix /33", r"(ip route \d+\.\d+\.\d+\.\d+)/\d+", r"\1/33"),
    ("frr", "neighbour 10.0.12.300", r"neighbor \d+\.\d+\.\d+\.\d+ remote-as",
     "neighbor 10.0.12.300 remote-as"),
    ("ios", "misspelled keyword", r" neighbor (\S+) remote-as", r" neighbour \1 remote-as"),
    ("ios", "misspelled keyword", r"^router ospf", "router osfp"),
    ("ios", "OSPF cost 70000", r"ip ospf cost \d+", "ip ospf cost 70000"),
    ("ios", "area id 1.2.3", r"(network \S+ \S+ area) \d+", r"\1 1.2.3"),
    ("ios", "AS 99999999999", r"router bgp \d+", "router bgp 99999999999"),
    ("ios", "non-contiguous mask", r"(ip route \S+) 255\.255\.\d+\.\d+", r"\1 255.0.255.0"),
    ("ios", "FRR prefix notation", r"(ip address \S+) 255\.255\.255\.\d+", r"\1/24"),
    ("junos_set", "misspelled keyword", r"set protocols ospf", "set protocols opsf"),
    ("junos_set", "misspelled keyword", r" family inet ", " familly inet "),
    ("junos_set", "OSPF metric 70000", r"metric \d+", "metric 70000"),
    ("junos_set", "area id 1.2.3", r"area \S+", "area 1.2.3"),
    ("junos_set", "AS 99999999999", r"autonomous-system \d+", "autonomous-system 99999999999"),
    ("junos_set", "prefix /33", r"(static route \d+\.\d+\.\d+\.\d+)/\d+", r"\1/33"),
    ("junos_set", "not a set line", r"^set (routing-options router-id)", r"\1"),
    ("junos_brace", "misspelled keyword", r"routing-options \{", "routing-option {"),
    ("junos_brace", "OSPF metric 70000", r"metric \d+;", "metric 70000;"),
    ("junos_brace", "area id 1.2.3", r"area \S+ \{", "area 1.2.3 {"),
    ("junos_brace", "AS 99999999999", r"autonomous-system \d+;", "autonomous-system 99999999999;"),
    ("junos_brace", "prefix /33", r"(address \d+\.\d+\.\d+\.\d+)/\d+;", r"\1/33;"),
    ("junos_brace", "missing closing brace", r"\n\}\s*$", "\n"),
    ("junos_brace", "extra closing brace", r"\n\}\s*$", "\n}\n}"),
    ("junos_brace", "missing ';'", r";\n", "\n"),
]


@pytest.mark.parametrize(
    "dialect,what,pattern,repl",
    [pytest.param(*m, marks=_needs(m[0]), id=f"{m[0]}-{m[1]}") for m in MUTATIONS])
def test_mutated_references_fail(dialect, what, pattern, repl):
    mutated = []
    for rid, cfg in refs(dialect):
        new = re.sub(pattern, repl, cfg, count=1, flags=re.M)
        if new != cfg:
            mutated.append((rid, new))
        if len(mutated) == 5:
            break
    assert mutated, f"no {dialect} reference contains {pattern!r}: the test would be vacuous"
    passed = [rid for rid, cfg in mutated if verify(cfg, dialect).ok]
    assert not passed, f"{what}: mutated configs still pass: {passed}"


@needs_vtysh
def test_frr_reports_line_numbers():
    v = check_frr("router ospf\n ospf router-id 1.1.1.1\nexit\ninterface eth1\n ip ospf cost 0\n")
    assert not v.ok and v.errors == ["line 5: Unknown command: ip ospf cost 0"]
    assert check_frr("interface eth1\n ip address 10.0.0.1/30\nexit\n").ok
    assert not check_frr("").ok


@needs_vtysh
def test_ios_checks_every_line_and_rejects():
    ok = check_ios("conf t\ninterface Gi0/1\n description uplink\n ip address 10.0.0.1 "
                   "255.255.255.252\n duplex auto\n no shutdown\n!\nrouter ospf 1\n"
                   " network 10.0.0.0 0.0.0.3 area 0\n passive-interface Loopback0\nend\n")
    assert ok.ok, ok.errors
    # Nothing is skipped any more: IOS-only lines are checked against their own grammar.
    assert ok.skipped == []
    # A word outside a command's list of keywords is a bad value of that command.
    for bad, cls in (("interface Gi0/1\n speed fast", "bad value"),
                     ("interface Gi0/1\n duplex sideways", "bad value"),
                     ("interface Gi0/1\n mtu 99999999", "bad value"),
                     ("interface Gi0/1\n ip ospf area 0", "wrong dialect"),
                     ("router ospf\n router-id 1.1.1.1", "wrong dialect"),
                     ("router bgp 65001\n neighbor 10.0.0.2 remote-as external", "wrong dialect"),
                     ("ip route 1.1.1.1", "incomplete"),
                     ("ip route 10.0.0.0 255.0.0.0 10.0.0.1 junk", "unknown command"),
                     ("ip route 10.0.0.0 255.0.0.0 10.0.0.1 300", "bad value")):
        v = check_ios(bad)
        assert not v.ok and v.error_classes == [cls], (bad, v.errors)
    # FRR syntax, Linux interface names and bad masks are not IOS.
    for bad in ("router ospf 1\n ospf router-id 1.1.1.1",
                "interface eth1\n ip address 10.0.0.1 255.255.255.0",
                "interface GigabitEthernet0/1\n ip address 10.0.0.1/24",
                "router ospf 1\n network 10.0.0.0 0.0.0.5 area 0",
                "ip route 10.0.0.0 255.255.255.0 blackhole"):
        assert not check_ios(bad).ok, bad
    v = check_ios("interface GigabitEthernet0/1\n ip adress 10.0.0.1 255.255.255.0\n")
    assert v.errors == ["line 2: Unknown command: ip adress 10.0.0.1 255.255.255.0 "
                        "(unknown keyword 'adress' (did you mean 'address'?))"]


def test_junos_values_and_structure():
    assert check_junos('set interfaces ge-0/0/1 description "to R2"').ok
    assert not check_junos("set interfaces ge-0/0/1 description to R2").ok
    assert check_junos("set protocols ospf area 5 interface ge-0/0/1.0 passive").ok
    assert not check_junos("set protocols ospf area 0 interface ge-0/0/1.0 metric").ok
    assert not check_junos("set protocols ospf area 0 interface eth1 metric 5").ok
    # A change to an existing config is fine; as a standalone config it would not commit.
    undefined = ("set protocols bgp group G type internal\n"
                 "set protocols bgp group G neighbor 1.1.1.1\nset protocols bgp group G export P")
    assert check_junos(undefined).ok
    assert check_junos(undefined, complete=True).errors == [
        "line 3: policy P is used but not defined"]
    no_as = "set protocols bgp group G type external\nset protocols bgp group G neighbor 1.1.1.1"
    assert check_junos(no_as, complete=True).errors == ["external BGP group G has no peer-as"]
    no_type = "set protocols bgp group G neighbor 1.1.1.1 peer-as 65001"
    assert check_junos(no_type, complete=True).errors == [
        "BGP group G has no `type internal|external`"]
    brace = "protocols {\n    ospf {\n        area 0.0.0.0 {\n            interface ge-0/0/1.0;\n"
    v = check_junos(brace + "        }\n    }\n")
    assert v.errors == ["line 1: '{' opened after 'protocols' is never closed"]
    assert check_junos(brace + "        }\n    }\n}\n").ok
    assert not verify("set routing-options router-id 1.1.1.1", "junos_brace").ok


def test_extract_config_strips_prose_notes_and_fences():
    ans = "FRR (vtysh) config:\nrouter ospf\n network 10.0.0.0/30 area 0\nexit\nNote: fine."
    assert extract_config(ans, "frr") == "router ospf\n network 10.0.0.0/30 area 0\nexit"
    ans = "Sure! Here it is:\n```junos\nset routing-options router-id 1.1.1.1\n```\nDone."
    assert extract_config(ans, "junos_set") == "set routing-options router-id 1.1.1.1"
    ans = "JunOS, brace format:\nrouting-options {\n    router-id 1.1.1.1;\n}\nHope it helps."
    assert extract_config(ans, "junos_brace") == "routing-options {\n    router-id 1.1.1.1;\n}"
    assert extract_config("I don't know.", "ios") == ""


def test_missing_vtysh_names_the_debian_package(monkeypatch):
    monkeypatch.setattr(frr, "vtysh_path", lambda: None)
    frr._vtysh_errors.cache_clear()
    with pytest.raises(RuntimeError, match=r"Debian package `frr`"):
        check_frr("router ospf\nexit\n")
    frr._vtysh_errors.cache_clear()


@needs_vtysh
def test_frr_holes_vtysh_lets_through_are_closed():
    # vtysh -C reads `route` as an abbreviation of `router-id`, a missing prefix-list name as
    # an access list called "prefix-list", and route-map values as free words.
    for bad, cls in (("ip route 1.1.1.1", "incomplete"),
                     ("route-map RM permit 10\n match ip address prefix-list", "incomplete"),
                     ("route-map RM permit 10\n set community 65000:1 xyzzy", "bad value"),
                     ("route-map RM permit 10\n set local-preference 99999999999", "bad value")):
        v = check_frr(bad)
        assert not v.ok and v.error_classes == [cls], (bad, v.errors)
    assert check_frr("route-map RM permit 10\n set community 65000:1 no-export additive\n"
                     " set local-preference 200\n").ok


def test_junos_lists_comments_and_deactivated_statements():
    brace = ("policy-options {\n    ## a comment\n    policy-statement P {\n"
             "        from protocol [ static direct ];\n        inactive: then accept;\n"
             "    }\n}\n")
    assert check_junos(brace).ok
    assert not check_junos(brace.replace("static direct", "static dirct")).ok
    assert check_junos("set protocols bgp group G type internal\n"
                       "deactivate protocols bgp group G").ok
    assert not check_junos("deactivate protocols bgpp").ok


def test_ios_or_frr_lines_in_junos_are_the_wrong_dialect():
    v = check_junos("set system host-name R1\nrouter ospf 1\n network 10.0.0.0 0.0.0.255 area 0")
    assert not v.ok and v.error_classes == ["wrong dialect"]
    assert len(v.errors) == 2
