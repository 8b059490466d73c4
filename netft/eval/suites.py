"""Published benchmark suites (e.g. a domain's external yardstick), behind one small contract.

The core knows only `Suite` and `run_suite`; it never imports a suite by name. A suite is a
module exposing `SUITE = Suite(...)`, found by `load`:

    NAME        netft/domains/<pack>/suites/NAME (a suite shipped with a domain pack; looked
                up on disk, so no pack is imported until one holds the suite)
    my.module   any importable module with a SUITE

A suite brings its requests (prompt messages per item), its sampling settings, its scorer and
its table; netft brings batched generation under any backend (netft/eval/generate.py),
retries where the benchmark asks again, per-item predictions, intervals and tracking.
Chosen by `netft eval --suite NAME` or `eval.suites=[NAME]` in a training run.
"""
from __future__ import annotations

import importlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from netft.distributed import DistInfo
from netft.eval.generate import generate_answers


@dataclass(frozen=True)
class Suite:
    name: str
    citation: str  # printed with every result: users compare with the paper's numbers
    # (runs, limit) -> items, each {"id", "task", "run", "messages": [system/user...], ...}.
    requests: Callable[..., list[dict]]
    # (items, replies, mode) -> {"overall": {"score", ...}, "items": [per-item scores], ...}.
    score: Callable[..., dict]
    format_table: Callable[[dict], str]
    # (item, reply) -> does the benchmark ask the model again?
    retry: Callable[[dict, str], bool] = lambda item, reply: False
    generation: dict | None = None  # sampling kwargs of model.generate (None: greedy)
    max_length: int = 0  # prompt + answer tokens per request, as the benchmark caps them
    attempts: int = 1  # the benchmark's attempts per request when retry() says so
    modes: tuple[str, ...] = ("faithful",)  # scorer modes; the first is the default
    oracle: Callable[[dict], str] | None = None  # the reference reply (scorer tests)
    report_columns: tuple[tuple[str, str], ...] = ()  # overall keys `netft report` shows
    # Raises ConfigError (one line: what is missing, where netft looked, how to get it) when
    # the suite cannot run here, e.g. its external data set (netft/data/external.py) is
    # absent; `load` calls it, so a run fails before any model is loaded.
    check: Callable[[], None] | None = None
    # `netft suite import NAME SOURCE --out DIR [--published DIR]`: builds the suite's
    # external data set under DIR from the user's own copy of the benchmark (never imports or
    # runs the benchmark's code); returns the data set's folder.
    importer: Callable[[Path, Path, Path | None], Path] | None = None


def load(name: str, check: bool = True) -> Suite:
    """The suite `name`; with check, also what it needs to run (Suite.check)."""
    from netft.errors import ConfigError

    if "." in name:
        module = name
    else:
        root = Path(__file__).resolve().parents[1] / "domains"
        found = sorted(p.parent.parent.parent.name
                       for p in root.glob(f"*/suites/{name}/__init__.py"))
        found += sorted(p.parent.parent.name for p in root.glob(f"*/suites/{name}.py"))
        if not found:
            known = sorted({p.name.removesuffix(".py") for p in root.glob("*/suites/*")
                            if not p.name.startswith("_")})
            raise ConfigError(f"suite {name!r}: not found in netft/domains/*/suites/ "
                              f"(known: {', '.join(known) or 'none'}); or name a module "
                              "that defines SUITE")
        module = f"netft.domains.{found[0]}.suites.{name}"
    suite = getattr(importlib.import_module(module), "SUITE", None)
    if not isinstance(suite, Suite):
        raise ConfigError(f"suite {name!r}: {module} defines no SUITE = Suite(...)")
    if check and suite.check is not None:
        suite.check()
    return suite


def _generate(model, tokenizer, suite: Suite, items: list[dict], info: DistInfo,
              batch_size: int, max_new_tokens: int, seed: int) -> list[str]:
    rows = [{"messages": it["messages"] + [{"role": "assistant", "content": ""}]}
            for it in items]
    torch.manual_seed(seed)  # the same on every rank: sampling stays in lockstep
    return generate_answers(model, tokenizer, rows, info, max_new_tokens, batch_size,
                            desc=f"{suite.name} (seed {seed})", sampling=suite.generation,
                            max_length=suite.max_length)


