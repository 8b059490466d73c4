"""Issue 21: what a first cluster run meets, checked on CPU where a stand-in is faithful.

Two-rank cases run in-process workers on gloo (torch.multiprocessing, spawn), each rank with
its own view of the world (a directory listing, a download) where that is the point.
"""
import json
import os
import sys
import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from conftest import compose, free_port
from netft.config import ConfigError
from netft.distributed import DistInfo


# ---------------------------------------------------------------- two gloo ranks in-process

def _worker(rank: int, name: str, port: int, out: str, args: tuple) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    info = DistInfo(rank, 2, rank, torch.device("cpu"), "gloo")
    try:
        result = {"ok": globals()[name](info, *args)}
    except Exception as e:  # noqa: BLE001 - reported to the test
        result = {"error": f"{type(e).__name__}: {e}"}
    Path(out, f"{rank}.json").write_text(json.dumps(result))
    dist.barrier()
    dist.destroy_process_group()


def two_ranks(name: str, tmp_path: Path, *args) -> list[dict]:
    import torch.multiprocessing as mp

    out = tmp_path / f"out-{name}"
    out.mkdir()
    mp.start_processes(_worker, args=(name, free_port(), str(out), args), nprocs=2,
                       start_method="spawn")
    return [json.loads((out / f"{r}.json").read_text()) for r in (0, 1)]


# ---------------------------------------------------------------- item 5: one resume point

def _resume_choice(info, run_dir: str):
    from netft import checkpoint
    from netft.run import resume

    # Rank 1 sees a stale listing (its node's directory cache, right after a requeue):
    # only step 4, where rank 0 (which just repaired the directory) sees step 8.
    steps = [4, 8] if info.is_main else [4]
    root = checkpoint.checkpoints_dir(Path(run_dir))
    checkpoint.complete_checkpoints = lambda _d: [root / f"step-{s:08d}" for s in steps]
    cfg = OmegaConf.create({"train": {"resume": "auto"}})
    found = resume.agreed(cfg, Path(run_dir), info)
    return str(found)


def test_ranks_resume_from_rank0s_choice(tmp_path):
    got = two_ranks("_resume_choice", tmp_path, str(tmp_path / "run"))
    assert all("ok" in g for g in got), got
    assert [Path(g["ok"]).name for g in got] == ["step-00000008"] * 2


def _resume_refused(info, run_dir: str):
    from netft.run import resume

    # Rank 0 finds the named checkpoint incomplete; rank 1 must stop too, not wait.
    cfg = OmegaConf.create({"train": {"resume": run_dir + "/nope" if info.is_main else "never"}})
    return str(resume.agreed(cfg, Path(run_dir), info))


def test_a_refused_resume_stops_every_rank(tmp_path):
    got = two_ranks("_resume_refused", tmp_path, str(tmp_path))
    assert all("not a complete netft checkpoint" in g.get("error", "") for g in got), got


# ---------------------------------------------------------------- item 6: hub download

def _download(info, cache: str, fail: bool):
    import huggingface_hub

    calls = Path(cache) / f"calls-{info.rank}.jsonl"

    def fake_snapshot_download(repo_id, revision=None, allow_patterns=None,
                               local_files_only=False):
        with open(calls, "a") as fh:
            fh.write(json.dumps({"local_only": local_files_only, "t": time.time()}) + "\n")
        folder = Path(cache) / "snap"
        if local_files_only:
            if not (folder / "model.safetensors").exists():
                raise FileNotFoundError("not in the cache")
            return str(folder)
        if fail:
            raise RuntimeError("401 Client Error: access to model org/gated is restricted")
        time.sleep(1.0)  # a download that takes a while
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text("{}")
        (folder / "model.safetensors").write_bytes(b"\0" * 16)
        return str(folder)

    huggingface_hub.snapshot_download = fake_snapshot_download
    from netft.models.load import resolve_path

    cfg = OmegaConf.create({"name_or_path": "org/model", "revision": None,
                            "trust_remote_code": False, "cache_dir": cache})
    return resolve_path(cfg, info=info)


