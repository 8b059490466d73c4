"""The IOS lines netft checks itself (cli_grammar notation), per configuration mode.

These are lines FRR's parser has no grammar for (`duplex`, `negotiation auto`, `vrf
forwarding`, additional-paths...) or where its grammar is not IOS's (`ip route`, `ip address`
with masks, `bandwidth` in kbit/s, MD5 keys with an encryption type). Everything else in an
IOS answer is rewritten into FRR form and checked by vtysh (see ios.py). Shapes and ranges
are IOS 15 / IOS-XE 17 as in Cisco's command references.

A line whose leading keywords ("key") match a pattern here but whose shape does not, is an
error: the table owns that command. Value types are defined in cli_grammar.TYPES.
"""
from __future__ import annotations

_NBR = "neighbor {bgp_peer}"

INTERFACE = [
    "[no] shutdown",
    "no ip address",
    "ip address {ipv4} {mask} [secondary]",
    "ip address dhcp",
    "ip unnumbered {ifname}",
    "[no] negotiation auto",
    "duplex auto|full|half",
    "speed 10|100|1000|2500|5000|10000|25000|40000|100000|auto|nonegotiate",
    "mtu {int:64-18000}",
    "ip mtu {int:68-18000}",
    "bandwidth {int:1-100000000}",          # kbit/s (FRR's `bandwidth` is Mbit/s)
    "delay {int:1-16777215}",
    "media-type rj45|sfp|gbic|auto-select|sgmii",
    "[no] mop enabled|sysid",
    "[no] cdp enable",
    "[no] lldp transmit|receive",
    "vrf forwarding {name}",
    "ip vrf forwarding {name}",
    "[no] ip redirects|unreachables|proxy-arp|route-cache|mroute-cache|directed-broadcast",
    "[no] ip split-horizon",
    "ip nat inside|outside",
    "ip access-group {word} in|out",
    "ip helper-address {ipv4}",
    "ip tcp adjust-mss {int:500-1460}",
    "encapsulation dot1Q|dot1q {int:1-4094} [native]",
    "channel-group {int:1-512} [mode active|passive|on|auto|desirable]",
    "load-interval {int:30-600}",
    "carrier-delay [msec] {int:0-60000}",
    "[no] keepalive [{int:0-32767}]",
    "service-policy input|output {name}",
    "standby [{int:0-4095}] ip {ipv4} [secondary]",
    "standby [{int:0-4095}] priority {int:0-255}",
    "standby [{int:0-4095}] preempt",
    "standby [{int:0-4095}] timers {int:1-254} {int:1-255}",
    "vrrp {int:1-255} ip {ipv4} [secondary]",
    "vrrp {int:1-255} priority {int:1-254}",
    "vrrp {int:1-255} preempt",
    # Interface OSPF the IOS way: the process id comes first (FRR's `ip ospf area 0` has none).
    "ip ospf {int:1-65535} area {area}",
    "ip ospf message-digest-key {int:1-255} md5 [0|7] {word}",
    "ip ospf authentication-key [0|7] {word}",
    "bfd interval {int:50-9999} min_rx {int:50-9999} multiplier {int:3-50}",
    "ipv6 address {ipv6prefix} [eui-64]",
    "ipv6 enable",
    "[no] switchport",
    "switchport mode access|trunk",
    "switchport access vlan {int:1-4094}",
    "switchport trunk allowed vlan {word}",
    "switchport trunk encapsulation dot1q",
    "switchport trunk native vlan {int:1-4094}",
    "spanning-tree portfast [edge] [trunk]",
    "spanning-tree bpduguard enable|disable",
    "ip pim sparse-mode|dense-mode|sparse-dense-mode",
    "tunnel source {word}",
    "tunnel destination {ipv4}",
    "tunnel mode gre ip|multipoint",
    # Common on real routers, no FRR grammar (not in the corpus; from the IOS reference).
    "[no] ip virtual-reassembly [in|out]",
    "ip flow ingress|egress",
    "ip policy route-map {name}",
    "[no] mpls ip",
    "mpls mtu {int:64-65535}",
    "hold-queue {int:0-240000} in|out",
    "[no] logging event link-status",
    "ip verify unicast source reachable-via rx|any [allow-default]",
    "arp timeout {int:0-2147483}",
    "ip igmp version 1|2|3",
    "ip ospf network point-to-point|broadcast|non-broadcast|point-to-multipoint",
]

OSPF = [
    "router-id {ipv4}",
    "network {ipv4} {wildcard} area {area}",
    "[no] log-adjacency-changes [detail]",
    "[no] passive-interface {ifname}",
    "[no] passive-interface default",
    "auto-cost reference-bandwidth {int:1-4294967}",
    "area {area} stub [no-summary]",
    "area {area} nssa [no-summary] [default-information-originate]",
    "area {area} range {ipv4} {mask} [advertise|not-advertise] [cost {int:0-16777215}]",
    "area {area} authentication [message-digest]",
    "area {area} default-cost {int:0-16777215}",
    "default-information originate [always] [metric {int:0-16777214}] [metric-type 1|2] "
    "[route-map {name}]",
    "maximum-paths {int:1-32}",
    "distance {int:1-255}",
    "timers throttle spf {int:1-600000} {int:1-600000} {int:1-600000}",
    "bfd all-interfaces",
    "max-metric router-lsa [on-startup {int:5-86400}]",
    "nsf [ietf|cisco]",
    "mpls ldp autoconfig [area {area}]",
    "capability vrf-lite",
    "area {area} virtual-link {ipv4}",
]

