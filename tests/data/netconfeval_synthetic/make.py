"""Writes netconfeval/ here: a SYNTHETIC stand-in for the NetConfEval data set, netft's own.

The real data set (the benchmark's policy table and prompts) is not shipped with netft; tests
that need only its shape (the oracle scores 100 %, garbage 0, the CLI and a training run with
eval.suites) run on this one, so CI needs no third-party data. Everything here is invented:
tree-named hosts, 10.77.x.0/24 prefixes, and prompt texts and requirement sentence templates
that say they are placeholders (fewer templates per type than the benchmark has).
The table has the benchmark's CSV schema and enough rows for every batch size the suite uses
(100 reachability rows, 50 waypoints with their reachability, a load-balancing row per host),
plus rows the loader must drop (not holding, waypoint at its own source, isolation).

Run `python tests/data/netconfeval_synthetic/make.py` to rewrite it (deterministic bytes).
"""
from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent / "netconfeval"
HOSTS = ["alder", "birch", "cedar", "dogwood", "elm", "fir", "ginkgo", "hazel", "juniper",
         "larch"]
PREFIXES = [f"10.77.{i}.0/24" for i in range(12)]
HEADER = ["type", "subnet", "specifics", "source", "Destinations", "Environments", "Sources",
          "Status"]
MARK = "SYNTHETIC PLACEHOLDER, netft test data, not the NetConfEval prompt: "


def rows() -> list[list[str]]:
    out = []

    def add(kind, subnet, specifics, source, status="HOLDS"):
        out.append([f"PolicyType.{kind}", subnet, str(specifics), source, "{synthetic-dst}",
                    "{0}", source, f"PolicyStatus.{status}"])

    for p in PREFIXES:
        for h in HOSTS:
            add("Reachability", p, 0, h)
            add("Isolation", p, 0, h, "HOLDSNOT")
    for i, h in enumerate(HOSTS):
        add("Reachability", "10.77.99.0/24", 0, h, "HOLDSNOT")  # dropped: does not hold
        for j, p in enumerate(PREFIXES[:6]):
            waypoint = HOSTS[(i + j + 1) % len(HOSTS)]
            add("Waypoint", p, waypoint, h)
            add("Waypoint", p, h, h)  # dropped: the waypoint is the source itself
            add("Waypoint", p, HOSTS[(i + 5) % len(HOSTS)], h, "HOLDSNOT")  # dropped
            if j % 2 == 0:  # the others borrow this host's row (the upstream rewrite path)
                add("LoadBalancingSimple", p, 2 + (i + j) % 3, h, "HOLDSNOT")
    return out


def prompts() -> dict:
    spec = {
        "setup": MARK + "reply in JSON only, as {\"status\": \"ok\", \"result\": ...}.",
        "ask": MARK + "give the result in JSON; report a conflict with status \"error\".",
    }
    return {
        "user": {"spec": MARK + "requirements follow. ",
                 "function_call_adhoc": MARK + "requirements follow.\n"},
        "translation": {
            "reachability": {**spec, "function": MARK + "keys: reachability."},
            "reachability,waypoint": {**spec, "function": MARK + "keys: reachability, "
                                      "waypoint."},
            "loadbalancing,reachability,waypoint": {**spec, "function": MARK + "keys: "
                                                    "reachability, waypoint, loadbalancing."},
        },
        "conflict": {**spec, "function": MARK + "find contradicting requirements."},
        "function_call_adhoc": {
            "setup": MARK + "answer with function calls.",
            "reachability": MARK + "add_reachability(l1, p1).",
            "waypoint": MARK + "add_waypoint(l1, p1, [w]).",
            "loadbalancing": MARK + "add_load_balance(l1, p1, num).",
            "ask": MARK + "write only the calls.",
        },
    }


def statements() -> dict:
    """Invented sentence templates, one list per requirement type the generator asks for."""
    tag = "[synthetic placeholder]"
    return {
        "reachability": [f"{tag} {{source}} reaches {{subnet}}.",
                         f"{tag} {{subnet}} is reached from {{source}}.",
                         f"{tag} reach: {{source}} -> {{subnet}}."],
        "waypoint": [f"{tag} {{source}} -> {{subnet}} via {{specifics}}.",
                     f"{tag} waypoint {{specifics}} on {{source}} -> {{subnet}}."],
        "loadbalancing": [f"{tag} {{source}} -> {{subnet}} over {{specifics}} paths.",
                          f"{tag} {{specifics}}-way balancing on {{source}} -> {{subnet}}."],
        "no_reachability": [f"{tag} {{source}} must not reach {{subnet}}."],
        "no_waypoint": [f"{tag} {{source}} -> {{subnet}} avoids {{specifics}}."],
    }


def main() -> None:
    HERE.mkdir(exist_ok=True)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows())
    with open(HERE / "step_1_policies.csv.gz", "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as fh:
        fh.write(text.getvalue().encode())
    (HERE / "prompts.json").write_text(json.dumps(prompts(), indent=1) + "\n")
    (HERE / "statements.json").write_text(json.dumps(statements(), indent=1) + "\n")
    (HERE / "README.md").write_text(
        "SYNTHETIC test data of netft (written by ../make.py), in the layout of the external "
        "data set `netconfeval`.\nNot the NetConfEval benchmark's data: invented hosts, "
        "prefixes, placeholder prompts and sentence templates.\n"
        "The real data set: docs/netconfeval.md.\n")


if __name__ == "__main__":
    main()
