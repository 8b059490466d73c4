"""NetConfEval (Wang et al., Proc. ACM Netw. / CoNEXT 2024) step 1, run offline by netft.

    requests.py  the request sets, regenerated from the benchmark's policy table (external
                 data set `netconfeval`: netft does not ship it)
    importer.py  builds that data set from the user's clone of the benchmark
    scoring.py   per-reply scoring, faithful to the upstream scripts or corrected
    here         the suite (netft.eval.suites.Suite): prompts, aggregates with intervals,
                 the table

Tasks: 1a requirements -> JSON formal spec; 1b conflict detection; 1c requirements -> ad-hoc
function calls. Task 2 (routing code) and task 3 (FRR configurations) are not run: see
docs/netconfeval.md.
"""
from __future__ import annotations

import json
from collections import defaultdict

from netft.eval.stats import fmt_ci, mean_ci, nested_bootstrap_ci

from . import importer
from . import requests as R
from . import scoring as S

CITATION = ('NetConfEval: Wang, Scazzariello, Farshin, Ferlin, Kostic, Chiesa, "NetConfEval: '
            'Can LLMs Facilitate Network Configuration?", Proc. ACM Netw. 2(CoNEXT2), 2024, '
            'doi:10.1145/3656296 (github.com/RedHatResearch/NetConfEval)')
TASKS = {"1a": "formal-spec translation", "1b": "conflict detection",
         "1c": "function calls (ad-hoc)"}
# The benchmark's Hugging Face runner: sampling at temperature 0.01, top_p 1, and at most 4096
# tokens of prompt plus answer (max_length of its text-generation pipeline).
GENERATION = {"do_sample": True, "temperature": 0.01, "top_p": 1.0}
MAX_LENGTH = 4096
ATTEMPTS = 10  # chain_step.py: a 1a/1b reply that is not JSON or lacks a key is asked again


def _system(parts: list[str]) -> str:
    # The HF/Ollama path of the benchmark joins its system prompts with newlines into one
    # system message (OpenAI models get them as separate messages).
    return "\n".join(parts)


def messages(item: dict) -> list[dict]:
    p = R.prompts()
    text = " ".join(item["sentences"])
    if item["task"] in ("1a", "1b"):
        t = p["translation"][item["mix"]] if item["task"] == "1a" else p["conflict"]
        return [{"role": "system", "content": _system([t["setup"], t["function"], t["ask"]])},
                {"role": "user", "content": p["user"]["spec"] + text}]
    t = p["function_call_adhoc"]
    parts = [t["setup"]] + [t[k] for k in ("reachability", "waypoint", "loadbalancing")
                            if k in item["mix"].split(",")] + [t["ask"]]
    return [{"role": "system", "content": _system(parts)},
            {"role": "user", "content": p["user"]["function_call_adhoc"] + text}]


def build_requests(runs: int = 5, limit: int = 0, tasks=("1a", "1b", "1c")) -> list[dict]:
    """Every request of the chosen tasks over `runs` seeded runs (run r draws with seed
    5000 + r, as the benchmark). limit > 0 keeps that many per task and run, taken round-robin
    over the (policy mix, batch size) cells so a smoke run still touches every cell."""
    items = []
    for task in tasks:
        mixes = R.CONFLICT_MIXES if task == "1b" else tuple(R.EVAL_BATCH_SIZES)
        per_run: dict[int, list[list[dict]]] = defaultdict(list)
        for mix in mixes:
            rows = R.batches(mix, runs, R.EVAL_BATCH_SIZES[mix], conflict=task == "1b")
            cells: dict[tuple, list[dict]] = defaultdict(list)
            for row in rows:
                cells[(row["run"], row["batch_size"])].append(row)
            for (run, _bs), cell in cells.items():
                for row in cell:
                    row["n_chunks"] = len(cell)
                per_run[run].append(cell)
        for run in sorted(per_run):
            ordered = [r for group in _round_robin(per_run[run]) for r in group]
            for row in ordered[:limit or None]:
                row["task"] = task
                row["id"] = (f"{task}/run{run}/{row['mix']}/bs{row['batch_size']}/"
                             f"chunk{row['chunk']}")
                row["messages"] = messages(row)
                items.append(row)
    return items


