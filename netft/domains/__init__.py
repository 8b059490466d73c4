"""Domain packs: what "domain skill" means for a dataset, behind one small contract.

The core (train.py, eval/review.py, cli.py, report.py) knows only `Domain` below and `score`;
it never imports a pack by name. A pack is a module exposing `DOMAIN = Domain(...)`; the run
picks it with `data.domain_pack` (set by the data preset), resolved by `load`:

    chat       netft.domains.chat (the default: any chat dataset, exact/overlap/abstention)
    NAME       netft.domains.NAME (the network-engineering showcase, the small arith pack),
               else a top-level module NAME (a user's my_pack.py on PYTHONPATH)
    my.module  any importable module with a DOMAIN (a user's own pack; see docs/domains.md)

Plain functions in a frozen dataclass, no base class to inherit: a pack reuses the chat
domain's pieces by calling them (netft/domains/chat.py).
"""
from __future__ import annotations

import importlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable


def _no_details(items: list[dict]) -> dict:
    return {}


def _no_columns(row: dict) -> dict:
    return {}


def _no_requirements(rows: list[dict]) -> None:
    return None


def _no_near_domain() -> dict[str, str]:
    return {}


def _no_docs() -> list[str]:
    return []


class DataUnavailable(Exception):
    """Optional text a pack reads from elsewhere (an installed package) is not on this
    machine; the message says how to get it. The run goes on without what needs it."""


@dataclass(frozen=True)
class Domain:
    name: str
    # Test rows -> the rows a generative eval scores, each with a "category".
    eval_rows: Callable[[list[dict]], list[dict]]
    # (row, prediction) -> {"id", "category", "scores": {metric: float}, "errors": [str]}.
    score_item: Callable[[dict, str], dict]
    # scored items -> (per-category numbers, overall numbers with a "score" headline in
    # [0, 1]); also what the bootstrap resamples, so it must depend on the items only.
    aggregate: Callable[[list[dict]], tuple[dict, dict]]
    # score()'s result -> the fixed-width table printed and saved as table.txt.
    format_table: Callable[[dict], str]
    # scored items -> extra keys of the result (kept out of "categories" so those stay numeric).
    details: Callable[[list[dict]], dict] = _no_details
    # row -> extra columns of the human-review sheet (after the reviewer's columns).
    review_columns: Callable[[dict], dict] = _no_columns
    # Test rows -> None, or ConfigError naming what this machine lacks to score them.
    preflight: Callable[[list[dict]], None] = _no_requirements
    # Overall keys the cross-run report shows as columns: ((key, column header), ...).
    report_columns: tuple[tuple[str, str], ...] = ()
    # () -> {name: text}: real text close to the domain but outside the training data (e.g.
    # other platforms' configurations), for the near-domain forgetting probe
    # (eval.near_domain); {} for none; raises DataUnavailable when its source is missing.
    near_domain: Callable[[], dict[str, str]] = _no_near_domain
    # () -> texts of the domain's kind, never a held-out item: the tiny base's domain
    # pre-training stage reads them (TinySpec.domain_pack), standing in for what a real base
    # model has read before anyone fine-tunes it.
    pretrain_docs: Callable[[], list[str]] = _no_docs
    # TinySpec fields of a tiny base pre-trained for this pack (with its pretrain_docs), built
    # by `netft build-tiny --domain NAME --out DIR`; None: the pack has none.
    base_spec: dict | None = None
    # Threads for score_item: > 1 where scoring waits on subprocesses (a verifier's binary).
    workers: int = 1


def module_names(name: str) -> list[str]:
    """Where a pack name is looked for, in order: a short name in netft/domains/ first, then as
    a top-level module (a my_pack.py on PYTHONPATH); a dotted name is any importable module."""
    return [name] if "." in name else [f"netft.domains.{name}", name]


def load(name: str) -> Domain:
    """The pack named by data.domain_pack (imported only now, so unused packs stay unloaded)."""
    from netft.errors import ConfigError

    module = None
    for mod in module_names(name):
        try:
            module = importlib.import_module(mod)
            break
        except ModuleNotFoundError as e:
            if not (e.name == mod or mod.startswith(f"{e.name}.")):  # not the pack: its imports
                raise
    if module is None:
        raise ConfigError(f"data.domain_pack={name}: no module "
                          f"{' and no module '.join(module_names(name))}; use a pack in "
                          "netft/domains or an importable module (on PYTHONPATH) that defines "
                          "DOMAIN")
    domain = getattr(module, "DOMAIN", None)
    if not isinstance(domain, Domain):
        raise ConfigError(f"data.domain_pack={name}: {mod} defines no DOMAIN = Domain(...) "
                          "(netft.domains.Domain)")
    return domain


def configured(cfg) -> Domain:
    """The run's pack (cfg: a DictConfig or a run's config.yaml as a dict): data.domain_pack,
    or chat for a config written before packs."""
    return load((cfg.get("data") or {}).get("domain_pack") or "chat")


def score(domain: Domain, rows: list[dict], predictions: list[str] | dict[str, str]) -> dict:
    """Score predictions (a list aligned with rows, or a dict id -> text):
    {"categories", "overall", "items", **domain.details(items)}."""
    if isinstance(predictions, dict):
        preds = [predictions.get(r["id"], "") for r in rows]
    else:
        preds = list(predictions)
        if len(preds) != len(rows):
            raise ValueError(f"{len(preds)} predictions for {len(rows)} rows")
    workers = min(domain.workers, (os.cpu_count() or 2) * 2)
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as ex:
            items = list(ex.map(domain.score_item, rows, preds))
    else:
        items = list(map(domain.score_item, rows, preds))
    categories, overall = domain.aggregate(items)
    return {"categories": categories, "overall": overall, "items": items,
            **domain.details(items)}