def run_suite(model, tokenizer, suite: Suite, info: DistInfo, out_dir: Path | None, *,
              runs: int = 5, limit: int = 0, mode: str | None = None, batch_size: int = 16,
              max_new_tokens: int = 0, attempts: int | None = None, seed: int = 0,
              replies_fn: Callable[[list[dict]], list[str]] | None = None) -> dict | None:
    """Generate (every rank), score and save (rank 0): the scored result on rank 0, None on
    the others. replies_fn replaces the model (the tests' oracle and garbage models).
    max_new_tokens 0: up to the suite's max_length, as the benchmark."""
    mode = mode or suite.modes[0]
    if mode not in suite.modes:
        from netft.errors import ConfigError

        raise ConfigError(f"suite {suite.name}: mode {mode!r} is not one of {suite.modes}")
    attempts = suite.attempts if attempts is None else max(1, attempts)
    start = time.time()
    items = suite.requests(runs=runs, limit=limit)
    cap = max_new_tokens or suite.max_length or 512

    def answer(subset: list[dict], attempt: int) -> list[str]:
        if replies_fn is not None:
            return replies_fn(subset)
        out = [""] * len(subset)
        for run in sorted({it["run"] for it in subset}):  # one seed per run and attempt
            idx = [i for i, it in enumerate(subset) if it["run"] == run]
            got = _generate(model, tokenizer, suite, [subset[i] for i in idx], info,
                            batch_size, cap, seed + 5000 + run + 1000 * attempt)
            for i, text in zip(idx, got):
                out[i] = text
        return out

    replies = answer(items, 0)
    tries = [1] * len(items)
    for attempt in range(1, attempts):
        again = [i for i, (it, r) in enumerate(zip(items, replies)) if suite.retry(it, r)]
        if not again:
            break
        for i, text in zip(again, answer([items[i] for i in again], attempt)):
            replies[i], tries[i] = text, tries[i] + 1
    if not info.is_main:
        return None
    results = {m: suite.score(items, replies, m, seed=seed) for m in suite.modes}
    result = results[mode]
    summary = {"suite": suite.name, "citation": suite.citation, "mode": mode, "runs": runs,
               "limit": limit, "attempts": attempts, "max_new_tokens": cap,
               "generation": suite.generation, "seconds": round(time.time() - start, 1),
               "overall": result["overall"], "tasks": result["tasks"],
               "other_modes": {m: {"overall": r["overall"], "tasks": r["tasks"]}
                               for m, r in results.items() if m != mode}}
    if out_dir is not None:
        save(Path(out_dir), items, replies, tries, results, summary, suite)
    return {**summary, "items": result["items"], "table": suite.format_table(result)}


def save(out: Path, items, replies, tries, results: dict, summary: dict, suite: Suite) -> None:
    """predictions.jsonl (one line per request: the request, the expected answer, the raw
    reply, how it parsed and its score in every mode), summary.json, table.txt."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "predictions.jsonl", "w") as fh:
        for i, (it, reply) in enumerate(zip(items, replies)):
            row = {k: v for k, v in it.items() if k not in ("sentences",)}
            row["reply"], row["attempts"] = reply, tries[i]
            row["scores"] = {m: r["items"][i] for m, r in results.items()}
            fh.write(json.dumps(row, default=str) + "\n")
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    (out / "table.txt").write_text(suite.format_table(results[summary["mode"]]) + "\n")


def flat_metrics(result: dict, prefix: str) -> dict:
    """The overall numbers as flat keys (intervals as _lo/_hi) for metrics.jsonl and W&B."""
    flat = {}
    for k, v in result["overall"].items():
        if k.endswith("_ci"):
            if v:
                flat[f"{prefix}/{k[:-3]}_lo"], flat[f"{prefix}/{k[:-3]}_hi"] = v
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            flat[f"{prefix}/{k}"] = v
    return flat


def wandb_table(result: dict, path: Path):
    """A W&B table of the per-item predictions (read back from predictions.jsonl)."""
    import wandb

    cols = ["id", "task", "run", "batch_size", "request", "expected", "reply", "parsed",
            "why", "score"]
    table = wandb.Table(columns=cols)
    for line in (path / "predictions.jsonl").read_text().splitlines():
        row = json.loads(line)
        sc = row["scores"][result["mode"]]
        value = float(sc.get("accuracy", sc.get("detected")))  # 1b: detected as 0/1
        table.add_data(row["id"], row["task"], row["run"], row["batch_size"],
                       row["messages"][-1]["content"], json.dumps(row.get("expected")),
                       row["reply"], json.dumps(sc.get("parsed"), default=str),
                       sc.get("why", ""), value)
    return table


def run_configured(model, tokenizer, cfg, info: DistInfo, run_dir: Path, tag: str, tracker,
                   step: int, say=print) -> dict:
    """The run's eval.suites on the current weights (every rank generates; rank 0 scores,
    saves to <run_dir>/eval/suites/<name>/<tag> and logs): {name: overall} on rank 0."""
    out = {}
    for name in cfg.eval.suites:
        suite = load(name)
        result = run_suite(model, tokenizer, suite, info,
                           Path(run_dir) / "eval" / "suites" / suite.name / tag,
                           runs=cfg.eval.suite_runs, limit=cfg.eval.suite_limit,
                           batch_size=cfg.eval.gen_batch_size,
                           max_new_tokens=cfg.eval.suite_max_new_tokens, seed=cfg.train.seed)
        if result is None:
            continue
        out[suite.name] = result["overall"]
        tracker.log(flat_metrics(result, f"suites/{suite.name}/{tag}"), step)
        if tracker.wandb_run is not None:
            path = Path(run_dir) / "eval" / "suites" / suite.name / tag
            tracker.wandb_run.log({f"suites/{suite.name}/{tag}/predictions":
                                   wandb_table(result, path)}, step=step)
        say(f"[netft] {suite.name} ({tag}): {suite.citation}\n{result['table']}")
    return out
