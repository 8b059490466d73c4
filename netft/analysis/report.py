"""`netft report`: learning vs forgetting across runs, per epoch -- HTML + Markdown + plots.

Reads every run under the given directories (a Hydra multirun dir, an outputs/ tree, single
run dirs): their summary.json (per-epoch history, epoch 0 = the base model) and config.yaml.
Learning is measured two ways: the verifier-scored domain score gain, and the drop in
domain validation loss (a smoother signal, and the only one on models too small to write
valid configs). Forgetting is the rise in general held-out perplexity over the base model;
near-domain forgetting the same on real text close to the domain but outside its training
data (the domain pack's, e.g. configurations of platforms the data does not cover).
"""
from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path

import yaml

from netft.eval.record import EvalRecord


Measure = Callable[[EvalRecord], "float | None"]
VAL_LOSS: Measure = attrgetter("val_loss")
GENERAL_PPL: Measure = attrgetter("general_ppl")
DOMAIN_SCORE: Measure = attrgetter("domain_score")


def _kl_general(h: EvalRecord) -> float | None:
    return h.kl.get("general")


KL_GENERAL: Measure = _kl_general
NEAR_PPL: Measure = attrgetter("near_ppl")


def _kl_near(h: EvalRecord) -> float | None:
    return h.kl.get("near")


KL_NEAR: Measure = _kl_near


@dataclass
class Run:
    path: Path
    label: str
    method: str
    config: dict
    history: list[EvalRecord]
    summary: dict = field(default_factory=dict)
    interpolation: list[EvalRecord] = field(default_factory=list)  # netft interpolate's points

    def series(self, value: Measure) -> list[tuple[int, float]]:
        return [(h.epoch, value(h)) for h in self.history if value(h) is not None]

    def base(self, value: Measure):
        return next((value(h) for h in self.history if h.epoch == 0), None)

    def rel_forgetting(self, value: Measure | None = None) -> list[tuple[int, float]]:
        value = value or GENERAL_PPL
        b = self.base(value)
        return [(e, 100 * (v / b - 1)) for e, v in self.series(value)] if b else []

    def near_forgetting(self) -> list[tuple[int, float]]:
        """The rise in near-domain perplexity (eval.near_domain), in percent."""
        return self.rel_forgetting(NEAR_PPL)

    def val_drop(self) -> list[tuple[int, float]]:
        b = self.base(VAL_LOSS)
        return [(e, b - v) for e, v in self.series(VAL_LOSS)] if b is not None else []

    def domain_gain(self) -> list[tuple[int, float]]:
        b = self.base(DOMAIN_SCORE)
        return [(e, 100 * (v - b)) for e, v in self.series(DOMAIN_SCORE)] if b is not None else []


def _label(cfg: dict) -> str:
    m = cfg["method"]
    label = "full" if m["name"] == "full" else f"{m['name']} r={m['lora_r']}"
    label += "".join(f" {v}" for v in ("dora", "rslora") if m.get(f"use_{v}"))
    mix = cfg.get("data", {}).get("general_mix", 0)
    if mix:
        label += f" +{mix:.0%} general"
    return label


def find_runs(paths) -> list[Run]:
    runs = []
    for root in map(Path, paths):
        for summary in sorted(root.rglob("summary.json")):
            d = summary.parent
            if not (d / "config.yaml").exists():
                continue
            cfg = yaml.safe_load((d / "config.yaml").read_text())
            s = json.loads(summary.read_text())
            interp = d / "interpolation.json"
            points = json.loads(interp.read_text()) if interp.exists() else []
            runs.append(Run(d, _label(cfg), cfg["method"]["name"], cfg,
                            [EvalRecord.from_json(h) for h in s.get("history", [])], s,
                            [EvalRecord.from_json(p) for p in points]))
    # Runs that differ only in their seed pool into one configuration; any other difference
    # under one label (e.g. the learning rate) is spelled out in the label.
    by_label: dict[str, list[Run]] = {}
    for r in runs:
        by_label.setdefault(r.label, []).append(r)
    for same in by_label.values():
        lrs = {r.config.get("train", {}).get("lr") for r in same}
        if len(lrs) > 1:
            for r in same:
                r.label += f" lr={r.config['train']['lr']:g}"
    return runs


