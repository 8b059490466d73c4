"""Training checkpoints: sharded, atomic, keep-last-K, verified, and an exact resume.

    <run_dir>/checkpoints/step-00000120/
        state/                 model + optimizer shards (torch DCP, or DeepSpeed's own format)
        trainer-rank<r>.pt     train state (netft/run/state.py), scheduler, RNG states (per rank)
        MANIFEST.json          every file above with its size and sha256, the run's geometry,
                               data fingerprint and optimizer settings, and an HMAC signature
        COMPLETE               written last: a directory without it is ignored

Every rank writes its shards into `.tmp-step-*`; after a barrier every rank hashes its share
of the files (share(): equal bytes per rank, so no rank hashes the whole checkpoint), rank 0
gathers the digests, writes and signs the manifest, adds COMPLETE and renames the directory
into place. Replacing an existing `step-N` (an
epoch-end save on a step `save_every_steps` already saved) first renames the old one aside
(`.old-step-N`), moves the new one in, and only then deletes the old one, so at every moment
one complete copy of step N exists under a name `repair()` understands.

Why a signed manifest: torch DCP unpickles `.metadata` and DeepSpeed's loader calls
`torch.load` without `weights_only`, so loading a directory netft did not write can run code.
A sha256 list alone proves nothing (a crafted directory can carry a crafted list), so the
manifest is signed with a per-user key (`$NETFT_CACHE/checkpoint.key`, mode 0600) and checked,
with every file's hash, before anything in the directory is unpickled: rank 0 checks the
signature and that no unlisted file is present, sends the signed list to every rank, each rank
hashes its share against it, and all ranks learn every verdict before any rank loads.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import secrets
import shutil
from pathlib import Path

import torch
from torch.distributed.checkpoint.api import CheckpointException

from netft.distributed import DistInfo, all_reduce_sum, barrier, gather_objects
from netft.errors import NetftError, guard
from netft.run.state import TrainState

PREFIX = "step-"
MANIFEST = "MANIFEST.json"
FORMAT = "netft-checkpoint/1"
# Files of ours that the manifest does not list (it cannot list itself).
UNLISTED = {"COMPLETE", MANIFEST}


DISK_FULL_SIGNS = ("inline_container", "unexpected pos", "No space", "Errno 28",
                   "Disk quota")


class CheckpointError(NetftError, RuntimeError):
    """A checkpoint that must not be loaded (unsigned, altered, incomplete, other geometry)."""


def checkpoints_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def _step_of(p: Path) -> int:
    return int(p.name.rsplit("-", 1)[1])


# ---------------------------------------------------------------- signing key + manifest

def key_path() -> Path:
    cache = os.environ.get("NETFT_CACHE", "~/.cache/netft")
    return Path(os.path.expanduser(cache)) / "checkpoint.key"


def _key(create: bool) -> bytes | None:
    path = key_path()
    if not path.exists():
        if not create:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".checkpoint.key.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        try:  # two processes creating it at once: the first one wins, both use it
            os.link(tmp, path)
        except FileExistsError:
            pass
        os.unlink(tmp)
    return path.read_text().strip().encode()


def _sign(body: dict, key: bytes) -> str:
    blob = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, blob, hashlib.sha256).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _listing(ckpt: Path) -> dict[str, Path]:
    return {p.relative_to(ckpt).as_posix(): p for p in sorted(ckpt.rglob("*"))
            if p.is_file() and p.relative_to(ckpt).as_posix() not in UNLISTED}


def share(sizes: dict[str, int], world: int) -> list[list[str]]:
    """Which files each rank hashes: largest first, each to the rank with the fewest bytes so
    far (ties: the lower rank), so every rank gets about total/world bytes. The slowest rank
    sets the time, and on a file system every rank can read, bytes are what a rank pays for,
    whichever rank wrote the file; the same sizes give the same split on every rank."""
    parts: list[list[str]] = [[] for _ in range(world)]
    load = [0] * world
    for rel in sorted(sizes, key=lambda r: (-sizes[r], r)):
        r = min(range(world), key=lambda i: (load[i], i))
        parts[r].append(rel)
        load[r] += sizes[rel]
    return parts


def _digest(path: Path) -> dict:
    return {"size": path.stat().st_size, "sha256": sha256_file(path)}


def write_manifest(ckpt: Path, run: dict, files: dict | None = None) -> None:
    """Sign and write the manifest; `files` (rel -> size, sha256) as the ranks hashed them,
    or, when None, every file hashed here."""
    if files is None:
        files = {rel: _digest(p) for rel, p in _listing(ckpt).items()}
    body = {"format": FORMAT, "files": files, "run": run}
    body["signature"] = _sign(body, _key(create=True))
    tmp = ckpt / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(body, indent=1, sort_keys=True))
    os.replace(tmp, ckpt / MANIFEST)


def digest_all_ranks(ckpt: Path, info: DistInfo) -> tuple[dict, str]:
    """Every rank hashes its share() of the files in `ckpt` (all written: call after a
    barrier). Returns (rel -> size, sha256 of every file, a problem or ""), on every rank."""
    sizes = ({rel: p.stat().st_size for rel, p in _listing(ckpt).items()}
             if info.is_main else None)
    sizes = gather_objects(sizes, info)[0]
    try:
        mine = {rel: _digest(ckpt / rel) for rel in share(sizes, info.world)[info.rank]}
    except OSError as e:
        mine = f"hashing checkpoint files in {ckpt} failed on rank {info.rank} ({e})"
    parts = gather_objects(mine, info)
    problems = [p for p in parts if isinstance(p, str)]
    files = {rel: d for p in parts if isinstance(p, dict) for rel, d in p.items()}
    return files, problems[0] if problems else ""


def read_manifest(ckpt: Path) -> dict:
    """The manifest as JSON (never a pickle); CheckpointError when missing or unreadable."""
    path = Path(ckpt) / MANIFEST
    if not path.exists():
        raise CheckpointError(
            f"{ckpt}: no {MANIFEST}, so it was not written by this version of netft and loading "
            "it could run code (torch DCP / DeepSpeed unpickle checkpoint files). Start without "
            "it (train.resume=never), or, if you wrote it yourself with netft and trust it, "
            f"sign it: python -m netft.checkpoint trust {ckpt}")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: unreadable manifest ({e}); use an older checkpoint or "
                              "train.resume=never") from None


def quick_check(ckpt: Path) -> str | None:
    """Cheap completeness test (names and sizes): why `ckpt` is unusable, or None."""
    if not (ckpt / "COMPLETE").exists():
        return "no COMPLETE marker"
    try:
        manifest = read_manifest(ckpt)
    except CheckpointError as e:
        return str(e)
    for rel, meta in manifest.get("files", {}).items():
        p = ckpt / rel
        if not p.is_file() or p.stat().st_size != meta["size"]:
            return f"{rel} is missing or has the wrong size"
    return None


def _signed(ckpt: Path) -> dict:
    """The manifest, once its signature is ours and no unlisted file is present (no hashing)."""
    manifest = read_manifest(ckpt)
    key = _key(create=False)
    claimed = manifest.get("signature", "")
    body = {k: v for k, v in manifest.items() if k != "signature"}
    if key is None or not hmac.compare_digest(claimed, _sign(body, key)):
        raise CheckpointError(
            f"{ckpt}: the manifest signature does not match this user's netft key "
            f"({key_path()}), so netft did not write it here and loading it could run code. "
            "Start without it (train.resume=never), or, if you trust it, sign it: "
            f"python -m netft.checkpoint trust {ckpt}")
    extra = sorted(set(_listing(ckpt)) - set(manifest.get("files", {})))
    if extra:
        raise CheckpointError(f"{ckpt}: files not in its manifest: {', '.join(extra[:5])}; "
                              "remove them or use another checkpoint")
    return manifest


def _check_files(ckpt: Path, listed: dict, rels) -> None:
    """Each of `rels` present with the size and sha256 the signed manifest lists."""
    for rel in rels:
        meta, p = listed[rel], ckpt / rel
        if not p.is_file() or p.stat().st_size != meta["size"] or sha256_file(p) != meta["sha256"]:
            raise CheckpointError(f"{ckpt}: {rel} is missing or altered since netft saved it "
                                  "(sha256 differs); use an older checkpoint or "
                                  "train.resume=never")


def verify(ckpt: Path) -> dict:
    """Full check in one process before anything in `ckpt` is unpickled: signature, file
    list, every hash (`python -m netft.checkpoint verify`; ranks use verify_all_ranks)."""
    ckpt = Path(ckpt)
    manifest = _signed(ckpt)
    _check_files(ckpt, manifest.get("files", {}), manifest.get("files", {}))
    return manifest


def trust(ckpt: Path) -> None:
    """Re-sign a checkpoint the user vouches for (e.g. copied from a colleague)."""
    ckpt = Path(ckpt)
    run = {}
    if (ckpt / MANIFEST).exists():
        run = json.loads((ckpt / MANIFEST).read_text()).get("run", {})
    write_manifest(ckpt, run)
    (ckpt / "COMPLETE").write_text(str(_step_of(ckpt)) if ckpt.name.startswith(PREFIX) else "")


# ---------------------------------------------------------------- listing + repair

def complete_checkpoints(run_dir: Path) -> list[Path]:
    """Usable checkpoints, oldest first: COMPLETE, a manifest, every listed file present."""
    root = checkpoints_dir(run_dir)
    if not root.exists():
        return []
    found = [p for p in root.iterdir()
             if p.name.startswith(PREFIX) and p.is_dir() and quick_check(p) is None]
    return sorted(found, key=_step_of)


def unsigned(run_dir: Path) -> list[Path]:
    """COMPLETE checkpoints without a manifest (written by netft before manifests existed)."""
    root = checkpoints_dir(run_dir)
    return sorted((p for p in root.glob(f"{PREFIX}*") if (p / "COMPLETE").exists()
                   and not (p / MANIFEST).exists()), key=_step_of) if root.exists() else []


def latest(run_dir: Path) -> Path | None:
    done = complete_checkpoints(run_dir)
    return done[-1] if done else None


def repair(run_dir: Path) -> list[str]:
    """Undo what a kill in the middle of `save` left (rank 0, before anyone reads checkpoints).

    `.old-step-N` with no complete `step-N`: the kill came between the two renames of a
    re-save, so the old copy goes back. `.old-step-N` beside a complete `step-N`: the kill
    came before the old copy was deleted. `.tmp-*`: a save that never finished. A `step-N`
    that fails the completeness check is moved out of the way, never trusted.
    """
    root = checkpoints_dir(run_dir)
    done: list[str] = []
    if not root.exists():
        return done
    for old in sorted(root.glob(f".old-{PREFIX}*")):
        final = root / old.name[len(".old-"):]
        if final.exists() and quick_check(final) is None:
            shutil.rmtree(old, ignore_errors=True)
            done.append(f"removed {old.name} (its replacement is complete)")
        elif quick_check(old) is None:
            if final.exists():
                shutil.rmtree(final, ignore_errors=True)
            os.replace(old, final)
            done.append(f"restored {final.name} from {old.name} (a re-save was interrupted)")
    for doomed in sorted(root.glob(f".del-{PREFIX}*")):  # a prune that was interrupted
        shutil.rmtree(doomed, ignore_errors=True)
        done.append(f"removed {doomed.name} (pruned)")
    for tmp in sorted(root.glob(f".tmp-{PREFIX}*")):
        shutil.rmtree(tmp, ignore_errors=True)
        done.append(f"removed the unfinished {tmp.name}")
    for p in sorted(root.glob(f"{PREFIX}*")):
        # Only a directory whose own manifest says files are missing is moved; one without a
        # manifest (an older netft, or not ours) stays for find_unsigned() to report.
        if (p.is_dir() and (p / MANIFEST).exists() and (p / "COMPLETE").exists()
                and (why := quick_check(p)) is not None):
            # COMPLETE without its files: an interrupted delete. Keep it aside for inspection.
            bad = root / f".broken-{p.name}"
            shutil.rmtree(bad, ignore_errors=True)
            os.replace(p, bad)
            done.append(f"moved incomplete {p.name} to {bad.name} ({why})")
    return done


# ---------------------------------------------------------------- save / load

def check_free_space(path: Path, need: int) -> None:
    """Fail before writing anything when the disk cannot hold another checkpoint."""
    path.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(path).free
    if need > 0 and free < need:
        raise OSError(28, f"not enough free space for a checkpoint in {path}: "
                          f"{need / 2**20:,.1f} MiB needed (the size of the last one + 10%), "
                          f"{free / 2**20:,.1f} MiB free; free space there, lower "
                          "train.keep_checkpoints, or set run_dir elsewhere")


def _dir_size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def _local_nonfinite(engine) -> int:
    """Non-finite values in the trainable parameters this rank holds (its shard under a
    sharded backend). Only what training can change: frozen weights are the base's, and
    qlora's frozen 4-bit base is packed codes in a float container, whose bit patterns are
    not numbers (about 1 word in 1,400 reads as NaN/inf)."""
    from netft.parallel.backends import local_part

    bad = 0
    for p in engine.model.parameters():
        if not p.requires_grad:
            continue
        t = local_part(p)
        if t.numel():
            bad += int((~torch.isfinite(t.detach())).sum())
    return bad


def save(engine, run_dir: Path, state: TrainState, info: DistInfo, keep: int,
         run: dict | None = None) -> Path:
    # Never write a checkpoint holding NaN/inf weights: a later error would call it "good".
    bad = all_reduce_sum(_local_nonfinite(engine), info)
    if bad:
        raise FloatingPointError(
            f"{int(bad):,} parameter values are NaN/inf at step {state.step}; not "
            "saving them. Lower train.lr or train.max_grad_norm, or check the data")
    step = state.step
    root = checkpoints_dir(run_dir)
    final = root / f"{PREFIX}{step:08d}"
    tmp = root / f".tmp-{PREFIX}{step:08d}"
    old = root / f".old-{PREFIX}{step:08d}"
    problem = ""
    if info.is_main:
        try:
            prev = latest(run_dir)
            check_free_space(root, int(_dir_size(prev) * 1.1) if prev else 0)
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        except OSError as e:
            problem = e.strerror or str(e)
    _agree(problem, info)
    try:
        engine.save_state(tmp / "state")
        torch.save({"loop": state.state_dict(), "scheduler": engine.scheduler.state_dict(),
                    "rng": {"python": random.getstate(), "torch": torch.get_rng_state(),
                            "cuda": torch.cuda.get_rng_state_all()
                            if torch.cuda.is_available() else []}},
                   tmp / f"trainer-rank{info.rank}.pt")
    except (OSError, RuntimeError, CheckpointException) as e:
        # Disk full shows up as OSError, as torch's "[enforce fail at inline_container.cc:672]
        # unexpected pos", or wrapped in DCP's CheckpointException (a BaseException); anything
        # else is a bug and keeps its traceback.
        if not isinstance(e, OSError) and not any(s in str(e) for s in DISK_FULL_SIGNS):
            raise
        why = next((ln.strip() for ln in str(e).splitlines() if any(
            s in ln for s in DISK_FULL_SIGNS)), str(e).splitlines()[0] if str(e) else repr(e))
        problem = (f"writing checkpoint {tmp} failed ({why[:200]}; "
                   f"{shutil.disk_usage(root).free / 2**20:,.1f} MiB free there); free space "
                   "or set run_dir elsewhere")
    # Every rank learns of a failure on any rank, so none waits in a barrier forever.
    if all_reduce_sum(1.0 if problem else 0.0, info):
        if info.is_main:
            shutil.rmtree(tmp, ignore_errors=True)  # no partial directory stays behind
        raise OSError(28, problem or "another rank could not write its checkpoint shards "
                                     "(see its error)")
    barrier(info)
    files, problem = digest_all_ranks(tmp, info)
    if problem:
        if info.is_main:
            shutil.rmtree(tmp, ignore_errors=True)
        raise OSError(problem)
    if info.is_main:
        try:
            _finish(root, tmp, final, old, step, keep, run or {}, run_dir, files)
        except OSError as e:  # e.g. the disk filled up while writing the manifest
            problem = (f"finishing checkpoint {tmp} failed ({e.strerror or e}); free space "
                       "there or set run_dir elsewhere")
    # Also the last sync point of the save: no rank runs on while rank 0 failed.
    if all_reduce_sum(1.0 if problem else 0.0, info):
        raise OSError(28, problem or "rank 0 could not finish the checkpoint (see its error)")
    barrier(info)
    return final


def _finish(root: Path, tmp: Path, final: Path, old: Path, step: int, keep: int, run: dict,
            run_dir: Path, files: dict) -> None:
    """Rank 0: sign the ranks' digests, mark complete, move into place, prune."""
    write_manifest(tmp, run, files)
    (tmp / "COMPLETE").write_text(str(step))
    if final.exists():
        # Rename aside, move in, then delete: a kill anywhere leaves a complete step-N
        # (or .old-step-N, which repair() moves back).
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    for stale in complete_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        # Rename first so a kill mid-delete never leaves a COMPLETE dir without its files.
        doomed = root / f".del-{stale.name}"
        os.replace(stale, doomed)
        shutil.rmtree(doomed, ignore_errors=True)
    for doomed in root.glob(f".del-{PREFIX}*"):
        shutil.rmtree(doomed, ignore_errors=True)


