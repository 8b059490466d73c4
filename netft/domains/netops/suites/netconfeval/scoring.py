"""NetConfEval step-1 scoring: netft's own code, written to give the numbers the benchmark's
scripts give on the same replies (mode "faithful"), and a "corrected" mode for its bugs.

Reading the upstream path of one reply (netconfeval/foundation/step/chain_step.py,
formatters/formatters.py, common/utils.py, step_1_*.py, extractor/data_extractor.py):

1a/1b reply -> json.loads; a JSON error, or no "status"/"result" key, makes upstream ask again
   (up to 10 attempts, then the batch fails); "status" == "error" (any case) means "conflict
   found" (1b) or a failed batch (1a); a non-object reply or a non-string status stops the
   batch (its "model_error"). 1a's "result" may be the spec object or a JSON string of it.
1c reply -> code fences stripped; regex `(\\w+)\\(([^)]+)\\)` finds calls; arguments are the
   double-quoted strings (load balancing: two strings and an integer); a call whose argument
   count does not fit is silently dropped.
Then the keys of "waypoint" and "loadbalancing" lose their spaces ("(a, b)" -> "(a,b)") and
every expected requirement counts as found or not: accuracy = found / expected. Extra keys do
not lower accuracy (they only count as "wrong").

Quirks reproduced in faithful mode (and what corrected mode does):
- waypoint: only the "(source,prefix)" key is checked; the listed waypoints are never compared
  (upstream tests a generator object, which is always true). Corrected: every expected
  waypoint must be in the reply's list.
- membership uses Python's `in`, so a string where a list belongs matches substrings
  ("100.0.4.0/24" in "100.0.4.0/245"). Corrected: only lists count.
- replies whose structure makes upstream's comparison raise (e.g. "reachability" given as a
  list, a spec that is a number) stop upstream's run; here they score 0 and are flagged
  `upstream_raises` (both modes).
- 1c: a waypoint call with two or more waypoints is dropped. Corrected: all are kept.
- 1b F1 is 1 when precision and recall are both 0 (a model flagging only the conflict-free
  batches); precision is 1 when nothing is flagged, recall 1 when no batch has a conflict.
  Corrected: F1 0 in the first case (precision/recall conventions kept).
- 1a/1c accuracy of a batch size in a run is sum(batch accuracy) x batch_size / max batch size,
  which is the mean over its batches whenever they fill the sample (always, at the
  benchmark's sizes). Corrected: the plain mean.
"""
from __future__ import annotations

import copy
import json
import re

FAITHFUL, CORRECTED = "faithful", "corrected"
MODES = (FAITHFUL, CORRECTED)


# ----------------------------------------------------------------- replies -> a spec
def parse_reply(raw: str, conflict_task: bool = False) -> dict:
    """One 1a/1b reply as upstream reads it: {"kind", "result", "why"}, kind one of
    spec (a result to compare), error (status "error": a conflict reported), retry (upstream
    would ask again), format_error / model_error (the batch fails)."""
    try:
        out = json.loads(raw)
    except json.JSONDecodeError as e:
        return {"kind": "retry", "result": None, "why": f"not JSON ({e.msg}, char {e.pos})"}
    try:
        status = out["status"]
    except KeyError:
        return {"kind": "retry", "result": None, "why": 'no "status" key'}
    except TypeError:
        return {"kind": "model_error", "result": None,
                "why": f"the reply is a JSON {type(out).__name__}, not an object"}
    if not isinstance(status, str):
        return {"kind": "model_error", "result": None,
                "why": f'"status" is a {type(status).__name__}, not a string'}
    if status.lower() == "error":
        return {"kind": "error", "result": out, "why": 'status "error"'}
    if "result" not in out:
        return {"kind": "retry", "result": None, "why": 'no "result" key'}
    result = out["result"]
    if isinstance(result, dict) or (conflict_task and isinstance(result, str)):
        return {"kind": "spec", "result": result, "why": ""}
    if not isinstance(result, str):
        return {"kind": "model_error", "result": None,
                "why": f'"result" is a {type(result).__name__}, neither an object nor a string'}
    try:
        return {"kind": "spec", "result": json.loads(result), "why": "result was a JSON string"}
    except json.JSONDecodeError as e:
        return {"kind": "format_error", "result": None,
                "why": f'"result" is a string that is not JSON ({e.msg})'}