def group(runs: list[Run]) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {}
    for r in runs:
        out.setdefault(r.label, []).append(r)
    return out


def _png(fig, axes, title: str) -> bytes:
    """Finish a figure (legend, title), render it to PNG bytes and free it."""
    import matplotlib.pyplot as plt

    # on the first panel that drew something (a run without domain eval leaves the first empty)
    next((a for a in axes if a.get_legend_handles_labels()[0]), axes[0]).legend(fontsize=8)
    fig.suptitle(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _seed_styles(runs: list[Run]) -> list[dict]:
    """Plot keywords per run: the seeds of one configuration share a colour and one legend
    entry (a legend line per seed read as different configurations)."""
    colours: dict[str, str] = {}
    out = []
    for r in runs:
        first = r.label not in colours
        colours.setdefault(r.label, f"C{len(colours) % 10}")
        out.append({"color": colours[r.label], "label": r.label if first else "_nolegend_",
                    "linestyle": "-" if r.method == "full" else "--", "marker": "o"})
    return out


def plot_curves(runs: list[Run]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("domain score gain (points)", Run.domain_gain),
              ("domain val-loss drop (nats)", Run.val_drop),
              ("forgetting: general ppl rise (%)", Run.rel_forgetting)]
    if any(r.near_forgetting() for r in runs):  # the runs measured near-domain text
        panels.append(("near-domain forgetting: ppl rise (%)", Run.near_forgetting))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.2))
    for ax, (title, fn) in zip(axes, panels):
        for r, style in zip(runs, _seed_styles(runs)):
            pts = fn(r)
            if pts:
                ax.plot(*zip(*pts), **style)
        ax.set_title(title)
        ax.set_xlabel("epoch (0 = base model)")
        ax.grid(alpha=0.3)
    return _png(fig, axes, "Per-epoch learning and forgetting: full fine-tuning (solid) vs "
                "adapters (dashed)")