def test_hub_model_downloads_once_per_node_and_the_others_wait(tmp_path):
    got = two_ranks("_download", tmp_path, str(tmp_path), False)
    assert all("ok" in g for g in got), got
    assert got[0]["ok"] == got[1]["ok"] == str(tmp_path / "snap")
    r0 = [json.loads(x) for x in (tmp_path / "calls-0.jsonl").read_text().splitlines()]
    r1 = [json.loads(x) for x in (tmp_path / "calls-1.jsonl").read_text().splitlines()]
    assert [c["local_only"] for c in r0] == [False]  # local rank 0 downloads
    assert [c["local_only"] for c in r1] == [True]  # local rank 1 only reads the cache ...
    assert r1[0]["t"] > r0[0]["t"] + 0.9  # ... after the download finished


def test_failed_hub_download_stops_every_rank_with_its_reason(tmp_path):
    got = two_ranks("_download", tmp_path, str(tmp_path), True)
    for g in got:
        assert "error" in g and "ConfigError" in g["error"], got
    assert "restricted" in got[0]["error"] and "HF_TOKEN" in got[0]["error"]
    assert "another node" in got[1]["error"] or "restricted" in got[1]["error"]


# ---------------------------------------------------------------- item 6: MASTER_ADDR

@pytest.mark.parametrize("nodes", [1, 2])
def test_master_addr_never_guessed_on_a_multi_node_launch(monkeypatch, nodes):
    import subprocess

    import torch.distributed as dist

    from netft import distributed

    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT",
                "LOCAL_WORLD_SIZE", "SLURM_NNODES"):
        monkeypatch.setenv(key, "0")  # registers the original value for teardown ...
        monkeypatch.delenv(key)  # ... which setup() may overwrite
    monkeypatch.setenv("SLURM_PROCID", "1")
    monkeypatch.setenv("SLURM_NTASKS", "2")
    monkeypatch.setenv("SLURM_JOB_NUM_NODES", str(nodes))
    monkeypatch.setenv("SLURM_JOB_NODELIST", "gpu[01-02]")

    def no_scontrol(*a, **k):  # a compute node without Slurm's client tools
        raise FileNotFoundError("scontrol")

    def reached_init(*a, **k):
        raise RuntimeError(f"init with MASTER_ADDR={os.environ['MASTER_ADDR']}")

    monkeypatch.setattr(subprocess, "run", no_scontrol)
    monkeypatch.setattr(dist, "init_process_group", reached_init)
    if nodes == 1:  # one node: this machine is the rendezvous host
        with pytest.raises(RuntimeError, match="MASTER_ADDR=127.0.0.1"):
            distributed.setup("gloo")
    else:
        with pytest.raises(ConfigError, match="MASTER_ADDR is not set on a 2-node launch"):
            distributed.setup("gloo")


# ---------------------------------------------------------------- items 4, 6: attention

def _fake_flash(tmp_path: Path, body: str, monkeypatch):
    pkg = tmp_path / "fake" / "flash_attn"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path / "fake"))
    monkeypatch.delitem(sys.modules, "flash_attn", raising=False)
    from netft.models.load import flash_attn_problem

    flash_attn_problem.cache_clear()
    return flash_attn_problem


BROKEN = ("raise ImportError('flash_attn_2_cuda.cpython-311-x86_64-linux-gnu.so: undefined "
          "symbol: _ZN3c104cuda9SetDeviceEi')\n")
WORKING = "def flash_attn_func(*a, **k): pass\ndef flash_attn_varlen_func(*a, **k): pass\n"


def test_flash_attn_wheel_that_does_not_load_falls_back_to_sdpa(tmp_path, monkeypatch, capsys):
    from netft.models.load import pick_attention

    problem = _fake_flash(tmp_path, BROKEN, monkeypatch)
    try:
        model_cfg = OmegaConf.create({"attn_implementation": "auto", "dtype": "bfloat16"})
        assert pick_attention(model_cfg, torch.device("cuda")) is None
        assert "undefined symbol" in capsys.readouterr().err
        cfg = compose(["run_dir=/tmp/x", "model.attn_implementation=flash_attention_2",
                       "model.dtype=bfloat16"])
        from netft.config import validate

        with pytest.raises(ConfigError, match="flash-attn does not load.*undefined symbol"):
            validate(cfg, cuda_available=True, world=1)
    finally:
        problem.cache_clear()


