"""The JunOS hierarchies netft checks: interfaces, routing-options, OSPF, BGP, policy-options.

A node is a dict: literal keywords map to child nodes, "<type>" keys take one value of that
type (types in junos.TYPES), MORE marks a node where a statement may not stop, END one where
it may stop although only a value could follow. Written from the Junos OS CLI reference and
widened on real configurations (tests/data/real_configs); anything not here is reported as
unknown, so the vocabulary errs on the strict side. Values are typed and range-checked.
"""
from __future__ import annotations


def V(kind: str, child: dict | None = None) -> dict:
    """A keyword that takes one value of `kind`, optionally followed by `child`."""
    return {f"<{kind}>": child if child is not None else {}}


MORE = "+more"   # the statement may not end at this node
OPEN = "+open"    # a container the grammar models no child of (`family iso`): its children
                  # are not covered, not errors
KNOWN = "+known"  # the real keywords not modelled at this node: only these are "not covered"
CLOSED = "+closed"  # every child is listed: an unknown keyword here is an error, never
                    # "not covered" (elsewhere a real Junos keyword the grammar does not
                    # place is reported as not covered; see coverage.py)
END = "+end"     # the statement may end here although only a value could follow

U32 = "int:0-4294967295"
TRACE = {"file": V("word", {"size": V("size"), "files": V("int:2-1000"), END: True}),
         "flag": V("word", {"detail": {}, "receive": {}, "send": {}, END: True}), MORE: True}
BFD = {"minimum-interval": V("int:1-255000"), "minimum-receive-interval": V("int:1-255000"),
       "transmit-interval": {"minimum-interval": V("int:1-255000"), MORE: True},
       "multiplier": V("int:1-255"), "no-adaptation": {},
       "session-mode": {"automatic": {}, "multihop": {}, "single-hop": {}, MORE: True},
       "version": {"0": {}, "1": {}, "automatic": {}, MORE: True}, MORE: True}
GRACEFUL = {"restart-time": V("int:1-600"), "stale-routes-time": V("int:1-600"),
            "disable": {}, "helper-disable": {}}

# Real statements of an OSPF interface (Junos reference) the grammar does not model.
OSPF_IF_KNOWN = frozenset("""adjacency-segment authentication bandwidth-based-metrics
    bfd-liveness-detection dead-interval demand-circuit disable dynamic-neighbors
    flood-reduction hello-interval interface-type ipsec-sa ldp-synchronization link-protection
    metric mtu neighbor no-advertise-adjacency-segment no-eligible-backup
    no-eligible-remote-backup no-interface-state-traps no-neighbor-down-notification
    node-link-degradation node-link-protection passive poll-interval post-convergence-lfa
    priority retransmit-interval secondary strict-bfd te-metric topology transit-delay""".split())
OSPF_IF = {
    KNOWN: OSPF_IF_KNOWN, "passive": {}, "disable": {}, "metric": V("int:1-65535"),
    "hello-interval": V("int:1-255"), "dead-interval": V("int:1-65535"),
    "retransmit-interval": V("int:1-65535"), "transit-delay": V("int:1-65535"),
    "priority": V("int:0-255"), "link-protection": {}, "node-link-protection": {},
    "interface-type": {"p2p": {}, "nbma": {}, "p2mp": {}, "p2mp-over-lan": {}, MORE: True},
    "authentication": {"md5": V("int:0-255", {"key": V("text")}),
                       "simple-password": V("text"), MORE: True},
    "bfd-liveness-detection": BFD, "ldp-synchronization": {},
    # Segment routing adjacency SIDs and TI-LFA (seen in Juniper/jvd, a tuning source).
    **{f"{af}-adjacency-segment": {k: {"dynamic": {}, "index": V(U32), "label": V(U32),
                                       MORE: True}
                                   for k in ("protected", "unprotected")} | {MORE: True}
       for af in ("ipv4", "ipv6")},
    "post-convergence-lfa": {"node-protection": {"cost": V(U32), END: True}, END: True},
}
# Real statements of an OSPF area (Junos reference) the grammar does not model: only these
# are "not covered" there, any other word is invalid.
OSPF_AREA_KNOWN = frozenset("""area-range authentication-type context-identifier
    inter-area-prefix-export inter-area-prefix-import interface label-switched-path
    network-summary-export network-summary-import no-context-identifier-advertisement nssa
    peer-interface sham-link-remote stub virtual-link""".split())
