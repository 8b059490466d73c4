"""NetConfEval (published benchmark) suite: requests equal the published sets, the scorer gives
upstream's numbers on saved replies, oracle/garbage models, and the CLI on the tiny model.

The benchmark's data is not shipped (netft/data/external.py). Tests of the real data (the
published-set equality, the real prompts) run where NETFT_EXTERNAL_DATA (or ../shared/data)
holds netconfeval/ and skip otherwise; everything else runs on netft's own synthetic stand-in,
tests/data/netconfeval_synthetic/ (invented policies, placeholder prompts and sentence
templates)."""
from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from netft.config import ConfigError
from netft.data import external
from netft.distributed import DistInfo
from netft.domains.netops.suites import netconfeval as nce
from netft.domains.netops.suites.netconfeval import requests as R
from netft.domains.netops.suites.netconfeval import scoring as S
from netft.eval.suites import load, run_suite

FIDELITY = json.loads((Path(__file__).parent / "data" / "netconfeval_fidelity.json").read_text())
CPU = DistInfo(device=torch.device("cpu"))
SYNTHETIC = Path(__file__).parent / "data" / "netconfeval_synthetic"
REAL = external.find("netconfeval")  # as the environment gives it (the synthetic set is not)
needs_real = pytest.mark.skipif(
    REAL is None or not (REAL / "published").is_dir(),
    reason="the NetConfEval data set is not shipped with netft: set NETFT_EXTERNAL_DATA to a "
           "folder holding netconfeval/ with published/ (how to build it: docs/netconfeval.md)")


@pytest.fixture
def synthetic(monkeypatch):
    """netft's own stand-in data set (invented policies, placeholder prompts)."""
    monkeypatch.setenv(external.ENV, str(SYNTHETIC))
    return SYNTHETIC / "netconfeval"


@pytest.fixture
def no_data(monkeypatch, tmp_path):
    monkeypatch.setenv(external.ENV, str(tmp_path / "empty"))
    return tmp_path / "empty"


@needs_real
@pytest.mark.parametrize("name,conflict", [("step_1_spec_translation", False),
                                           ("step_1_spec_conflict", True)])
def test_regenerated_requests_equal_the_published_sets(name, conflict):
    """All 5 seeds x 3 policy mixes of the published dataset, field by field."""
    published = [json.loads(line) for line in
                 gzip.open(REAL / "published" / f"{name}.jsonl.gz", "rt")]
    for row in published:
        row.pop("description", None)  # a download not built by `netft suite import` has it
    mine = []
    for mix, sizes in R.PUBLISHED_BATCH_SIZES.items():
        for b in R.batches(mix, 5, sizes, conflict):
            row = {"iteration": b["run"], "chunk": b["chunk"], "batch_size": b["batch_size"],
                   "n_policy_types": b["n_policy_types"],
                   "max_n_requirements": b["max_n_requirements"]}
            if conflict:
                row["conflict_exist"] = b["conflict"]
            row["human_language"] = "\n".join(b["sentences"])
            row["expected"] = json.dumps(b["expected"])
            mine.append(row)
    assert len(mine) == len(published) > 1600
    assert mine == published


@needs_real
def test_eval_requests_share_the_published_ones_where_the_batch_sizes_agree():
    """run_benchmark.sh measures reachability at 1..20 exactly as the published set lists them
    (the published generator adds 25 later, so later texts differ in wording only)."""
    published = [json.loads(line) for line in gzip.open(
        REAL / "published" / "step_1_spec_translation.jsonl.gz", "rt")]
    pub = {(r["iteration"], r["batch_size"], r["chunk"]): r["human_language"]
           for r in published if r["n_policy_types"] == 1 and r["batch_size"] <= 20}
    ours = {(b["run"], b["batch_size"], b["chunk"]): "\n".join(b["sentences"])
            for b in R.batches("reachability", 5, R.EVAL_BATCH_SIZES["reachability"])
            if b["batch_size"] <= 20}
    assert ours == pub


