"""Where a small fine-tune's configurations go wrong: the dialect, or what it writes after it?

For every config/translate item of a netops test file, generates the answer twice with greedy
decoding: free, and with the reference answer's first line (its dialect header, e.g.
"IOS config:") given; scores both with the netops verifiers and prints command accuracy, valid
syntax and value facts for each. If giving the header fixes the answers, the model only picks
the wrong dialect; if not, it does not condition what it writes on the request
(bench/copy_base_results.md, issue 26).

    OMP_NUM_THREADS=1 python bench/forced_header.py RUN_DIR/final
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from netft.domains.netops import scoring

TEST = Path(__file__).resolve().parents[1] / "netft/assets/data/netops/test.jsonl"


def main() -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="a full fine-tune's final/ folder (or any causal LM folder)")
    ap.add_argument("--test", default=str(TEST))
    ap.add_argument("--max-new-tokens", type=int, default=128)
    a = ap.parse_args()
    torch.set_num_threads(1)
    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForCausalLM.from_pretrained(a.model).eval()
    eot = tok.convert_tokens_to_ids("<|eot|>") if "<|eot|>" in tok.get_vocab() else tok.eos_token_id
    rows = [json.loads(line) for line in open(a.test, encoding="utf-8") if line.strip()]
    rows = [r for r in rows if r.get("category") in scoring.CONFIG_CATS]
    res: dict[str, list] = {"free": [], "header given": []}
    for r in rows:
        prompt = tok.apply_chat_template(r["messages"][:-1], tokenize=False,
                                         add_generation_prompt=True)
        header = r["messages"][-1]["content"].splitlines()[0] + "\n"
        for mode, prefix in (("free", ""), ("header given", header)):
            ids = tok(prompt + prefix, return_tensors="pt", add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                out = model.generate(ids, max_new_tokens=a.max_new_tokens, do_sample=False,
                                     eos_token_id=eot, pad_token_id=tok.pad_token_id)
            answer = prefix + tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
            s = scoring.score_item(r, answer)["scores"]
            res[mode].append((r["id"], s["accuracy"], s["syntax"], s["values_frac"]))
    print(f"{len(rows)} config/translate items of {a.test}")
    print(f"{'decoding':<14}{'command acc':>12}{'valid syntax':>14}{'value facts':>13}  right")
    for mode, v in res.items():
        n = len(v)
        print(f"{mode:<14}{100 * sum(x[1] for x in v) / n:>11.1f}%"
              f"{100 * sum(x[2] for x in v) / n:>13.1f}%{100 * sum(x[3] for x in v) / n:>12.1f}%  "
              + (", ".join(x[0] for x in v if x[1]) or "-"))


if __name__ == "__main__":
    main()
