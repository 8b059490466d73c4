"""Generation from a whole copy of the weights when the model is sharded (issue 25 item 4).

Under FSDP2 and ZeRO-3 every forward pass gathers every layer, and greedy generation makes
one forward pass per new token: measured in docs/scale.md §8, 2 ranks generating from the
shards take 1.7x (FSDP2) to 4.7x (ZeRO-3) the time per item of one process. So the domain
evaluation gathers the weights once (engine.full_state_dict, complete on rank 0), builds a
plain copy on every rank (eval/general.py's unsharded_copy: adapters and 4-bit bases
included), broadcasts rank 0's values into it tensor by tensor, generates each rank's share
from it with no per-token collective, and frees it -- when it fits (fits(): the float32 build
on the host and the copy in the compute dtype on the GPU, each plus a quarter, within the
free memory this rank may use; the host's is shared by the node's ranks). Otherwise, and with eval.gen_whole_copy=never,
generation runs on the shards as before. Greedy answers are the same either way
(tests/test_distributed.py::test_sharded_domain_eval_does_not_hang_and_matches).
"""
from __future__ import annotations

import contextlib
import os

import torch
import torch.distributed as dist

from netft.distributed import DistInfo, all_reduce_sum

HEADROOM = 1.25  # the copy's weights + a quarter for the KV cache and activations


def _host_free_per_rank(info: DistInfo) -> float:
    try:
        with open("/proc/meminfo") as fh:
            avail = next(int(line.split()[1]) * 1024 for line in fh
                         if line.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        return 0.0
    return avail / max(int(os.environ.get("LOCAL_WORLD_SIZE", info.world)), 1)


def fits(n_params: int, dtype: torch.dtype, info: DistInfo) -> bool:
    """The copy is built in float32 on the host (then cast and moved): that on the host, and
    on a GPU its bytes in `dtype`, each with HEADROOM, within what this rank may use."""
    host_ok = n_params * 4 * HEADROOM <= _host_free_per_rank(info)
    if info.device.type != "cuda":
        return host_ok
    need = n_params * torch.finfo(dtype).bits // 8
    return host_ok and need * HEADROOM <= torch.cuda.mem_get_info(info.device)[0]


@contextlib.contextmanager
def generation_model(engine, mode: str, info: DistInfo, say=lambda *a: None):
    """The model to generate from: a whole copy on every rank (see above), or engine.model."""
    from netft.parallel.engine import parameter_share

    share = parameter_share(engine.model)
    dtype = engine.export_dtype or torch.float32
    need = share["full"] * torch.finfo(dtype).bits // 8
    if mode == "never" or not info.distributed or share["fraction"] >= 1.0:
        yield engine.model
        return
    # Every rank must take the same path: the copy is built only if it fits on all of them.
    short = all_reduce_sum(0.0 if fits(share["full"], dtype, info) else 1.0, info)
    if short:
        say(f"[netft] domain eval: generating from the shards (a whole copy, "
            f"{need / 2**30:.2f} GiB, does not fit on {int(short)} rank(s))")
        yield engine.model
        return
    from netft.eval.general import unsharded_copy

    state = engine.full_state_dict()  # collective; complete on rank 0
    copy = unsharded_copy(engine, state if info.is_main else None)
    del state
    copy = copy.to(device=info.device, dtype=dtype)
    for t in copy.state_dict().values():  # same structure, same order, on every rank
        dist.broadcast(t, src=0)
    say(f"[netft] domain eval: generating from a whole copy of the weights on every rank "
        f"({need / 2**30:.2f} GiB; no per-token gather)")
    try:
        yield copy
    finally:
        del copy
        if info.device.type == "cuda":
            torch.cuda.empty_cache()
