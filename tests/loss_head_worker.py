"""One rank of tests/test_loss_head.py's 2-rank check: on the real backend (DDP, FSDP2 or
ZeRO-3, built exactly as netft-train builds it), the chunked losses and the full-logits losses
of the same batches give the same loss and the same (reduced) gradients.

usage: torchrun --nproc-per-node=2 tests/loss_head_worker.py TINY_PATH METHOD PARALLEL OUT.json
"""
import json
import sys

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])  # tests/: conftest's compose, test_loss's data

from conftest import compose  # noqa: E402
from netft import distributed  # noqa: E402
from netft.data.batching import collate  # noqa: E402
from netft.models.checked import load_for_training  # noqa: E402
from netft.objectives import loss_head  # noqa: E402
from netft.objectives.dpo import sequence_logps  # noqa: E402
from netft.objectives.sft import forward_logits, sft_loss_sum, token_losses  # noqa: E402
from netft.parallel.engine import before_model_load, build_engine  # noqa: E402
from test_loss import examples  # noqa: E402
from test_loss_head import CHUNK, dpo_of  # noqa: E402


def full_grads(engine):
    out = {}
    for n, p in engine.model.named_parameters():
        if not p.requires_grad:
            continue
        if hasattr(p, "ds_numel"):  # ZeRO-3: the gradient lives in the partitions
            from deepspeed.utils import safe_get_full_grad

            g = safe_get_full_grad(p)
        else:
            g = p.grad
            if g is not None and hasattr(g, "full_tensor"):  # FSDP2: a DTensor
                g = g.full_tensor()
        if g is not None:
            out[n] = g.detach().clone().float().cpu()
    return out


def run(engine, fn):
    loss = fn()
    engine.backward(loss)
    grads = full_grads(engine)
    engine.optimizer.zero_grad()
    for p in engine.model.parameters():
        p.grad = None
    return float(loss.detach()), grads


def main():
    tiny, method, parallel, out = sys.argv[1:5]
    cfg = compose(["run_dir=/tmp/x", "model=tiny", f"model.name_or_path={tiny}",
                   f"method={method}", f"parallel={parallel}",
                   f"train.loss_chunk_tokens={CHUNK}", "train.micro_batch_size=1"])
    info = distributed.setup(cfg.parallel.backend)
    torch.manual_seed(0)
    before_model_load(cfg, info)
    tokenizer, model = load_for_training(tiny, cfg, info)
    assert loss_head.attach(model, CHUNK) is None
    engine = build_engine(model, cfg, info, total_steps=10)
    pad = tokenizer.pad_token_id
    exs = examples(tokenizer, n=6, seed=10 + info.rank)  # each rank its own data
    padded = collate(exs, [[i] for i in range(len(exs))], pad, False)
    packed = collate(exs, [list(range(len(exs)))], pad, True)
    result = {"enabled": loss_head.enabled(engine.module)}

    def full_sft(b):
        return token_losses(forward_logits(engine.module, b), b["labels"]).sum()

    def full_dpo(b):
        return dpo_of(-token_losses(forward_logits(engine.module, b), b["labels"]).sum(-1))

    cases = {"sft_padded": (lambda: sft_loss_sum(engine.module, padded)[0],
                            lambda: full_sft(padded)),
             "sft_packed": (lambda: sft_loss_sum(engine.module, packed)[0],
                            lambda: full_sft(packed)),
             "dpo_padded": (lambda: dpo_of(sequence_logps(engine.module, padded)),
                            lambda: full_dpo(padded))}
    for name, (chunked_fn, full_fn) in cases.items():
        lc, gc = run(engine, chunked_fn)
        lf, gf = run(engine, full_fn)
        assert gc.keys() == gf.keys(), (name, sorted(gc), sorted(gf))
        rel = max((float((gc[n] - gf[n]).abs().max() / gf[n].abs().max().clamp(min=1e-12))
                   for n in gf), default=float("inf"))
        result[name] = {"loss_rel": abs(lc - lf) / abs(lf), "grad_rel": rel, "n_grads": len(gf)}
    if info.is_main:
        with open(out, "w") as f:
            json.dump(result, f)
        print(json.dumps(result))
    distributed.teardown(info)


if __name__ == "__main__":
    main()