def test_prompt_layout_is_the_hf_runner_s(synthetic):
    """The data set's prompt texts joined into one system message, then the data set's lead-in
    and the requirements, worded with the data set's sentence templates."""
    items = nce.build_requests(runs=1, limit=1)
    p = json.loads((synthetic / "prompts.json").read_text())
    by_task = {it["task"]: it for it in items}
    system, user = by_task["1a"]["messages"]
    t = p["translation"]["reachability"]
    assert system == {"role": "system", "content": f"{t['setup']}\n{t['function']}\n{t['ask']}"}
    assert user["content"] == p["user"]["spec"] + " ".join(by_task["1a"]["sentences"])
    system, user = by_task["1c"]["messages"]
    t = p["function_call_adhoc"]
    mix = by_task["1c"]["mix"].split(",")
    assert system["content"] == "\n".join(
        [t["setup"]] + [t[k] for k in ("reachability", "waypoint", "loadbalancing") if k in mix]
        + [t["ask"]])
    assert user["content"] == p["user"]["function_call_adhoc"] + " ".join(
        by_task["1c"]["sentences"])
    assert nce.GENERATION == {"do_sample": True, "temperature": 0.01, "top_p": 1.0}


def test_sentences_are_the_data_set_s_templates(synthetic):
    """Every sentence is one of statements.json's templates of its requirement's type, filled
    in; the conflict twins (1b) use the no_* templates."""
    templates = json.loads((synthetic / R.STATEMENTS).read_text())
    seen = set()
    for conflict in (False, True):
        for b in R.batches("loadbalancing,reachability,waypoint", 5, [1, 3], conflict):
            for sentence in b["sentences"]:
                kinds = [k for k, ts in templates.items() for tpl in ts
                         if _fills(tpl, sentence)]
                assert kinds, sentence
                seen.update(kinds)
    assert seen == set(R.STATEMENT_TYPES)


def _fills(template: str, sentence: str) -> bool:
    import re

    pattern = re.escape(template)
    for field in ("source", "subnet", "specifics"):
        pattern = pattern.replace(re.escape("{" + field + "}"), r"\S+?")
    return re.fullmatch(pattern, sentence) is not None


@needs_real
def test_real_prompts_are_the_rendered_templates():
    item = nce.build_requests(runs=1, limit=1, tasks=("1a",))[0]
    system, user = (m["content"] for m in item["messages"])
    t = json.loads((REAL / R.PROMPTS).read_text())
    t, lead = t["translation"][item["mix"]], t["user"]["spec"]
    assert system == "\n".join([t["setup"], t["function"], t["ask"]])
    assert "{{" not in system and '{"status"' in system  # LangChain's escapes are resolved
    assert user == lead + " ".join(item["sentences"]) and lead.strip()


def test_missing_data_is_one_clear_line(no_data):
    """Where netft looked, how to build the data set; only the data-free import still loads."""
    with pytest.raises(ConfigError) as e:
        load("netconfeval")
    line = str(e.value)
    assert "\n" not in line and str(no_data / "netconfeval") in line
    assert "netft suite import netconfeval" in line and external.ENV in line
    assert load("netconfeval", check=False).importer is not None
    incomplete = no_data / "netconfeval"
    incomplete.mkdir(parents=True)
    (incomplete / R.PROMPTS).write_text("{}")
    with pytest.raises(ConfigError, match=f"lacks {R.POLICIES}"):
        load("netconfeval")


def test_a_data_set_without_statements_json_says_re_run_the_import(synthetic, tmp_path,
                                                                     monkeypatch):
    """A data folder built before statements.json existed (or with a key missing)."""
    old = tmp_path / "netconfeval"
    shutil.copytree(synthetic, old)
    (old / R.STATEMENTS).unlink()
    monkeypatch.setenv(external.ENV, str(tmp_path))
    with pytest.raises(ConfigError) as e:
        load("netconfeval")
    line = str(e.value)
    assert "\n" not in line and f"lacks {R.STATEMENTS}" in line and str(old) in line
    assert "re-run the import" in line and "netft suite import netconfeval" in line
    templates = json.loads((synthetic / R.STATEMENTS).read_text())
    del templates["no_waypoint"]
    (old / R.STATEMENTS).write_text(json.dumps(templates))
    load("netconfeval")  # the files are there; their content is read on first use
    with pytest.raises(ConfigError) as e:
        nce.build_requests(runs=1, limit=1, tasks=("1a",))
    line = str(e.value)
    assert "\n" not in line and str(old / R.STATEMENTS) in line and "'no_waypoint'" in line
    assert "re-run the import" in line