OSPF = {
    "area": V("area", {KNOWN: OSPF_AREA_KNOWN,
        "interface": V("ospf_if", OSPF_IF),
        "stub": {"no-summaries": {}, "default-metric": V("int:1-16777215")},
        "nssa": {"no-summaries": {}, "default-lsa": {"default-metric": V("int:1-16777215"),
                                                      "metric-type": V("int:1-2"),
                                                      "type-7": {}}},
        "area-range": V("prefix", {"restrict": {}, "exact": {},
                                   "override-metric": V("int:1-16777215")}),
    }),
    "reference-bandwidth": V("bandwidth"), "export": V("name"), "import": V("name"),
    "traceoptions": TRACE, "graceful-restart": GRACEFUL, "no-rfc-1583": {},
    "preference": V(U32), "external-preference": V(U32), "disable": {},
    "spf-options": {"delay": V("int:50-8000"), "holddown": V("int:2000-20000"),
                    "rapid-runs": V("int:1-10"), MORE: True},
    "overload": {"timeout": V("int:60-1800")},
}
# BGP Monitoring Protocol (RFC 7854), globally under routing-options and per group/peer.
BMP_MONITOR = {"enable": {}, "disable": {}}
BMP_ROUTE_MONITORING = {"pre-policy": {OPEN: True}, "post-policy": {OPEN: True},
                        "loc-rib": {OPEN: True}, "none": {}}
BMP_COMMON = {"monitor": BMP_MONITOR, "route-monitoring": BMP_ROUTE_MONITORING,
              "connection-mode": {"active": {}, "passive": {}},
              "station-address": V("ip46"), "station-port": V("int:1-65535"),
              "local-address": V("ip46"), "local-port": V("int:1-65535"),
              "hold-down": V(U32, {"flaps": V(U32, {"period": V(U32)})}),
              "initiation-message": V("text"), "statistics-timeout": V(U32),
              "priority": {"high": {}, "medium": {}, "low": {}}, "routing-instance": V("word")}
BMP = {**BMP_COMMON, "station": V("name", BMP_COMMON)}
BGP_BMP = {"monitor": BMP_MONITOR, "route-monitoring": BMP_ROUTE_MONITORING}
PREFIX_LIMIT = {"maximum": V(U32), "teardown": {"<int:1-100>": {}, END: True}}
# `family inet labeled-unicast { rib inet.3; resolve-vpn; }` (BGP-LU, seen in Juniper/jvd).
LABELED_UNICAST = {"rib": {"inet.3": {}, "inet6.3": {}, MORE: True}, "resolve-vpn": {},
                   "rib-group": V("name"), "explicit-null": {"connected-only": {}, END: True},
                   "per-prefix-label": {}, "prefix-limit": PREFIX_LIMIT, "aigp": {},
                   "entropy-label": {OPEN: True, END: True}, END: True}
# `family evpn { signaling { loops 2; } }`; `family inet-mvpn signaling;`
SIGNALING = {"loops": V("int:1-10"), "prefix-limit": PREFIX_LIMIT,
             "delay-route-advertisements": {OPEN: True}, END: True}