def test_flash_attn_never_chosen_for_float32(tmp_path, monkeypatch, capsys):
    from netft.config import validate
    from netft.models.load import pick_attention

    problem = _fake_flash(tmp_path, WORKING, monkeypatch)
    try:
        cuda = torch.device("cuda")
        bf16 = OmegaConf.create({"attn_implementation": "auto", "dtype": "bfloat16"})
        fp32 = OmegaConf.create({"attn_implementation": "auto", "dtype": "float32"})
        assert pick_attention(bf16, cuda) == "flash_attention_2"  # the stand-in loads
        assert pick_attention(fp32, cuda) is None
        assert "model.dtype=float32" in capsys.readouterr().err
        cfg = compose(["run_dir=/tmp/x", "model.attn_implementation=flash_attention_2",
                       "model.dtype=float32"])
        with pytest.raises(ConfigError, match="flash_attention_2 with model.dtype=float32"):
            validate(cfg, cuda_available=True, world=1)
    finally:
        problem.cache_clear()


# ---------------------------------------------------------------- item 4: one dtype for qlora

@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_fsdp2_param_dtype_is_qlora_storage_dtype(tiny_path, monkeypatch, dtype):
    """FSDP2's all-gather dtype and bitsandbytes' storage dtype come from one place: a
    policy that differs would cast the packed 4-bit codes on every all-gather."""
    import torch.distributed.device_mesh as device_mesh
    import torch.distributed.fsdp as fsdp

    from netft.models.load import apply_method, load_model, qlora_quantization_config
    from netft.models.precision import compute_dtype
    from netft.parallel.engine import build_torch_engine

    seen = []
    monkeypatch.setattr(fsdp, "fully_shard", lambda m, **kw: seen.append(kw.get("mp_policy")))
    monkeypatch.setattr(device_mesh, "init_device_mesh", lambda *a, **k: "mesh")
    cfg = compose(["run_dir=/tmp/x", "method=qlora", "parallel=fsdp2", f"model.dtype={dtype}"])
    cuda = torch.device("cuda")  # never touched: sharding is recorded, not done
    model = load_model(str(tiny_path), cfg.model, compose(["method=lora"]).method,
                       torch.device("cpu"))
    model = apply_method(model, cfg.method)
    monkeypatch.setattr(torch.optim.AdamW, "__init__", _adamw_without_fused)
    build_torch_engine(model, cfg, DistInfo(0, 2, 0, cuda, "nccl"), total_steps=1)
    storage = qlora_quantization_config(compute_dtype(cfg.model, cuda)).bnb_4bit_quant_storage
    assert seen and all((p.param_dtype if p is not None else storage) == storage for p in seen), \
        (seen, storage)


_ADAMW_INIT = torch.optim.AdamW.__init__


def _adamw_without_fused(self, params, **kw):
    kw.pop("fused", None)  # the CUDA choice; these parameters are on the CPU
    _ADAMW_INIT(self, params, **kw)


# ---------------------------------------------------------------- item 1: finite check

def test_frozen_nonfinite_values_do_not_block_a_save(tmp_path):
    """qlora's frozen 4-bit base is packed codes in float containers (some read as NaN):
    the check before a save covers what training can change; trainable NaN still stops it."""
    from test_faults import FakeEngine, loop

    from netft import checkpoint

    eng = FakeEngine(1.0)
    eng.model.weight.requires_grad_(False)
    with torch.no_grad():
        eng.model.weight[0, 0] = float("nan")  # frozen: cannot have been made by training
    checkpoint.save(eng, tmp_path, loop(2), DistInfo(), keep=2)
    assert checkpoint.latest(tmp_path).name == "step-00000002"
    with torch.no_grad():
        eng.model.bias[0] = float("inf")  # trainable
    with pytest.raises(FloatingPointError, match="1 parameter values are NaN/inf"):
        checkpoint.save(eng, tmp_path, loop(4), DistInfo(), keep=2)


# ---------------------------------------------------------------- item 6: qlora counts, lm-eval

@pytest.fixture(scope="module")
def qlora_engine(tiny_path):
    from netft.models.load import apply_method, load_model
    from netft.parallel.engine import build_torch_engine

    cfg = compose(["run_dir=/tmp/x", "method=qlora"])
    model = apply_method(load_model(str(tiny_path), cfg.model, cfg.method, torch.device("cpu")),
                         cfg.method)
    torch.manual_seed(0)
    for name, p in model.named_parameters():  # an adapter that changes the output
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.05)
    return build_torch_engine(model, cfg, DistInfo(), total_steps=1)


