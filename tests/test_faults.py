"""Fault injection: kills inside saves, NaN, changed resumes, crafted checkpoints, bad inputs.

Every case appends a row (case, exit/outcome, message, what survived) to FAULT_ROWS;
`tests/test_faults.py::test_write_reliability_table` (last in the file) writes them to
docs/reliability.md when NETFT_WRITE_RELIABILITY=1. Select the suite with `-m faults`.
"""
from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest
import torch

from netft import checkpoint
from netft.distributed import DistInfo

pytestmark = pytest.mark.faults
ROOT = Path(__file__).resolve().parents[1]
FAULT_ROWS: list[dict] = []


def machine_free(message: str) -> str:
    """The message without this machine's paths (docs/reliability.md is the same table on
    every machine): pytest's tmp dirs -> <tmp>, the cache -> $NETFT_CACHE, the checkout -> ."""
    import re

    message = re.sub(r"/tmp/pytest-of-[^/]+/pytest-\d+/[^/\s]+", "<tmp>", message)
    cache = os.environ.get("NETFT_CACHE")
    if cache:
        message = message.replace(str(Path(cache).expanduser()), "$NETFT_CACHE")
    return message.replace(f"{ROOT}/", "").replace(str(ROOT), ".")


def record(case: str, outcome: str, message: str, survived: str) -> None:
    FAULT_ROWS.append({"case": case, "outcome": outcome,
                       "message": machine_free(message).strip()[:300], "survived": survived})


def test_reliability_table_names_no_machine_path(monkeypatch):
    """The generated table carries no absolute path of the machine that wrote it."""
    monkeypatch.setenv("NETFT_CACHE", "/srv/cache/netft")
    assert machine_free(f"key (/srv/cache/netft/checkpoint.key) in {ROOT}/outputs/run, "
                        "/tmp/pytest-of-ci/pytest-3/test_x0/run") == \
        "key ($NETFT_CACHE/checkpoint.key) in outputs/run, <tmp>/run"
    import re

    text = (ROOT / "docs" / "reliability.md").read_text()
    found = re.findall(r"(?<![\w.<$])/(?:work|home|root|srv|Users|tmp|var)/\S*", text)
    assert not found, f"docs/reliability.md names paths of the machine that wrote it: {found}"


# ---------------------------------------------------------------- a tiny fake engine

class _Sched:
    def __init__(self):
        self.n = 0

    def state_dict(self):
        return {"n": self.n}

    def load_state_dict(self, d):
        self.n = d["n"]