def _add_reachability(spec: dict, source: str, prefix: str) -> None:
    lst = spec.setdefault("reachability", {}).setdefault(source, [])
    if prefix not in lst:
        lst.append(prefix)


def _add_waypoint(spec: dict, source: str, prefix: str, waypoints: list) -> None:
    lst = spec.setdefault("waypoint", {}).setdefault(f"({source},{prefix})", [])
    for w in waypoints:
        if w not in lst:
            lst.append(w)


def _add_load_balance(spec: dict, source: str, prefix: str, num: int) -> None:
    spec.setdefault("loadbalancing", {}).setdefault(f"({source},{prefix})", num)


CALL = re.compile(r"(\w+)\(([^)]+)\)")
QUOTED = re.compile(r'"(.*?)"')
LOAD_ARGS = re.compile(r'"(.*?)",\s*"(.*?)",\s*(\d+)')


def parse_calls(raw: str, mode: str = FAITHFUL) -> dict:
    """A 1c (ad-hoc function call) reply -> the spec its calls build."""
    text = raw.replace("```json\n", "").replace("```", "").replace("plaintext\n", "")
    spec: dict = {}
    for name, params in CALL.findall(text):
        args = QUOTED.findall(params)
        if name == "add_reachability":
            if len(args) == 2:  # upstream calls with every quoted string: other counts fail
                _add_reachability(spec, *args)
        elif name == "add_waypoint":
            if len(args) < 3:
                continue
            if mode == CORRECTED:
                _add_waypoint(spec, args[0], args[1], args[2:])
            elif len(args) == 3:
                _add_waypoint(spec, args[0], args[1], args[2].strip("][").split(", "))
        elif name == "add_load_balance":
            found = LOAD_ARGS.findall(params)
            if found:
                _add_load_balance(spec, found[0][0], found[0][1], int(found[0][2]))
    return spec


# ----------------------------------------------------------------- a spec -> counts
def _normalised(result):
    new = copy.copy(result)
    for key in ("waypoint", "loadbalancing"):
        if key in result:
            new[key] = {}
            for k, v in result[key].items():
                new[key][k.replace(" ", "")] = v
    return new


def _has_reach(router, subnet, spec, mode) -> bool:
    if "reachability" not in spec:
        return False
    reach = spec["reachability"]
    if router in reach.keys():
        if mode == CORRECTED and not isinstance(reach[router], list):
            return False
        return subnet in reach[router]
    return False


def _has_waypoint(key, switches, spec, mode) -> bool:
    if "waypoint" not in spec:
        return False
    wps = spec["waypoint"]
    if key not in wps:
        return False
    if mode == FAITHFUL:
        return True  # upstream: `key in wps and (generator)` -- the generator is truthy
    return isinstance(wps[key], list) and all(s in wps[key] for s in switches)


def _has_load(key, num, spec) -> bool:
    if "loadbalancing" not in spec:
        return False
    lbs = spec["loadbalancing"]
    return key in lbs and int(lbs[key]) == num


