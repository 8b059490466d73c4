"""Build the arith pack's data set: seeded, distinct integer questions, split by a fixed rule
(row 10k: validation, row 10k+1: test, the rest: train), written as chat JSONL.

    python -m netft.domains.arith.build --out netft/assets/data/arith --seed 0 --n 120
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

# Operators as words: the contamination check compares words, and would see "88 + 4" and
# "88 * 4" as the same prompt.
OPS = {"add": ("plus", lambda a, b: a + b), "sub": ("minus", lambda a, b: a - b),
       "mul": ("times", lambda a, b: a * b)}
SYSTEM = "Answer arithmetic questions. End with: The answer is N."


def rows(seed: int, n: int) -> list[dict]:
    rng = random.Random(seed)
    out, seen = [], set()
    for i in range(n):
        cat = list(OPS)[i % len(OPS)]
        sign, fn = OPS[cat]
        # Distinct operand sets per operation (3 plus 5 and 5 plus 3 are one question).
        while (key := (cat, *sorted((a := rng.randint(2, 99),
                                     b := rng.randint(2, 9 if cat == "mul" else 99))))) in seen:
            pass
        seen.add(key)
        answer = fn(a, b)
        out.append({"id": f"arith-{i:04d}", "category": cat, "meta": {"answer": answer},
                    "messages": [{"role": "system", "content": SYSTEM},
                                 {"role": "user", "content": f"What is {a} {sign} {b}?"},
                                 {"role": "assistant", "content":
                                  f"{a} {sign} {b} = {answer}. The answer is {answer}."}]})
    return out


def split(all_rows: list[dict]) -> dict[str, list[dict]]:
    parts: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
    for i, row in enumerate(all_rows):
        parts["validation" if i % 10 == 0 else "test" if i % 10 == 1 else "train"].append(row)
    return parts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=120)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, part in split(rows(args.seed, args.n)).items():
        with open(out / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in part)
        print(f"{out / name}.jsonl: {len(part)} rows")


if __name__ == "__main__":
    main()
