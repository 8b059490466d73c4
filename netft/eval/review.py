"""Human review of model answers: export a stratified sample as a CSV sheet (plus a readable
HTML page), read the filled sheet back into per-category human scores.

    export_review(rows, predictions, "out/review", n=150, domain=pack)  -> review.csv, .html
    import_review("out/review/review.csv")                  -> {"categories": ..., "overall": ...}

The reviewer fills three columns: score_1_to_5, correct_yes_no, comment. Rows left blank are
not counted; a bad value stops the import with file:line so it can be fixed in the sheet.
The domain pack (netft/domains) scores the items automatically and may add columns of its own
after the reviewer's (e.g. a dialect column).
"""
from __future__ import annotations

import csv
import html
import json
import random
from pathlib import Path

from netft.data.chat import DataError
from netft.domains import Domain, score
from netft.domains.chat import prompt, reference

REVIEW_COLUMNS = ["score_1_to_5", "correct_yes_no", "comment"]
COLUMNS = ["id", "category", "prompt", "model_answer", "reference", "auto_scores",
           *REVIEW_COLUMNS]
_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0"}


def stratified_sample(rows: list[dict], n: int, seed: int = 0) -> list[dict]:
    """Up to n rows, spread evenly over categories (a small category gives what it has and
    the rest goes to the others), so rare categories are not drowned out. Deterministic."""
    rng = random.Random(seed)
    by_cat: dict[str, list[dict]] = {}
    for r in rows:
        by_cat.setdefault(r["category"], []).append(r)
    for c in by_cat:
        by_cat[c] = sorted(by_cat[c], key=lambda r: r["id"])
        rng.shuffle(by_cat[c])
    quota = {c: 0 for c in by_cat}
    left = min(n, len(rows))
    while left:
        open_cats = [c for c in sorted(by_cat) if quota[c] < len(by_cat[c])]
        share = max(1, left // len(open_cats))
        for c in open_cats:
            take = min(share, len(by_cat[c]) - quota[c], left)
            quota[c] += take
            left -= take
            if not left:
                break
    return [r for c in sorted(by_cat) for r in by_cat[c][:quota[c]]]


def _scores_text(item: dict) -> str:
    return json.dumps({k: round(v, 3) for k, v in item["scores"].items()}, sort_keys=True)


# A spreadsheet runs a cell starting with one of these as a formula (=HYPERLINK(...), +cmd|...,
# @SUM, and tab/CR variants); model output can start with anything, so such cells get a
# leading apostrophe (OWASP's advice), which import_review removes again.
_ACTIVE = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_ACTIVE) else text


def _uncell(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:2] in _ACTIVE and text[1:2] else text


def _decode(raw: bytes, path: Path) -> str:
    """A review sheet as saved by Excel (UTF-8 with BOM), LibreOffice (UTF-8) or an older
    Excel (Windows-1252/Latin-1): the text, whichever of them it is."""
    for enc in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise DataError(f"{path}: cannot decode the sheet; save it as CSV UTF-8")


