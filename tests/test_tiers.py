"""The test tiers say what they hold (issue 24 item 7): `make test-fast` (-m "not slow") starts no
training run; every test that runs netft-train, torchrun or netft.train.run is marked slow,
except the few listed below, which stop at config composition or validation (seconds). CUDA
tests (marked cuda, skipped without a GPU) are whole runs on a GPU machine and not checked
here."""
import ast

from conftest import ROOT

# What starts a run: the command builders of conftest, `-m netft.train`, train.run(...).
RUN_CALLS = {"netft_train_cmd", "torchrun_cmd"}
# Not slow on purpose: netft-train exits before any model is loaded.
STOPS_BEFORE_TRAINING = {
    "test_config.py::test_qlora_zero3_fails_before_model_load",  # validation
    "test_errors.py::test_netft_train_unknown_group_option_is_one_line",  # composition
    "test_own_data.py::test_cfg_job_resolve_prints_the_config",  # --cfg job
    "test_signals.py::test_a_failed_run_restores_the_handlers",  # validation
    "test_netconfeval.py::test_cli_and_training_run_without_the_data_fail_before_loading_a_model",  # suite data check
}


def _marked(node, name: str) -> bool:
    return any(name in ast.unparse(d) for d in node.decorator_list)


def _starts_a_run(node, helpers: set[str]) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            f = sub.func
            called = f.id if isinstance(f, ast.Name) else f.attr if isinstance(
                f, ast.Attribute) else ""
            if called in RUN_CALLS | helpers:
                return True
            if called == "run" and isinstance(f, ast.Attribute) and \
                    ast.unparse(f.value) == "train":
                return True
        if isinstance(sub, ast.Constant) and sub.value == "netft.train":
            return True
    return False


def runs_outside_the_slow_tier() -> list[str]:
    found = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        tree = ast.parse(path.read_text())
        marks = " ".join(ast.unparse(n.value) for n in tree.body if isinstance(n, ast.Assign)
                         and any(getattr(t, "id", "") == "pytestmark" for t in n.targets))
        if "slow" in marks or "cuda" in marks or path.name == "test_tiers.py":
            continue
        functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
        helpers: set[str] = set()
        for _ in range(3):  # helpers that call helpers that start a run
            helpers |= {f.name for f in functions if not f.name.startswith("test_")
                        and _starts_a_run(f, helpers)}
        for f in functions:
            if f.name.startswith("test_") and not _marked(f, "slow") and \
                    not _marked(f, "cuda") and _starts_a_run(f, helpers):
                found.append(f"{path.name}::{f.name}")
    return found


def test_fast_tier_starts_no_training_run():
    outside = set(runs_outside_the_slow_tier())
    assert outside - STOPS_BEFORE_TRAINING == set(), "mark these @pytest.mark.slow"
    assert STOPS_BEFORE_TRAINING <= outside  # the list stays true