def _agree(problem: str, info: DistInfo) -> None:
    """Raise on every rank when rank 0 hit a problem; otherwise a barrier."""
    if all_reduce_sum(1.0 if problem else 0.0, info):
        raise OSError(28, problem or "rank 0 could not prepare the checkpoint (see its error)")
    barrier(info)


def verify_all_ranks(path: Path, info: DistInfo) -> dict:
    """The full check of verify(), split: rank 0 checks the signature and the file list and
    sends the signed manifest to every rank; each rank hashes its share() of the files. Every
    rank raises the same first error, so no rank loads alone and nothing is unpickled
    before every file is known to be the one netft wrote."""
    path = Path(path)
    signed, error = None, ""
    if info.is_main:
        try:
            signed = _signed(path)
        except CheckpointError as e:
            error = str(e)
    error, signed = gather_objects((error, signed), info)[0]
    if error:
        raise CheckpointError(error)
    listed = signed.get("files", {})
    error = ""
    try:
        _check_files(path, listed, share({rel: m["size"] for rel, m in listed.items()},
                                         info.world)[info.rank])
    except CheckpointError as e:
        error = str(e)
    errors = [e for e in gather_objects(error, info) if e]
    if errors:
        raise CheckpointError(errors[0])
    return signed


def load(engine, path: Path, info: DistInfo) -> TrainState:
    """Restore model/optimizer/scheduler/RNG in place; returns the saved train state."""
    path = Path(path)
    verify_all_ranks(path, info)  # before any unpickling
    rank_file = path / f"trainer-rank{info.rank}.pt"
    have = all_reduce_sum(1.0 if rank_file.exists() else 0.0, info)
    if have < info.world or not rank_file.exists():
        raise CheckpointError(f"{path} was written by a job with a different number of ranks "
                              f"(no {rank_file.name}); resume with the same world size")
    saved = torch.load(rank_file, weights_only=True)
    state = TrainState()
    state.load_state_dict(saved["loop"], where=str(path))  # refused before any state changes
    engine.load_state(path / "state")
    engine.scheduler.load_state_dict(saved["scheduler"])
    random.setstate(saved["rng"]["python"])
    torch.set_rng_state(saved["rng"]["torch"])
    if saved["rng"]["cuda"]:
        torch.cuda.set_rng_state_all(saved["rng"]["cuda"])
    return state


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m netft.checkpoint")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("verify").add_argument("dir")
    sub.add_parser("trust").add_argument("dir")
    args = ap.parse_args(argv)
    return guard("netft-checkpoint", _run_command, args)


def _run_command(args) -> int:
    if args.cmd == "trust":
        trust(Path(args.dir))
        print(f"signed {args.dir} with {key_path()}")
    else:
        verify(Path(args.dir))
        print(f"{args.dir}: ok")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