FAMILIES = {
    **{f: {"unicast": {"prefix-limit": PREFIX_LIMIT,
                       "loops": V("int:1-10"), "no-install": {}, "extended-nexthop": {},
                       "extended-nexthop-tunnel": {}, "local-ipv4-address": V("ipv4"),
                       END: True},
           "multicast": {}, "labeled-unicast": LABELED_UNICAST, "flow": {}, "any": {},
           **({"signaling": SIGNALING} if f in ("l2vpn", "inet-mvpn", "inet6-mvpn") else {}),
           MORE: True}
       for f in ("inet", "inet6", "inet-vpn", "inet6-vpn", "l2vpn", "inet-mvpn", "inet6-mvpn")},
    # `family route-target;` alone is complete (RT-constrain).
    "route-target": {"proxy-generate": {}, "advertise-default": {}, "prefix-limit": PREFIX_LIMIT,
                     "external-paths": V("int:1-256"), END: True},
    "evpn": {"signaling": SIGNALING, MORE: True},
    MORE: True,
}
BGP_PEER = {
    "description": V("text"), "peer-as": V("asn"), "local-address": V("ip46"),
    "authentication-key": V("text"), "authentication-algorithm": V("word"),
    "import": V("name"), "export": V("name"),
    "local-as": V("asn", {"private": {}, "alias": {}, "no-prepend-global-as": {},
                          "loops": V("int:1-10")}),
    "hold-time": V("holdtime"), "multihop": {"ttl": V("int:1-255"), "no-nexthop-change": {}},
    "passive": {}, "bfd-liveness-detection": BFD, "cluster": V("ipv4"),
    "multipath": {"multiple-as": {}}, "remove-private": {"all": {"replace": {}}},
    "as-override": {}, "log-updown": {}, "family": FAMILIES, "mtu-discovery": {},
    "graceful-restart": GRACEFUL, "traceoptions": TRACE, "advertise-peer-as": {},
    "advertise-inactive": {}, "advertise-external": {}, "vpn-apply-export": {},
    "local-preference": V(U32), "preference": V(U32), "metric-out": V(U32),
    "out-delay": V("int:0-65535"), "tcp-mss": V("int:1-4096"), "keep": {"all": {}, "none": {}},
    "damping": {}, "no-advertise-peer-as": {}, "accept-remote-nexthop": {},
    "allow": V("prefix46"), "ttl": V("int:1-255"), "enforce-first-as": {},
    "include-mp-next-hop": {}, "hold-down": V(U32), "bmp": BGP_BMP,
}
# Real statements of a BGP group / neighbor (Junos reference) that the grammar does not
# model: only these are "not covered" there; any other word (e.g. `static`, a keyword real
# elsewhere in Junos) inside this modelled hierarchy is invalid.
BGP_KNOWN = frozenset("""accept-remote-nexthop add-path advertise-bgp-static advertise-external
    advertise-from-main-vpn-tables advertise-inactive advertise-peer-as advertise-prefix-sid
    allow as-override authentication-algorithm authentication-key authentication-key-chain
    bfd-liveness-detection bgp-error-tolerance bgp-orf-cisco-mode bmp cluster damping
    delay-route-advertisements description drop-path-attributes dynamic-neighbor egress-te
    egress-te-backup-paths egress-te-sid-stats enforce-first-as export family
    forwarding-context graceful-restart graceful-shutdown hold-time idle-after-switch-over
    import include-mp-next-hop ipsec-sa keep local-address local-as local-interface
    local-preference log-updown metric-out minimum-hold-time mtu-discovery multihop multipath
    multipath-build-priority neighbor no-advertise-peer-as no-aggregator-id no-client-reflect
    optimal-route-reflection out-delay outbound-route-filter passive peer-as precision-timers
    preference remove-private rfc6514-compliant-safi129 route-server-client snmp-options
    sr-preference-override stale-labels-holddown-period tcp-aggressive-transmission
    tcp-connect-retry-interval tcp-mss tcpao-auth traceoptions traffic-statistics-labeled-path
    ttl type unconfigured-peer-graceful-restart vpn-apply-export""".split())
BGP_GROUP = {**BGP_PEER, "type": {"internal": {}, "external": {}, MORE: True},
             "neighbor": V("ip46", {**BGP_PEER, KNOWN: BGP_KNOWN}), KNOWN: BGP_KNOWN}
BGP = {**BGP_PEER, "group": V("name", BGP_GROUP), "path-selection": {
    "always-compare-med": {}, "cisco-non-deterministic": {}, "external-router-id": {},
    MORE: True}, "disable": {}}

