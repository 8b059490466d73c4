"""The generic chat domain (the default pack): any chat dataset gets a domain score.

Every test row with messages is an item, in its own "category" or GENERIC. Per item:
  exact      the normalised answer equals the normalised reference
  overlap    recall of the reference's key terms (backticked spans, content words, numbers)
  abstained  the answer declines (is_abstention)
Headline ("score"): the mean overlap.

Also the pieces other packs build on, by calling them: prompt/reference, is_abstention,
overlap_weak, category_means, chat_overall and table.
"""
from __future__ import annotations

import re
from typing import Iterable

from netft.domains import Domain

GENERIC = "general"  # rows of a team's own data without a category


def reference(row: dict) -> str:
    return next(m["content"] for m in reversed(row["messages"]) if m["role"] == "assistant")


def prompt(row: dict) -> str:
    return "\n\n".join(m["content"] for m in row["messages"] if m["role"] == "user")


def eval_rows(rows: list[dict]) -> list[dict]:
    """Rows a generative eval can score: chat rows (raw-text rows have no question), each
    with a category -- GENERIC where the data has none."""
    return [{**r, "category": r.get("category") or GENERIC} for r in rows if "messages" in r]


# --------------------------------------------------------------------------- abstention

ABSTAIN = re.compile("|".join([
    r"\bi (?:do not|don't|don’t) know\b",
    r"\b(?:does not|doesn't|doesn’t|do not|don't) exist\b",
    r"\bno such (?:command|statement|knob|option|keyword|feature|thing)\b",
    r"\bnot an? (?:valid|real|known|supported|existing) (?:\w+ )?(?:command|statement|option|"
    r"keyword|knob|feature)\b",
    r"\bthere is no `[^`]+` (?:command|statement|keyword|option|knob)\b",
    r"\bhas no `[^`]+`(?: (?:command|statement|keyword|option|knob))?",
    r"\bcan(?:not|'t|’t) (?:answer|write|give|tell|say|determine|provide|configure|know)\b",
    r"\bunable to (?:answer|determine|tell)\b",
    r"\binsufficient (?:data|information|info|details)\b",
    r"\bnot enough (?:data|information|info|detail)",
    r"\bi (?:won't|will not|won’t) guess\b",
    r"\bi(?:'d| would)? need (?:the|to know|more|you to)\b",
    r"\b(?:is|are) (?:missing|not given|not specified)\b",
    r"\b(?:please )?(?:tell|let) me (?:both|the|which|what|know)\b",
    r"\bi'?m not sure\b|\bi am not sure\b",
]), re.I)


def is_abstention(text: str) -> bool:
    """Does the answer decline (made-up command, missing information) rather than answer?

    Only the opening (first 300 characters) counts: an answer that gives the config and
    then adds "if you don't know the AS, ask your provider" has still answered.
    """
    return ABSTAIN.search(text.strip()[:300]) is not None


# --------------------------------------------------------------------------- overlap

_STOP = set("""about above after again against also because been before being below between
both could does doing down during each from further have having here itself just more most
once only other over same should some such than that their them then there these they this
those through under until very what when where which while will with would your into its
it's is are the and for not but can one two every any all out own""".split())


def words(text: str) -> list[str]:
    # "2-way/drother", "10.0.0.0/8" and "ge-0/0/1.0" stay one token each.
    return re.findall(r"[a-z0-9]+(?:[-/.:][a-z0-9]+)*", text.lower())


def overlap_weak(pred: str, ref: str) -> float:
    """Recall of the reference's key terms (backticked commands, content words, numbers) in
    the prediction. Weak: paraphrases score low and a wrong answer that reuses the words
    scores high."""
    spans = {" ".join(s.lower().split()) for s in re.findall(r"`([^`]+)`", ref)}
    terms = {w for w in words(ref) if (len(w) >= 4 or w.isdigit()) and w not in _STOP}
    if not spans and not terms:
        return 1.0
    low, have = " ".join(pred.lower().split()), set(words(pred))
    hit = sum(1 for s in spans if s in low) + sum(1 for w in terms if w in have)
    return hit / (len(spans) + len(terms))


