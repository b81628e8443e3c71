"""Continual and stream scores against numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fivefold.techniques.adaptive.continual.metrics import (
    continual_scores,
    detection_report,
    drift_recovery,
    forward_transfer,
    prequential_accuracy,
    prequential_curve,
)

# R[i, j]: accuracy on task j after training on task i (rows: after task 0, 1, 2).
R = [
    [0.9, 0.1, 0.2],
    [0.7, 0.8, 0.3],
    [0.6, 0.5, 0.9],
]


def test_scores_of_a_hand_written_matrix() -> None:
    scores = continual_scores(R)
    # average accuracy: the last row, (0.6 + 0.5 + 0.9) / 3
    assert scores["average_accuracy"] == pytest.approx(2.0 / 3)
    # learning accuracy: the diagonal, (0.9 + 0.8 + 0.9) / 3
    assert scores["learning_accuracy"] == pytest.approx(2.6 / 3)
    # forgetting, j = 0: max(R[0,0], R[1,0]) - R[2,0] = 0.9 - 0.6 = 0.3
    #             j = 1: max(R[0,1], R[1,1]) - R[2,1] = 0.8 - 0.5 = 0.3
    assert scores["forgetting"] == pytest.approx(0.3)
    # BWT, j = 0: R[2,0] - R[0,0] = -0.3; j = 1: R[2,1] - R[1,1] = -0.3
    assert scores["backward_transfer"] == pytest.approx(-0.3)


def test_forgetting_uses_the_best_earlier_accuracy_not_the_diagonal() -> None:
    # Task 0 improves after task 1 (0.5 -> 0.8), then drops to 0.6 at the end.
    r = [[0.5, 0.0], [0.8, 0.9]]
    r3 = [[0.5, 0.0, 0.0], [0.8, 0.9, 0.0], [0.6, 0.9, 0.7]]
    assert continual_scores(r)["forgetting"] == pytest.approx(0.5 - 0.8)  # T=2: only l = 0
    scores = continual_scores(r3)
    # j = 0: max(0.5, 0.8) - 0.6 = 0.2; j = 1: max(0.0, 0.9) - 0.9 = 0
    assert scores["forgetting"] == pytest.approx(0.1)
    # BWT: j = 0: 0.6 - 0.5 = 0.1; j = 1: 0.9 - 0.9 = 0
    assert scores["backward_transfer"] == pytest.approx(0.05)


def test_one_task_has_no_forgetting_or_transfer() -> None:
    scores = continual_scores([[0.7]])
    assert scores["average_accuracy"] == pytest.approx(0.7)
    assert math.isnan(scores["forgetting"])
    assert math.isnan(scores["backward_transfer"])
    assert math.isnan(forward_transfer([[0.7]], [0.1]))


def test_forward_transfer() -> None:
    # j = 1: R[0,1] - b1 = 0.1 - 0.05; j = 2: R[1,2] - b2 = 0.3 - 0.1
    assert forward_transfer(R, [0.0, 0.05, 0.1]) == pytest.approx((0.05 + 0.2) / 2)


@pytest.mark.parametrize("bad", [[[0.1, 0.2]], [], [[math.nan]], [0.3, 0.4]])
def test_bad_matrices(bad: list[object]) -> None:
    with pytest.raises(ValueError, match="accuracy matrix"):
        continual_scores(bad)


def test_prequential_accuracy_and_curve() -> None:
    correct = [1, 0, 1, 1, 0, 0, 1, 1]
    assert prequential_accuracy(correct) == pytest.approx(5 / 8)
    # window 3: prefixes first ([1], [1,0]), then full windows
    expected = [1, 1 / 2, 2 / 3, 2 / 3, 2 / 3, 1 / 3, 1 / 3, 2 / 3]
    np.testing.assert_allclose(prequential_curve(correct, 3), expected)
    np.testing.assert_allclose(prequential_curve(correct, 1), correct)
    with pytest.raises(ValueError):
        prequential_curve(correct, 0)
    with pytest.raises(ValueError):
        prequential_accuracy([])


def test_drift_recovery_on_a_hand_made_stream() -> None:
    # 10 right, drift at 10, then 4 wrong, then right until 20; window 4.
    correct = [1] * 10 + [0] * 4 + [1] * 6
    (rec,) = drift_recovery(correct, [10], window=4, tolerance=0.25)
    assert rec["position"] == 10
    assert rec["pre_accuracy"] == 1.0  # correct[6:10]
    assert rec["min_accuracy"] == 0.0  # window correct[10:14]
    assert rec["drop"] == 1.0
    # windows ending at e = 13 (0/4), 14 (1/4), 15 (2/4), 16 (3/4 >= 1 - 0.25): recovered at 16
    assert rec["recovered_at"] == 16
    assert rec["recovery_samples"] == 7  # samples 10..16


def test_drift_recovery_clips_at_the_previous_drift_and_can_fail() -> None:
    correct = [1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    first, second = drift_recovery(correct, [2, 7], window=3, tolerance=0.0)
    # before 2 only 2 samples exist: pre = 1; windows in [2, 7) all 0 -> never recovers
    assert first["pre_accuracy"] == 1.0
    assert first["min_accuracy"] == 0.0
    assert first["recovered_at"] is None and first["recovery_samples"] is None
    # before 7: correct[4:7] = 0 0 0, pre = 0; first window [7, 10) = 1/3 >= 0 -> at 9
    assert second["pre_accuracy"] == 0.0
    assert second["recovered_at"] == 9
    assert second["recovery_samples"] == 3
    # a segment shorter than the window has no post-drift window
    (short,) = drift_recovery([1, 1, 1, 0, 0], [3], window=3, tolerance=0.0)
    assert short["min_accuracy"] is None and short["recovered_at"] is None


def test_drift_recovery_validates() -> None:
    with pytest.raises(ValueError, match="drifts"):
        drift_recovery([1, 0, 1], [2, 1], window=1, tolerance=0)
    with pytest.raises(ValueError, match="drifts"):
        drift_recovery([1, 0, 1], [0], window=1, tolerance=0)


def test_detection_report() -> None:
    # drifts at 100 and 300; detections: 5 (false), 120 (drift 100, delay 20), 130 (second
    # detection of the same drift: false), 290 (false: before drift 300), 420 (too late)
    report = detection_report([130, 5, 120, 290, 420], [100, 300], max_delay=100)
    assert report["delays"] == [20, None]
    assert report["detected"] == 1
    assert report["missed"] == 1
    assert report["false_alarms"] == 4
    assert report["false_alarm_indexes"] == [5, 130, 290, 420]
    assert report["mean_delay"] == 20.0


def test_detection_window_stops_at_the_next_drift() -> None:
    # the detection at 150 is after drift 150 starts: it belongs to the second drift
    report = detection_report([150], [100, 150], max_delay=100)
    assert report["delays"] == [None, 0]
    assert report["false_alarms"] == 0
    empty = detection_report([], [10], max_delay=5)
    assert empty["delays"] == [None] and math.isnan(empty["mean_delay"])
    with pytest.raises(ValueError):
        detection_report([], [10], max_delay=-1)