RF_ACTION = {"accept": {}, "reject": {}, "next-hop": V("ip46"),
             "local-preference": V(U32), "metric": V(U32)}
ROUTE_FILTER = {"exact": RF_ACTION, "orlonger": RF_ACTION, "longer": RF_ACTION,
                "upto": V("plen", RF_ACTION),
                "prefix-length-range": V("plenrange", RF_ACTION),
                "through": V("prefix46", RF_ACTION), MORE: True}
PROTOCOLS = ("bgp", "ospf", "ospf3", "static", "direct", "local", "aggregate", "isis", "rip",
             "evpn", "access-internal", "access", "generate", "ldp", "rsvp", "l2vpn", "pim")
FROM = {"prefix-list": V("name"), "route-filter": V("prefix46", ROUTE_FILTER),
        "prefix-list-filter": V("name", {"exact": {}, "orlonger": {}, "longer": {},
                                         MORE: True}),
        "route-filter-list": V("name"), "protocol": {p: {} for p in PROTOCOLS} | {MORE: True},
        "neighbor": V("ip46"), "community": V("name"), "as-path": V("name"),
        "as-path-group": V("name"), "interface": V("ospf_if"), "area": V("area"),
        "tag": V(U32), "tag2": V(U32), "color": V(U32), "local-preference": V(U32),
        "metric": V(U32), "condition": V("name"), "rib": V("word"),
        "family": {f: {} for f in ("inet", "inet6", "inet-vpn", "inet6-vpn", "evpn", "l2vpn",
                                   "inet-mvpn", "route-target", "iso", "mpls")} | {MORE: True},
        "instance": V("name"), "next-hop": V("ip46"), "route-type": {"internal": {},
                                                                      "external": {},
                                                                      MORE: True},
        "level": V("int:1-2"), "origin": {"igp": {}, "egp": {}, "incomplete": {}, MORE: True},
        "source-class": V("name"), "policy": V("name"), "external": {"type": V("int:1-2")},
        "nlri-route-type": V("int:1-10"), "state": {"active": {}, "inactive": {}, MORE: True},
        MORE: True,
        # Junos policy match conditions not modelled (CLI reference, "from" statement).
        KNOWN: frozenset("""aggregate-contributor as-path-calc-length as-path-origin
            as-path-unique-count bgp-output-queue-priority community-count evpn-esi
            evpn-mac-route evpn-tag interface-group l2-encapsulation med metric2 metric3
            metric4 multicast-scope next-hop-type next-hop-weight policy-subroutine
            prefix-length-range preference preference2 rib-context route-distinguisher
            route-source route-type srlg tag traffic-engineering validation-database
            vni vrf-import-target mvpn-route-type""".split())}
ADD_SUB = {"add": V(U32), "subtract": V(U32), "<int:0-4294967295>": {}, MORE: True}
THEN = {"accept": {}, "reject": {}, "next": {"term": {}, "policy": {}, MORE: True},
        "local-preference": ADD_SUB, "metric": ADD_SUB | {"igp": {}, "minimum-igp": {}},
        "community": {"add": V("name"), "set": V("name"), "delete": V("name"), MORE: True},
        "next-hop": {"self": {}, "discard": {}, "reject": {}, "peer-address": {},
                     "<ip46>": {}, MORE: True},
        "as-path-prepend": V("text"),
        "as-path-expand": {"last-as": {"count": V("int:1-32")}, "<text>": {}, MORE: True},
        "tag": V(U32), "tag2": V(U32), "color": V(U32), "color2": V(U32),
        "preference": ADD_SUB, "forwarding-class": V("name"), "priority": V("word"),
        "load-balance": {"per-packet": {}, "consistent-hash": {}, "per-flow": {}, MORE: True},
        "origin": {"igp": {}, "egp": {}, "incomplete": {}, MORE: True},
        "source-class": V("name"), "destination-class": V("name"),
        "external": {"type": V("int:1-2")}, "default-action": {"accept": {}, "reject": {},
                                                                MORE: True},
        "install-nexthop": {"lsp": V("name"), MORE: True}, "trace": {},
        "aigp-originate": {}, "cos-next-hop-map": V("name"), "analyze": {},
        MORE: True,
        # Junos policy actions not modelled (CLI reference, "then" statement).
        KNOWN: frozenset("""aigp-adjust as-path-prepend-self class damping dynamic-tunnel-attributes
            label-allocation label-allocation-fallback-reject map-to-interface metric2 metric3
            metric4 mhop-bfd-port multipath-resolve no-entropy-label-capability
            no-route-localize preference2 prefix-segment resolution-map route-type
            set-flow-label tunnel-attribute validation-state add-path export-rib
            default-action forwarding-class reject-route-reject trace""".split())}