def plot_tradeoff(runs: list[Run]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, (ylabel, fn) in zip(axes, [("domain val-loss drop (nats)", Run.val_drop),
                                       ("domain score gain (points)", Run.domain_gain)]):
        for r, style in zip(runs, _seed_styles(runs)):
            forget, learn = dict(r.rel_forgetting()), dict(fn(r))
            epochs = sorted(set(forget) & set(learn))
            if not epochs:
                continue
            xs, ys = [forget[e] for e in epochs], [learn[e] for e in epochs]
            ax.plot(xs, ys, **style)
            for e, x, y in zip(epochs, xs, ys):
                ax.annotate(str(e), (x, y), textcoords="offset points", xytext=(4, 4),
                            fontsize=7)
        ax.set_xlabel("forgetting: general perplexity rise over the base (%)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    return _png(fig, axes, "Learning vs forgetting (numbers: epochs). Up and to the left is "
                "better.")


LEARNING_AXIS = {"val_drop": "learning: domain val-loss drop (nats)",
                 "domain_gain": "learning: domain score gain (points)"}


def plot_frontier(pts: list, front: list, budget: float, chosen,
                  learning: str = "val_drop") -> bytes:
    """Every configuration's epochs (filled) and interpolation alphas (hollow) with their
    intervals, the Pareto frontier, the forgetting budget and the recommended point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 1, figsize=(9, 5.5))
    ax = axes
    colours = {}
    for p in pts:
        c = colours.setdefault(p.label, f"C{len(colours) % 10}")
        err = lambda d: ([[d.mean - d.lo], [d.hi - d.mean]]  # noqa: E731
                         if d.lo is not None else None)
        ax.errorbar(p.forgetting.mean, p.learning.mean, xerr=err(p.forgetting),
                    yerr=err(p.learning), fmt="o" if p.alpha is None else "s", color=c,
                    mfc=c if p.alpha is None else "white", ms=6, capsize=2, alpha=0.85,
                    label=p.label if p.label not in ax.get_legend_handles_labels()[1] else None)
        ax.annotate(f"e{p.epoch}" if p.alpha is None else f"a{p.alpha:g}",
                    (p.forgetting.mean, p.learning.mean), textcoords="offset points",
                    xytext=(4, 4), fontsize=7)
    if front:
        ax.plot([p.forgetting.mean for p in front], [p.learning.mean for p in front],
                "k--", lw=1, label="Pareto frontier")
    ax.axvline(budget, color="red", lw=1, ls=":", label=f"budget +{budget:g}%")
    if chosen is not None:
        ax.plot(chosen.forgetting.mean, chosen.learning.mean, "*", ms=18, mfc="none",
                mec="red", label=f"recommended: {chosen.name}")
    ax.set_xlabel("forgetting: general perplexity rise over the base (%)")
    ax.set_ylabel(LEARNING_AXIS[learning])
    ax.grid(alpha=0.3)
    return _png(fig, [ax], "Learning vs forgetting frontier (circles: epochs e; squares: "
                "interpolated weights a; bars: 95% intervals)")


def pack_columns(runs: list[Run]) -> list[tuple[str, str]]:
    """The domain packs' own report columns (data.domain_pack of each run's config); a pack
    that cannot be imported here (a user's, elsewhere) just adds none."""
    from netft import domains

    cols: list[tuple[str, str]] = []
    for name in dict.fromkeys((r.config.get("data") or {}).get("domain_pack") for r in runs):
        try:
            cols += domains.load(name).report_columns if name else []
        except Exception:  # noqa: BLE001 - the report still has the domain score and gain
            continue
    return list(dict.fromkeys(cols))


def suite_columns(runs: list[Run]) -> list[tuple[str, str, str]]:
    """(suite, overall key, header) of the published suites the runs scored (eval.suites:
    summary.json["suites"]), from each suite's report_columns; a suite that cannot be loaded
    here adds none."""
    from netft.eval.suites import load

    cols: list[tuple[str, str, str]] = []
    names = [n for r in runs for n in ((r.summary.get("suites") or {}).get("final") or {})]
    for name in dict.fromkeys(names):
        try:
            cols += [(name, key, header) for key, header in load(name, check=False).report_columns]
        except Exception:  # noqa: BLE001 - the report still has netft's own columns
            continue
    return cols


def _suite_cell(members: list[Run], suite: str, key: str) -> str:
    """The final model's value with its interval (one seed: the suite's own runs x items
    interval; several: t over seeds), and the base model's value, in %."""
    from netft.eval.stats import fmt_ci, mean_ci

    def got(tag):
        return [((r.summary.get("suites") or {}).get(tag) or {}).get(suite) or {}
                for r in members]
    final = [o for o in got("final") if o.get(key) is not None]
    if not final:
        return "-"
    if len(final) == 1:
        cell = fmt_ci(final[0][key], final[0].get(f"{key}_ci"), 100)
    else:
        m = mean_ci([o[key] for o in final])
        cell = fmt_ci(m.mean, (m.lo, m.hi), 100) + f" ({m.n} seeds)"
    base = [o[key] for o in got("base") if o.get(key) is not None]
    return cell + (f" (base {fmt_ci(sum(base) / len(base), None, 100)})" if base else "")


def table_rows(runs: list[Run], pts: list | None = None, gain_pts: list | None = None) -> list[dict]:
    """One row per configuration (seeds pooled) at its best epoch (lowest mean val loss).
    pts: the study's points (learning as the frontier measures it); gain_pts: the same with
    the domain-score gain as learning, for its interval column."""
    from netft.analysis.study import metric_gain, points

    pts = pts if pts is not None else points(group(runs))
    gain_pts = gain_pts if gain_pts is not None else points(group(runs), "domain_gain")
    columns = pack_columns(runs)
    suites = suite_columns(runs)
    near = any(r.near_forgetting() for r in runs)  # near-domain columns only where measured
    rows = []
    for label, members in group(runs).items():
        mean = lambda xs: sum(xs) / len(xs) if xs else None  # noqa: E731
        at = lambda e, value: [value(h) for r in members for h in r.history  # noqa: E731
                               if h.epoch == e and value(h) is not None]
        epochs = sorted({h.epoch for r in members for h in r.history})
        trained = [e for e in epochs if e >= 1 and at(e, VAL_LOSS)]
        best = min(trained, key=lambda e: (mean(at(e, VAL_LOSS)), e)) if trained else \
            (epochs[-1] if epochs else None)
        point = next((p for p in pts if p.label == label and p.epoch == best), None)
        gain_point = next((p for p in gain_pts if p.label == label and p.epoch == best), None)
        gain = [100 * (h.domain_score - r.base(DOMAIN_SCORE)) for r in members
                for h in r.history if h.epoch == best and h.domain_score is not None
                and r.base(DOMAIN_SCORE) is not None]
        drops = [r.base(VAL_LOSS) - h.val_loss for r in members for h in r.history
                 if h.epoch == best and h.val_loss is not None]
        forget = [dict(r.rel_forgetting()).get(best) for r in members]
        forget = [f for f in forget if f is not None]
        doms = [h.domain or {} for r in members for h in r.history if h.epoch == best]
        pack = {header: mean([d[key] for d in doms if d.get(key) is not None])
                for key, header in columns}
        # per-category learning: each pack column's gain over the base, with its interval
        gains = {f"{header} gain pts [95% CI]": _interval_cell(metric_gain(members, best, key))
                 for key, header in columns} if best else {}
        rows.append({
            "run": label, "seeds": len(members), "epochs": max(epochs) if epochs else 0,
            "best epoch": best, "val loss": mean(at(best, VAL_LOSS)),
            "val-loss drop": mean(drops), "domain score": mean(at(best, DOMAIN_SCORE)),
            "domain gain (pts)": mean(gain), **pack, **gains,
            **{f"{header} final [95% CI]": _suite_cell(members, suite, key)
               for suite, key, header in suites},
            "forgetting (%)": mean(forget), "KL general": mean(at(best, KL_GENERAL)),
            "learning [95% CI]": _point_ci(point, "learning", 2),
            "domain gain pts [95% CI]": _point_ci(gain_point, "learning", 1),
            "forgetting % [95% CI]": _point_ci(point, "forgetting", 1),
            **({"near-domain forgetting % [95% CI]": _point_ci(point, "near", 1),
                "KL near": mean(at(best, KL_NEAR))} if near else {}),
            "path": ", ".join(str(r.path) for r in members)})
    return sorted(rows, key=lambda x: -(x["val-loss drop"] or 0))


def _point_ci(point, what: str, digits: int) -> str:
    if point is None or getattr(point, what) is None:
        return "-"
    return _interval_cell(getattr(point, what), digits)


def _interval_cell(d, digits: int = 1) -> str:
    """'mean [lo, hi] (where the interval came from)', '-' without a mean."""
    from netft.eval.stats import fmt_ci

    if d.mean is None:
        return "-"
    src = {"seeds": f" ({d.n} seeds)", "bootstrap": " (eval bootstrap)",
           "seeds x items": f" ({d.n} seeds x items)"}.get(d.source, "")
    return fmt_ci(d.mean, d.ci, digits=digits) + src


def gain_statements(best_points: list) -> list[str]:
    """Per configuration at its best epoch: is the domain-score gain beyond the noise?"""
    from netft.eval.stats import fmt_ci

    out = []
    for p in best_points:
        if p is None or p.learning.lo is None:
            continue
        d = p.learning
        where = ("above zero: a real gain" if d.lo > 0 else
                 "below zero: a real loss" if d.hi < 0 else "within noise of zero")
        out.append(f"Domain score gain of {p.name}: {fmt_ci(d.mean, d.ci)} "
                   f"points, {where}.")
    return out


def near_statements(best: dict) -> list[str]:
    """Per configuration at its best epoch: near-domain vs general forgetting, and which
    configurations differ in near-domain forgetting beyond the noise."""
    from netft.eval.stats import fmt_ci, overlap

    have = {k: p for k, p in best.items() if p is not None and p.near is not None}
    out = [f"{p.name}: near-domain perplexity {fmt_ci(p.near.mean, p.near.ci)}% vs general "
           f"{fmt_ci(p.forgetting.mean, p.forgetting.ci)}%" for p in have.values()]
    labels = list(have)
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            same = overlap(have[a].near.ci, have[b].near.ci)
            verdict = ("within noise" if same else "different" if same is False
                       else "no interval")
            out.append(f"{a} vs {b}, near-domain forgetting: {have[a].near.mean:.1f}% vs "
                       f"{have[b].near.mean:.1f}% -> {verdict}")
    return out


def forgetting_at(run: Run, drop: float) -> float | None:
    """The run's forgetting interpolated at a given domain val-loss drop (its curve runs from
    the base model, (0, 0), through every epoch); None beyond the run's reach."""
    pts = sorted(zip((d for _, d in run.val_drop()), (f for _, f in run.rel_forgetting())))
    if not pts or drop > pts[-1][0]:
        return None
    import numpy as np

    return float(np.interp(drop, [p[0] for p in pts], [p[1] for p in pts]))


def matched_comparison(runs: list[Run]) -> str:
    """Full vs adapters at matched learning (no general-data mixing on either side): the
    full runs' forgetting interpolated at each adapter epoch's domain val-loss drop."""
    plain = [r for r in runs if not r.config.get("data", {}).get("general_mix")]
    full = [r for r in plain if r.method == "full"]
    adapters = [r for r in plain if r.method != "full"]
    pairs = [(f_ad, f_full) for a in adapters for f in full
             for (e, d), (_, f_ad) in zip(a.val_drop(), a.rel_forgetting())
             if e > 0 and (f_full := forgetting_at(f, d)) is not None]
    if not pairs:
        return "Not enough runs of both kinds (full and adapters, no mixing) to compare."
    ad = sum(p[0] for p in pairs) / len(pairs)
    fu = sum(p[1] for p in pairs) / len(pairs)
    verdict = "MORE" if fu > ad else "LESS"
    text = (f"At matched domain learning (same val-loss drop, {len(pairs)} points), full "
            f"fine-tuning forgot {verdict} than the adapters: general perplexity +{fu:.0f}% vs "
            f"+{ad:.0f}%.")
    # Each mixing configuration (its seeds pooled) against the unmixed runs of its method,
    # both at their last epoch.
    def last(rs, fn):
        xs = [fn(r)[-1][1] for r in rs if fn(r)]
        return sum(xs) / len(xs) if xs else None

    mixed = [r for r in runs if r.config.get("data", {}).get("general_mix")]
    for label, ms in group(mixed).items():
        twins = [r for r in plain if r.method == ms[0].method]
        fm, ft = last(ms, Run.rel_forgetting), last(twins, Run.rel_forgetting)
        if fm is not None and ft is not None:
            text += (f" Mixing general data ({label}): forgetting +{fm:.0f}% vs +{ft:.0f}% "
                     f"without, at a val-loss drop of {last(ms, Run.val_drop):.2f} vs "
                     f"{last(twins, Run.val_drop):.2f}.")
    return text


def _fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def write_report(paths, out_dir: Path, budget: float = 10.0, learning: str = "val_drop") -> dict:
    runs = find_runs(paths)
    if not runs:
        raise FileNotFoundError(f"no runs (summary.json + config.yaml) under {', '.join(map(str, paths))}")
    from netft.analysis.study import frontier, kl_correlation, noise_statements, points, recommend

    out_dir.mkdir(parents=True, exist_ok=True)
    pts = points(group(runs), learning)
    gain_pts = pts if learning == "domain_gain" else points(group(runs), "domain_gain")
    front = frontier(pts)
    chosen, recommendation = recommend(pts, budget)
    figs = {"curves.png": plot_curves(runs), "tradeoff.png": plot_tradeoff(runs),
            "frontier.png": plot_frontier(pts, front, budget, chosen, learning)}
    for name, data in figs.items():
        (out_dir / name).write_bytes(data)
    rows = table_rows(runs, pts, gain_pts)
    cols = [c for c in rows[0] if c != "path"]
    r, n = kl_correlation(pts)
    kl_line = (f"Forgetting vs KL(base||tuned) on general text: Pearson r = {r:.2f} over {n} "
               "points." if r is not None else f"KL correlation: too few points ({n}).")
    best = {row["run"]: next((p for p in pts if p.label == row["run"]
                              and p.epoch == row["best epoch"]), None) for row in rows}
    noise = noise_statements({k: v for k, v in best.items() if v is not None})
    gains = gain_statements([next((p for p in gain_pts if p.label == row["run"]
                                   and p.epoch == row["best epoch"]), None) for row in rows])
    verdict = " ".join([matched_comparison(runs), recommendation, kl_line, *gains])
    md = ["# netft report: learning vs forgetting", "",
          f"{len(runs)} runs. Epoch 0 is the base model. Learning: drop in domain validation "
          "loss and gain in the verifier-scored domain score; forgetting: rise in general "
          "held-out perplexity over the base model.", "", f"**{verdict}**", "",
          "![frontier](frontier.png)", "", "![per-epoch curves](curves.png)", "",
          "![learning vs forgetting](tradeoff.png)", "",
          "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(_fmt(r[c]) for c in cols) + " |" for r in rows]
    md += ["", "Differences at each configuration's best epoch (95% intervals overlap = within "
           "noise):", *[f"- {line}" for line in noise]]
    near = near_statements(best)
    if near:
        md += ["", "Near-domain forgetting (the domain pack's near-domain text) at each "
               "configuration's best epoch, 95% intervals:", *[f"- {line}" for line in near]]
    md += ["", "Runs:", *[f"- {r['run']}: `{r['path']}`" for r in rows]]
    (out_dir / "report.md").write_text("\n".join(md) + "\n")
    img = {k: base64.b64encode(v).decode() for k, v in figs.items()}
    table = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r[c]))}</td>" for c in cols)
                    + "</tr>" for r in rows)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>netft report</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:right}}
