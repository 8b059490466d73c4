"""The run directory's housekeeping: one run at a time, earlier configs kept, writable.

A lock file names host, pid (and Slurm job) of the run that holds the directory. Two runs on
one directory race on `.tmp-step-N` and interleave metrics.jsonl, so the second one stops
with a message naming the first. A lock left by a dead process on this host, or by an
earlier attempt of the same Slurm job (a requeue), is taken over.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from netft.errors import ConfigError

LOCK = ".netft.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _me() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "slurm_job": os.environ.get("SLURM_JOB_ID"), "since": round(time.time())}


def acquire(run_dir: Path) -> Path:
    """Take the run dir's lock (rank 0 only) or raise ConfigError naming who holds it."""
    path = Path(run_dir) / LOCK
    me = _me()
    for _ in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                held = json.loads(path.read_text())
            except (OSError, ValueError):
                held = {}  # torn write by a process killed while locking: stale
            same_host = held.get("host") == me["host"]
            stale = (not held or (same_host and not _alive(int(held.get("pid", 0))))
                     or (held.get("slurm_job") and held.get("slurm_job") == me["slurm_job"]))
            if not stale:
                raise ConfigError(
                    f"run_dir={run_dir} is in use by pid {held.get('pid')} on host "
                    f"{held.get('host')} since {time.ctime(held.get('since', 0))}; wait for it "
                    f"to end or choose another run_dir (if that process is gone, delete {path})")
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(me))
        return path
    raise ConfigError(f"could not lock run_dir={run_dir}: {path} keeps reappearing")


def release(lock: Path | None) -> None:
    if lock is None:
        return
    try:
        if json.loads(lock.read_text()).get("pid") == os.getpid():
            lock.unlink()
    except (OSError, ValueError):
        pass


def prepare(run_dir: Path) -> None:
    """Create the run dir, or fail in one line when it cannot be written."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"run_dir={run_dir} is not writable ({e.strerror}); choose a "
                          "writable run_dir=... or fix its permissions") from None


def write_config(run_dir: Path, text: str) -> None:
    """config.yaml is the run's current config; a different earlier one is kept as
    config.prev-N.yaml (N = 1, 2, ...) so a resume with changed settings stays traceable."""
    path = run_dir / "config.yaml"
    if path.exists() and path.read_text() != text:
        n = 1
        while (run_dir / f"config.prev-{n}.yaml").exists():
            n += 1
        os.replace(path, run_dir / f"config.prev-{n}.yaml")
    tmp = run_dir / "config.yaml.tmp"
    tmp.write_text(text)
    os.replace(tmp, path)


_HELD: list = []  # the run-dir lock this process holds (rank 0), released at any exit


def release_held() -> None:
    while _HELD:
        release(_HELD.pop())


def claim(run_dir: Path, config_yaml: str, info, say) -> None:
    """Rank 0 prepares and locks the run dir (release_held() gives it back), repairs what a
    kill mid-save left in its checkpoints and writes config.yaml. Every rank stops when rank
    0 cannot own the run dir (no rank waits in a collective)."""
    from netft import checkpoint, distributed

    problem = None
    if info.is_main:
        try:
            prepare(run_dir)
            lock = acquire(run_dir)
            _HELD.append(lock)
            for line in checkpoint.repair(run_dir):  # what a kill mid-save left behind
                say(f"[netft] checkpoints: {line}")
            write_config(run_dir, config_yaml)
        except ConfigError as e:
            problem = e
    if distributed.all_reduce_sum(1.0 if problem else 0.0, info):
        raise problem or ConfigError("rank 0 could not set up run_dir (see its error)")
