"""Prodigy against prodigyopt 1.1.2 (the authors' package), and its d as one global estimate.

``adalearn.optim.Prodigy`` is compared with ``prodigyopt.Prodigy`` bit for bit in float32 and
float64 over 50 steps with two param groups and a learning-rate schedule, including its param
group entries (``d``, ``d_max``, ``d_numerator``, ...) and per-parameter state; across
``state_dict`` round trips both ways; on numpy; and on bad input, where the messages are
prodigyopt's.
"""

import io
import re

import numpy as np
import pytest
import torch
from _cases import BY_NAME, invalid_rows
from _models import Problem

from adalearn import optim, rules

STEPS = 50
SHAPES = [(12, 5), (7,), (3, 4, 2), (5, 5), ()]
INFO = BY_NAME["Prodigy"]
CONFIGS = INFO.configs
REFERENCE = INFO.reference  # prodigyopt.Prodigy, quiet
CASES = [pytest.param(kwargs, id=str(index)) for index, kwargs in enumerate(CONFIGS)]
DTYPES = pytest.mark.parametrize("dtype", [torch.float64, torch.float32],
                                 ids=["float64", "float32"])


def build(make, params, kwargs, second_lr=None):
    second = {} if second_lr is None else {"lr": second_lr}
    optimizer = make([{"params": params[:2]}, {"params": params[2:], **second}], **kwargs)
    return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=15, gamma=0.5)


def run(make, kwargs, dtype, steps=STEPS, second_lr=None):
    problem = Problem(SHAPES, dtype)
    params = problem.parameters()
    optimizer, scheduler = build(make, params, kwargs, second_lr)
    return problem.train(params, optimizer, scheduler, steps), optimizer


def assert_same_state(ours, theirs):
    for mine, reference in zip(ours.param_groups, theirs.param_groups, strict=True):
        for key, value in reference.items():
            if key != "params":
                assert mine[key] == value, key
    params = [(p, q) for g, h in zip(ours.param_groups, theirs.param_groups, strict=True)
              for p, q in zip(g["params"], h["params"], strict=True)]
    for p, q in params:
        assert list(ours.state[p]) == list(theirs.state[q])
        for key, value in theirs.state[q].items():
            if isinstance(value, torch.Tensor):
                assert ours.state[p][key].dtype == value.dtype, key
                assert torch.equal(ours.state[p][key], value), key
            else:
                assert ours.state[p][key] == value, key


@pytest.mark.parametrize("kwargs", CASES)
@DTYPES
def test_equals_prodigyopt_bit_for_bit(kwargs, dtype):
    ours, optimizer = run(optim.Prodigy, kwargs, dtype)
    theirs, reference = run(REFERENCE, kwargs, dtype)
    start = torch.cat([p.flatten() for p in Problem(SHAPES, dtype).start])
    assert (theirs - start).abs().max() > 1e-2, "the reference did not move"
    assert reference.param_groups[0]["d"] > 10 * reference.param_groups[0]["d0"]
    assert torch.equal(ours, theirs), (ours - theirs).abs().max().item()
    assert_same_state(optimizer, reference)


def test_a_group_at_learning_rate_zero_stays_and_adds_nothing_to_d():
    ours, optimizer = run(optim.Prodigy, {}, torch.float64, second_lr=0.0)
    theirs, reference = run(REFERENCE, {}, torch.float64, second_lr=0.0)
    assert torch.equal(ours, theirs)
    assert_same_state(optimizer, reference)
    frozen = sum(p.numel() for p in Problem(SHAPES, torch.float64).start[2:])
    start = torch.cat([p.flatten() for p in Problem(SHAPES, torch.float64).start])
    assert torch.equal(ours[-frozen:], start[-frozen:])


def test_d_is_one_estimate_for_all_parameters_as_for_their_concatenation():
    """Prodigy on several parameters is Prodigy on one vector that holds them all: the rule run
    on the concatenation gives the optimizer's d and parameters, up to the order of the sums."""
    problem = Problem(SHAPES, torch.float64)
    params = problem.parameters()
    optimizer = optim.Prodigy(params, weight_decay=0.1)
    rule = rules.Prodigy(weight_decay=0.1)
    sizes = [p.numel() for p in params]
    x = torch.cat([p.detach().flatten() for p in params])
    state = rule.init(x)
    for _ in range(30):
        optimizer.zero_grad()
        problem.loss(params).backward()
        optimizer.step()
        pieces = [piece.view(shape) for piece, shape in
                  zip(x.split(sizes), [p.shape for p in params], strict=True)]
        point = [piece.clone().requires_grad_() for piece in pieces]
        problem.loss(point).backward()
        x, state = rule.step(x, torch.cat([piece.grad.flatten() for piece in point]), state)
    assert state["d"] > 1e3 * rule.d0
    assert state["d"] == pytest.approx(optimizer.param_groups[0]["d"], rel=1e-10)
    torch.testing.assert_close(torch.cat([p.detach().flatten() for p in params]), x,
                               rtol=0, atol=1e-10)


