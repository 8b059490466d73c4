"""A run started in-process (a test, a notebook) gives back the SIGTERM/SIGUSR1 handlers it
installed for preemption when it ends, so the host process does not go on ignoring SIGTERM
(issue 24 item 8)."""
import signal

import pytest

from conftest import compose

SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
RUN = ["model=tiny", "method=lora", "train.epochs=1", "train.max_steps=1", "logger=none",
       "eval.domain=false", "eval.general_ppl=false", "eval.val_before_training=false",
       "eval.val_every_epoch=false", "eval.keep_best=false", "train.save_every_epoch=false",
       "data.train_files=[${asset:data/netops/validation.jsonl}]", "data.validation_files=[]",
       "data.test_files=[]", "data.dedup=false", "data.contamination_check=false"]


@pytest.fixture
def own_handlers():
    """Handlers of this process's own (as a notebook would have), put back after the test."""
    before = {sig: signal.getsignal(sig) for sig in SIGNALS}

    def mine(signum, frame):
        raise AssertionError(f"signal {signum} reached the test's handler")

    for sig in SIGNALS:
        signal.signal(sig, mine)
    yield {sig: mine for sig in SIGNALS}
    for sig, old in before.items():
        signal.signal(sig, old)


def handlers():
    return {sig: signal.getsignal(sig) for sig in SIGNALS}


def test_a_failed_run_restores_the_handlers(own_handlers, tmp_path):
    """The run installs its handlers first thing, then validation refuses the config."""
    from netft import train
    from netft.config import ConfigError

    seen = {}
    validate = train.validate

    def spy(cfg):  # the handlers in force while the run is set up are the run's
        seen.update(handlers())
        validate(cfg)

    cfg = compose([*RUN, "method=qlora", "parallel=zero3", f"run_dir={tmp_path}"])
    try:
        train.validate = spy
        with pytest.raises(ConfigError, match="zero3"):
            train.run(cfg)
    finally:
        train.validate = validate
    assert all(seen[sig] is not own_handlers[sig] for sig in SIGNALS), seen
    assert handlers() == own_handlers


@pytest.mark.slow
def test_a_finished_run_restores_the_handlers(own_handlers, tmp_path, tiny_path):
    from netft import train

    summary = train.run(compose([*RUN, f"run_dir={tmp_path / 'run'}"]))
    assert summary["steps"] == 1
    assert handlers() == own_handlers