BGP = [
    "bgp log-neighbor-changes",
    "[no] bgp default ipv4-unicast",
    "bgp router-id {ipv4}",
    "bgp additional-paths select [all] [best {int:2-3}] [group-best] [best-external]",
    "bgp additional-paths send [receive]",
    "bgp additional-paths receive",
    "bgp additional-paths install",
    "bgp dampening [{int:1-45} {int:1-20000} {int:1-20000} {int:1-255}]",
    "maximum-paths [eibgp|ibgp] {int:1-32}",
    "bgp confederation identifier {asn}",
    "bgp confederation peers {asnlist}",
    "bgp cluster-id {area}",
    "bgp always-compare-med",
    "bgp deterministic-med",
    "bgp bestpath as-path multipath-relax",
    "bgp bestpath compare-routerid",
    "bgp graceful-restart",
    "[no] synchronization",
    "[no] auto-summary",
    "timers bgp {int:0-65535} {int:0-65535} [{int:0-65535}]",
    "distance bgp {int:1-255} {int:1-255} {int:1-255}",
    "default-information originate",
    f"{_NBR} remote-as {{asn}}",
    f"{_NBR} peer-group [{{name}}]",
    f"{_NBR} activate",
    f"{_NBR} update-source {{ifname}}",
    f"{_NBR} description {{text}}",
    f"{_NBR} password [0|7] {{word}}",
    f"{_NBR} ebgp-multihop [{{int:1-255}}]",
    f"{_NBR} next-hop-self [all]",
    f"{_NBR} route-reflector-client",
    f"{_NBR} send-community [both|standard|extended]",
    f"{_NBR} soft-reconfiguration inbound",
    f"{_NBR} route-map {{name}} in|out",
    f"{_NBR} prefix-list {{name}} in|out",
    f"{_NBR} filter-list {{int:1-500}} in|out",
    f"{_NBR} distribute-list {{word}} in|out",
    f"{_NBR} allowas-in [{{int:1-10}}]",
    f"{_NBR} local-as {{asn}} [no-prepend] [replace-as] [dual-as]",
    f"{_NBR} remove-private-as [all] [replace-as]",
    f"{_NBR} additional-paths send|receive|disable [receive]",
    f"{_NBR} advertise additional-paths [all] [best {{int:2-3}}] [group-best]",
    f"{_NBR} timers {{int:0-65535}} {{int:0-65535}} [{{int:0-65535}}]",
    f"{_NBR} shutdown",
    f"{_NBR} maximum-prefix {{int:1-2147483647}} [{{int:1-100}}] [warning-only]",
    f"{_NBR} default-originate [route-map {{name}}]",
    f"{_NBR} weight {{int:0-65535}}",
    f"{_NBR} fall-over bfd",
    f"{_NBR} disable-connected-check",
    f"{_NBR} as-override",
    f"{_NBR} version 4",
    f"{_NBR} ttl-security hops {{int:1-254}}",
    f"{_NBR} send-label",
    f"{_NBR} inherit peer-session|peer-policy {{name}}",
    "bgp bestpath med missing-as-worst|confed",
    "bgp scan-time {int:5-60}",
    "network {ipv4} [mask {mask}] [route-map {name}] [backdoor]",
    "aggregate-address {ipv4} {mask} [as-set] [summary-only]",
    "address-family ipv4 [unicast|multicast] [vrf {name}]",
    "address-family ipv4 vrf {name}",
    "address-family ipv6 [unicast]",
    "address-family vpnv4 [unicast]",
    "exit-address-family",
]

ROUTE_MAP = [
    "match ip address prefix-list {namelist}",
    "match ip address {acllist}",
    "set local-preference {int:0-4294967295}",
]

GLOBAL = [
    "ip bgp-community new-format",
    "ip community-list standard|expanded {name} permit|deny {text}",
    "ip community-list {int:1-500} permit|deny {text}",
    "ip as-path access-list {int:1-500} permit|deny {text}",
]

# Keywords a redistribute line may carry after the protocol, in any order, with their types.
REDIST_OPTS = {"metric": "int:0-16777214", "metric-type": "int:1-2", "subnets": None,
               "tag": "int:0-4294967295", "route-map": "name", "match": "word"}
REDIST_PROTOS = {"connected": None, "static": None, "rip": None, "bgp": "asn",
                 "eigrp": "int:1-65535", "ospf": "int:1-65535", "isis": None}
# Options of `ip route` after the next hop, in IOS's order.
ROUTE_OPTS = {"tag": "int:1-4294967295", "name": "word", "track": "int:1-1000",
              "permanent": None, "global": None, "multicast": None}