def test_qlora_counts_weights_not_packed_containers(tiny_path, qlora_engine):
    from netft.models.load import apply_method, count_params, load_model
    from netft.perf import count_flops_params

    cfg = compose(["run_dir=/tmp/x", "method=lora"])
    lora = apply_method(load_model(str(tiny_path), cfg.model, cfg.method, torch.device("cpu")),
                        cfg.method)
    # The same architecture with the same adapters: the same number of weights.
    assert count_params(qlora_engine.model) == count_params(lora)
    assert count_flops_params(qlora_engine.model) == count_flops_params(lora)


def test_qlora_lm_eval_copy_decodes_the_4bit_base(qlora_engine):
    from netft.eval.general import unsharded_copy

    copy = unsharded_copy(qlora_engine, qlora_engine.full_state_dict())
    ids = torch.arange(5, 69)[None]
    qlora_engine.model.eval()
    with torch.no_grad():
        want = qlora_engine.model(input_ids=ids).logits
        got = copy(input_ids=ids).logits
    # The same dequantised weights and fp32 matmuls: equal up to fp32 rounding of the sums.
    assert (got - want).abs().max().item() <= 1e-5 * want.abs().max().item()


# ---------------------------------------------------------------- item 6: fsdp2 accumulation

def _fsdp2_accumulate(info, tiny: str, every: bool):
    import torch.distributed.fsdp._fully_shard._fsdp_param_group as group_mod

    from netft.models.load import apply_method, load_model
    from netft.parallel.engine import build_torch_engine
    from netft.objectives.accumulate import forward_backward

    calls = [0]
    real = group_mod.foreach_reduce

    def counting(*a, **k):
        calls[0] += 1
        return real(*a, **k)

    group_mod.foreach_reduce = counting
    cfg = compose(["run_dir=/tmp/x", "method=full", "parallel=fsdp2", "train.grad_accum=4",
                   f"parallel.grad_sync_every_microbatch={str(every).lower()}"])
    model = apply_method(load_model(tiny, cfg.model, cfg.method, info.device), cfg.method)
    engine = build_torch_engine(model, cfg, info, total_steps=1)
    torch.manual_seed(info.rank)
    batches = []
    for _ in range(4):
        ids = torch.randint(5, 2000, (1, 24))
        batches.append({"input_ids": ids, "labels": ids.clone(), "n_tokens": 24,
                        "position_ids": torch.arange(24)[None]})
    forward_backward(engine, batches, info)
    grads = torch.cat([p.grad.full_tensor().flatten() for p in model.parameters()])
    return {"reduces": calls[0], "grads": grads.tolist()[::97]}


@pytest.mark.slow
def test_fsdp2_reduce_scatters_once_per_step_with_the_same_gradient(tmp_path, tiny_path):
    once = two_ranks("_fsdp2_accumulate", tmp_path, str(tiny_path), False)
    assert all("ok" in g for g in once), once
    (tmp_path / "b").mkdir()
    every = two_ranks("_fsdp2_accumulate", tmp_path / "b", str(tiny_path), True)
    assert all("ok" in g for g in every), every
    units = every[0]["ok"]["reduces"] // 4  # FSDP units (decoder layers + root)
    assert units >= 2 and every[0]["ok"]["reduces"] == 4 * units
    assert once[0]["ok"]["reduces"] == units  # one reduce-scatter per unit per step
    a, b = torch.tensor(once[0]["ok"]["grads"]), torch.tensor(every[0]["ok"]["grads"])
    # The same float32 sums in another order (4 local adds + 1 reduce vs 4 reduces):
    # a few ulps of the largest gradient, far below any real difference.
    assert (a - b).abs().max().item() <= 1e-5 * a.abs().max().item(), (a - b).abs().max()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_gpu_check_says_no_cuda_and_fails():
    import subprocess

    from conftest import ROOT

    proc = subprocess.run([sys.executable, "scripts/gpu_check.py", "--out", "/dev/null"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "no CUDA device present" in proc.stderr
