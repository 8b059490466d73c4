"""EvalRecord: the per-epoch eval record keeps the JSON layout runs wrote before it existed, so
old run dirs (summary.json, checkpoints, interpolation.json) load and are written unchanged."""
import dataclasses
import json

import pytest
import yaml

from netft.eval.forgetting import best_epoch, forgetting
from netft.eval.record import EvalRecord
from netft.analysis.report import find_runs, table_rows
from netft.analysis.study import points

# Written by netft before EvalRecord (main at 137d480, `netft-train model=tiny method=lora
# train.max_steps=6 eval.domain_max_items=8`), epoch 1 of summary.json's history, shortened.
OLD_EPOCH = ('{"epoch": 1, "step": 6, "val_loss": 5.772585879648084, "general_ppl": '
             '300.342088147929, "general_ppl_ci": [285.80536233658063, 315.5965243040453], '
             '"kl_general": 0.000160324703756487, "kl_domain": 0.0018967817070426884, '
             '"domain_score": 0.125, "domain_score_ci": [0.0, 0.3333333333333333], '
             '"domain": {"n": 8, "command_accuracy": 0.0, "score": 0.125}}')
# The other shapes the old code wrote: DPO validation statistics (val_<stat>, sorted), lm-eval
# task accuracies before their average, an interval that could not be computed (null), and an
# interpolation point (alpha first, no epoch/step).
OLD_DPO_LM_EVAL = ('{"epoch": 2, "step": 9, "val_loss": 0.69, "val_chosen_reward": 0.1, '
                   '"val_margin": 0.3, "general_ppl": 12.5, "general_ppl_ci": null, '
                   '"kl_general": 0.01, "hellaswag": 0.25, "arc_challenge": 0.5, '
                   '"general_acc": 0.375, "domain_score": 0.0, "domain_score_ci": null, '
                   '"domain": {"n": 1, "score": 0.0}}')
OLD_POINT = ('{"alpha": 0.5, "val_loss": 5.7, "general_ppl": 301.0, "general_ppl_ci": '
             '[290.0, 312.0], "kl_general": 0.001, "domain_score": 0.25, '
             '"domain_score_ci": [0.0, 0.5], "domain": {"n": 8, "score": 0.25}}')


@pytest.mark.parametrize("text", [OLD_EPOCH, OLD_DPO_LM_EVAL, OLD_POINT,
                                  '{"epoch": 0, "step": 0}'])
def test_old_records_round_trip_byte_for_byte(text):
    rec = EvalRecord.from_json(json.loads(text))
    assert json.dumps(rec.to_json()) == text
    assert EvalRecord.from_json(json.loads(json.dumps(rec.to_json()))) == rec


def test_old_keys_land_in_typed_fields():
    rec = EvalRecord.from_json(json.loads(OLD_DPO_LM_EVAL))
    assert (rec.epoch, rec.step, rec.val_loss, rec.general_ppl) == (2, 9, 0.69, 12.5)
    assert rec.val == {"chosen_reward": 0.1, "margin": 0.3}
    assert rec.kl == {"general": 0.01}
    assert rec.lm_eval == {"hellaswag": 0.25, "arc_challenge": 0.5}
    assert (rec.general_acc, rec.general_ppl_ci, rec.domain_score_ci) == (0.375, None, None)
    assert rec.get("val_margin") == 0.3 and rec.get("nothing") is None
    point = EvalRecord.from_json(json.loads(OLD_POINT))
    assert (point.alpha, point.epoch, point.step, point.general_ppl_ci) == \
        (0.5, None, None, (290.0, 312.0))


def test_every_field_is_written_and_read_back():
    """A field added to the dataclass travels through JSON with no other change."""
    values = {"alpha": 0.1, "epoch": 3, "step": 12, "val_loss": 1.5, "val": {"margin": 0.2},
              "general_ppl": 9.0, "general_ppl_ci": (8.0, 10.0), "near_ppl": 20.0,
              "near_ppl_ci": (18.0, 22.0), "kl": {"domain": 0.3, "near": 0.1},
              "lm_eval": {"piqa": 0.6}, "general_acc": 0.6, "domain_score": 0.4,
              "domain_score_ci": (0.3, 0.5), "domain": {"score": 0.4}}
    assert set(values) == {f.name for f in dataclasses.fields(EvalRecord)}, \
        "a new EvalRecord field: give it a value here"
    rec = EvalRecord(**values)
    assert EvalRecord.from_json(json.loads(json.dumps(rec.to_json()))) == rec


def test_an_old_run_dir_loads_in_report_study_and_forgetting(tmp_path):
    """summary.json and interpolation.json as the old code wrote them."""
    base = json.loads(OLD_EPOCH.replace('"epoch": 1, "step": 6', '"epoch": 0, "step": 0')
                      .replace('"val_loss": 5.772585879648084', '"val_loss": 5.795')
                      .replace('"domain_score": 0.125', '"domain_score": 0.0'))
    history = [base, json.loads(OLD_EPOCH)]
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"history": history, "best_epoch": 1}))
    (run / "interpolation.json").write_text(json.dumps([json.loads(OLD_POINT)]))
    (run / "config.yaml").write_text(yaml.safe_dump(
        {"method": {"name": "lora", "lora_r": 8}, "train": {"lr": 1e-3, "seed": 0}}))
    [r] = find_runs([tmp_path])
    assert [h.epoch for h in r.history] == [0, 1] and r.interpolation[0].alpha == 0.5
    assert [h.to_json() for h in r.history] == history
    assert best_epoch(r.history) == 1
    assert forgetting(r.history)[1]["domain_gain"] == pytest.approx(0.125)
    [row] = table_rows([r])
    assert row["best epoch"] == 1 and row["val-loss drop"] == pytest.approx(5.795 - 5.772585879648084)
    assert row["KL general"] == pytest.approx(0.000160324703756487)
    by_name = {p.name: p for p in points({"lora": [r]})}
    assert by_name["lora epoch 1"].learning.mean == pytest.approx(5.795 - 5.772585879648084)
    assert by_name["lora alpha=0.5"].forgetting.mean == pytest.approx(
        100 * (301.0 / base["general_ppl"] - 1))