def test_numpy_runs_equal_prodigyopt_in_float64():
    generator = np.random.default_rng(5)
    c = generator.uniform(0.5, 2.0, (6, 4))
    x0 = generator.standard_normal((6, 4))
    for kwargs in CONFIGS:
        rule = rules.Prodigy(**kwargs)
        x, state = x0.copy(), rule.init(x0)
        for _ in range(STEPS):
            x, state = rule.step(x, 2 * c * (x - 1) + x**3, state)
        p = torch.nn.Parameter(torch.tensor(x0))
        reference = REFERENCE([p], **kwargs)
        for _ in range(STEPS):
            reference.zero_grad()
            (torch.from_numpy(c) * (p - 1) ** 2 + p**4 / 4).sum().backward()
            reference.step()
        assert state["d"] == pytest.approx(reference.param_groups[0]["d"], rel=1e-9)
        np.testing.assert_allclose(x, p.detach().numpy(), rtol=0, atol=1e-10)


def test_a_step_without_gradient_signal_only_updates_the_moments():
    """‖s‖₁ = 0 (a zero gradient): prodigyopt returns before d, k and the parameters change."""
    results = []
    for make in (optim.Prodigy, REFERENCE):
        p = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
        optimizer = make([p])
        p.grad = torch.zeros(3, dtype=torch.float64)
        optimizer.step()
        p.grad = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
        optimizer.step()
        results.append((p.detach().clone(), optimizer))
    (ours, optimizer), (theirs, reference) = results
    assert reference.param_groups[0]["k"] == 1
    assert torch.equal(ours, theirs)
    assert_same_state(optimizer, reference)


# --------------------------------------------------------------------------------------------
# state_dict.


def resumed(first, second, kwargs, steps=15):
    problem = Problem(SHAPES, torch.float64)
    params = problem.parameters()
    optimizer, scheduler = build(first, params, kwargs)
    problem.train(params, optimizer, scheduler, steps)
    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
               buffer)
    buffer.seek(0)
    saved = torch.load(buffer)
    optimizer, scheduler = build(second, params, kwargs)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    return problem.train(params, optimizer, scheduler, steps)


@pytest.mark.parametrize("kwargs", [CONFIGS[1], CONFIGS[2]], ids=["1", "2"])
def test_state_dict_resumes_and_crosses_to_and_from_prodigyopt(kwargs):
    straight, _ = run(optim.Prodigy, kwargs, torch.float64, steps=30)
    assert torch.equal(resumed(optim.Prodigy, optim.Prodigy, kwargs), straight)
    assert torch.equal(resumed(optim.Prodigy, REFERENCE, kwargs), straight)
    assert torch.equal(resumed(REFERENCE, optim.Prodigy, kwargs), straight)


# --------------------------------------------------------------------------------------------
# Bad input.

@pytest.mark.parametrize(("info", "row"), invalid_rows([INFO], lambda row: row.message is None))
def test_bad_hyperparameters_fail_with_prodigyopts_error(info, row):
    params = Problem(SHAPES, torch.float64).parameters()
    with pytest.raises(ValueError) as theirs:  # noqa: PT011 - the message is the question
        REFERENCE(params, **row.kwargs)
    with pytest.raises(ValueError, match=re.escape(str(theirs.value))):
        optim.Prodigy(params, **row.kwargs)


@pytest.mark.parametrize(("info", "row"),
                         invalid_rows([INFO], lambda row: row.message is not None))
def test_what_prodigyopt_takes_silently_is_refused(info, row):
    with pytest.raises(row.error, match=re.escape(row.message)):
        rules.Prodigy(**row.kwargs)


def test_groups_with_different_learning_rates_fail_as_in_prodigyopt():
    for make in (optim.Prodigy, REFERENCE):
        params = Problem(SHAPES, torch.float64).parameters()
        optimizer = make([{"params": params[:2]}, {"params": params[2:], "lr": 0.5}])
        for p in params:
            p.grad = torch.ones_like(p)
        with pytest.raises(RuntimeError, match="only supported for values of 0"):
            optimizer.step()


def test_compile_is_refused():
    with pytest.raises(ValueError, match=r"`compile` must be False for Prodigy"):
        optim.Prodigy(Problem(SHAPES, torch.float64).parameters(), compile=True)


def test_fsdp_in_use_sums_over_the_process_group(tmp_path):
    """In a process group of one, the all-reduced sums are the local ones: the same run."""
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}",
                                         rank=0, world_size=1)
    try:
        distributed, _ = run(optim.Prodigy, {"fsdp_in_use": True}, torch.float64, steps=10)
    finally:
        torch.distributed.destroy_process_group()
    local, _ = run(optim.Prodigy, {}, torch.float64, steps=10)
    assert torch.equal(distributed, local)
