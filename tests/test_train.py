"""The convergence check of a finished schedule (analysis.train.plateaued)."""

from __future__ import annotations

import pytest

from analysis.train import PLATEAU_GAIN, plateaued


def test_a_flat_tail_with_one_lucky_epoch_has_plateaued():
    # recipe-48px-long's val macro-F1, epochs 13-24: flat from epoch 16, one lucky epoch (0.724)
    curve = [0.5] * 12 + [0.662, 0.685, 0.669, 0.709, 0.707, 0.696]
    curve += [0.711, 0.707, 0.703, 0.709, 0.724, 0.716]
    assert plateaued(curve)


def test_a_curve_still_rising_has_not():
    # a 64 px run cut to 10 epochs: still climbing when the schedule ended
    assert not plateaued([0.1, 0.25, 0.3, 0.4, 0.5, 0.52, 0.55, 0.58, 0.62, 0.64])
    assert not plateaued([i / 100 for i in range(24)])  # +0.01 an epoch: tail mean +0.035


def test_the_tail_is_a_quarter_of_the_epochs_and_at_least_two():
    # 8 epochs: the tail is epochs 7-8; its mean 0.70 against the best before it
    assert plateaued([0.1] * 5 + [0.695, 0.70, 0.70])
    assert not plateaued([0.1] * 5 + [0.6, 0.70, 0.70])
    # 3 epochs: the tail is 2 epochs, judged against the first
    assert plateaued([0.5, 0.505, 0.505])
    assert not plateaued([0.3, 0.5, 0.5])


@pytest.mark.parametrize("n", [0, 1, 2])
def test_too_few_epochs_to_judge_is_not_a_plateau(n):
    assert not plateaued([0.5] * n)


def test_the_gain_is_strict_and_can_be_set():
    assert not plateaued([0.5, 0.5 + PLATEAU_GAIN, 0.5 + PLATEAU_GAIN])
    assert plateaued([0.5, 0.52, 0.52], gain=0.03)
    assert not plateaued([0.5, 0.52, 0.52], gain=0.02)
