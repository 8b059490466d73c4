"""Probe: does a tiny base that has read questions *with* their configurations write right
configurations (issue 26)? Continues pre-training a tiny base on netops question/answer
documents, then reads its command accuracy on the 47 config and translate test items when
prompted the way it was trained (question, blank line; greedy), scored by the domain pack's
real verifiers (netft.domains.netops.scoring.score_item).

Documents: the generator's config and translate rows drawn with --seed (the shipped data set
is seed 0; default 1, as the shipped base's configuration-only documents), "question\\n\\n" +
the configuration without its chat framing (pretrain.config_text); a row whose question or
answer equals a shipped validation/test row's is dropped. The last 20k tokens are kept out
and their perplexity printed ("qa ppl").

Rows (of 8 x 256 tokens per step): --qa P of them documents, either random windows of the
document stream (--rows window: most ~190-token documents are cut in two, the question in
one row and its configuration in another) or 256 tokens from a random document's first token
(--rows doc); 10% random-token repeats and 5% repeated spans keep copying alive
(models/tiny_recipe.py); the rest are corpus windows. Fresh AdamW, cosine, 5% warm-up, as
build_tiny's stages.

  OMP_NUM_THREADS=1 python bench/probe_qa_base.py --init BASE --out DIR --steps 1500 --qa 0.75
Then the demo's fine-tune of DIR:  netft-train +experiment=forgetting_full \\
    model.name_or_path=DIR eval.domain_max_items=0 eval.max_new_tokens=128 eval.review_items=0
Results: bench/copy_base_results.md ("Questions with their configurations").
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from netft.data.corpus import corpus_texts
from netft.domains.netops.generate import generate
from netft.domains.netops.pretrain import config_text, heldout_answers
from netft.domains.netops.scoring import CONFIG_CATS, score_item
from netft.models.tiny import _token_stream, copy_gain, stream_perplexity
from netft.models.tiny_recipe import randrep_row, repeat_row, window
from netft.config import ASSETS
from netft.data.chat import read_chat_jsonl


def test_items() -> list[dict]:
    return [r for r in read_chat_jsonl(ASSETS / "data/netops/test.jsonl")
            if r["category"] in CONFIG_CATS]


def qa_docs(seed: int, n: int) -> list[str]:
    held_rows = [r for s in ("validation", "test")
                 for r in read_chat_jsonl(ASSETS / f"data/netops/{s}.jsonl")]
    held_q = {r["messages"][-2]["content"] for r in held_rows}
    held_a = heldout_answers()
    docs = []
    for row in generate(seed, n):
        q, a = row["messages"][-2]["content"], row["messages"][-1]["content"]
        if row["category"] in CONFIG_CATS and q not in held_q and a not in held_a:
            docs.append(f"{q}\n\n{config_text(a)}")
    return docs


def doc_format_accuracy(model, tok, items: list[dict], max_new_tokens: int = 160) -> dict:
    """Greedy answers to "question\\n\\n", scored as the eval scores a chat answer."""
    eot = tok.convert_tokens_to_ids("<|end_of_text|>")
    sums = {"accuracy": 0.0, "syntax": 0.0, "values_frac": 0.0}
    model.eval()
    for r in items:
        ids = tok(r["messages"][-2]["content"] + "\n\n", return_tensors="pt")["input_ids"]
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False,
                                 eos_token_id=eot, pad_token_id=eot)
        scores = score_item(r, tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True))
        for k in sums:
            sums[k] += scores["scores"][k]
    return {k: round(v / len(items), 3) for k, v in sums.items()} | {"n": len(items)}


def main() -> None:
    from transformers import AutoTokenizer, LlamaForCausalLM, get_cosine_schedule_with_warmup

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--init", required=True, help="the base to continue (a tiny-netops build)")
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--qa", type=float, default=0.75, help="share of rows that are documents")
    p.add_argument("--rows", choices=("doc", "window"), default="doc")
    p.add_argument("--seed", type=int, default=1, help="generator seed of the documents")
    p.add_argument("--n", type=int, default=15000, help="generator rows drawn")
    p.add_argument("--lr", type=float, default=3e-3)
    a = p.parse_args()

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    tok = AutoTokenizer.from_pretrained(a.init)
    model = LlamaForCausalLM.from_pretrained(a.init)
    texts = corpus_texts()
    train = torch.cat([_token_stream(tok, texts["general_train"]),
                       _token_stream(tok, texts["networking"])])
    held = _token_stream(tok, texts["general_heldout"])
    docs = qa_docs(a.seed, a.n)
    eot = tok.convert_tokens_to_ids("<|end_of_text|>")
    ids: list[int] = []
    starts: list[int] = []
    for enc in tok(docs)["input_ids"]:
        starts.append(len(ids))
        ids.extend(enc + [eot])
    stream = torch.tensor(ids)
    qa_held, stream = stream[-20000:], stream[:-20000]
    first = torch.tensor([s for s in starts if s < len(stream) - 257])
    print(f"{len(docs)} documents, {len(ids):,} tokens", flush=True)

    def doc_row() -> torch.Tensor:
        s = int(first[int(torch.randint(0, len(first), (1,), generator=gen))])
        return stream[s:s + 256]

    def report(step: int, t0: float) -> None:
        print(step, f"{time.time() - t0:.0f} s", "general ppl",
              round(stream_perplexity(model, held, 256, 16000), 1), "qa ppl",
              round(stream_perplexity(model, qa_held, 256), 2), "copy_gain",
              round(copy_gain(model, held), 3), flush=True)
        model.train()

    items = test_items()
    print("before:", doc_format_accuracy(model, tok, items), flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01, betas=(0.9, 0.95))
    sched = get_cosine_schedule_with_warmup(opt, max(1, a.steps // 20), a.steps)
    t0 = time.time()
    report(0, t0)
    for step in range(1, a.steps + 1):
        rows = []
        for _ in range(8):
            u = float(torch.rand(1, generator=gen))
            if u < a.qa:
                rows.append(doc_row() if a.rows == "doc" else window(stream, 256, gen))
            elif u < a.qa + 0.10:
                rows.append(randrep_row(train, 256, gen, (4, 64)))
            elif u < a.qa + 0.15:
                rows.append(repeat_row(train, 256, gen))
            else:
                rows.append(window(train, 256, gen))
        x = torch.stack(rows)
        model(input_ids=x, labels=x).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if step % 250 == 0 or step == a.steps:
            report(step, t0)
    model.save_pretrained(a.out, safe_serialization=True)
    tok.save_pretrained(a.out)
    result = {"init": a.init, "steps": a.steps, "qa": a.qa, "rows": a.rows,
              "after": doc_format_accuracy(model, tok, items)}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
