"""What a grammar covers, and how an unknown word is told apart from a typo.

A verifier line has three outcomes: valid, invalid, or not covered (a command or hierarchy the
grammar does not model). An unknown word is NOT "not covered" when it
  - is close to a keyword known at that place or in the dialect's vocabulary (a typo:
    `adress`, `neighbour`, `opsf`), unless it is itself a real keyword (`metric2`);
  - is another dialect's keyword (`remote-as` in JunOS, `then` in IOS);
  - follows a complete command and is no keyword of the dialect at all (trailing junk).
The vocabularies below list real keywords of each dialect that the grammars do not place:
knowing the word exists is what lets a verifier say "not modelled here" instead of "wrong".
They were written from the vendors' CLI references and the tuning sources
(tests/data/real_configs/SPLIT.md), never from the held-out ones.
"""
from __future__ import annotations

import functools
import re


def edit_distance(a: str, b: str, cap: int = 3) -> int:
    """Optimal-string-alignment distance (an adjacent swap costs 1), stopped at `cap`."""
    if abs(len(a) - len(b)) >= cap:
        return cap
    prev2: list[int] | None = None
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if prev2 is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) >= cap:
            return cap
        prev2, prev = prev, cur
    return min(prev[-1], cap)


def _budget(word: str) -> int:
    # Short words collide with real ones too easily (`tag`/`tap`): 4-7 letters may be one
    # edit off, longer ones two.
    return 0 if len(word) < 4 else 1 if len(word) < 8 else 2


def near_miss(word: str, known) -> str | None:
    """The known keyword `word` looks like a misspelling of, or None."""
    budget = _budget(word)
    if not budget or not re.fullmatch(r"[a-z][a-z0-9-]*", word):
        return None
    best, best_d = None, budget + 1
    for k in known:
        if k == word or abs(len(k) - len(word)) > budget or k[:1] in "<+{":
            continue
        d = edit_distance(word, k, cap=budget + 1)
        if d < best_d:
            best, best_d = k, d
    return best


# --------------------------------------------------------------------------- JunOS

