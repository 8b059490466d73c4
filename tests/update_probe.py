"""netft-train, recording whether the optimizer's updates land in the weights it holds.

    torchrun --nproc-per-node 2 tests/update_probe.py <overrides>     (PROBE_OUT=<file>)
    python tests/update_probe.py <overrides>

At engine build it copies the tensors the innermost torch optimizer updates (the master
weights: the model's parameters, their FSDP2 shards, or DeepSpeed's fp32 partitions); at the
first checkpoint save it writes PROBE_OUT.<rank>: how many of those elements changed, their
dtypes, the optimizer states' dtypes, and the model parameters' dtypes. A bf16 run that lost
its updates shows a small changed fraction; fp32 masters show ~1.
"""
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import netft.checkpoint as checkpoint  # noqa: E402
import netft.train as train  # noqa: E402

_build, _save = train.build_engine, checkpoint.save
start: list = []
done = [False]
computed: set = set()  # dtypes of the linear layers' outputs: what the matmuls ran in


def inner_optimizer(engine):
    opt = engine.optimizer
    while not isinstance(opt, torch.optim.Optimizer) or hasattr(opt, "optimizer"):
        opt = opt.optimizer  # DeepSpeed wraps a torch optimizer
    return opt


def local(t):
    return t.to_local() if hasattr(t, "to_local") else t


def masters(engine):
    if hasattr(engine.optimizer, "fp32_partitioned_groups_flat"):  # ZeRO-3 sets the inner
        return list(engine.optimizer.fp32_partitioned_groups_flat)  # params only per step
    return [p for g in inner_optimizer(engine).param_groups for p in g["params"]]


def recording_build(model, cfg, info, total_steps):
    engine = _build(model, cfg, info, total_steps)
    start.extend(local(p).detach().clone() for p in masters(engine))
    for m in engine.model.modules():
        if isinstance(m, torch.nn.Linear):
            # The chunked loss head (objectives/loss_head.py), called with a loss request as
            # its second argument, answers with fp32 sums or log-probs, not a layer output:
            # they say nothing about the dtype its matmuls ran in, so they are not recorded.
            m.register_forward_hook(lambda _m, i, out: computed.add(str(out.dtype))
                                    if len(i) < 2 or i[1] is None else None)
    return engine


def recording_save(engine, run_dir, loop_state, info, *args, **kwargs):
    if not done[0]:
        done[0] = True
        changed = total = 0
        for p, p0 in zip(masters(engine), start):
            now = local(p).detach()
            changed += int((now != p0).sum())
            total += now.numel()
        opt = inner_optimizer(engine)
        states = sorted({str(v.dtype) for s in opt.state.values() for v in s.values()
                         if torch.is_tensor(v) and v.ndim > 0})
        out = {"changed": changed, "total": total,
               "master_dtypes": sorted({str(local(p).dtype) for p in masters(engine)}),
               "state_dtypes": states,
               "model_dtypes": sorted({str(p.dtype) for p in engine.model.parameters()}),
               "compute_dtypes": sorted(computed),
               "step": loop_state.step}
        Path(f"{os.environ['PROBE_OUT']}.{info.rank}").write_text(json.dumps(out))
    return _save(engine, run_dir, loop_state, info, *args, **kwargs)


train.build_engine = recording_build
train.checkpoint.save = recording_save
if __name__ == "__main__":
    train.main()