img{{max-width:100%}}</style></head><body>
<h1>netft report: learning vs forgetting</h1>
<p>{len(runs)} runs. Epoch 0 is the base model. Learning: drop in domain validation loss and gain
in the verifier-scored domain score; forgetting: rise in general held-out perplexity.</p>
<p><b>{html.escape(verdict)}</b></p>
<img src="data:image/png;base64,{img['frontier.png']}" alt="frontier">
<img src="data:image/png;base64,{img['curves.png']}" alt="per-epoch curves">
<img src="data:image/png;base64,{img['tradeoff.png']}" alt="learning vs forgetting">
<table><tr>{''.join(f'<th>{html.escape(c)}</th>' for c in cols)}</tr>{table}</table>
<h2>Differences beyond the noise?</h2><ul>{''.join(f"<li>{html.escape(x)}</li>" for x in noise)}</ul>
{"<h2>Near-domain forgetting</h2><ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in near)
 + "</ul>" if near else ""}
</body></html>"""
    (out_dir / "report.html").write_text(page)
    return {"html": out_dir / "report.html", "md": out_dir / "report.md", "runs": len(runs),
            "verdict": verdict, "rows": rows, "recommended": chosen, "noise": noise,
            "near": near,
            "frontier": front}


def wandb_report(project: str, entity: str | None, group: str | None):
    """The same study as a W&B Report (wandb-workspaces); `.save()` needs a key and server."""
    import wandb_workspaces.reports.v2 as wr

    runset = wr.Runset(entity=entity or "", project=project, name=group or "all runs",
                       filters=f"Config('logger.group') == '{group}'" if group else "")
    return wr.Report(
        project=project, entity=entity or "", title="netft: learning vs forgetting",
        description="Domain skill gained vs general capability lost, per epoch, full vs adapters.",
        blocks=[
            wr.H1("Learning vs forgetting"),
            wr.P("Epoch 0 is the base model; forgetting = rise in general perplexity."),
            wr.PanelGrid(runsets=[runset], panels=[
                wr.LinePlot(title="domain score", x="eval/epoch", y=["eval/domain_score"]),
                wr.LinePlot(title="validation loss", x="eval/epoch", y=["eval/val_loss"]),
                wr.LinePlot(title="general perplexity", x="eval/epoch", y=["eval/general_ppl"]),
                wr.ScatterPlot(title="learning vs forgetting", x="eval/general_ppl",
                               y="eval/domain_score"),
            ]),
        ])