def compare(expected: dict, result, mode: str = FAITHFUL) -> dict:
    """Counts of one batch: {"total", "fail", "wrong", "success", "accuracy"}; raises where
    upstream's comparison raises (the caller scores that 0)."""
    result = _normalised(result)
    n_expected = fail = n_result = wrong = 0
    for router, subnets in expected["reachability"].items():
        for subnet in subnets:
            n_expected += 1
            fail += not _has_reach(router, subnet, result, mode)
    for key, switches in expected["waypoint"].items():
        n_expected += 1
        fail += not _has_waypoint(key, switches, result, mode)
    for key, num in expected["loadbalancing"].items():
        n_expected += 1
        fail += not _has_load(key, num, result)
    if "reachability" in result:
        for router, subnets in result["reachability"].items():
            for subnet in subnets:
                n_result += 1
                if (not _has_reach(router, subnet, expected, mode)
                        and f"({router},{subnet})" not in expected["waypoint"]):
                    wrong += 1
    if "waypoint" in result:
        for key, switches in result["waypoint"].items():
            n_result += 1
            wrong += not _has_waypoint(key, switches, expected, mode)
    if "loadbalancing" in result:
        for key, num in result["loadbalancing"].items():
            n_result += 1
            wrong += not _has_load(key, num, expected)
    return {"total": n_result, "fail": fail, "wrong": wrong, "success": n_expected - fail,
            "accuracy": (n_expected - fail) / n_expected}


def n_expected(expected: dict) -> int:
    return (sum(len(v) for v in expected["reachability"].values())
            + len(expected["waypoint"]) + len(expected["loadbalancing"]))


def failed(expected: dict, why: str, kind: str, raises: bool = False) -> dict:
    return {"kind": kind, "why": why, "parsed": None, "upstream_raises": raises,
            "total": 0, "fail": n_expected(expected), "wrong": 0, "success": 0, "accuracy": 0.0}


def score_spec(expected: dict, result, mode: str) -> dict:
    try:
        counts = compare(expected, result, mode)
    except (TypeError, AttributeError, ValueError, KeyError) as e:
        return {**failed(expected, f"the reply's structure makes upstream's comparison raise "
                         f"{type(e).__name__}: {e}", "unscorable", raises=True), "parsed": result}
    return {"kind": "spec", "why": "", "parsed": result, "upstream_raises": False, **counts}


def score_translation(expected: dict, raw: str, mode: str = FAITHFUL) -> dict:
    """Task 1a, one batch."""
    p = parse_reply(raw)
    if p["kind"] != "spec":
        return failed(expected, p["why"], p["kind"])
    out = score_spec(expected, p["result"], mode)
    if p["why"]:
        out["why"] = "; ".join(x for x in (p["why"], out["why"]) if x)
    return out


def score_conflict(raw: str) -> dict:
    """Task 1b, one batch: detected = a JSON reply with status "error"."""
    p = parse_reply(raw, conflict_task=True)
    return {"kind": p["kind"], "why": p["why"], "parsed": p["result"],
            "detected": p["kind"] == "error"}


def score_function_calls(expected: dict, raw: str, mode: str = FAITHFUL) -> dict:
    """Task 1c (ad-hoc function calls), one batch."""
    spec = parse_calls(raw, mode)
    out = score_spec(expected, spec, mode)
    if not spec:
        out["why"] = "no well-formed add_* call found"
    return out


# ----------------------------------------------------------------- aggregates
def cell_accuracy(accuracies: list[float], batch_size: int, max_batch_size: int,
                  mode: str) -> float:
    """1a/1c: one run's accuracy at one batch size (upstream's plot formula, or the mean)."""
    if mode == FAITHFUL:
        return sum(a * batch_size for a in accuracies) / max_batch_size
    return sum(accuracies) / len(accuracies)


def detection_metrics(pairs: list[tuple[bool, bool]], mode: str) -> dict:
    """1b: (conflict present, detected) pairs of one run at one batch size ->
    accuracy, precision, recall, f1 with upstream's conventions."""
    tp = sum(c and d for c, d in pairs)
    fn = sum(c and not d for c, d in pairs)
    fp = sum(d and not c for c, d in pairs)
    tn = sum(not c and not d for c, d in pairs)
    precision = 1.0 if tp + fp == 0 else tp / (tp + fp)
    recall = 1.0 if tp + fn == 0 else tp / (tp + fn)
    if precision + recall == 0:
        f1 = 1.0 if mode == FAITHFUL else 0.0
    else:
        f1 = 2 * precision * recall / (precision + recall)
    return {"accuracy": (tp + tn) / len(pairs), "precision": precision, "recall": recall,
            "f1": f1, "tp": tp, "fp": fp, "fn": fn, "tn": tn}