def _round_robin(cells: list[list[dict]]):
    width = max(map(len, cells))
    for i in range(width):
        yield [c[i] for c in cells if i < len(c)]


def wants_retry(item: dict, reply: str) -> bool:
    """Does the benchmark ask the model again after this reply (1a/1b)?"""
    return item["task"] in ("1a", "1b") and S.parse_reply(reply, item["task"] == "1b")["kind"] \
        == "retry"


def score_item(item: dict, reply: str, mode: str) -> dict:
    if item["task"] == "1a":
        return S.score_translation(item["expected"], reply, mode)
    if item["task"] == "1b":
        return S.score_conflict(reply)
    return S.score_function_calls(item["expected"], reply, mode)


def oracle_reply(item: dict) -> str:
    """What a perfect model answers: the test's reference for the scorer."""
    exp = item["expected"]
    if item["task"] == "1a":
        return json.dumps({"status": "ok", "result": exp})
    if item["task"] == "1b":
        return json.dumps({"status": "error", "reason": "contradicting requirements"}
                          if item["conflict"] else {"status": "ok", "result": "no conflict"})
    calls = [f'add_reachability("{src}", "{p}")' for src, ps in exp["reachability"].items()
             for p in ps]
    for key, wps in exp["waypoint"].items():
        src, p = key[1:-1].split(",", 1)
        calls += [f'add_waypoint("{src}", "{p}", ["{w}"])' for w in wps]
    for key, n in exp["loadbalancing"].items():
        src, p = key[1:-1].split(",", 1)
        calls.append(f'add_load_balance("{src}", "{p}", {n})')
    return "\n".join(calls)


# ----------------------------------------------------------------- aggregates
def _cells(items: list[dict], scores: list[dict], task: str):
    """{(mix, batch_size): {run: [(item, score)]}} of one task."""
    cells: dict = defaultdict(lambda: defaultdict(list))
    for it, sc in zip(items, scores):
        if it["task"] == task:
            cells[(it["mix"], it["batch_size"])][it["run"]].append((it, sc))
    return cells


def _accuracy_value(mode):
    def value(pairs):
        it = pairs[0][0]
        bs, max_bs = it["batch_size"], it["max_n_requirements"] // it["n_policy_types"]
        accs = [sc["accuracy"] for _, sc in pairs]
        # Upstream's formula needs every batch of the run (a --limit run has fewer).
        m = mode if len(pairs) == it["n_chunks"] else S.CORRECTED
        return S.cell_accuracy(accs, bs, max_bs, m)
    return value


def _detection_value(mode, metric):
    def value(pairs):
        return S.detection_metrics([(it["conflict"], sc["detected"]) for it, sc in pairs],
                                   mode)[metric]
    return value


def _summarise(cells: dict, value, seed: int) -> tuple[dict, dict]:
    """Per cell and overall (mean over cells): mean over runs, t interval over runs and a
    nested bootstrap interval (runs, then items within each cell)."""
    keys = sorted(cells, key=lambda k: (len(k[0].split(",")), k[0], k[1]))
    runs = sorted({r for c in cells.values() for r in c})
    per_cell = {}
    for key in keys:
        per_run = [value(cells[key][r]) for r in runs if cells[key].get(r)]
        t = mean_ci(per_run)
        groups = [[cells[key][r]] for r in runs if cells[key].get(r)]
        boot = nested_bootstrap_ci(groups, lambda _s, xs: value(xs), seed=seed)
        per_cell[f"{key[0]}@{key[1]}"] = {"value": t.mean, "ci": boot,
                                          "runs_ci": [t.lo, t.hi], "runs": t.n,
                                          "items": sum(len(v) for v in cells[key].values())}
    run_values = []
    for r in runs:
        vals = [value(cells[k][r]) for k in keys if cells[k].get(r)]
        run_values.append(sum(vals) / len(vals))
    t = mean_ci(run_values)
    groups = [[cells[k].get(r, []) for k in keys] for r in runs]
    overall = {"value": t.mean, "runs_ci": [t.lo, t.hi], "runs": t.n,
               "ci": nested_bootstrap_ci(groups, lambda _s, xs: value(xs), seed=seed),
               "items": sum(len(g) for row in groups for g in row)}
    return per_cell, overall