POLICY = {"term": V("name", {"from": FROM, "then": THEN, "to": FROM}), "from": FROM,
          "then": THEN, "to": FROM}

STATIC_ROUTE = {"next-hop": V("nexthop"), "discard": {}, "reject": {}, "receive": {},
                "preference": V(U32), "metric": V(U32),
                "qualified-next-hop": V("nexthop", {"preference": V(U32), "metric": V(U32),
                                                    "interface": V("ospf_if")}),
                "no-readvertise": {}, "readvertise": {}, "tag": V(U32), "resolve": {},
                "no-resolve": {}, "install": {}, "no-install": {}, "retain": {},
                "no-retain": {}, "active": {}, "passive": {}, "community": V("word"),
                "as-path": {"path": V("text"), MORE: True}, "bfd-liveness-detection": BFD,
                "next-table": V("word")}
STATIC_DEFAULTS = {k: STATIC_ROUTE[k] for k in (
    "preference", "metric", "tag", "resolve", "no-resolve", "readvertise", "no-readvertise",
    "install", "no-install", "retain", "no-retain", "active", "passive", "community")}
STATIC = {"route": V("prefix46", STATIC_ROUTE), "defaults": STATIC_DEFAULTS}
AGG_ROUTE = {"discard": {}, "policy": V("name"), "preference": V(U32), "metric": V(U32),
             "community": V("word"), "passive": {}, "active": {}, "brief": {}, "full": {},
             "as-path": {"origin": V("word"), "path": V("text"), MORE: True}, "tag": V(U32),
             # SRv6 locator summaries per flexible algorithm (Juniper/jvd).
             "tag2": V(U32), "algorithm": V("int:128-255")}
AGGREGATE = {"route": V("prefix46", AGG_ROUTE), "defaults": AGG_ROUTE}
RIB = {"static": STATIC, "aggregate": AGGREGATE, "generate": AGGREGATE,
       "martians": {"<prefix46>": {"exact": {}, "orlonger": {}, "allow": {}, MORE: True}}}
ROUTING_OPTIONS = {
    "router-id": V("ipv4"),
    "autonomous-system": V("asn", {"asdot-notation": {}, "loops": V("int:1-10")}),
    **RIB, "rib": V("word", RIB),
    "forwarding-table": {"export": V("name"), "chained-composite-next-hop": {"ingress": {
        "evpn": {}, "l2vpn": {}, "l3vpn": {}, "l2ckt": {}, "labeled-bgp": {}, MORE: True},
        MORE: True}, "ecmp-fast-reroute": {}, MORE: True},
    "resolution": {"rib": V("word", {"resolution-ribs": V("word"), "import": V("name")}),
                   "preserve-nexthop-hierarchy": {}, MORE: True},
    "graceful-restart": GRACEFUL, "maximum-paths": V("int:1-65535"),
    "interface-routes": {"rib-group": {"inet": V("name"), "inet6": V("name"), MORE: True},
                         MORE: True},
    "rib-groups": V("name", {"import-rib": V("word"), "export-rib": V("word"),
                             "import-policy": V("name")}),
    "static-route-defaults": STATIC_DEFAULTS, "bmp": BMP,
    # BGP classful transport and flexible algorithms (seen in Juniper/jvd).
    "transport-class": {"auto-create": {}, "name": V("name", {
        "color": V(U32), "tunnel-egress": {"end-point": V("ip46"), MORE: True}, END: True}),
        MORE: True},
    "flex-algorithm": V("int:128-255", {
        "definition": {"metric-type": {"igp-metric": {}, "te-metric": {}, "delay-metric": {},
                                       MORE: True},
                       "spf": {}, "use-flex-algorithm-prefix-metric": {},
                       "priority": V("int:0-255"), MORE: True},
        "use-transport-class": {"inet3-install": {}, "inet6-install": {}, END: True},
        MORE: True}),
    "no-multi-topology-routing": {}, "protect": {"core": {}},
    "ipv6-router-id": V("ipv6"),
}

