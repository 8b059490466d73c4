"""Preemption: SIGUSR1 (Slurm's --signal warning) or SIGTERM set a flag that the training loop
checks at step boundaries; the run then checkpoints and exits for a requeue."""
from __future__ import annotations

import contextlib
import os
import signal
import threading

PREEMPTED_EXIT = 0  # slurm/train.sh requeues the job itself after a preemption save


def preempted_exit_code(signum: int | None) -> int:
    """0 under Slurm (train.sh requeues); elsewhere 128+signal, so a stopped run never looks
    like a finished one to a shell or a scheduler."""
    if os.environ.get("SLURM_JOB_ID") or signum is None:
        return PREEMPTED_EXIT
    return 128 + signum


_ACTIVE: list = []  # the flag of the outermost preemption_signals() now open


@contextlib.contextmanager
def preemption_signals():
    """A flag set by SIGUSR1 or SIGTERM (its .signum says which). Nested inside another
    preemption_signals() (netft-train's main installs them before Hydra composes, run() again
    for callers from Python) it is that one's flag. The handlers installed before come back
    at exit: a process that runs netft in-process (a test, a notebook) must not go on ignoring
    SIGTERM afterwards."""
    if _ACTIVE:
        yield _ACTIVE[0]
        return
    flag = threading.Event()
    flag.signum = None

    def handler(signum, _frame):
        flag.signum = signum
        flag.set()

    # None: a handler not installed from Python, which cannot be put back; the default then.
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGUSR1, signal.SIGTERM)}
    _ACTIVE.append(flag)
    try:
        yield flag
    finally:
        _ACTIVE.clear()
        for sig, old in previous.items():
            signal.signal(sig, signal.SIG_DFL if old is None else old)
