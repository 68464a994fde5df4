"""training.learning_rates: a real torch scheduler's rates, checked against closed forms."""

import math

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler

from adalearn import training


def test_cosine_matches_the_closed_form():
    steps, lr, floor = 40, 0.3, 0.01
    rates = training.learning_rates(
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=steps, eta_min=floor), steps, lr=lr
    )
    t = np.arange(steps)
    expected = floor + (lr - floor) * (1 + np.cos(np.pi * t / steps)) / 2
    np.testing.assert_allclose(rates, expected, rtol=1e-12, atol=1e-15)


def test_step_decay_matches_the_closed_form():
    rates = training.learning_rates(lambda o: lr_scheduler.StepLR(o, 7, gamma=0.1), 30, lr=2.0)
    expected = 2.0 * 0.1 ** (np.arange(30) // 7)
    np.testing.assert_allclose(rates, expected, rtol=1e-12)


def test_exponential_matches_the_closed_form():
    rates = training.learning_rates(lambda o: lr_scheduler.ExponentialLR(o, 0.95), 25)
    np.testing.assert_allclose(rates, 0.95 ** np.arange(25), rtol=1e-12)


def test_linear_warmup_then_constant():
    warmup, lr = 10, 0.5

    def make(optimizer):
        return lr_scheduler.LinearLR(optimizer, start_factor=1 / warmup, total_iters=warmup - 1)

    rates = training.learning_rates(make, 20, lr=lr)
    t = np.arange(20)
    start = 1 / warmup
    expected = lr * np.where(t < warmup - 1, start + (1 - start) * t / (warmup - 1), 1.0)
    np.testing.assert_allclose(rates, expected, rtol=1e-12)
    assert rates[0] == pytest.approx(lr / warmup) and rates[warmup - 1] == pytest.approx(lr)


def test_warmup_then_cosine_composed_with_sequential():
    warmup, steps = 5, 25

    def make(optimizer):
        rise = lr_scheduler.LambdaLR(optimizer, lambda t: (t + 1) / warmup)
        fall = lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps - warmup)
        return lr_scheduler.SequentialLR(optimizer, [rise, fall], milestones=[warmup])

    rates = training.learning_rates(make, steps)
    t = np.arange(steps)
    expected = np.where(
        t < warmup, (t + 1) / warmup, (1 + np.cos(np.pi * (t - warmup) / (steps - warmup))) / 2
    )
    np.testing.assert_allclose(rates, expected, rtol=1e-12, atol=1e-15)


def test_one_cycle_runs_its_whole_length_and_starts_low():
    steps = 50
    rates = training.learning_rates(
        lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=steps), steps
    )
    assert rates.shape == (steps,)
    assert rates[0] == pytest.approx(1.0 / 25) and rates.max() == pytest.approx(1.0)
    assert rates[-1] == pytest.approx(1.0 / 25 / 1e4)
    assert int(np.argmax(rates)) == math.floor(0.3 * steps) - 1


def test_a_constant_scheduler_reads_the_starting_rate():
    rates = training.learning_rates(lambda o: lr_scheduler.ConstantLR(o, 1.0, 1), 3, lr=0.7)
    np.testing.assert_array_equal(rates, [0.7, 0.7, 0.7])
    assert rates.dtype == np.float64


@pytest.mark.parametrize("steps", [0, -1, 2.5])
def test_bad_step_counts_are_rejected(steps):
    with pytest.raises((ValueError, TypeError), match="steps"):
        training.learning_rates(lambda o: lr_scheduler.ConstantLR(o, 1.0, 1), steps)


def test_the_throwaway_optimizer_leaves_torch_alone():
    before = torch.get_rng_state()
    training.learning_rates(lambda o: lr_scheduler.StepLR(o, 1), 3)
    assert torch.equal(before, torch.get_rng_state())