ENCAPSULATIONS = {e: {} for e in (
    "ethernet", "ethernet-ccc", "ethernet-vpls", "ethernet-bridge", "vlan-ccc", "vlan-vpls",
    "vlan-bridge", "extended-vlan-ccc", "extended-vlan-vpls", "extended-vlan-bridge",
    "flexible-ethernet-services", "ppp", "cisco-hdlc", "frame-relay")} | {MORE: True}
SPEEDS = {s: {} for s in ("10m", "100m", "1g", "2.5g", "5g", "10g", "25g", "40g", "50g",
                          "100g", "200g", "400g", "800g", "auto")} | {MORE: True}
FAMILY_INET = {
    "address": V("ifaddr", {
        "primary": {}, "preferred": {}, "virtual-gateway-address": V("ipv4"),
        "broadcast": V("ipv4"), "arp": V("ipv4", {"mac": V("word"), MORE: True}),
        "vrrp-group": V("int:0-255", {"virtual-address": V("ipv4"), "priority": V("int:1-255"),
                                      "accept-data": {}, "preempt": {}, MORE: True})}),
    "dhcp": {"vendor-id": V("text"), "client-identifier": {MORE: True}, END: True},
    "mtu": V("int:256-9192"), "filter": {"input": V("name"), "output": V("name")},
    "unnumbered-address": V("word", {"preferred-source-address": V("ipv4")}),
    "no-redirects": {}, "rpf-check": {}, "policer": {"input": V("name"), "output": V("name")},
}
FAMILY_INET6 = {"address": V("ifaddr6", {"primary": {}, "preferred": {},
                                         "virtual-gateway-address": V("ipv6"), "eui-64": {}}),
                "mtu": V("int:1280-9192"), "dhcpv6-client": {MORE: True},
                "filter": {"input": V("name"), "output": V("name")}}
UNIT = {"description": V("text"), "vlan-id": V("int:1-4094"), "disable": {},
        "vlan-id-list": V("word"), "encapsulation": ENCAPSULATIONS, "proxy-arp": {},
        "mac": V("mac"), "virtual-gateway-accept-data": {}, "proxy-macip-advertisement": {},
        "family": {"inet": FAMILY_INET, "inet6": FAMILY_INET6, "iso": {OPEN: True},
                   "mpls": {"maximum-labels": V("int:3-16"), "mtu": V("int:256-9192"),
                            "filter": {"input": V("name"), "output": V("name")},
                            OPEN: True},
                   "ethernet-switching": {"interface-mode": {"access": {}, "trunk": {},
                                                             MORE: True},
                                          # `vlan` holds only `members` (ELS)
                                          "vlan": {"members": V("word"), CLOSED: True},
                                          # a bare `family ethernet-switching;` is valid
                                          # (an access port in the default VLAN)
                                          "storm-control": V("name"), END: True},
                   MORE: True}}
