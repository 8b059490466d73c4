"""NetConfEval's step-1 request sets, regenerated from the benchmark's Config2Spec policy table.

The table, the prompt texts and the requirement sentence templates are the benchmark's data,
which netft does not ship: they are read from the external data set `netconfeval`
(netft/data/external.py; built from a clone of the benchmark by `netft suite import
netconfeval`, see importer.py and docs/netconfeval.md).

netft's own code, written from reading the benchmark's generator (RedHatResearch/NetConfEval,
netconfeval/common/utils.py and dataset/generate_step_1_*.py at the commit the data set's
UPSTREAM.md names).
What must match it, draw for draw, for the requests to equal the published ones:

- one random stream per (policy mix, run), seeded 5000 + run; the shuffle draws one number
  per policy row (in file order), then every sentence of every batch draws one template, in
  the order the batches are made (batch sizes in their listed order, chunks in order), and a
  conflict insert draws its position just before its batch's sentences;
- the policy rows are loaded once per policy mix and then *mutated*: a load-balancing row
  borrowed for a waypoint of another subnet gets that subnet written into it, and the change
  stays for the later runs of the same mix (an upstream side effect that shapes the data);
- a batch list shorter than the batch size is the sample list itself (so a conflict insert
  into it would change later batch sizes' samples too).
"""
from __future__ import annotations

import copy
import csv
import gzip
import io
import json
import math
import random
from functools import lru_cache
from pathlib import Path

NAME = "netconfeval"  # the external data set
HOW = ("build it from a clone of github.com/RedHatResearch/NetConfEval with `netft suite import "
       "netconfeval CLONE --out DIR` (docs/netconfeval.md)")
POLICIES = "step_1_policies.csv.gz"
PROMPTS = "prompts.json"
# The requirement sentence templates, per requirement type ("{source}", "{subnet}",
# "{specifics}" are filled in); the conflict twins of task 1b are "no_reachability" and
# "no_waypoint". The order of each list matters: a sentence draws its template by index.
STATEMENTS = "statements.json"
STATEMENT_TYPES = ("reachability", "waypoint", "loadbalancing", "no_reachability",
                   "no_waypoint")
# prompts.json: the system prompt texts per task, and "user": the line the requirements follow
# in the user message ("spec" for 1a/1b, "function_call_adhoc" for 1c).
USER_KEYS = ("spec", "function_call_adhoc")

# The benchmark's own run script (run_benchmark.sh): the batch sizes each task is measured at,
# per policy mix; a batch holds batch_size x (number of policy types) requirements.
EVAL_BATCH_SIZES = {
    "reachability": [1, 2, 5, 10, 20, 50, 100],
    "reachability,waypoint": [1, 2, 5, 10, 25, 50],
    "loadbalancing,reachability,waypoint": [1, 3, 11, 33],
}
# The published dataset's generator (dataset/generate_step_1_*.py) uses other lists; only for
# the equality test with the published request sets.
PUBLISHED_BATCH_SIZES = {
    "reachability": [1, 2, 5, 10, 20, 25, 50, 100],
    "reachability,waypoint": [2, 4, 10, 20, 50, 100],
    "loadbalancing,reachability,waypoint": [3, 9, 33, 99],
}
CONFLICT_MIXES = ("loadbalancing,reachability,waypoint",)  # run_benchmark.sh: 1b on all three

def data_dir() -> Path:
    """The data set's folder; a ConfigError (one line: where netft looked, how to build it)
    when it is missing or incomplete."""
    from netft.errors import ConfigError
    from netft.data.external import find, missing_message

    root = find(NAME)
    if root is None:
        raise ConfigError(missing_message(NAME, HOW))
    for name in (POLICIES, PROMPTS, STATEMENTS):
        if not (root / name).is_file():
            raise ConfigError(f"external data set {NAME!r} at {root} lacks {name} (built by "
                              f"an older netft?); re-run the import: {HOW}")
    return root


def _incomplete(root: Path, name: str, what: str):
    from netft.errors import ConfigError

    return ConfigError(f"external data set {NAME!r}: {root / name} lacks {what} (built by an "
                       f"older netft?); re-run the import: {HOW}")


# Cached per folder: tests point NETFT_EXTERNAL_DATA at different data sets in one process.
@lru_cache(maxsize=4)
def _policy_csv(root: Path) -> str:
    with gzip.open(root / POLICIES, "rt", encoding="utf-8") as fh:
        return fh.read()


@lru_cache(maxsize=4)
def _prompts(root: Path) -> dict:
    data = json.loads((root / PROMPTS).read_text(encoding="utf-8"))
    missing = [k for k in USER_KEYS if not isinstance(data.get("user", {}).get(k), str)]
    if missing:
        raise _incomplete(root, PROMPTS, f'the key "user" with {", ".join(missing)}')
    return data


@lru_cache(maxsize=4)
def _statements(root: Path) -> dict:
    data = json.loads((root / STATEMENTS).read_text(encoding="utf-8"))
    for kind in STATEMENT_TYPES:
        texts = data.get(kind)
        if not (isinstance(texts, list) and texts and all(isinstance(t, str) for t in texts)):
            raise _incomplete(root, STATEMENTS, f"a list of templates under {kind!r}")
    return data


def policy_csv() -> str:
    return _policy_csv(data_dir())