@pytest.mark.parametrize("case", FIDELITY["spec"], ids=lambda c: c["name"])
def test_translation_scores_equal_upstream(case):
    got = S.score_translation(case["expected"], case["reply"], S.FAITHFUL)
    up = case["upstream"]
    assert got["accuracy"] == up["accuracy"]
    assert got["upstream_raises"] == bool(up.get("raises"))
    if up["outcome"] == "compared" and not up.get("raises"):
        assert {k: got[k] for k in ("total", "fail", "wrong", "success")} == \
            {k: up[k] for k in ("total", "fail", "wrong", "success")}
    # The benchmark asks again exactly where it retried (10 attempts, then model_error).
    item = {"task": "1a"}
    assert nce.wants_retry(item, case["reply"]) == (up.get("attempts") == 10)


@pytest.mark.parametrize("case", FIDELITY["conflict"], ids=lambda c: c["name"])
def test_conflict_detection_equals_upstream(case):
    assert S.score_conflict(case["reply"])["detected"] == case["upstream"]["detected"]


@pytest.mark.parametrize("case", FIDELITY["function_call"], ids=lambda c: c["name"])
def test_function_call_scores_equal_upstream(case):
    assert S.parse_calls(case["reply"], S.FAITHFUL) == case["upstream"]["spec"]
    got = S.score_function_calls(case["expected"], case["reply"], S.FAITHFUL)
    assert {k: got[k] for k in ("total", "fail", "wrong", "success", "accuracy")} == \
        {k: case["upstream"][k] for k in ("total", "fail", "wrong", "success", "accuracy")}


def test_aggregates_equal_upstream_formulas():
    agg = FIDELITY["conflict_aggregates"]
    for name, pairs in agg["pairs"].items():
        m = S.detection_metrics([tuple(p) for p in pairs], S.FAITHFUL)
        up = agg["values"][name]
        assert (m["accuracy"], m["recall"], m["f1"]) == \
            (up["accuracy"], up["recall"], up["f1_score"]), name
    # The F1 quirk (precision = recall = 0 gives 1) is fixed in corrected mode only.
    assert S.detection_metrics([tuple(p) for p in agg["pairs"]["only_wrong_flags"]],
                               S.CORRECTED)["f1"] == 0.0
    t = FIDELITY["translation_aggregates"]["bs5_of_max100"]
    assert S.cell_accuracy(t["accs"], t["batch_size"], t["max"], S.FAITHFUL) == t["value"]


def test_corrected_mode_checks_waypoint_values_and_list_membership():
    cases = {c["name"]: c for c in FIDELITY["spec"]}
    for name in ("wrong_waypoint_value", "reach_string_not_list"):
        c = cases[name]
        assert S.score_translation(c["expected"], c["reply"], S.FAITHFUL)["accuracy"] == 1.0
        assert S.score_translation(c["expected"], c["reply"], S.CORRECTED)["accuracy"] < 1.0
    two = {c["name"]: c for c in FIDELITY["function_call"]}["two_waypoints"]
    assert S.score_function_calls(two["expected"], two["reply"], S.CORRECTED)["accuracy"] > \
        S.score_function_calls(two["expected"], two["reply"], S.FAITHFUL)["accuracy"]


def _run(replies_fn, mode=None):  # callers hold the synthetic fixture
    suite = load("netconfeval")
    return run_suite(None, None, suite, CPU, None, runs=2, limit=12, mode=mode,
                     replies_fn=replies_fn, attempts=1)


@pytest.mark.parametrize("mode", S.MODES)
def test_oracle_scores_100_and_detects_every_conflict(mode, synthetic):
    suite = load("netconfeval")
    o = _run(lambda items: [suite.oracle(it) for it in items], mode)["overall"]
    assert o["translation_accuracy"] == o["function_call_accuracy"] == 1.0
    assert o["conflict_f1"] == o["conflict_accuracy"] == o["conflict_recall"] == 1.0
    assert o["score"] == 1.0 and o["parse_failures"] == 0


