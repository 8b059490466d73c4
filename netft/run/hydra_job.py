"""Around the Hydra entry point of netft-train: the number a sweeper optimises, and tidying
the output folder Hydra creates even when run_dir is given."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from omegaconf import DictConfig

from netft.errors import ConfigError


def sweep_value(summary: dict, metric: str) -> float:
    """The number a Hydra sweeper optimises (train.sweep_metric): a summary key, else a key of
    the last evaluation record. Optuna needs a float: a missing metric is an error, not None."""
    history = summary.get("history") or [{}]
    value = summary.get(metric, history[-1].get(metric))
    if value is None and metric == "final_val_loss":  # no validation files: the train loss
        value = summary.get("final_train_loss")
    if not isinstance(value, (int, float)):
        keys = sorted(k for k, v in {**history[-1], **summary}.items() if isinstance(v, (int, float)))
        raise ConfigError(f"train.sweep_metric={metric!r} is not a number of this run; "
                          f"choose one of {', '.join(keys)}")
    return float(value)


def remove_stray_hydra_dir(cfg: DictConfig) -> None:
    """With run_dir=... given, Hydra still creates outputs/<date>/<time>/.hydra; remove it."""
    import shutil

    from hydra.core.hydra_config import HydraConfig

    try:
        out = Path(HydraConfig.get().runtime.output_dir).resolve()
        if out == Path(cfg.run_dir).resolve() or not out.exists():
            return
        if {p.name for p in out.iterdir()} <= {".hydra", "train.log"}:
            shutil.rmtree(out)
            for parent in out.parents:  # outputs/<date>/ when now empty
                if parent == Path.cwd() or any(parent.iterdir()):
                    break
                parent.rmdir()
    except Exception:  # noqa: BLE001 - tidying must never hide the run's own outcome
        pass


@contextlib.contextmanager
def composition_errors_raised():
    """Hydra reports a composition error (method=lorra, a bad override) itself, over several
    lines, and exits 1; HYDRA_FULL_ERROR=1 makes it raise instead, so that netft's guard can
    give it one line and exit 2 (Hydra's list of valid options kept in the line)."""
    full_error = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        yield
    finally:
        if full_error is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = full_error