def prompts() -> dict:
    return _prompts(data_dir())


def statements() -> dict:
    return _statements(data_dir())


def load_policies(mix: tuple[str, ...]) -> list[dict]:
    """Rows of the policy table whose type is in the mix. Reachability and waypoint rows must
    hold and not start at their own waypoint; load-balancing rows are taken as they are."""
    rows = []
    for row in csv.DictReader(io.StringIO(policy_csv())):
        kind = row["type"].replace("PolicyType.", "").replace("Simple", "").lower()
        if kind not in mix:
            continue
        if kind == "loadbalancing":
            rows.append({"type": kind, "source": row["Sources"], "subnet": row["subnet"],
                         "specifics": int(row["specifics"])})
        elif row["Status"] == "PolicyStatus.HOLDS" and row["Sources"] != row["specifics"]:
            rows.append({"type": kind, "source": row["Sources"], "subnet": row["subnet"],
                         "specifics": row["specifics"]})
    return rows


def pick(n: int, policies: list[dict], rng: random.Random, mix: tuple[str, ...]) -> list[dict]:
    """The run's n requirements: a seeded shuffle; with waypoints, each waypoint comes with the
    reachability (and load balancing) of the same source and subnet."""
    keys = [rng.random() for _ in policies]  # sorted() computes its keys in list order
    shuffled = [policies[i] for i in sorted(range(len(policies)), key=keys.__getitem__)]
    if mix == ("reachability",):
        return [p for p in shuffled if p["type"] == "reachability"][:n]
    per_type = math.ceil(n / len(mix))
    out: list = []
    for wp in [p for p in shuffled if p["type"] == "waypoint"][:per_type]:
        same = [p for p in policies if p["type"] == "reachability"
                and p["source"] == wp["source"] and p["subnet"] == wp["subnet"]]
        out.append(same[-1] if same else None)
        out.append(wp)
        if "loadbalancing" in mix:
            lbs = [p for p in policies if p["type"] == "loadbalancing"
                   and p["source"] == wp["source"] and p["subnet"] == wp["subnet"]]
            if lbs:
                lb = lbs[-1]
            else:  # another subnet's row, rewritten in place (kept for later runs)
                lb = [p for p in policies if p["type"] == "loadbalancing"
                      and p["source"] == wp["source"]][-1]
                lb["subnet"] = wp["subnet"]
            out.append(lb)
    return out[:n]


def chunks(samples: list, size: int) -> list[list]:
    if len(samples) < size:
        return [samples]  # the list itself, not a copy (see the module docstring)
    return [samples[i:i + size] for i in range(0, len(samples), size)]


def expected_spec(batch: list[dict]) -> dict:
    spec: dict = {"reachability": {}, "waypoint": {}, "loadbalancing": {}}
    for req in batch:
        key = f'({req["source"]},{req["subnet"]})'
        if req["type"] == "reachability":
            spec["reachability"].setdefault(req["source"], []).append(req["subnet"])
        elif req["type"] == "waypoint":
            spec["waypoint"].setdefault(key, []).append(req["specifics"])
        elif req["type"] == "loadbalancing":
            spec["loadbalancing"][key] = int(req["specifics"])
    return spec


def sentences(batch: list[dict], rng: random.Random) -> list[str]:
    templates = statements()
    out = []
    for req in batch:
        text = rng.choice(templates[req["type"]])
        out.append(text.replace("{source}", req["source"]).replace("{subnet}", req["subnet"])
                   .replace("{specifics}", str(req["specifics"])))
    return out


def insert_conflict(batch: list[dict], rng: random.Random) -> None:
    """A contradicting twin of a random requirement, inserted before it."""
    i = rng.randint(0, len(batch) - 1)
    twin = copy.copy(batch[i])
    if twin["type"] in ("reachability", "waypoint"):
        twin["type"] = "no_" + twin["type"]
    elif twin["type"] == "loadbalancing":
        twin["specifics"] += 1
    batch.insert(i, twin)


def batches(mix: str, runs: int, batch_sizes: list[int], conflict: bool = False) -> list[dict]:
    """Every batch of a policy mix over `runs` runs, in the benchmark's order:
    {"run", "chunk", "batch_size", "n_policy_types", "max_n_requirements", "mix",
     "sentences", "expected", ["conflict"]}."""
    types = tuple(sorted(mix.split(",")))
    policies = load_policies(types)  # loaded once per mix: pick() mutates it across runs
    total = max(batch_sizes) * len(types)
    out = []
    for run in range(runs):
        rng = random.Random(5000 + run)
        samples = pick(total, policies, rng, types)
        for bs in batch_sizes:
            parts = chunks(samples, bs * len(types))
            if conflict and len(parts) == 1:  # one batch would have no conflict-free twin
                parts.append(copy.deepcopy(parts[0]))
            flag = True
            for i, part in enumerate(parts):
                if conflict and flag:
                    insert_conflict(part, rng)
                row = {"run": run, "chunk": i, "batch_size": bs, "n_policy_types": len(types),
                       "max_n_requirements": total, "mix": ",".join(types),
                       "expected": expected_spec(part), "sentences": sentences(part, rng)}
                if conflict:
                    row["conflict"] = flag
                    flag = not flag
                out.append(row)
    return out