# Real Junos configuration keywords the grammar does not place (statement names from the
# Junos CLI reference; hierarchies outside interfaces/routing-options/protocols/policy-options
# included so that a whole unmodelled hierarchy reads as "not covered").
JUNOS_VOCAB_EXTRA = set("""
system chassis security firewall services snmp forwarding-options class-of-service vlans
routing-instances bridge-domains switch-options groups apply-groups event-options
access poe ethernet-switching-options virtual-chassis protocols-mpls multi-chassis
isis mpls ldp rsvp lldp lldp-med pim igmp igmp-snooping mld msdp rip ripng bfd vrrp
l2circuit l2vpn evpn vstp rstp mstp stp sflow rpm dcbx lacp oam iccp connections
router-advertisement router-discovery neighbor-discovery mvpn bgp-ls pcep source-packet-routing
segment-routing sflow dot1x uplink-failure-detection layer2-control
family iso mpls ethernet-switching bridge ccc vpls inet-vpn tcc any mlppp
address primary preferred arp vrrp-group vrrp-inet6-group virtual-address virtual-inet6-address
accept-data preempt priority track authentication-type authentication-key fast-interval
port-mode interface-mode vlan members native-vlan-id storm-control
vlan-tags outer inner inner-range vlan-id-range input-vlan-map output-vlan-map
swap push pop swap-push pop-swap tag-protocol-id
redundant-ether-options redundancy-group redundant-parent minimum-links link-speed
gigether-options ether-options aggregated-ether-options fastether-options sonet-options
optics-options wavelength loopback flow-control no-flow-control auto-negotiation
link-mode half-duplex full-duplex automatic hold-time up down traps no-traps
link-down-trap link-up-trap damping enable disable description alias per-unit-scheduler
hierarchical-scheduler shared-scheduler schedulers encapsulation vlan-tagging
stacked-vlan-tagging flexible-vlan-tagging gratuitous-arp-reply no-gratuitous-arp-request
mac mtu speed unit family filter input output input-list output-list sampling
service rpf-check fail-filter mode loose strict targeted-broadcast unnumbered-address
preferred-source-address destination ndp router-advertisement dad-disable
no-neighbor-learn point-to-point multipoint tunnel source routing-instance
destination-routing-instance key ttl allow-fragmentation do-not-fragment path-mtu-discovery
peer-unit logical-tunnel esi all-active single-active df-election-type
import export instance-type vrf virtual-router forwarding no-vrf-advertise
vrf-target vrf-import vrf-export vrf-table-label route-distinguisher route-distinguisher-id
interface interfaces area area-range stub nssa no-summaries default-lsa default-metric
metric-type type-7 virtual-link neighbor transit-area network-summary-export
network-summary-import inter-area-prefix-export inter-area-prefix-import
te-metric ipsec-sa demand-circuit flood-reduction no-neighbor-down-notification
no-advertise-adjacency-segment poll-interval secondary strict-bfd dynamic-neighbors
hello-interval dead-interval retransmit-interval transit-delay interface-type passive
traffic-engineering shortcuts credibility-protocol-preference igp-topology
lsp-metric-into-summary multicast-topology database-protection prefix-export-limit
rib-group domain-id domain-vpn-tag sham-link sham-link-remote route-type-community
external-preference preference reference-bandwidth overload spf-options backup-spf-options
no-nssa-abr no-rfc-1583 sbfd source-packet-routing node-segment ipv4-index
group type internal external peer-as local-as local-address local-preference
metric-out multihop ttl no-nexthop-change hold-time passive bfd-liveness-detection
minimum-interval minimum-receive-interval multiplier detection-time threshold
transmit-interval session-mode authentication authentication-algorithm authentication-key
authentication-key-chain keychain cluster no-client-reflect multipath multiple-as
remove-private log-updown advertise-inactive advertise-external advertise-peer-as
as-override family unicast multicast labeled-unicast flow signaling add-path send receive
path-count prefix-policy prefix-limit accepted-prefix-limit maximum teardown idle-timeout
forever rib rib-group resolve-vpn aigp loops graceful-restart long-lived restart-time
stale-routes-time dont-help-shared-fate-bfd-down disable traceoptions file flag size files
world-readable no-world-readable precision-timers mtu-discovery out-delay tcp-mss
keep damping import export vpn-apply-export include-mp-next-hop peer-as-list
bgp-error-tolerance malformed-update-log-interval no-malformed-route-limit
drop-path-attributes description mvpn-iana-rt-import output-queue-priority
defer-initial-multipath-build egress-te egress-te-node-segment egress-te-adj-segment
unconfigured-peer-graceful-restart allow dynamic-neighbor peer-auto-discovery
route-target-proxy no-install extended-nexthop extended-nexthop-color topology
explicit-null protection nexthop-resolution no-resolution delay-route-advertisements
route-filter route-filter-list prefix-list prefix-list-filter policy-statement term from then
to accept reject next policy community members invert-match as-path as-path-group
as-path-prepend as-path-expand last-as count tag tag2 color color2 metric metric2 metric3
metric4 local-preference preference preference2 next-hop self discard peer-address
origin igp egp incomplete protocol route-type area instance rib family level
neighbor condition if-route-exists table route-active-on node0 node1 external type
interface validation-state valid invalid unknown tunnel-attribute tunnel-type
tunnel-encapsulation remote-end-point tunnel-color load-balance per-packet per-flow
consistent-hash install-nexthop lsp lsp-regex except strict analyze trace
default-action priority high medium low forwarding-class destination-class source-class
cos-next-hop-map aigp-originate aigp-adjust distance multiplier resolution-map
add subtract minimum-igp igp exact orlonger longer upto prefix-length-range through
address-mask apply-path mac-list dynamic-db defaults martians route static aggregate
generate qualified-next-hop no-readvertise readvertise resolve no-resolve retain no-retain
install no-install active passive next-table receive bfd-liveness-detection
router-id autonomous-system confederation members asdot-notation loops
forwarding-table chained-composite-next-hop ingress evpn l3vpn labeled-bgp
ecmp-fast-reroute indirect-next-hop dynamic-list-next-hop unicast-reverse-path
resolution rib resolution-ribs preserve-nexthop-hierarchy nonstop-routing ppm
rib-groups import-rib export-rib import-policy interface-routes static-route-defaults
multipath maximum-paths maximum-prefixes instance-import instance-export auto-export
dynamic-tunnels gre source-address destination-networks flow-spec
validation group session record-lifetime refresh-time port local-address max-sessions
host-name domain-name name-server ntp server boot-server time-zone syslog login user class
root-authentication encrypted-password ssh netconf web-management
""".split())