@pytest.mark.parametrize("reply", ["", "}{ not json add_reachability(x", "\x00\ufffd" * 50])
def test_empty_or_garbage_scores_zero(reply, synthetic):
    r = _run(lambda items: [reply] * len(items))
    o = r["overall"]
    assert o["translation_accuracy"] == o["function_call_accuracy"] == 0.0
    assert o["conflict_f1"] == o["conflict_recall"] == 0.0 and o["score"] == 0.0
    assert all(it["why"] for it in r["items"] if "accuracy" in it)


def test_unknown_suite_is_one_clear_line():
    from netft.config import ConfigError

    with pytest.raises(ConfigError, match="netconfeval"):
        load("no_such_suite")


def _env(data: Path = SYNTHETIC) -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]), external.ENV: str(data)}


def _netft(*args, timeout=300, data: Path = SYNTHETIC):
    return subprocess.run([sys.executable, "-m", "netft.cli", *args], env=_env(data),
                          timeout=timeout, capture_output=True, text=True)


def test_cli_and_training_run_without_the_data_fail_before_loading_a_model(tmp_path):
    """Exit 2, one line naming the data set, where netft looked and how to build it. The eval's
    model folder is empty (an error about it would mean the model was reached first); the
    training run stops before its run dir holds a model or a metric."""
    empty = tmp_path / "no-data"
    model = tmp_path / "model"
    model.mkdir()
    r = _netft("eval", "--suite", "netconfeval", str(model), "--limit", "1", data=empty)
    assert r.returncode == 2, r.stderr[-2000:]
    err = r.stderr.strip().splitlines()
    assert len(err) == 1, r.stderr[-2000:]
    assert err[0].startswith(f"netft: error: external data set 'netconfeval' not found (looked in "
                             f"{empty / 'netconfeval'})")
    assert "netft suite import netconfeval" in err[0]
    from conftest import netft_train_cmd

    run = tmp_path / "run"
    r = subprocess.run(netft_train_cmd(f"run_dir={run}", "eval.suites=[netconfeval]",
                                       "train.max_steps=1"),
                       env=_env(empty), capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr[-2000:]
    assert f"{empty / 'netconfeval'}" in r.stderr and "netft suite import" in r.stderr
    assert not (run / "metrics.jsonl").exists() and not (run / "final").exists()


def _fake_clone(root: Path, data: Path) -> Path:
    """A clone-shaped folder holding the synthetic data set the way the benchmark's repository
    holds the real one: the table as CSV, the prompts as string constants of Python modules
    (LangChain templates with {{ }} escapes), and module code that must never run."""
    from netft.domains.netops.suites.netconfeval import importer as I

    (root / "assets").mkdir(parents=True)
    (root / I.POLICY_SOURCE).write_bytes(gzip.decompress((data / R.POLICIES).read_bytes()))
    (root / "LICENSE").write_text("synthetic licence\n")
    (root / I.PROMPT_DIR).mkdir(parents=True)
    prompts = json.loads((data / R.PROMPTS).read_text())
    for keys, (module, template, names) in I.SOURCES.items():
        block = prompts
        for k in keys:
            block = block[k]
        body = ["import no_such_module_netft_must_not_import",
                "raise SystemExit('netft must not run this')"]
        for key, const in names.items():
            text = block[key].replace("{", "{{").replace("}", "}}") if template else block[key]
            body.append(f"{const} = {text!r}")
        (root / I.PROMPT_DIR / module).write_text("\n".join(body) + "\n")
    # The sentence templates: module-level lists (next to a non-list and a mixed list that
    # must be ignored); the user lead-ins: a formatter function and a ("user", ...) message.
    templates = json.loads((data / R.STATEMENTS).read_text())
    body = ["raise SystemExit('netft must not run this')", "unrelated = 'text'",
            "mixed_statements = ['a', 1]"]
    body += [f"{I.STATEMENT_LISTS[k]} = {v!r}" for k, v in templates.items()]
    (root / I.STATEMENT_SOURCE).parent.mkdir(parents=True)
    (root / I.STATEMENT_SOURCE).write_text("\n".join(body) + "\n")
    module, func = I.USER_SPEC_SOURCE
    (root / module).parent.mkdir(parents=True)
    (root / module).write_text(
        "import no_such_module_netft_must_not_import\n"
        f"def {func}(requirement):\n    return {{'input': {prompts['user']['spec']!r} + "
        "requirement}\n\ndef other(x):\n    return 'not this: ' + x\n")
    (root / I.USER_ADHOC_SOURCE).write_text(
        "raise SystemExit('netft must not run this')\n"
        "def run(text):\n"
        "    a = {'role': 'user', 'content': 'not this: ' + text}\n"
        f"    return [('system', 'x'), ('user', {prompts['user']['function_call_adhoc']!r} "
        "+ text)]\n")
    return root


def test_import_builds_the_data_set_from_a_clone_without_running_it(tmp_path, capsys):
    from netft.cli import main
    from netft.domains.netops.suites.netconfeval import importer as I

    data = SYNTHETIC / "netconfeval"
    clone = _fake_clone(tmp_path / "clone", data)
    hf = tmp_path / "hf"
    hf.mkdir()
    rows = [{"iteration": 0, "chunk": 0, "human_language": "alder -> 10.77.0.0/24 (invented)",
             "description": "a constant system prompt", "expected": "{}"}]
    for name in ("step_1_spec_translation.jsonl", "step_1_spec_conflict.jsonl"):
        (hf / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    assert main(["suite", "import", "netconfeval", str(clone), "--out", str(out),
                 "--published", str(hf)]) == 0
    assert f"NETFT_EXTERNAL_DATA={out}" in capsys.readouterr().out
    built = out / "netconfeval"
    assert json.loads((built / R.PROMPTS).read_text()) == json.loads(
        (data / R.PROMPTS).read_text())
    built_templates = json.loads((built / R.STATEMENTS).read_text())
    assert built_templates == json.loads((data / R.STATEMENTS).read_text())
    assert list(built_templates) == list(R.STATEMENT_TYPES)  # the order the generator keeps
    assert gzip.decompress((built / R.POLICIES).read_bytes()) == \
        gzip.decompress((data / R.POLICIES).read_bytes())
    got = [json.loads(x) for x in gzip.open(built / "published" /
                                            "step_1_spec_conflict.jsonl.gz", "rt")]
    assert got == [{k: v for k, v in rows[0].items() if k != "description"}]
    assert (built / "LICENSE").read_text() == "synthetic licence\n"
    assert "sha256" in (built / "UPSTREAM.md").read_text()
    # A clone that lacks a prompt module: one line, exit 2.
    (clone / "netconfeval" / "prompts" / "step_1_conflict_detection.py").unlink()
    with pytest.raises(SystemExit) as e:
        main(["suite", "import", "netconfeval", str(clone), "--out", str(out)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "step_1_conflict_detection.py: missing" in err[0]
    _fake_clone(tmp_path / "clone2", data)
    utils = tmp_path / "clone2" / I.STATEMENT_SOURCE
    utils.write_text(utils.read_text().replace("no_waypoint_statements =", "renamed ="))
    with pytest.raises(SystemExit) as e:
        main(["suite", "import", "netconfeval", str(tmp_path / "clone2"), "--out", str(out)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no list of string constants no_waypoint_statements" in err[0]


@pytest.mark.skipif(REAL is None or not os.environ.get("NETFT_NETCONFEVAL_CLONE"),
                    reason="needs NETFT_NETCONFEVAL_CLONE (a clone of RedHatResearch/NetConfEval "
                    "at the commit docs/netconfeval.md names) and the data set to compare with "
                    "(NETFT_EXTERNAL_DATA)")
def test_import_from_the_upstream_clone_equals_the_data_set(tmp_path):
    from netft.domains.netops.suites.netconfeval.importer import build

    built = build(Path(os.environ["NETFT_NETCONFEVAL_CLONE"]), tmp_path)
    assert (built / R.PROMPTS).read_bytes() == (REAL / R.PROMPTS).read_bytes()
    assert (built / R.STATEMENTS).read_bytes() == (REAL / R.STATEMENTS).read_bytes()
    assert gzip.decompress((built / R.POLICIES).read_bytes()) == \
        gzip.decompress((REAL / R.POLICIES).read_bytes())


@pytest.mark.slow
def test_cli_on_the_tiny_model_and_on_a_run_dir(tiny_path, tmp_path):
    """Offline, on a model folder and on a run dir: output names the paper, predictions hold
    request, expected, raw reply, parse outcome and score."""
    out = tmp_path / "model_eval"
    r = _netft("eval", "--suite", "netconfeval", str(tiny_path), "--runs", "1",
               "--limit", "1", "--max-new-tokens", "8", "--attempts", "1", "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Can LLMs Facilitate Network Configuration?" in r.stdout
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert {row["task"] for row in rows} == {"1a", "1b", "1c"}
    for row in rows:
        assert row["messages"] and "expected" in row and "reply" in row
        assert set(row["scores"]) == set(S.MODES)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["overall"]["score"] is not None and "citation" in summary

    run = tmp_path / "run"
    shutil.copytree(tiny_path, run / "final")
    (run / "config.yaml").write_text("data: {}\n")
    (run / "summary.json").write_text("{}")
    r = _netft("eval", "--suite", "netconfeval", str(run), "--runs", "1", "--limit", "1",
               "--max-new-tokens", "8", "--attempts", "1")
    assert r.returncode == 0, r.stderr[-2000:]
    assert (run / "eval" / "suites" / "netconfeval" / "final" / "predictions.jsonl").exists()
    assert "suite_netconfeval_final" in json.loads((run / "summary.json").read_text())


@pytest.mark.slow
def test_training_run_scores_the_suite_on_base_and_final(tmp_path):
    """eval.suites in a run: base and final results in the run dir, metrics.jsonl, summary and
    the offline W&B run (a table of the predictions)."""
    from conftest import netft_train_cmd

    run = tmp_path / "run"
    env = {**_env(), "WANDB_MODE": "offline"}
    r = subprocess.run(netft_train_cmd(
        "train.max_steps=2", f"run_dir={run}", "eval.suites=[netconfeval]", "eval.suite_runs=1",
        "eval.suite_limit=1", "eval.suite_max_new_tokens=4", "eval.domain_max_items=2",
        "eval.review_items=0", "logger=wandb"), env=env, capture_output=True, text=True,
        timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    for tag in ("base", "final"):
        assert (run / "eval" / "suites" / "netconfeval" / tag / "predictions.jsonl").exists()
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["suites"]) == {"base", "final"}
    assert "netconfeval" in summary["suites"]["final"]
    assert "suites/netconfeval/final/score" in (run / "metrics.jsonl").read_text()
    assert list(run.glob("wandb/offline-run-*/files/media/table/suites/netconfeval/final/*"))


def test_report_carries_the_suite_with_its_interval(tmp_path):
    """A run that scored the suite (summary.json["suites"]) gets its report columns: the final
    model's value with its interval and the base model's value; a run without it shows '-'."""
    import yaml

    from netft.analysis.report import find_runs, table_rows

    def run(name, method, suites=None):
        d = tmp_path / name
        d.mkdir()
        (d / "config.yaml").write_text(yaml.safe_dump(
            {"method": {"name": method, "lora_r": 8}, "train": {"seed": 0, "lr": 1e-3}}))
        history = [{"epoch": e, "val_loss": 5.0 - e, "general_ppl": 100 + e,
                    "domain_score": 0.1 * e} for e in range(3)]
        (d / "summary.json").write_text(json.dumps({"history": history,
                                                    **({"suites": suites} if suites else {})}))

    final = {"translation_accuracy": 0.25, "translation_accuracy_ci": [0.125, 0.375],
             "conflict_f1": 0.5, "conflict_f1_ci": None, "function_call_accuracy": 0.0}
    run("a", "full", {"base": {"netconfeval": {"translation_accuracy": 0.125}},
                      "final": {"netconfeval": final}})
    run("b", "lora")
    rows = {r["run"]: r for r in table_rows(find_runs([tmp_path]))}
    assert rows["full"]["NCE 1a acc final [95% CI]"] == "25.0 [12.5, 37.5] (base 12.5)"
    assert rows["full"]["NCE 1b F1 final [95% CI]"] == "50.0"
    assert rows["lora r=8"]["NCE 1a acc final [95% CI]"] == "-"
