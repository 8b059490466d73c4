"""Checkpoint save/verify/load at 2 ranks, a tampered file on each rank's share (for tests).

    torchrun --nproc-per-node 2 tests/ckpt_ranks.py <parallel> <model dir> <out dir>

Builds the full-fine-tune engine of <parallel> on <model dir>, takes one optimizer step (so
the optimizer state exists), saves a checkpoint, then for each rank r: alters one byte of the
largest file in r's share() of the manifest, asks every rank to load (each must refuse before
anything is unpickled), and puts the byte back. Last, a clean load after the weights were
changed must give back exactly the saved weights; the bytes each rank hashed at save and at
that load are counted. Writes <out dir>/result-rank<r>.json.
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from conftest import compose  # noqa: E402
from netft import checkpoint, distributed  # noqa: E402
from netft.models.checked import load_for_training  # noqa: E402
from netft.parallel.engine import before_model_load, build_engine  # noqa: E402
from netft.run.state import TrainState  # noqa: E402


def local_weights(engine) -> dict:
    """This rank's values of every parameter, whatever form its shard has."""
    out = {}
    for name, p in engine.model.named_parameters():
        t = p.ds_tensor if hasattr(p, "ds_tensor") else p
        t = t.to_local() if hasattr(t, "to_local") else t
        out[name] = t.detach().clone()
    return out


hashed = [0]  # bytes this rank hashed
_sha256_file = checkpoint.sha256_file


def counting_sha256_file(path):
    hashed[0] += Path(path).stat().st_size
    return _sha256_file(path)


checkpoint.sha256_file = counting_sha256_file


def main(parallel: str, model_dir: str, out: Path) -> None:
    cfg = compose([f"run_dir={out}/run", "model=tiny", f"model.name_or_path={model_dir}",
                   "method=full", f"parallel={parallel}", "train.micro_batch_size=1"])
    info = distributed.setup("gloo")
    before_model_load(cfg, info)
    _, model = load_for_training(model_dir, cfg, info)
    engine = build_engine(model, cfg, info, total_steps=10)
    ids = torch.randint(0, engine.model.config.vocab_size, (1, 16),
                        generator=torch.Generator().manual_seed(info.rank))
    loss = engine.module(input_ids=ids, labels=ids).loss
    engine.backward(loss)
    engine.step()
    saved = checkpoint.save(engine, out / "run", TrainState(step=1, step_in_epoch=1, tokens=16),
                            info, keep=2)
    hashed_at_save = hashed[0]
    want = local_weights(engine)
    manifest = checkpoint.read_manifest(saved)
    sizes = {rel: m["size"] for rel, m in manifest["files"].items()}
    shares = checkpoint.share(sizes, info.world)
    refusals = {}
    for r in range(info.world):
        victim = saved / max(shares[r], key=lambda rel: sizes[rel])
        original = victim.read_bytes() if info.is_main else b""
        if info.is_main:
            victim.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
        distributed.barrier(info)
        try:
            checkpoint.load(engine, saved, info)
            refusals[r] = None
        except checkpoint.CheckpointError as e:
            refusals[r] = {"file": victim.name, "message": str(e)}
        distributed.barrier(info)
        if info.is_main:
            victim.write_bytes(original)
        distributed.barrier(info)
    with torch.no_grad():
        for p in engine.model.parameters():
            t = p.ds_tensor if hasattr(p, "ds_tensor") else p
            (t.to_local() if hasattr(t, "to_local") else t).add_(1.0)
    hashed[0] = 0
    state = checkpoint.load(engine, saved, info)
    got = local_weights(engine)
    exact = all(torch.equal(got[k], want[k]) for k in want)
    (out / f"result-rank{info.rank}.json").write_text(json.dumps(
        {"refusals": {str(k): v for k, v in refusals.items()}, "shares": shares,
         "step": state.step, "exact": exact, "total_bytes": sum(sizes.values()),
         "hashed_at_save": hashed_at_save, "hashed_at_load": hashed[0]}))
    distributed.teardown(info)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