# IOS / FRR keywords that are no Junos keyword: in a JunOS answer they are the other dialect.
JUNOS_FOREIGN = set("""
remote-as update-source route-map permit deny ip ipv6 subinterface neighbour router
network redistribute password cost shutdown send-community next-hop-self
soft-reconfiguration passive-interface auto-summary log-neighbor-changes default-originate
ebgp-multihop hostname exit end no activate access-list switchport dot1q encapsulation-dot1q
""".split()) - {"activate"}


@functools.lru_cache(maxsize=None)
def junos_vocab() -> frozenset[str]:
    """Every keyword the JunOS grammar places, plus the real ones it does not."""
    from netft.domains.netops.junos_grammar import JUNOS_GRAMMAR

    words: set[str] = set()
    seen: set[int] = set()

    def walk(node):
        if not isinstance(node, dict) or id(node) in seen:
            return
        seen.add(id(node))
        for k, child in node.items():
            if not k.startswith(("<", "+")):
                words.add(k)
            if isinstance(child, frozenset):
                words.update(child)
            walk(child)
    walk(JUNOS_GRAMMAR)
    return frozenset(words | JUNOS_VOCAB_EXTRA)


# --------------------------------------------------------------------------- IOS

# Real IOS / IOS-XE keywords neither the IOS table nor FRR's grammar place (Cisco command
# references; interface, routing, policy and the usual global features).
IOS_VOCAB_EXTRA = set("""
zone-member security template bfd echo nat inside outside crypto map service-policy standby
vrrp glbp hsrp mpls ldp igmp pim flow monitor cdp lldp udld storm-control switchport
spanning-tree channel-group lacp power inline authentication dot1x mab snmp trap
link-status load-interval carrier-delay dampening service instance bridge-domain xconnect
encapsulation rewrite ingress egress tag pop symmetric platform qos trust cos dscp
priority-queue queue-set wrr-queue srr-queue share shape policy-map class-map fair-queue
tx-ring-limit verify unicast reverse-path wccp sla track object tunnel key protection
ipsec profile vrf definition rd route-target export import both address-family
exit-address-family interval ospfv3 eigrp rip isis circuit-type metric-style net is-type
level-1 level-2 level-2-only level-1-2 summary-address distribute-list offset-list
default-metric table-map nexthop trigger-delay fast-external-fallover update-delay listen
range limit slow-peer transport path-mtu-discovery connection-mode passive active
unsuppress-map advertise-map exist-map non-exist-map inject-map suppress-map attribute-map
maximum-prefix restart warning-only fall-over ha-mode graceful-restart sso nsr
peer-session peer-policy inherit fast-reroute per-prefix ti-lfa prefix-suppression ispf
microloop ignore lsa discard-route compatible rfc1583 domain-id domain-tag mtu-ignore
demand-circuit flood-reduction database-filter resync-timeout lls ttl-security hops
hello-interval dead-interval retransmit-interval transmit-delay point-to-point broadcast
non-broadcast point-to-multipoint macsec ethernet oam cfm mdix auto negotiation media-type
keepalive timeout dhcp snooping relay information helper-address directed-broadcast
proxy-arp redirects unreachables mask-reply accounting access-violations output-packets
precedence route-cache same-interface cef nbar protocol-discovery tcp adjust-mss
header-compression max-reassemblies virtual-reassembly sticky-arp local-proxy-arp dvmrp
join-group static-group query-interval boundary ttl-threshold rate-limit sparse-mode
dense-mode dr-priority bsr-border nhrp nhs holdtime redirect shortcut network-id gre ipip
multipoint vlan native allowed trunk access voice nonegotiate port-security violation
restrict protect aging mac-address sticky portfast bpduguard bpdufilter guard root loop
link-type port-priority edge errdisable recovery hold-queue logging event subif-link-status
trunk-status bundle-status efficient-ethernet mls flowcontrol desired udld aggressive
device-tracking attach-policy source-interface forwarding select rpf ip-address
dampening-profile ipv6 nd ra suppress managed-config-flag other-config-flag prefix
autoconfig enable link-local unnumbered mtu bandwidth delay description shutdown speed
duplex full half secondary dhcp-client client-id hostname vlan-id dot1q native
second-dot1q translate pseudowire member interface vpdn virtual-template ppp chap pap
multilink dialer pool cellular lte modem async physical-layer clock rate invert
serial restart-delay frame-relay lmi-type interface-dlci atm pvc vbr-nrt ubr
zone zone-pair inspect class type policy parameter-map ip-sla responder cts role-based
sgt enforcement manual propagate macro description poe police conform-action exceed-action
violate-action transmit drop set-dscp-transmit priority-level bandwidth-percent remaining
percent random-detect fragment lfi nat66 nptv6 pcp eompls l2protocol-tunnel
ip-helper peer default-gateway vrf-lite evpn nve source-interface member vni
ingress-replication host-reachability bgp-policy accounting-profile route-reflector-client
template-name timers throttle lsa-arrival pacing flood retransmission
periodic block protected fail multi-auth multi-domain multi-host single-host reauthenticate
inactivity arpa snap mvrp access-session mka datalink energywise stackwise-virtual pnp
port-channel lisp mobility liveness vepa app-interface host-mode port-control closed
next-method action recurrence importance time-range sampler min-links dual-active-detection
startup-vlan pre-shared-key key-chain subscriber queueing inspection option allow-untrusted
nbar leave-all join leave dynamic-routing auto-cost dhcpv6 poe-ha macro
aigp cost-community poi igp-cost pre-bestpath transitive
""".split())