INTERFACE = {"description": V("text"), "disable": {}, "mtu": V("int:256-16000"),
             "vlan-tagging": {}, "flexible-vlan-tagging": {}, "encapsulation": ENCAPSULATIONS,
             "native-vlan-id": V("int:1-4094"), "speed": SPEEDS, "mac": V("mac"),
             "unit": V("int:0-1073741823", UNIT),
             "gigether-options": {"802.3ad": V("word"), "auto-negotiation": {},
                                  "no-auto-negotiation": {}, MORE: True},
             "ether-options": {"802.3ad": V("word"), "auto-negotiation": {},
                               "no-auto-negotiation": {}, MORE: True},
             "aggregated-ether-options": {"lacp": {"active": {}, "passive": {},
                                                   "periodic": {"fast": {}, "slow": {}},
                                                   MORE: True},
                                          "minimum-links": V("int:1-64"), MORE: True},
             "esi": {"<word>": {}, "all-active": {}, "single-active": {},
                     "df-election-granularity": {"per-esi": {"lacp-oos-on-ndf": {}, END: True},
                                                 "per-esi-vlan": {}, MORE: True},
                     "df-election-type": {"preference": {"value": V("int:0-65535"),
                                                         MORE: True},
                                          "mod": {}, MORE: True},
                     "auto-derive": {"lacp": {}, MORE: True}, "source-bmac": V("mac"),
                     MORE: True},
             # Pseudowire subscriber (psN) interfaces: the logical tunnel they anchor on,
             # and dynamic VLAN profiles the grammar does not model.
             "anchor-point": V("ifname"), "auto-configure": {OPEN: True, MORE: True}}

POLICY_OPTIONS = {
    "prefix-list": V("name", {"<prefix46>": {}, "apply-path": V("applypath"), END: True}),
    "route-filter-list": V("name", {"<prefix46>": ROUTE_FILTER}),
    "policy-statement": V("name", POLICY),
    "community": V("name", {"members": V("community"), "invert-match": {}, CLOSED: True}),
    "as-path": V("name", {"<text>": {}}),
    "as-path-group": V("name", {"as-path": V("name", {"<text>": {}})}),
    "tunnel-attribute": V("name", {"tunnel-type": V("word"), "remote-end-point": V("ip46"),
                                   "tunnel-color": V(U32), MORE: True}),
    "condition": V("name", {"if-route-exists": {"<prefix46>": {"table": V("word")},
                                                "table": V("word"), MORE: True},
                            "route-active-on": {"node0": {}, "node1": {}, MORE: True},
                            MORE: True}),
}

# Junos top-level statements and protocols outside the modelled hierarchies (Junos CLI
# reference): whole hierarchies the grammar does not check, so "not covered"; any other word
# there is not Junos.
TOP_LEVEL = frozenset("""
access access-profile accounting-options applications apply-groups bridge-domains chassis
class-of-service diameter dynamic-profiles event-options fabric firewall
forwarding-options groups jsrc logical-systems multi-chassis multicast-snooping-options
poe protocols routing-instances schedulers security services session-limit-group smtp snmp
switch-options system tenants version virtual-chassis vlans wlan
ethernet-switching-options
""".split())
OTHER_PROTOCOLS = frozenset("""
bfd connections dcbx dot1x esis evpn iccp igmp igmp-snooping isis l2circuit l2iw l2vpn
lacp layer2-control ldp link-management lldp lldp-med mld mld-snooping mpls msdp mstp
mvpn neighbor-discovery oam pcep pim ppp protection-group rip ripng router-advertisement
router-discovery rsvp rstp sflow source-packet-routing stp uplink-failure-detection vpls
vrrp vstp bgp-ls sflow l2-learning mvrp amt ptp
""".split())

JUNOS_GRAMMAR = {
    MORE: True, KNOWN: TOP_LEVEL,
    "system": {"host-name": V("name"), MORE: True},
    "interfaces": {"<ifname>": INTERFACE, "interface-range": V("name", {
        **INTERFACE, "member": V("word"), "member-range": V("word", {"to": V("word")})})},
    "routing-options": ROUTING_OPTIONS,
    "protocols": {"ospf": OSPF, "ospf3": OSPF, "bgp": BGP, MORE: True, KNOWN: OTHER_PROTOCOLS},
    "policy-options": POLICY_OPTIONS,
}