def export_review(rows: list[dict], predictions: list[str] | dict[str, str], out_dir,
                  n: int = 150, seed: int = 0, domain: Domain | None = None) -> dict:
    """Write review.csv and review.html for a stratified sample, scored by `domain` (default:
    the chat domain); returns their paths and the per-category counts."""
    if domain is None:
        from netft.domains.chat import DOMAIN as domain
    preds = predictions if isinstance(predictions, dict) else \
        {r["id"]: p for r, p in zip(rows, predictions, strict=True)}
    sample = stratified_sample(rows, n, seed)
    try:
        auto = {it["id"]: it for it in score(domain, sample, preds)["items"]}
    except RuntimeError as e:  # no vtysh: the sheet is still worth having without auto scores
        auto = {r["id"]: {"scores": {}, "errors": [f"automatic scoring unavailable: {e}"]}
                for r in sample}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = out / "review.csv", out / "review.html"
    extra = [domain.review_columns(r) for r in sample]
    extra_names = list(dict.fromkeys(k for cols in extra for k in cols))
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS + extra_names)
        for r, cols in zip(sample, extra):
            w.writerow([_cell(v) for v in (r["id"], r["category"], prompt(r),
                                           preds.get(r["id"], ""), reference(r),
                                           _scores_text(auto[r["id"]]), "", "", "",
                                           *(cols.get(k, "") for k in extra_names))])
    html_path.write_text(_html(sample, preds, auto, domain.name), encoding="utf-8")
    counts: dict[str, int] = {}
    for r in sample:
        counts[r["category"]] = counts.get(r["category"], 0) + 1
    return {"csv": str(csv_path), "html": str(html_path), "n": len(sample), "counts": counts}


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
.card { border: 1px solid #ccc; border-radius: 6px; padding: 1em; margin: 1em 0; }
.head { display: flex; gap: 1em; align-items: baseline; flex-wrap: wrap; }
.id { font-weight: bold; } .cat { background: #eef; padding: 0 .5em; border-radius: 4px; }
.score { font-family: monospace; font-size: .9em; }
.bad { color: #a00; } .good { color: #070; }
pre { background: #f6f6f6; padding: .6em; white-space: pre-wrap; font-family: monospace; }
h4 { margin: .8em 0 .2em; } ul.err { color: #a00; font-size: .9em; }
"""


def _html(sample: list[dict], preds: dict, auto: dict, title: str) -> str:
    e = html.escape
    cards = []
    for r in sample:
        it = auto[r["id"]]
        scores = " ".join(
            f'<span class="{"good" if v >= 1 else "bad"}">{e(k)}={v:.2f}</span>'
            for k, v in it["scores"].items())
        errs = "".join(f"<li>{e(x)}</li>" for x in it["errors"])
        cards.append(f"""<div class="card" id="{e(r['id'])}">
<div class="head"><span class="id">{e(r['id'])}</span><span class="cat">{e(r['category'])}</span>
<span class="score">{scores}</span></div>
<h4>Prompt</h4><pre>{e(prompt(r))}</pre>
<h4>Model answer</h4><pre>{e(preds.get(r['id'], ''))}</pre>
<h4>Reference</h4><pre>{e(reference(r))}</pre>
{f'<h4>Automatic checks</h4><ul class="err">{errs}</ul>' if errs else ''}
</div>""")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{e(title)} review ({len(sample)} items)</title>
<style>{_CSS}</style></head><body>
<h1>{e(title)} review: {len(sample)} items</h1>
<p>Score each item in review.csv (score_1_to_5, correct_yes_no, comment); this page is for
reading. Automatic scores are shown for reference only.</p>
{''.join(cards)}
</body></html>
"""


def import_review(csv_path) -> dict:
    """Aggregate a filled review sheet: per category mean score, % correct, n reviewed."""
    path = Path(csv_path)
    per: dict[str, dict[str, list]] = {}
    import io

    csv.field_size_limit(1 << 26)  # answers and comments can be long (default limit: 128 KiB)
    text = _decode(path.read_bytes(), path)
    with io.StringIO(text, newline="") as fh:
        reader = csv.reader(fh)
        header = [_uncell(x) for x in next(reader, [])] or None
        missing = [c for c in ("id", "category", *REVIEW_COLUMNS[:2]) if c not in (header or [])]
        if missing:
            raise DataError(f"{path}:1: missing column(s) {', '.join(missing)}")
        col = {name: i for i, name in enumerate(header)}
        while True:
            line = reader.line_num + 1  # a record may span lines; report where it starts
            try:
                rec = [_uncell(x) for x in next(reader)]
            except StopIteration:
                break
            if not any(x.strip() for x in rec):
                continue

            def get(name):
                return rec[col[name]].strip() if col[name] < len(rec) else ""

            raw_score, raw_ok = get("score_1_to_5"), get("correct_yes_no")
            if not raw_score and not raw_ok:
                continue  # not reviewed
            s = None
            if raw_score:
                if not (raw_score.isdigit() and 1 <= int(raw_score) <= 5):
                    raise DataError(f"{path}:{line}: score_1_to_5 must be an integer 1-5, "
                                     f"got {raw_score!r} (id {get('id')})")
                s = int(raw_score)
            ok = None
            if raw_ok:
                if raw_ok.lower() not in _YES | _NO:
                    raise DataError(f"{path}:{line}: correct_yes_no must be yes or no, "
                                     f"got {raw_ok!r} (id {get('id')})")
                ok = raw_ok.lower() in _YES
            d = per.setdefault(get("category"), {"scores": [], "correct": [], "n": [0]})
            d["n"][0] += 1
            if s is not None:
                d["scores"].append(s)
            if ok is not None:
                d["correct"].append(ok)

    def agg(scores, correct, n):
        return {"n_reviewed": n,
                "mean_score": sum(scores) / len(scores) if scores else None,
                "pct_correct": 100 * sum(correct) / len(correct) if correct else None}

    cats = {c: agg(d["scores"], d["correct"], d["n"][0]) for c, d in sorted(per.items())}
    overall = agg([x for d in per.values() for x in d["scores"]],
                  [x for d in per.values() for x in d["correct"]],
                  sum(d["n"][0] for d in per.values()))
    return {"categories": cats, "overall": overall}
