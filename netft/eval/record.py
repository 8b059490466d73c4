"""EvalRecord: what a run measures at one epoch boundary (epoch 0 = the starting model), or at
one interpolation alpha -- the record that eval/epoch.py builds and the training state,
forgetting, study, report, interpolate and the sweep value read.

Its JSON form is flat, the layout runs have always written to summary.json's history, the
checkpoint's train state, metrics and interpolation.json, so old run dirs load unchanged:
scalar fields under their own name; mapping fields flattened under a prefix (val_<statistic>,
kl_<probe>, lm-eval task names bare). An interval (`*_ci`, [lo, hi] or null when none could
be computed) is written whenever its value is.

To add a measured field: declare it below, at the position its key should take in the JSON
(absent = None, never written); from_json/to_json need no change."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

Pair = tuple[float, float]


@dataclass
class EvalRecord:
    alpha: float | None = None  # interpolation.json points only; they carry no epoch/step
    epoch: int | None = None
    step: int | None = None  # optimizer steps taken when measured
    val_loss: float | None = None  # mean loss over the held-out validation set
    val: dict[str, float] = field(default_factory=dict,  # the objective's statistics (DPO)
                                  metadata={"prefix": "val_"})
    general_ppl: float | None = None  # perplexity on general text windows
    general_ppl_ci: Pair | None = field(default=None, metadata={"with": "general_ppl"})
    near_ppl: float | None = None  # perplexity on the domain pack's near-domain text windows
    near_ppl_ci: Pair | None = field(default=None, metadata={"with": "near_ppl"})
    kl: dict[str, float] = field(default_factory=dict,  # KL(base || model) per probe
                                 metadata={"prefix": "kl_"})
    lm_eval: dict[str, float] = field(default_factory=dict,  # accuracy per lm-eval task
                                      metadata={"prefix": ""})  # ...and any key not known here
    general_acc: float | None = None  # the lm-eval tasks' average
    domain_score: float | None = None  # the domain pack's overall score
    domain_score_ci: Pair | None = field(default=None, metadata={"with": "domain_score"})
    domain: dict[str, Any] | None = None  # the domain pack's overall breakdown

    def to_json(self) -> dict:
        out: dict = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if "prefix" in f.metadata:
                out.update({f.metadata["prefix"] + k: v for k, v in value.items()})
            elif value is not None or getattr(self, f.metadata.get("with", f.name)) is not None:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_json(cls, d: dict) -> EvalRecord:
        scalars = {f.name for f in fields(cls) if "prefix" not in f.metadata}
        # longest prefix first: "val_loss" is a field, "val_margin" a statistic, "hellaswag" a task
        mappings = sorted(((f.metadata["prefix"], f.name) for f in fields(cls)
                           if "prefix" in f.metadata), key=lambda p: -len(p[0]))
        kwargs: dict = {name: {} for _, name in mappings}
        for key, value in d.items():
            if key in scalars:
                kwargs[key] = tuple(value) if key.endswith("_ci") and value is not None else value
                continue
            prefix, name = next(p for p in mappings if key.startswith(p[0]))
            kwargs[name][key[len(prefix):]] = value
        return cls(**kwargs)

    def get(self, key: str):
        """A value by its JSON key (a user-named metric, e.g. train.sweep_metric)."""
        return self.to_json().get(key)