class FakeEngine:
    """Enough of parallel.engine.Engine for checkpoint.save/load, without a language model."""

    def __init__(self, value: float):
        self.model = torch.nn.Linear(8, 8)
        with torch.no_grad():
            self.model.weight.fill_(value)
            self.model.bias.fill_(value)
        self.scheduler = _Sched()

    def save_state(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        sd = self.model.state_dict()
        torch.save({"weight": sd["weight"]}, path / "a.pt")
        torch.save({"bias": sd["bias"]}, path / "b.pt")

    def load_state(self, path: Path) -> None:
        sd = {**torch.load(path / "a.pt", weights_only=True),
              **torch.load(path / "b.pt", weights_only=True)}
        self.model.load_state_dict(sd)

    def value(self) -> float:
        return float(self.model.weight[0, 0].detach())


def loop(step):
    from netft.run.state import TrainState

    return TrainState(step=step, epoch=0, step_in_epoch=step, tokens=step)


def _kill_at(n_events: int, files: tuple[str, ...]):
    """A trace function that SIGKILLs this process at the n-th line executed in `files`."""
    count = [0]

    def tracer(frame, event, arg):
        if not frame.f_code.co_filename.endswith(files):
            return None

        def local(frame, event, arg):
            if event == "line":
                count[0] += 1
                if count[0] >= n_events:
                    os.kill(os.getpid(), signal.SIGKILL)
            return local
        return local
    return tracer, count


class RealEngine:
    """The tiny model's LoRA engine (torch DCP files), its weights set to one value."""
    cache: dict = {}

    def __new__(cls, value: float):
        if "engine" not in cls.cache:
            from conftest import compose
            from netft.models.load import apply_method, load_model, resolve_path
            from netft.parallel.engine import build_torch_engine

            cfg = compose(["run_dir=/tmp/x", "method=lora"])
            model = apply_method(load_model(resolve_path(cfg.model), cfg.model, cfg.method,
                                            torch.device("cpu")), cfg.method)
            cls.cache["engine"] = build_torch_engine(model, cfg, DistInfo(), total_steps=10)
        eng = cls.cache["engine"]
        with torch.no_grad():
            for p in eng.model.parameters():
                if p.requires_grad:
                    p.fill_(value)
        eng.value = lambda: float(next(p for p in eng.model.parameters()
                                       if p.requires_grad).detach().view(-1)[0])
        return eng


def _child_save(run_dir: Path, n_events: int | None, make=FakeEngine) -> int:
    """Fork: re-save step 4 with value 4.5, then save step 6 (pruning), killed at event n."""
    pid = os.fork()
    if pid == 0:  # child
        try:
            tracer, count = _kill_at(n_events or 10**9, ("checkpoint.py", "shutil.py"))
            sys.settrace(tracer)
            eng = make(4.5)
            checkpoint.save(eng, run_dir, loop(4), DistInfo(), keep=2)
            eng6 = make(6.0)
            checkpoint.save(eng6, run_dir, loop(6), DistInfo(), keep=2)
            sys.settrace(None)
            Path(run_dir / "events").write_text(str(count[0]))
        finally:
            os._exit(0)
    import time

    deadline = time.time() + 120
    while True:  # a child that hangs is a failure, not a stuck test
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.time() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError(f"a save in {run_dir} hung for 120 s")
        time.sleep(0.05)


def _prepare(run_dir: Path, make=FakeEngine) -> None:
    for step, value in ((2, 2.0), (4, 4.0)):
        checkpoint.save(make(value), run_dir, loop(step), DistInfo(), keep=2)


@pytest.mark.parametrize("engine_kind,n_offsets", [("fake", 40), ("dcp-lora", 12)])
def test_sigkill_at_every_point_of_a_resave_leaves_a_loadable_checkpoint(tmp_path, tiny_path,
                                                                          engine_kind,
                                                                          n_offsets):
    """Issue 17 item 1: a kill while replacing step-N must never leave a run that cannot
    resume. The kill lands on each of many line offsets inside save() (and shutil's rmtree),
    covering the re-save of an existing step and a save that prunes old checkpoints; once with
    a two-file fake engine (every offset), once with the tiny model's real DCP shards."""
    make = FakeEngine if engine_kind == "fake" else RealEngine
    # Forked children must not inherit a busy OpenMP pool (a child can hang in it).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _kill_everywhere(tmp_path, make, engine_kind, n_offsets)
    finally:
        torch.set_num_threads(threads)


def _kill_everywhere(tmp_path, make, engine_kind, n_offsets):
    probe = tmp_path / "probe"
    _prepare(probe, make)
    _child_save(probe, None, make)
    total = int((probe / "events").read_text())
    assert total > 50
    offsets = sorted(set(range(1, total, max(1, total // n_offsets))) | {total - 1})
    failures = []
    for n in offsets:
        run_dir = tmp_path / f"k{n}"
        _prepare(run_dir, make)
        status = _child_save(run_dir, n, make)
        assert os.WIFSIGNALED(status), f"offset {n}: the child was not killed"
        getattr(checkpoint, "repair", lambda d: None)(run_dir)
        newest = checkpoint.latest(run_dir)
        eng = make(0.0)
        try:
            state = checkpoint.load(eng, newest, DistInfo())
            expect = {2: (2.0,), 4: (4.0, 4.5), 6: (6.0,)}[state.step]
            assert state.step >= 4 and eng.value() in expect, (state.step, eng.value())
        except Exception as e:  # noqa: BLE001 - the test reports every offset that fails
            failures.append(f"offset {n}/{total}: {newest}: {type(e).__name__}: {e}"[:300])
    record(f"SIGKILL inside checkpoint saves incl. a re-save of an existing step "
           f"({engine_kind} engine; {len(offsets)} offsets of {total} lines)", f"{len(offsets) - len(failures)} resumed",
           "; ".join(failures[:2]) or "(killed; resume picks the newest complete checkpoint)",
           "newest complete checkpoint, finite, loads")
    assert not failures, "\n".join(failures)


def test_nonfinite_parameters_are_never_saved(tmp_path):
    """Issue 17 item 2 (save side): a checkpoint holding NaN weights must not be written."""
    eng = FakeEngine(1.0)
    checkpoint.save(eng, tmp_path, loop(2), DistInfo(), keep=2)
    with torch.no_grad():
        eng.model.weight[0, 0] = float("nan")
    with pytest.raises(FloatingPointError) as e:
        checkpoint.save(eng, tmp_path, loop(4), DistInfo(), keep=2)
    assert checkpoint.latest(tmp_path).name == "step-00000002"
    record("NaN parameters at a save", "FloatingPointError (exit 2 from netft-train)",
           str(e.value), "previous checkpoint (finite)")


def _payload_checkpoint(ckpt: Path, marker: Path) -> None:
    """A crafted directory whose pickles run code when loaded."""
    class Boom:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    (ckpt / "state").mkdir(parents=True)
    import pickle
    for name in ("state/.metadata", "trainer-rank0.pt"):
        (ckpt / name).write_bytes(pickle.dumps(Boom()))
    (ckpt / "COMPLETE").write_text("1")


@pytest.mark.parametrize("with_manifest", [False, True])
def test_crafted_checkpoint_never_unpickled(tmp_path, with_manifest):
    """Issue 17 item 4: train.resume=<dir> must not unpickle files netft did not write, even
    when the directory carries a manifest with correct hashes (it is signed with our key)."""
    marker = tmp_path / "pwned"
    ckpt = tmp_path / "evil" / "step-00000001"
    _payload_checkpoint(ckpt, marker)
    if with_manifest:  # the attacker lists correct sha256s, but cannot sign with our key
        files = {rel: {"size": p.stat().st_size, "sha256": checkpoint.sha256_file(p)}
                 for rel, p in checkpoint._listing(ckpt).items()}
        (ckpt / "MANIFEST.json").write_text(json.dumps({"format": "netft-checkpoint/1",
                                                        "files": files, "run": {},
                                                        "signature": "0" * 64}))
    eng = FakeEngine(0.0)
    eng.load_state = lambda p: torch.distributed.checkpoint.load(  # what DCP would do
        {}, checkpoint_id=str(p))
    with pytest.raises(Exception) as e:
        checkpoint.load(eng, ckpt, DistInfo())
    assert not marker.exists(), "the crafted checkpoint executed code"
    assert "netft" in str(e.value) and "resume" in str(e.value)
    record(f"crafted checkpoint (pickle payload, {'forged' if with_manifest else 'no'} "
           "manifest) as train.resume", "refused (exit 2)", str(e.value), "no code executed")


def test_altered_checkpoint_file_is_refused(tmp_path):
    eng = FakeEngine(1.0)
    ckpt = checkpoint.save(eng, tmp_path, loop(2), DistInfo(), keep=2)
    f = ckpt / "state" / "a.pt"
    f.write_bytes(f.read_bytes()[:-1] + b"x")
    with pytest.raises(checkpoint.CheckpointError, match="altered"):
        checkpoint.load(FakeEngine(0.0), ckpt, DistInfo())


@pytest.mark.parametrize("parallel", ["fsdp2", pytest.param("zero3", marks=pytest.mark.slow)])
def test_two_ranks_hash_their_share_and_refuse_a_tampered_file_on_any_rank(tmp_path, tiny_path,
                                                                          parallel):
    """Issue 25 item 3: at 2 ranks no rank hashes the whole checkpoint (at save or at load);
    one altered byte in a file of either rank's share is refused on every rank with the same
    one-line error, before anything is unpickled; a clean load then restores exactly."""
    import subprocess

    from conftest import free_port

    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2",
                           "--master-addr=127.0.0.1", f"--master-port={free_port()}",
                           str(ROOT / "tests" / "ckpt_ranks.py"), parallel, str(tiny_path),
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads((tmp_path / f"result-rank{r}.json").read_text()) for r in (0, 1)]
    for res in results:
        assert res["exact"] and res["step"] == 1
        for r in ("0", "1"):
            refusal = res["refusals"][r]
            assert refusal is not None, f"a tampered file in rank {r}'s share was loaded"
            assert refusal["file"] in refusal["message"] and "altered" in refusal["message"]
            assert "\n" not in refusal["message"]
        # Each rank hashed about half: the split is by bytes, and both ranks took part.
        for key in ("hashed_at_save", "hashed_at_load"):
            assert 0.3 * res["total_bytes"] < res[key] < 0.7 * res["total_bytes"], (key, res)
    assert results[0]["refusals"] == results[1]["refusals"]  # every rank, the same verdict
    assert sum(r["hashed_at_load"] for r in results) == results[0]["total_bytes"]
    record(f"one altered byte in rank 1's share of a 2-rank {parallel} checkpoint",
           "refused on both ranks", results[0]["refusals"]["1"]["message"],
           "the checkpoint (the byte restored, it loads exactly)")


def test_share_splits_bytes_evenly_and_covers_every_file():
    sizes = {"state/__0_0.distcp": 1000, "state/__1_0.distcp": 1010, "state/.metadata": 40,
             "trainer-rank0.pt": 30, "trainer-rank1.pt": 30}
    parts = checkpoint.share(sizes, 2)
    assert sorted(sum(parts, [])) == sorted(sizes)
    loads = [sum(sizes[rel] for rel in part) for part in parts]
    assert max(loads) - min(loads) <= max(sizes.values()) // 10
    assert checkpoint.share(dict(reversed(sizes.items())), 2) == parts  # same on every rank
    assert checkpoint.share(sizes, 1) == [sorted(sizes, key=lambda r: (-sizes[r], r))]
    assert checkpoint.share(sizes, 8)[7] == []  # more ranks than files: some hash nothing


def test_manifest_as_older_netft_wrote_it_still_loads(tmp_path):
    """Manifests written before per-rank digests (rank 0 hashed everything) keep loading:
    the format is the same, only who computes the hashes changed."""
    eng = FakeEngine(1.0)
    ckpt = checkpoint.save(eng, tmp_path, loop(2), DistInfo(), keep=2)
    files = {rel: {"size": p.stat().st_size, "sha256": checkpoint.sha256_file(p)}
             for rel, p in checkpoint._listing(ckpt).items()}
    body = {"format": "netft-checkpoint/1", "files": files, "run": {}}
    body["signature"] = checkpoint._sign(body, checkpoint._key(create=False))
    (ckpt / "MANIFEST.json").write_text(json.dumps(body, indent=1, sort_keys=True))
    other = FakeEngine(0.0)
    assert checkpoint.load(other, ckpt, DistInfo()).step == 2 and other.value() == 1.0


def test_disk_full_mid_save_cleans_tmp_and_names_path(tmp_path):
    """Issue 17 item 9: a write failure names the path and leaves no partial .tmp dir."""
    eng = FakeEngine(1.0)
    checkpoint.save(eng, tmp_path, loop(2), DistInfo(), keep=2)

    def full(path):
        path.mkdir(parents=True, exist_ok=True)
        (path / "a.pt").write_bytes(b"x" * 10)
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64")
    eng.save_state = full
    with pytest.raises(OSError) as e:
        checkpoint.save(eng, tmp_path, loop(4), DistInfo(), keep=2)
    assert "checkpoints/.tmp-step-00000004" in str(e.value) and "free" in str(e.value)
    assert not list(checkpoint.checkpoints_dir(tmp_path).glob(".tmp-*"))
    assert checkpoint.latest(tmp_path).name == "step-00000002"
    record("disk full while writing shards", "OSError (exit 2)", str(e.value),
           "previous checkpoint; no .tmp dir left")


def test_free_space_checked_before_save(tmp_path, monkeypatch):
    eng = FakeEngine(1.0)
    checkpoint.save(eng, tmp_path, loop(2), DistInfo(), keep=2)
    real = checkpoint.shutil.disk_usage
    monkeypatch.setattr(checkpoint.shutil, "disk_usage",
                        lambda p: real(p)._replace(free=100))
    with pytest.raises(OSError) as e:
        checkpoint.save(eng, tmp_path, loop(4), DistInfo(), keep=2)
    assert "needed" in str(e.value) and str(checkpoint.checkpoints_dir(tmp_path)) in str(e.value)
    record("too little free space before a save", "OSError (exit 2)", str(e.value),
           "previous checkpoint; nothing written")


# ---------------------------------------------------------------- values that cannot be meant

BAD_CONFIG = [
    ("train.max_grad_norm=-1", "train.max_grad_norm"),
    ("train.max_grad_norm=0", "train.max_grad_norm"),
    ("train.max_steps=0", "train.max_steps"),
    ("train.max_steps=-5", "train.max_steps"),
    ("train.keep_checkpoints=0", "train.keep_checkpoints"),
    ("method.lora_alpha=-16", "method.lora_alpha"),
    ("method.lora_dropout=2", "method.lora_dropout"),
    ("method.lora_dropout=-0.1", "method.lora_dropout"),
    ("train.betas=[0.9,1.5]", "train.betas"),
    ("train.betas=[0.9]", "train.betas"),
    ("train.weight_decay=-1", "train.weight_decay"),
    ("train.save_every_steps=-2", "train.save_every_steps"),
    ("method.target_modules=[]", "method.target_modules"),
    ("parallel=fsdp2", "launch with torchrun"),
    ("parallel=zero3", "launch with torchrun"),
    ("parallel=ddp", "launch with torchrun"),
    ("model.name_or_path=/nonexistent/model", "no such folder"),
]


@pytest.mark.parametrize("override,needle", BAD_CONFIG, ids=[o for o, _ in BAD_CONFIG])
def test_values_that_cannot_be_meant_are_refused(override, needle, monkeypatch):
    """Issue 17 items 6 and 10: one clear ConfigError naming the key, before any model load."""
    from conftest import compose
    from netft.config import ConfigError, validate

    for var in ("RANK", "WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS"):
        monkeypatch.delenv(var, raising=False)
    cfg = compose(["run_dir=/tmp/x", "eval.domain=false", override])
    with pytest.raises(ConfigError) as e:
        validate(cfg, cuda_available=False)
    assert needle in str(e.value)
    record(f"config {override}", "refused (exit 2)", str(e.value), "nothing started")


def test_empty_model_folder_is_refused(tmp_path):
    from conftest import compose
    from netft.config import ConfigError, validate

    (tmp_path / "m").mkdir()
    cfg = compose(["run_dir=/tmp/x", "eval.domain=false", f"model.name_or_path={tmp_path}/m"])
    with pytest.raises(ConfigError, match="no config.json") as e:
        validate(cfg, cuda_available=False)
    record("model.name_or_path = an empty folder", "refused (exit 2)", str(e.value),
           "nothing started")


def test_redaction_keeps_harmless_keys():
    from netft.config import redact

    out = redact({"eval": {"max_new_tokens": 256, "general_max_tokens": 99},
                  "hf_token": "x", "wandb_api_key": "y", "password": "z"})
    assert out["eval"] == {"max_new_tokens": 256, "general_max_tokens": 99}
    assert out["hf_token"] == out["wandb_api_key"] == out["password"] == "<redacted>"


# ---------------------------------------------------------------- bad data rows

def _msgs(*pairs):
    return {"messages": [{"role": r, "content": c} for r, c in pairs]}


BAD_ROWS = [
    ("two user turns in a row", [_msgs(("user", "a"), ("user", "b"), ("assistant", "c"))],
     "second user turn"),
    ("empty assistant reply", [_msgs(("user", "a"), ("assistant", ""))], "empty assistant"),
    ("whitespace assistant reply", [_msgs(("user", "a"), ("assistant", "  \n"))],
     "empty assistant"),
    ("assistant-first conversation", [_msgs(("assistant", "hi"), ("user", "a"),
                                            ("assistant", "b"))], "before any user turn"),
]


@pytest.mark.parametrize("case,rows,needle", BAD_ROWS, ids=[c for c, _, _ in BAD_ROWS])
def test_bad_rows_name_file_and_line(tmp_path, case, rows, needle):
    from netft.data.chat import DataError
    from netft.data.curation import read_source

    f = tmp_path / "d.jsonl"
    good = json.dumps(_msgs(("user", "q"), ("assistant", "a")))
    f.write_text(good + "\n" + "\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(DataError) as e:
        read_source(f)
    assert f"{f}:2" in str(e.value) and needle in str(e.value)
    record(f"data: {case}", "refused (exit 2)", str(e.value), "nothing started")


def test_non_utf8_data_names_line(tmp_path):
    from netft.data.chat import DataError
    from netft.data.curation import read_source

    f = tmp_path / "d.jsonl"
    good = json.dumps(_msgs(("user", "q"), ("assistant", "a")))
    f.write_bytes((good + "\n").encode() + json.dumps(_msgs(("user", "caf\u00e9"), (
        "assistant", "x")), ensure_ascii=False).encode("latin-1") + b"\n")
    with pytest.raises(DataError) as e:
        read_source(f)
    assert f"{f}:2" in str(e.value) and "UTF-8" in str(e.value)
    record("data: Latin-1 (non-UTF-8) line", "refused (exit 2)", str(e.value), "nothing started")


@pytest.mark.parametrize("name", ["dir.jsonl", "plaindir"])
def test_directory_as_data_file(tmp_path, name):
    from netft.data.chat import DataError
    from netft.data.curation import read_source

    d = tmp_path / name
    d.mkdir()
    with pytest.raises(DataError, match="directory") as e:
        read_source(d)
    record(f"data: a directory ({name}) given as a data file", "refused (exit 2)", str(e.value),
           "nothing started")


# ---------------------------------------------------------------- review sheets

FORMULAS = ["=HYPERLINK(\"http://x\",\"y\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)",
            "\tx", "\r=1"]


def test_review_csv_neutralises_formulas(tmp_path):
    """Issue 17 item 5: answers starting with = + - @ tab CR must not be live formulas."""
    import csv

    from netft.eval.review import export_review, import_review
    from netft.data.curation import read_sources

    rows = read_sources([str(ROOT / "netft/assets/data/netops/test.jsonl")])[:len(FORMULAS)]
    out = export_review(rows, FORMULAS, tmp_path, n=len(rows))
    with open(out["csv"], newline="", encoding="utf-8") as fh:
        cells = [c for rec in csv.reader(fh) for c in rec]
    live = [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert not live, live
    assert sum(c.startswith("'") for c in cells) >= len(FORMULAS)
    assert import_review(out["csv"])["overall"]["n_reviewed"] == 0
    record("review.csv: model answers starting with = + - @ tab CR", "written as text ('=...)",
           "cells prefixed with an apostrophe", "no formula runs in a spreadsheet")


@pytest.mark.parametrize("variant", ["excel-bom", "latin-1", "200KB-field"])
def test_review_import_tolerates_real_sheets(tmp_path, variant):
    from netft.eval.review import COLUMNS, import_review

    comment = "x" * 200_000 if variant == "200KB-field" else "très bien"
    rec = ["a1", "bgp", "p", "ans", "ref", "", "4", "yes", comment]
    text = ",".join(COLUMNS) + "\r\n" + ",".join(f'"{c}"' for c in rec) + "\r\n"
    raw = {"excel-bom": b"\xef\xbb\xbf" + text.encode("utf-8"),
           "latin-1": text.encode("latin-1"),
           "200KB-field": text.encode("utf-8")}[variant]
    f = tmp_path / "review.csv"
    f.write_bytes(raw)
    got = import_review(f)
    assert got["overall"]["n_reviewed"] == 1 and got["overall"]["mean_score"] == 4
    record(f"netft review import: {variant} sheet", "imported (exit 0)", "", "all reviews")


# ---------------------------------------------------------------- NaN gradients

def test_nan_gradient_norm_stops_before_the_update(tiny_path):
    """Issue 17 item 2: a finite loss with a NaN gradient must not reach the weights."""
    from conftest import compose
    from netft.models.load import apply_method, load_model
    from netft.parallel.engine import build_torch_engine

    cfg = compose(["run_dir=/tmp/x", "method=full"])
    model = apply_method(load_model(str(tiny_path), cfg.model, cfg.method, torch.device("cpu")),
                         cfg.method)
    engine = build_torch_engine(model, cfg, DistInfo(), total_steps=10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ids = torch.tensor([[1, 2, 3, 4]])
    loss = model(input_ids=ids, labels=ids).loss
    assert torch.isfinite(loss)
    engine.backward(loss)
    next(p for p in model.parameters() if p.grad is not None).grad.view(-1)[0] = float("nan")
    with pytest.raises(FloatingPointError) as e:
        engine.step()
    for k, v in model.state_dict().items():
        assert torch.isfinite(v).all(), k
        torch.testing.assert_close(v, before[k], msg=k)
    record("NaN gradient with a finite loss", "FloatingPointError before the update (exit 2)",
           str(e.value), "weights unchanged and finite; checkpoints untouched")


# ---------------------------------------------------------------- whole runs (netft-train)

FAST = ["model=tiny", "method=lora", "train.epochs=1", "train.micro_batch_size=1",
        "train.max_length=128", "logger=none", "eval.domain=false", "eval.general_ppl=false",
        "eval.val_before_training=false", "eval.val_every_epoch=false"]


def netft(*overrides, timeout=300, **kw):
    import subprocess

    from conftest import netft_train_cmd

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SLURM_JOB_ID", None)
    return subprocess.run(netft_train_cmd(*FAST, *overrides), cwd=kw.pop("cwd", ROOT),
                          capture_output=True, text=True, timeout=timeout, env=env, **kw)


def one_error_line(proc) -> str:
    """The run failed the netft way: exit 2, one `netft-train: error:` line, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("netft-train: error:")]
    assert len(lines) == 1, proc.stderr[-2000:]
    return lines[0]


def loop_of(ckpt: Path) -> dict:
    return torch.load(ckpt / "trainer-rank0.pt", weights_only=True)["loop"]


@pytest.mark.slow  # a whole run in a subprocess: `make test`, not test-fast
def test_resume_refuses_changed_config_and_continues_the_epoch(tmp_path, tiny_path):
    """Issue 17 items 3 and 8: a max_steps stop is not an epoch end; a resume with another lr,
    micro-batch size or data file is refused with the differences; config.yaml history kept;
    a torn metrics line does not break the resume."""
    run = tmp_path / "run"
    proc = netft("train.max_steps=2", f"run_dir={run}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    first = checkpoint.latest(run)
    state = loop_of(first)
    assert (state["epoch"], state["step_in_epoch"]) == (0, 2), state

    changed_data = tmp_path / "train.jsonl"
    src = ROOT / "netft/assets/data/netops/train.jsonl"
    changed_data.write_text(src.read_text().replace("router", "switch", 1))
    for override, needle in (("train.lr=1e-3", "train.lr"),
                             ("train.micro_batch_size=2", "train.micro_batch_size"),
                             (f"data.train_files=[{changed_data}]", "data.train_files")):
        proc = netft("train.max_steps=4", override, f"run_dir={run}")
        line = one_error_line(proc)
        assert needle in line and "resume_force" in line, line
        assert checkpoint.latest(run) == first
        record(f"resume with changed {needle}", "refused (exit 2)", line,
               "checkpoint, metrics; earlier config.yaml as config.prev-N.yaml")
    assert (run / "config.prev-1.yaml").exists()

    with open(run / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 3, "train/lo')  # a kill in the middle of a write
    proc = netft("train.max_steps=4", f"run_dir={run}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    state = loop_of(checkpoint.latest(run))
    assert (state["step"], state["epoch"], state["step_in_epoch"]) == (4, 0, 4), state
    steps = [json.loads(ln)["step"] for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4], steps
    record("torn last line in metrics.jsonl, then resume", "resumed (exit 0)", "",
           "metrics deduplicated by step; torn line kept in metrics.prev-N.jsonl")
    record("raise train.max_steps after a max_steps stop", "continued the same epoch (exit 0)",
           "", "epoch position (step_in_epoch 2 -> 4)")

    proc = netft("train.max_steps=5", "train.lr=1e-3", "train.resume_force=true",
                 f"run_dir={run}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert loop_of(checkpoint.latest(run))["step"] == 5
    record("changed lr with train.resume_force=true", "resumed (exit 0)", "", "everything")


@pytest.mark.slow  # a whole run in a subprocess: `make test`, not test-fast
def test_nan_run_names_only_a_finite_checkpoint_and_recovers(tmp_path, tiny_path):
    """Issue 17 item 2 end to end: lr=1e6 gives a finite loss and a NaN gradient norm; the run
    stops in one line, the checkpoint it names holds only finite values, and following the
    advice (lower lr + resume_force) continues from it to the end."""
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

    run = tmp_path / "run"
    proc = netft("train.lr=1e6", "train.warmup_ratio=0", "train.max_steps=6",
                 "train.save_every_steps=1", f"run_dir={run}")
    line = one_error_line(proc)
    assert "gradient norm is nan" in line or "loss is nan" in line, line
    named = Path(line.split("diverging) is ")[1].split(". Rerun")[0])
    assert named == checkpoint.latest(run)
    dcp_to_torch_save(named / "state", tmp_path / "flat.pt")
    flat = torch.load(tmp_path / "flat.pt", weights_only=True)["model"]
    assert all(torch.isfinite(v).all() for v in flat.values())
    record("lr=1e6: finite loss, NaN gradient norm", "exit 2 before the update", line,
           "every checkpoint finite; the named one verified")
    proc = netft("train.lr=1e-4", "train.warmup_ratio=0", "train.max_steps=3",
                 "train.save_every_steps=1", "train.resume=never", f"run_dir={run}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert loop_of(checkpoint.latest(run))["step"] == 3
    record("rerun as the NaN message advises (lower lr, resume=never)", "exit 0", "",
           "trained to max_steps; old metrics in metrics.prev-N.jsonl")


@pytest.mark.slow  # a whole run in a subprocess: `make test`, not test-fast
def test_checkpoint_without_manifest_is_reported_then_trusted(tmp_path, tiny_path):
    """A checkpoint of an older netft (no manifest) is neither loaded nor silently skipped."""
    import subprocess

    run = tmp_path / "run"
    assert netft("train.max_steps=2", f"run_dir={run}").returncode == 0
    ckpt = checkpoint.latest(run)
    (ckpt / "MANIFEST.json").unlink()
    line = one_error_line(netft("train.max_steps=3", f"run_dir={run}"))
    assert "trust" in line and str(ckpt) in line, line
    record("resume next to a checkpoint without a manifest (older netft)", "exit 2",
           line, "the checkpoint, untouched")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "netft.checkpoint", "trust", str(ckpt)], check=True,
                   env=env, capture_output=True)
    proc = netft("train.max_steps=3", f"run_dir={run}")
    assert proc.returncode == 0 and f"resumed from {ckpt}" in proc.stdout, proc.stderr[-2000:]
    record("the same after `python -m netft.checkpoint trust DIR`", "resumed (exit 0)", "",
           "everything")


@pytest.mark.slow  # a whole run in a subprocess: `make test`, not test-fast
def test_sigterm_during_evaluation_checkpoints_and_resumes_into_it(tmp_path, tiny_path):
    """Issue 17 item 11: a signal during a long evaluation is honoured before the evaluation
    ends; the epoch's steps are saved, and the resumed run starts with that evaluation
    instead of retraining or skipping it."""
    import subprocess
    import threading
    import time

    from conftest import netft_train_cmd, read_metrics

    run = tmp_path / "run"
    base = ["model=tiny", "method=lora", "train.epochs=1", "train.max_steps=3",
            "train.micro_batch_size=1", "train.max_length=128", "logger=none",
            "eval.general_ppl=false", "eval.val_before_training=false", "eval.review_items=0",
            "eval.gen_batch_size=1", f"run_dir={run}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SLURM_JOB_ID", None)
    # a long evaluation: 64 answers of up to 256 tokens, one per batch
    proc = subprocess.Popen(netft_train_cmd(*base, "eval.domain_max_items=64",
                                            "eval.max_new_tokens=256"),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=env)
    seen = bytearray()  # stdout and stderr together: progress bars and log lines
    reader = threading.Thread(target=lambda: [seen.extend(c) for c in
                                              iter(lambda: proc.stdout.read(64), b"")],
                              daemon=True)
    reader.start()
    deadline = time.time() + 240
    while b"domain eval (epoch 1)" not in seen:
        assert proc.poll() is None, bytes(seen)[-2000:]
        assert time.time() < deadline, "the evaluation never started"
        time.sleep(0.2)
    t0 = time.time()
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=240)
    waited = time.time() - t0
    assert rc == 128 + signal.SIGTERM, (rc, bytes(seen)[-2000:])
    assert b"before epoch 1's evaluation" in seen
    saved = checkpoint.latest(run)
    loop = loop_of(saved)
    assert loop["step"] == 3 and loop["epoch"] == 0 and not loop["history"]
    record("SIGTERM during an evaluation", f"checkpoint saved, exit {rc} after {waited:.0f} s",
           "preempted: checkpoint saved at step 3, before epoch 1's evaluation",
           "the epoch's 3 steps; the evaluation reruns on resume")

    resumed = subprocess.run(netft_train_cmd(*base, "eval.domain_max_items=4",
                                             "eval.max_new_tokens=16"),
                             cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resumed from {saved}" in resumed.stdout
    summary = json.loads((run / "summary.json").read_text())
    assert [h["epoch"] for h in summary["history"]] == [1] and summary["steps"] == 3
    steps = [r["step"] for r in read_metrics(run) if "train/loss" in r]
    assert steps == [1, 2, 3]  # nothing retrained


@pytest.mark.slow  # a whole run in a subprocess: `make test`, not test-fast
def test_two_runs_on_one_dir_and_sigterm_outside_slurm(tmp_path, tiny_path):
    """Issue 17 items 7 and 11: a second run on a busy run dir stops naming host and pid;
    SIGTERM outside Slurm saves, exits non-zero; a SIGKILLed holder's lock is stale."""
    import subprocess
    import time

    from conftest import netft_train_cmd

    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SLURM_JOB_ID", None)
    # A constant schedule: the lr does not depend on max_steps, so the resumed run can be
    # compared with a straight run of the same length. 4 epochs (428 steps): the first run is
    # still training when the SIGTERM comes, however long the second run took on a loaded
    # machine (with 1 epoch it could finish its 107 steps first).
    sched = ["train.schedule=constant", "train.warmup_ratio=0", "train.epochs=4"]
    first = subprocess.Popen(netft_train_cmd(*FAST, *sched, "train.max_steps=400",
                                             f"run_dir={run}"),
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True, env=env)
    deadline = time.time() + 120
    while not (run / "metrics.jsonl").exists():
        assert first.poll() is None, first.stderr.read()[-2000:]
        assert time.time() < deadline
        time.sleep(0.2)
    second = netft("train.max_steps=400", f"run_dir={run}")
    line = one_error_line(second)
    assert f"pid {first.pid}" in line and "in use" in line, line
    record("a second run on a run dir in use", "refused (exit 2)", line,
           "the first run, untouched")

    first.send_signal(signal.SIGTERM)
    rc = first.wait(timeout=120)
    assert rc == 128 + signal.SIGTERM, (rc, first.stderr.read()[-2000:])
    saved = checkpoint.latest(run)
    assert saved is not None
    record("SIGTERM mid-run outside Slurm", f"checkpoint saved, exit {rc}", "preempted: "
           "checkpoint saved", "a checkpoint at the current step")

    # A SIGKILLed run leaves its lock behind; the next run sees the pid is gone and goes on.
    (run / ".netft.lock").write_text(json.dumps({"host": os.uname().nodename, "pid": 2**22 + 7,
                                                 "since": 0}))
    end = loop_of(saved)["step"] + 1
    proc = netft(*sched, f"train.max_steps={end}", f"run_dir={run}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"resumed from {saved}" in proc.stdout
    assert not (run / ".netft.lock").exists()
    straight = tmp_path / "straight"
    assert netft(*sched, f"train.max_steps={end}", f"run_dir={straight}").returncode == 0
    from safetensors.torch import load_file

    a = load_file(next((straight / "final").glob("*.safetensors")))
    b = load_file(next((run / "final").glob("*.safetensors")))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], atol=1e-6, rtol=0, msg=k)
    record("stale lock of a killed run (same host, dead pid)", "taken over (exit 0)", "",
           "resumed from the newest checkpoint; final weights = an uninterrupted run's")


@pytest.mark.slow  # a whole run in a subprocess: `make test`, not test-fast
def test_user_errors_are_one_line(tmp_path, tiny_path):
    """Issue 17 item 10: launch, read-only run dir, data and crafted-checkpoint errors are one
    line on stderr with exit 2 (a traceback only with NETFT_DEBUG=1)."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    bad_data = tmp_path / "bad.jsonl"
    bad_data.write_bytes(b'{"messages": [{"role": "user", "content": "caf\xe9"}, '
                         b'{"role": "assistant", "content": "x"}]}\n')
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil" / "step-00000001"
    _payload_checkpoint(evil, marker)
    import shutil

    no_template = tmp_path / "no-template"
    shutil.copytree(tiny_path, no_template)
    (no_template / "chat_template.jinja").unlink()
    cfg_file = no_template / "tokenizer_config.json"
    tc = json.loads(cfg_file.read_text())
    tc.pop("chat_template", None)
    cfg_file.write_text(json.dumps(tc))
    cases = [
        ("parallel=fsdp2 as one plain process", ["parallel=fsdp2"], "torchrun"),
        ("run_dir not writable", [f"run_dir={blocker}/run"], "not writable"),
        ("non-UTF-8 data file", [f"data.train_files=[{bad_data}]"], f"{bad_data}:1"),
        ("crafted checkpoint as train.resume", [f"train.resume={evil}"], "MANIFEST"),
        ("missing model folder", ["model.name_or_path=./no-such-model"], "no such folder"),
        ("model folder without a chat template", [f"model.name_or_path={no_template}"],
         "chat template"),
        ("typo in method.target_modules", ["method.target_modules=[q_projx]"],
         "method.target_modules"),
    ]
    for n, (case, overrides, needle) in enumerate(cases):
        if not any(o.startswith("run_dir=") for o in overrides):
            overrides = [*overrides, f"run_dir={tmp_path / f'run{n}'}"]
        proc = netft(*overrides, cwd=tmp_path)
        line = one_error_line(proc)
        assert needle in line, line
        assert not marker.exists()
        # Hydra's own outputs/<date>/<time>/.hydra is not left behind when run_dir is given.
        assert not (tmp_path / "outputs").exists(), list((tmp_path / "outputs").rglob("*"))
        record(f"netft-train: {case}", "exit 2", line, "nothing changed; no code executed")


@pytest.mark.parametrize("damage", ["no-weights", "truncated-weights"])
def test_tiny_cache_is_validated_by_loading(tmp_path, tiny_path, damage):
    """Issue 17 item 11: a cache with the marker but without loadable weights is not trusted."""
    import shutil

    from netft.models.tiny import cache_ok

    copy = tmp_path / tiny_path.name
    shutil.copytree(tiny_path, copy)
    assert cache_ok(copy)
    w = copy / "model.safetensors"
    if damage == "no-weights":
        w.unlink()
    else:
        w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    assert not cache_ok(copy)
    record(f"tiny-model cache with marker but {damage}", "rebuilt", "", "a loadable cache")


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of a few MiB (needs root); the test is skipped where it cannot be mounted."""
    import subprocess

    mounts = []

    def make(size_kib: int) -> Path:
        d = tmp_path / f"disk{len(mounts)}"
        d.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(d)],
                           capture_output=True)
        if r.returncode != 0:
            pytest.skip("cannot mount a tmpfs here (needs root)")
        mounts.append(d)
        return d
    yield make
    for d in mounts:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)


@pytest.mark.slow  # a whole run in a subprocess: `make test`, not test-fast
def test_disk_full_on_a_real_small_disk(small_disk, tiny_path):
    """Issue 17 item 9 on a real full disk: the first save fails mid-write (one line naming the
    path, no .tmp left); with room for one checkpoint, the next save is refused before writing
    and the saved one stays intact."""
    full = small_disk(1024)  # (the KL probe's base file, ~8 MB, would fill it first)
    proc = netft("train.max_steps=2", "train.save_every_steps=1", "eval.kl_probe=false",
                 f"run_dir={full}/run")
    line = one_error_line(proc)
    assert "checkpoint" in line and "free" in line and str(full) in line, line
    assert not list((full / "run" / "checkpoints").glob(".tmp-*"))
    record("disk full during the first checkpoint (1 MiB tmpfs)", "exit 2", line,
           "run dir; no partial .tmp dir")

    one = small_disk(6 * 1024)
    proc = netft("train.max_steps=2", "train.save_every_steps=1", "eval.kl_probe=false",
                 f"run_dir={one}/run")
    line = one_error_line(proc)
    assert "needed" in line and "checkpoints" in line, line
    saved = checkpoint.latest(one / "run")
    assert saved is not None and saved.name == "step-00000001"
    checkpoint.verify(saved)
    record("disk with room for one checkpoint (6 MiB tmpfs)", "exit 2 before writing the second",
           line, "step 1 checkpoint, verified by hash")


# ---------------------------------------------------------------- the table (runs last)

def test_write_reliability_table():
    """With NETFT_WRITE_RELIABILITY=1 (CI, `make reliability`): docs/reliability.md from the
    cases this session ran."""
    if os.environ.get("NETFT_WRITE_RELIABILITY") != "1" or not FAULT_ROWS:
        pytest.skip("set NETFT_WRITE_RELIABILITY=1 and run the whole faults suite to write it")
    import time

    def esc(text: str) -> str:
        return " ".join(text.replace("|", "\\|").split()) or "-"

    lines = [
        "# Reliability: faults tried and what survived",
        "",
        "Generated by `NETFT_WRITE_RELIABILITY=1 pytest -m faults tests/test_faults.py` "
        f"({time.strftime('%Y-%m-%d')}); every row is an assertion of that suite, so a row "
        "that stops holding fails CI. Exit 2 = netft's one-line error "
        "(`netft-train: error: ...`; a traceback only with `NETFT_DEBUG=1`).",
        "",
        f"Cases: {len(FAULT_ROWS)}. Each one ended with a clear message or a full recovery; "
        "silent acceptances: 0; stuck runs: 0; code executed from crafted files: 0.",
        "",
        "| case | outcome | message | what survived |",
        "|---|---|---|---|",
    ]
    lines += [f"| {esc(r['case'])} | {esc(r['outcome'])} | {esc(r['message'])} | "
              f"{esc(r['survived'])} |" for r in FAULT_ROWS]
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "reliability.md").write_text("\n".join(lines) + "\n")