def norm_answer(text: str) -> str:
    return " ".join(words(text))


# --------------------------------------------------------------------------- scoring

def chat_scores(row: dict, pred: str) -> tuple[dict, list[str]]:
    """Exact (normalised) match, key-term overlap with the reference, and whether the model
    declined -- for any domain."""
    ref = reference(row)
    abstained = is_abstention(pred)
    scores = {"exact": float(bool(pred.strip()) and norm_answer(pred) == norm_answer(ref)),
              "overlap": overlap_weak(pred, ref), "abstained": float(abstained)}
    return scores, (["abstained"] if abstained and not is_abstention(ref) else [])


def item(row: dict, prediction: str, scores: dict, errors: list[str]) -> dict:
    """One scored item in the shape every pack returns."""
    if not (prediction or "").strip():
        errors.insert(0, "empty prediction")
    return {"id": row["id"], "category": row.get("category") or GENERIC, "scores": scores,
            "errors": errors}


def score_item(row: dict, prediction: str) -> dict:
    return item(row, prediction, *chat_scores(row, prediction or ""))


def mean(xs: Iterable[float]) -> float | None:
    xs = list(xs)
    return sum(xs) / len(xs) if xs else None


def category_means(items: list[dict]) -> dict:
    """{category: {"n", metric: mean over the category's items}}."""
    cats: dict[str, list] = {}
    for it in items:
        cats.setdefault(it["category"], []).append(it)
    return {name: {"n": len(its), **{k: mean(it["scores"][k] for it in its)
                                     for k in sorted({k for it in its for k in it["scores"]})}}
            for name, its in cats.items()}


def chat_overall(categories: dict) -> dict:
    """The overall keys of the GENERIC category (empty when there is none)."""
    if GENERIC not in categories:
        return {}
    g = categories[GENERIC]
    return {"exact_match": g["exact"], "answer_overlap": g["overlap"],
            "abstain_rate": g["abstained"]}


def aggregate(items: list[dict]) -> tuple[dict, dict]:
    categories = category_means(items)
    overall = {"n": len(items), **chat_overall(categories)}
    # Rows with their own category are scored with the same three metrics here.
    overall["score"] = mean(c["overlap"] for c in categories.values() if "overlap" in c)
    return categories, overall


# --------------------------------------------------------------------------- table

CHAT_COLUMNS = [("exact", "exact"), ("overlap", "overlap"), ("abstained", "abstain")]
CHAT_OVERALL = ("exact_match", "answer_overlap", "abstain_rate", "score")


def _cell(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def table(result: dict, columns: list[tuple[str, str]], order: list[str] = (),
          overall_keys: Iterable[str] = CHAT_OVERALL) -> list[str]:
    """Fixed-width per-category table (columns: (metric, header); categories in `order`
    first, the rest sorted), then the overall numbers; as lines, so a pack can add its own."""
    cats = result["categories"]
    names = [c for c in order if c in cats] + sorted(set(cats) - set(order))
    head = f"{'category':<14}{'n':>5}" + "".join(f"{h:>10}" for _, h in columns)
    lines = [head, "-" * len(head)]
    for name in names:
        c = cats[name]
        lines.append(f"{name:<14}{c['n']:>5}"
                     + "".join(f"{_cell(c.get(k)):>10}" for k, _ in columns))
    lines.append("-" * len(head))
    o = result["overall"]
    lines += [f"{k:<24}{_cell(o[k]):>8}" for k in overall_keys if o.get(k) is not None]
    return lines


def format_table(result: dict) -> str:
    return "\n".join(table(result, CHAT_COLUMNS))


DOMAIN = Domain(name="chat", eval_rows=eval_rows, score_item=score_item, aggregate=aggregate,
                format_table=format_table,
                report_columns=(("exact_match", "exact match"), ("answer_overlap", "overlap")))