# Junos keywords that are no IOS keyword: in an IOS answer they are the other dialect.
IOS_FOREIGN = set("""
then from term policy-statement protocols routing-options policy-options family unit
interfaces peer-as local-address route-filter prefix-list-filter inet inet6 host-name
""".split())


_LIT = re.compile(r"[a-z0-9][a-z0-9.:-]*")


def _frr_command_tokens(path: str) -> list[list[str]]:
    """FRR command definitions as token lists, read from the vtysh binary's string table
    (each is what `DEFUN` registered, e.g. "ip ospf cost (1-65535) [A.B.C.D]")."""
    try:
        data = open(path, "rb").read()
    except OSError:
        return []
    out = []
    for m in re.finditer(rb"[ -~]{4,200}", data):
        s = m.group(0).decode("ascii")
        if not re.fullmatch(r"[a-z][a-zA-Z0-9 <>|()\[\]{}.:$_/+*-]*", s) or "  " in s:
            continue
        toks = s.split()
        if any("_" in t and not ("$" in t or t.isupper()) for t in toks[:1]):
            continue   # a C identifier, not a command
        out.append(toks)
    return out


def _token_kind(tok: str) -> list[str] | None:
    """Literal alternatives of an FRR command token, ["<v>"] for a value, None to stop."""
    tok = re.sub(r"\$\w+", "", tok)
    if not tok or "{" in tok or "}" in tok:
        return None
    if tok.startswith("<") and tok.endswith(">"):
        alts = tok[1:-1].split("|")
        lits = [a for a in alts if _LIT.fullmatch(a)]
        return lits + (["<v>"] if len(lits) < len(alts) else [])
    if "|" in tok or "<" in tok or ">" in tok:
        return None
    if _LIT.fullmatch(tok) and not re.fullmatch(r"[\d.:/-]+", tok):
        return [tok]
    return ["<v>"]


END = "+end"
ENUM = "+enum"


def _insert(trie: dict, tokens: list[str]) -> None:
    """Two paths per command: with every optional `[..]` part and without any."""
    def add(toks):
        nodes = [trie]
        for tok in toks:
            kinds = _token_kind(tok)
            if kinds is None:
                break
            if len([k for k in kinds if k != "<v>"]) > 1:
                for n in nodes:      # a choice of keywords: another word there is a bad value
                    n[ENUM] = {}
            nodes = [n.setdefault(k, {}) for n in nodes for k in kinds]
        if nodes != [trie]:
            # A command ends here. Never at the root: a command whose first token cannot be
            # read would make the root "complete", and every unknown first word junk.
            for n in nodes:
                n[END] = {}

    for form in optional_forms(tokens):
        add(form)


