"""TrainState: a run's progress -- what a checkpoint stores besides the model, optimizer,
scheduler and RNG states (netft/checkpoint.py), and what a resume continues from."""
from __future__ import annotations

from dataclasses import dataclass, field

from netft.errors import NetftError
from netft.eval.forgetting import best_epoch
from netft.eval.record import EvalRecord

# 1: the untyped dict of netft <= issue 24 (same keys, no "version"); 2: TrainState.
VERSION = 2
KEYS = ("step", "epoch", "step_in_epoch", "tokens", "history")


class StateError(NetftError, ValueError):
    """A checkpoint's train state this netft cannot continue from."""


@dataclass
class TrainState:
    step: int = 0  # optimizer steps taken
    epoch: int = 0  # the epoch the next step belongs to (0-based)
    step_in_epoch: int = 0  # optimizer steps of `epoch` already taken: where a resume continues
    tokens: int = 0  # target tokens trained on (as of the last metrics sync)
    history: list[EvalRecord] = field(default_factory=list)  # one per evaluated epoch
    loss: float | None = None  # the last synced train loss; not checkpointed (as before)

    @property
    def best(self) -> int | None:
        """The trained epoch with the lowest validation loss so far."""
        return best_epoch(self.history)

    def next_epoch(self) -> None:
        self.epoch, self.step_in_epoch = self.epoch + 1, 0

    def state_dict(self) -> dict:
        return {"version": VERSION, "step": self.step, "epoch": self.epoch,
                "step_in_epoch": self.step_in_epoch, "tokens": self.tokens,
                "history": [h.to_json() for h in self.history]}

    def load_state_dict(self, saved: dict, where: str = "the checkpoint") -> None:
        """Accepts this version and version 1 (the same keys, written before TrainState)."""
        version = saved.get("version", 1)
        missing = [k for k in KEYS if k not in saved]
        if version > VERSION or missing:
            raise StateError(
                f"{where}: its train state is {'version %s' % version if version > VERSION else 'missing ' + ', '.join(missing)}"
                f", which this netft (state version {VERSION}) cannot continue from; use the "
                "netft that wrote it, or start over with train.resume=never (or a new run_dir)")
        self.step, self.epoch = int(saved["step"]), int(saved["epoch"])
        self.step_in_epoch, self.tokens = int(saved["step_in_epoch"]), int(saved["tokens"])
        self.history = [EvalRecord.from_json(h) for h in saved["history"]]
