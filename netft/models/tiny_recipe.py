"""The rows of the tiny base's pre-training batches, and which stage draws which.

The plain build (TinySpec() defaults) trains on corpus windows only: it learns English and
FRR's manual, but barely copies from its context (copy_gain ~0.05 nats/token), so a fine-tune
of it learns a config's shape and never its values (the prompt's addresses and AS numbers).
Real base models copy well. Two extra stages give the tiny one that, and a third gives it the
prior a real base brings to a domain (it has read configurations on the web):

  warm-up  random-token repeats in a short context (periods 4-10 in 32 tokens): at this
           length attention at initialisation is spread over few positions, so the
           induction circuit forms in ~250 steps; in 128-256 tokens it did not form within
           2M tokens (bench/copy_base_results.md measures both).
  main     corpus windows with some random-token repeats (periods 4-64) and repeated spans
           kept in the mix, or the first steps at full length erase the circuit.
  domain   windows of the domain pack's pre-training documents (Domain.pretrain_docs: for
           netops, configurations without their questions), with corpus windows and repeats
           still in the mix; a fresh optimiser and schedule, like continued pre-training.

Written here rather than with a data library: each row is one slice of a token tensor, drawn
from one seeded generator so that a build is the same on every run of the same machine.
"""
from __future__ import annotations

import torch


def window(stream: torch.Tensor, seq_len: int, gen: torch.Generator) -> torch.Tensor:
    """A random window of a token stream."""
    s = int(torch.randint(0, len(stream) - seq_len - 1, (1,), generator=gen))
    return stream[s:s + seq_len]


def randrep_row(stream: torch.Tensor, seq_len: int, gen: torch.Generator,
                periods: tuple[int, int]) -> torch.Tensor:
    """k tokens drawn at random positions (unigram frequencies, no bigram structure), repeated
    to fill the row: after the first k, only copying predicts them."""
    k = int(torch.randint(periods[0], periods[1] + 1, (1,), generator=gen))
    r = stream[torch.randint(0, len(stream), (k,), generator=gen)]
    return r.repeat(seq_len // k + 1)[:seq_len]


def repeat_row(stream: torch.Tensor, seq_len: int, gen: torch.Generator) -> torch.Tensor:
    """A corpus window A, then random spans of A (8-48 tokens): copying pays on each span after
    its first token."""
    h = seq_len // 2
    s = int(torch.randint(0, len(stream) - h - 1, (1,), generator=gen))
    a = stream[s:s + h]
    out, n = [a], h
    while n < seq_len:
        k = int(torch.randint(8, 49, (1,), generator=gen))
        o = int(torch.randint(0, h - k + 1, (1,), generator=gen))
        out.append(a[o:o + k])
        n += k
    return torch.cat(out)[:seq_len]


def warm_batch(corpus: torch.Tensor, spec, gen: torch.Generator) -> torch.Tensor:
    return torch.stack([randrep_row(corpus, spec.warm_seq, gen, (4, 10))
                        for _ in range(spec.warm_batch)])


def main_batch(corpus: torch.Tensor, spec, gen: torch.Generator) -> torch.Tensor:
    rows = []
    for _ in range(spec.batch_size):
        u = float(torch.rand((), generator=gen))
        if u < spec.repeat_rows:
            rows.append(repeat_row(corpus, spec.seq_len, gen))
        elif u < spec.repeat_rows + spec.copy_rows:
            rows.append(randrep_row(corpus, spec.seq_len, gen, (4, spec.copy_period_max)))
        else:
            rows.append(window(corpus, spec.seq_len, gen))
    return torch.stack(rows)


def domain_batch(corpus: torch.Tensor, domain: torch.Tensor, spec,
                 gen: torch.Generator) -> torch.Tensor:
    rows = []
    for _ in range(spec.batch_size):
        u = float(torch.rand((1,), generator=gen))
        if u < spec.domain_rows:
            rows.append(window(domain, spec.seq_len, gen))
        elif u < spec.domain_rows + spec.domain_copy_rows:
            rows.append(randrep_row(corpus, spec.seq_len, gen, (4, spec.copy_period_max)))
        elif u < spec.domain_rows + spec.domain_copy_rows + spec.domain_repeat_rows:
            rows.append(repeat_row(corpus, spec.seq_len, gen))
        else:
            rows.append(window(corpus, spec.seq_len, gen))
    return torch.stack(rows)
