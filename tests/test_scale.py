"""Scale (issue 13): memory-efficient fsdp2 loading, sharded export, the planner.

Meta load: 2 ranks, the new path (rank 0 reads, rank 1 builds on the meta device and receives
its shards) against the old one (every rank loads the whole model), same seed and data.
Tolerance 1e-6 absolute on per-step losses: the weights are the same bits, so any difference
means a tensor was not sent, a tie was broken or a buffer was lost. method=full because it
trains every tensor, including the tied embedding/LM head.
"""
import json

import pytest

from conftest import netft_train_cmd, torchrun_cmd, train_losses
from test_distributed import COMMON, run_ok

pytestmark = pytest.mark.slow


def test_meta_load_equals_full_load(tmp_path, tiny_path):
    runs = {}
    for meta in ("true", "false"):
        run_dir = tmp_path / meta
        proc = run_ok(torchrun_cmd(2, *COMMON, "method=full", "parallel=fsdp2",
                                   "train.grad_accum=2", f"parallel.meta_load={meta}",
                                   f"run_dir={run_dir}"))
        log = proc.stdout + proc.stderr
        kind = "meta load" if meta == "true" else "full load"
        for rank in (0, 1):
            line = next(ln for ln in log.splitlines() if ln.startswith(f"[netft] rank {rank} holds"))
            assert kind in line and "S(0)" in line, line
        runs[meta] = run_dir
    new, old = train_losses(runs["true"]), train_losses(runs["false"])
    assert len(new) == len(old) == 4
    assert max(abs(a - b) for a, b in zip(new, old)) < 1e-6, (new, old)
    assert abs(new[-1] - new[0]) > 1e-3, "the model did not train"
    s = [json.loads((runs[m] / "summary.json").read_text()) for m in ("true", "false")]
    assert s[0]["total_params"] == s[1]["total_params"]  # the tie survived the meta skeleton
    assert s[0]["final_val_loss"] == pytest.approx(s[1]["final_val_loss"], abs=1e-6)
