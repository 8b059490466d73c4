"""Forgetting and early stopping from known numbers."""
import pytest

from netft.eval.forgetting import best_epoch, forgetting, should_stop
from netft.eval.record import EvalRecord

HISTORY = [EvalRecord(epoch=e, val_loss=v, general_ppl=p, domain_score=d) for e, v, p, d in [
    (0, 3.0, 100.0, 0.10),
    (1, 2.0, 110.0, 0.40),
    (2, 1.5, 125.0, 0.55),
    (3, 1.6, 150.0, 0.50),
    (4, 1.7, 180.0, 0.45)]]


def test_forgetting_against_the_base_model():
    rows = forgetting(HISTORY)
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3, 4]
    assert rows[0]["general_ppl_increase"] == 0.0
    assert rows[2]["general_ppl_increase"] == pytest.approx(25.0)
    assert rows[4]["general_ppl_increase_rel"] == pytest.approx(0.8)
    assert rows[2]["domain_gain"] == pytest.approx(0.45)


def test_accuracy_style_forgetting():
    h = [EvalRecord(epoch=0, general_acc=0.60), EvalRecord(epoch=1, general_acc=0.54)]
    r = forgetting(h)[1]
    assert r["general_acc_drop"] == pytest.approx(0.06)
    assert r["general_acc_drop_rel"] == pytest.approx(0.1)


def test_early_stopping_picks_the_best_epoch():
    assert best_epoch(HISTORY) == 2
    assert [should_stop(HISTORY[:n], patience=2) for n in range(1, 6)] == \
        [False, False, False, False, True]
    assert should_stop(HISTORY[:4], patience=1)
    assert not should_stop(HISTORY, patience=0)
    # Ties go to the earlier epoch; epoch 0 (the base model) is never "best".
    flat = [EvalRecord(epoch=0, val_loss=0.1), EvalRecord(epoch=1, val_loss=1.0),
            EvalRecord(epoch=2, val_loss=1.0)]
    assert best_epoch(flat) == 1
