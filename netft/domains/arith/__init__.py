"""A deliberately small domain pack: integer arithmetic with exact answers.

It exists to prove the seam (netft/domains): a data preset (conf/data/arith.yaml), a
shipped chat data set (netft/assets/data/arith, made by build.py) and a scorer, with no
code of the network-engineering pack involved. Per item:
  accuracy  the last integer in the answer equals meta.answer
  format    the answer ends with "The answer is N." (N any integer)
Categories are the operations (add, sub, mul); the headline score is the accuracy.
"""
from __future__ import annotations

import re

from netft.domains import Domain
from netft.domains.chat import category_means, eval_rows, item, mean, table

_INT = re.compile(r"-?\d+")
_FORMAT = re.compile(r"The answer is -?\d+\.\s*$")


def score_item(row: dict, prediction: str) -> dict:
    pred = prediction or ""
    want = int(row["meta"]["answer"])
    numbers = _INT.findall(pred)
    right = bool(numbers) and int(numbers[-1]) == want
    formatted = _FORMAT.search(pred) is not None
    errors = ([] if right else [f"expected {want}"]) + ([] if formatted else ["format"])
    return item(row, pred, {"accuracy": float(right), "format": float(formatted)}, errors)


def aggregate(items: list[dict]) -> tuple[dict, dict]:
    acc = mean(it["scores"]["accuracy"] for it in items)
    return category_means(items), {"n": len(items), "accuracy": acc,
                                   "format": mean(it["scores"]["format"] for it in items),
                                   "score": acc}


def format_table(result: dict) -> str:
    return "\n".join(table(result, [("accuracy", "acc"), ("format", "format")],
                           ["add", "sub", "mul"], ("accuracy", "format", "score")))


DOMAIN = Domain(name="arith", eval_rows=eval_rows, score_item=score_item, aggregate=aggregate,
                format_table=format_table, report_columns=(("accuracy", "arith acc"),))