def optional_forms(tokens: list[str]) -> list[list[str]]:
    """A command's tokens with every optional `[..]` part, and with none."""
    full, bare, depth = [], [], 0
    for tok in tokens:
        opens, closes = tok.count("["), tok.count("]")
        t = tok.replace("[", "").replace("]", "")
        if t:
            full.append(t)
            if depth == 0 and not opens:
                bare.append(t)
        depth += opens - closes
    return [full, bare]


@functools.lru_cache(maxsize=None)
def ios_command_trie(vtysh: str | None) -> dict:
    """Command heads the IOS check knows: FRR's commands (from the vtysh binary, so they are
    the pinned FRR's) and the IOS table's patterns (ios_grammar), as a trie of literal words;
    "<v>" stands for any value, END marks where a command may stop."""
    from netft.domains.netops import ios_grammar as G

    trie: dict = {}
    for toks in _frr_command_tokens(vtysh) if vtysh else []:
        _insert(trie, toks)
    for table in (G.INTERFACE, G.OSPF, G.BGP, G.GLOBAL, G.ROUTE_MAP):
        for pat in table:
            toks = pat.replace("[no] ", "").split()
            conv = []
            for t in toks:
                if t.startswith("["):
                    break
                conv.append("<" + "|".join(t.split("|")) + ">" if "|" in t else
                            "X" if t.startswith("{") else t)
            _insert(trie, conv)
    for head in ("ip route", "redistribute", "interface", "router ospf", "router bgp"):
        _insert(trie, head.split())
    # A command starts with a keyword: strings that begin with a value are not commands.
    trie.pop("<v>", None)
    return trie


@functools.lru_cache(maxsize=None)
def ios_vocab(vtysh: str | None) -> frozenset[str]:
    words: set[str] = set()

    def walk(node):
        for k, child in node.items():
            if not k.startswith(("<", "+")):
                words.add(k)
            walk(child)
    walk(ios_command_trie(vtysh))
    return frozenset(words | IOS_VOCAB_EXTRA)


def ios_coverage(words: list[str], vtysh: str | None) -> tuple[bool, str]:
    """For an IOS line a checker rejected: (covered, why). covered=False means the line is a
    command neither the IOS table nor FRR's grammar models (not covered, not an error)."""
    trie, vocab = ios_command_trie(vtysh), ios_vocab(vtysh)
    if words[:1] == ["no"]:
        words = words[1:]
    node, said, kw_as_value = trie, [], False
    for w in words:
        lw = w.lower()
        if lw in IOS_FOREIGN and not said:
            return True, f"wrong dialect: '{w}' is JunOS"
        if lw in node and not lw.startswith(("<", "+")):
            node = node[lw]
            said.append(w)
            continue
        lits = [k for k in node if not k.startswith(("<", "+"))]
        typo = None if lw in vocab else near_miss(lw, lits) or near_miss(lw, vocab)
        if typo:
            return True, f"unknown keyword '{w}' (did you mean '{typo}'?)"
        if "<v>" in node:
            node = node["<v>"]
            said.append(w)
            # A real keyword read as a value: the trie holds every mode's commands at once,
            # so this is likely another command's path, not this line's grammar.
            kw_as_value = kw_as_value or (re.fullmatch(r"[a-z][a-z-]*", lw) is not None
                                          and lw in vocab)
            continue
        if lw in IOS_FOREIGN:
            return True, f"wrong dialect: '{w}' is JunOS"
        if ENUM in node and lw not in vocab:
            # A real IOS keyword FRR's fixed choices lack (`ip dhcp snooping ...` after
            # `ip`) is a command FRR does not model: not covered, below.
            return True, f"bad value: '{w}' after '{' '.join(said)}' (expected one of: " \
                         f"{', '.join(sorted(lits)[:10])})"
        if not lits:
            return True, f"'{' '.join(said)}' takes nothing more"
        if END in node and lw not in vocab:
            return True, f"unexpected '{w}' after '{' '.join(said)}'"
        return False, f"not covered: '{' '.join(said + [w])}'"
    if kw_as_value:
        return False, f"not covered: '{' '.join(said)}' (a keyword where the known forms " \
                      "take a value)"
    return True, "known command"
