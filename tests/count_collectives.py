"""netft-train, counting the all-reduces netft issues per optimizer step (for tests/bench).

    torchrun --nproc-per-node 2 tests/count_collectives.py <overrides>   (COUNT_OUT=<file>)

Writes COUNT_OUT.<rank>: the running count of torch.distributed.all_reduce calls at each
optimizer step (taken when the step is recorded), so consecutive differences are the
collectives of one step. FSDP2's own collectives (all-gather, reduce-scatter, the clip norm's
functional all-reduce) are not torch.distributed.all_reduce calls and are not counted.
"""
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch.distributed as dist  # noqa: E402

import netft.run.step_metrics as step_metrics  # noqa: E402
from netft.train import main  # noqa: E402

calls, at_step = [0], []
_all_reduce, _add = dist.all_reduce, step_metrics.StepMetrics.add


def counting_all_reduce(*args, **kwargs):
    calls[0] += 1
    return _all_reduce(*args, **kwargs)


def recording_add(self, *args, **kwargs):
    at_step.append(calls[0])
    return _add(self, *args, **kwargs)


dist.all_reduce = counting_all_reduce
step_metrics.StepMetrics.add = recording_add
try:
    main()
finally:
    Path(f"{os.environ['COUNT_OUT']}.{os.environ.get('RANK', '0')}").write_text(
        json.dumps(at_step))