def score(items: list[dict], replies: list[str], mode: str = S.FAITHFUL,
          seed: int = 0) -> dict:
    """{"mode", "tasks": {task: {metric: {"overall", "cells"}}}, "overall": {"score", ...},
    "items": [per-item scores]}; "score" is netft's one-number summary: the mean of 1a
    accuracy, 1b F1 and 1c accuracy over the tasks run (not a number of the paper)."""
    scores = [score_item(it, r, mode) for it, r in zip(items, replies)]
    tasks: dict = {}
    for task in TASKS:
        cells = _cells(items, scores, task)
        if not cells:
            continue
        if task == "1b":
            metrics = {m: _detection_value(mode, m) for m in
                       ("f1", "accuracy", "precision", "recall")}
        else:
            metrics = {"accuracy": _accuracy_value(mode)}
        tasks[task] = {}
        for name, fn in metrics.items():
            per_cell, overall = _summarise(cells, fn, seed)
            tasks[task][name] = {"overall": overall, "cells": per_cell}
    headline = {"1a": ("accuracy", "translation_accuracy"), "1b": ("f1", "conflict_f1"),
                "1c": ("accuracy", "function_call_accuracy")}
    overall = {"mode": mode, "n": len(items)}
    for task, (metric, key) in headline.items():
        if task in tasks:
            o = tasks[task][metric]["overall"]
            overall[key], overall[key + "_ci"] = o["value"], o["ci"]
    if "1b" in tasks:
        for m in ("accuracy", "precision", "recall"):
            overall[f"conflict_{m}"] = tasks["1b"][m]["overall"]["value"]
    parts = [overall[k] for _, k in headline.values() if k in overall]
    overall["score"] = sum(parts) / len(parts) if parts else None
    overall["parse_failures"] = sum(sc.get("kind") not in ("spec", "error") for sc in scores)
    overall["upstream_raises"] = sum(bool(sc.get("upstream_raises")) for sc in scores)
    return {"mode": mode, "tasks": tasks, "overall": overall, "items": scores}


def format_table(result: dict) -> str:
    lines = [f"NetConfEval step 1 ({result['mode']} scoring; {CITATION})",
             f"{'task':<36}{'cell (mix @ batch size)':<44}{'value [95% CI runs x items]':>30}"]
    for task, metrics in result["tasks"].items():
        for metric, block in metrics.items():
            label = f"{task} {TASKS[task]}: {metric}"
            o = block["overall"]
            lines.append(f"{label:<36}{'all cells (mean)':<44}"
                         f"{fmt_ci(o['value'], o['ci'], 100):>30}")
            for cell, v in block["cells"].items():
                lines.append(f"{'':<36}{cell:<44}{fmt_ci(v['value'], v['ci'], 100):>30}")
    o = result["overall"]
    lines.append(f"score (netft summary: mean of 1a acc, 1b F1, 1c acc): "
                 f"{fmt_ci(o['score'], None, 100)}; replies the benchmark cannot parse: "
                 f"{o['parse_failures']} of {o['n']}")
    return "\n".join(lines)


def _suite():
    from netft.eval.suites import Suite

    return Suite(name="netconfeval", citation=CITATION, requests=build_requests,
                 score=score, format_table=format_table, retry=wants_retry,
                 generation=GENERATION, max_length=MAX_LENGTH, attempts=ATTEMPTS,
                 modes=S.MODES, oracle=oracle_reply, check=R.data_dir,
                 importer=importer.build,
                 report_columns=(("translation_accuracy", "NCE 1a acc"),
                                 ("conflict_f1", "NCE 1b F1"),
                                 ("function_call_accuracy", "NCE 1c acc")))


SUITE = _suite()
