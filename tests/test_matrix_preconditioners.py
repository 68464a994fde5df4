"""Shampoo and SOAP against pytorch-optimizer 4.1.0, full-matrix AdaGrad and their own math.

``adalearn.optim.Shampoo`` and ``adalearn.optim.SOAP`` are compared with
``pytorch_optimizer.Shampoo`` and ``pytorch_optimizer.SOAP`` bit for bit in float32 and
float64, over 50 steps with two param groups and a learning-rate schedule, on matrices of both
aspect ratios, a square one, a vector and a 3-D tensor (SOAP also on 4-D tensors with merged
dimensions, NCHW and NHWC); across ``state_dict`` round trips in both directions; on bad
input; on numpy; and compiled.
"""

import io
import re

import numpy as np
import pytest
import pytorch_optimizer
import torch
from _cases import BY_NAME, configurations, invalid_rows, suite
from _models import Problem

from adalearn import optim, rules

STEPS = 50
INFOS = suite("matrix")
EACH = pytest.mark.parametrize("info", INFOS, ids=repr)
SHAPES = [(12, 5), (5, 12), (7, 7), (9,), (2, 3, 4)]
MERGED_SHAPES = [(2, 3, 4, 5), (6, 4, 3, 3)]
CASES = configurations(INFOS)
DTYPES = pytest.mark.parametrize("dtype", [torch.float64, torch.float32],
                                 ids=["float64", "float32"])


def shapes_for(kwargs):
    return MERGED_SHAPES if kwargs.get("merge_dims") else SHAPES


def build(make, params, kwargs):
    """Two param groups (the second at three times the learning rate) and a StepLR schedule."""
    lr = kwargs.get("lr", BY_NAME[make.__name__].default_lr)
    optimizer = make([{"params": params[:3]}, {"params": params[3:], "lr": 3 * lr}], **kwargs)
    return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=15, gamma=0.5)


def run(make, kwargs, dtype, steps=STEPS):
    problem = Problem(shapes_for(kwargs), dtype)
    params = problem.parameters()
    optimizer, scheduler = build(make, params, kwargs)
    return problem.train(params, optimizer, scheduler, steps), optimizer


@pytest.mark.parametrize(("info", "kwargs"), CASES)
@DTYPES
def test_equals_pytorch_optimizer_bit_for_bit(info, kwargs, dtype):
    ours, _ = run(info.optimizer, kwargs, dtype)
    theirs, _ = run(info.reference, kwargs, dtype)
    start = torch.cat([p.flatten() for p in Problem(shapes_for(kwargs), dtype).start])
    assert torch.isfinite(theirs).all()
    assert (theirs - start).abs().max() > 1e-3, "the reference did not move"
    assert torch.equal(ours, theirs), (ours - theirs).abs().max().item()


@EACH
def test_state_and_groups_have_the_references_layout(info):
    kwargs = info.configs[1]
    _, ours = run(info.optimizer, kwargs, torch.float64, steps=6)
    _, theirs = run(info.reference, kwargs, torch.float64, steps=6)
    assert [g["step"] for g in ours.param_groups] == [g["step"] for g in theirs.param_groups]
    mine = [ours.state[p] for g in ours.param_groups for p in g["params"]]
    reference = [theirs.state[p] for g in theirs.param_groups for p in g["params"]]
    for a, b in zip(mine, reference, strict=True):
        assert list(a) == list(b)
        for key, value in b.items():
            values = value if isinstance(value, list) else [value]
            for x, y in zip(a[key] if isinstance(a[key], list) else [a[key]], values,
                            strict=True):
                if isinstance(y, torch.Tensor):
                    assert x.dtype == y.dtype and torch.equal(x, y), key
                else:
                    assert x == y, key


def test_shampoo_on_a_vector_is_full_matrix_adagrad():
    """(εI + Σ g gᵀ)^(-1/2) g, from numpy's eigendecomposition: Shampoo of a tensor of order 1."""
    generator = np.random.default_rng(3)
    x0 = generator.standard_normal(6)
    gradients = generator.standard_normal((8, 6))
    rule = rules.Shampoo(lr=0.1, matrix_eps=1e-3)
    x, state = x0.copy(), rule.init(x0)
    expected, total = x0.copy(), 1e-3 * np.eye(6)
    for g in gradients:
        x, state = rule.step(x, g, state)
        total += np.outer(g, g)
        values, vectors = np.linalg.eigh(total)
        expected -= 0.1 * vectors @ np.diag(values**-0.5) @ vectors.T @ g
    np.testing.assert_allclose(x, expected, rtol=0, atol=1e-12)


def test_shampoo_on_a_matrix_is_the_kronecker_preconditioner():
    """L^(-1/4) G R^(-1/4), from numpy's eigendecompositions."""
    generator = np.random.default_rng(4)
    x0 = generator.standard_normal((5, 3))
    gradients = generator.standard_normal((6, 5, 3))
    rule = rules.Shampoo(lr=0.1, matrix_eps=1e-2)

    def root(m):
        values, vectors = np.linalg.eigh(m)
        return vectors @ np.diag(values**-0.25) @ vectors.T

    x, state = x0.copy(), rule.init(x0)
    expected, left, right = x0.copy(), 1e-2 * np.eye(5), 1e-2 * np.eye(3)
    for g in gradients:
        x, state = rule.step(x, g, state)
        left, right = left + g @ g.T, right + g.T @ g
        expected -= 0.1 * root(left) @ g @ root(right)
    np.testing.assert_allclose(x, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("name", "shape", "kwargs"), [
    ("Shampoo", (12, 5), {"lr": 1e-2, "momentum": 0.5}),
    ("Shampoo", (9,), {"lr": 1e-2}),
    ("Shampoo", (2, 3, 4), {"lr": 1e-2, "weight_decay": 0.1}),
    ("SOAP", (7, 7), {"lr": 1e-2, "precondition_frequency": 4}),
    ("SOAP", (2, 3, 4), {"lr": 1e-2}),
])
def test_numpy_runs_agree_with_the_reference(name, shape, kwargs):
    """Where the eigenbases are unique (SOAP: square factors of full rank), numpy's LAPACK gives
    pytorch-optimizer's numbers up to rounding: float64's for Shampoo, float32's for SOAP,
    whose refresh runs its QR factorisation in float32."""
    problem = Problem([shape], torch.float64)
    matrix, target = problem.matrices[0].numpy(), problem.targets[0].numpy()
    rule = BY_NAME[name].rule(**kwargs)
    x = problem.start[0].numpy().copy()
    state = rule.init(x)
    for _ in range(30):
        flat = x.reshape(-1)
        g = (matrix.T @ (matrix @ flat - target) + 0.4 * flat**3).reshape(shape)
        x, state = rule.step(x, g, state)
    p = problem.parameters()
    reference = BY_NAME[name].reference(p, **kwargs)
    for _ in range(30):
        reference.zero_grad()
        problem.loss(p).backward()
        reference.step()
    moved = np.abs(p[0].detach().numpy() - problem.start[0].numpy()).max()
    assert moved > 1e-2
    tolerance = 1e-4 if name == "SOAP" else 1e-8
    np.testing.assert_allclose(x, p[0].detach().numpy(), rtol=0, atol=tolerance * moved)


def test_merged_dimensions_that_fit_in_one_are_one_factor():
    """A (3, 4) matrix merged into one dimension of 12 is SOAP on the flattened vector with
    precondition_1d, which the reference runs (merging it, the reference fails)."""
    problem = Problem([(3, 4)], torch.float64)
    with pytest.raises(RuntimeError, match=re.escape("shape '[1]' is invalid")):
        params = problem.parameters()
        reference = pytorch_optimizer.SOAP(params, merge_dims=True)
        problem.train(params, reference, torch.optim.lr_scheduler.StepLR(reference, 15), 2)
    ours, flat = problem.parameters(), torch.nn.Parameter(problem.start[0].reshape(-1).clone())
    for make, params, point in (
        (lambda p: optim.SOAP(p, lr=1e-2, merge_dims=True, precondition_frequency=3), ours,
         ours),
        (lambda p: pytorch_optimizer.SOAP(p, lr=1e-2, precondition_1d=True,
                                          precondition_frequency=3), [flat], [flat.view(3, 4)]),
    ):
        optimizer = make(params)
        for _ in range(20):
            optimizer.zero_grad()
            problem.loss(point).backward()
            optimizer.step()
    assert not torch.equal(flat.detach(), problem.start[0].reshape(-1))
    assert torch.equal(ours[0].detach().reshape(-1), flat.detach())


# --------------------------------------------------------------------------------------------
# state_dict.


def saved(optimizer):
    buffer = io.BytesIO()
    torch.save(optimizer.state_dict(), buffer)
    buffer.seek(0)
    return torch.load(buffer)


def resumed(first, second, name, kwargs, steps=12):
    problem = Problem(shapes_for(kwargs), torch.float64)
    params = problem.parameters()
    optimizer, scheduler = build(first, params, kwargs)
    problem.train(params, optimizer, scheduler, steps)
    state, schedule = saved(optimizer), scheduler.state_dict()
    optimizer, scheduler = build(second, params, kwargs)
    optimizer.load_state_dict(state)
    scheduler.load_state_dict(schedule)
    return problem.train(params, optimizer, scheduler, steps)


@pytest.mark.parametrize(("info", "kwargs"), [
    pytest.param(BY_NAME["Shampoo"], BY_NAME["Shampoo"].configs[1], id="Shampoo"),
    pytest.param(BY_NAME["SOAP"], BY_NAME["SOAP"].configs[1], id="SOAP"),
    pytest.param(BY_NAME["SOAP"], BY_NAME["SOAP"].configs[4], id="SOAP-merged"),
])
def test_state_dict_resumes_and_crosses_to_and_from_the_reference(info, kwargs):
    name, ours, theirs = info.name, info.optimizer, info.reference
    straight, _ = run(ours, kwargs, torch.float64, steps=24)
    assert torch.equal(resumed(ours, ours, name, kwargs), straight)
    assert torch.equal(resumed(ours, theirs, name, kwargs), straight)
    assert torch.equal(resumed(theirs, ours, name, kwargs), straight)


# --------------------------------------------------------------------------------------------
# Bad input: pytorch-optimizer's messages, as ValueErrors.


@pytest.mark.parametrize(("info", "row"), invalid_rows(INFOS, lambda row: row.message is None))
def test_bad_hyperparameters_fail_in_the_references_words(info, row):
    params = Problem(SHAPES[:1], torch.float64).parameters()
    with pytest.raises(Exception) as theirs:  # noqa: PT011 - its own exception classes
        info.reference(params, **row.kwargs)
    for make in (info.rule, lambda **kw: info.optimizer(params, **kw)):
        with pytest.raises(ValueError, match=re.escape(str(theirs.value))):
            make(**row.kwargs)


@pytest.mark.parametrize(("info", "row"), invalid_rows(INFOS, lambda row: row.message is not None))
def test_what_the_reference_takes_silently_is_refused(info, row):
    with pytest.raises(row.error, match=re.escape(row.message)):
        info.rule(**row.kwargs)


@EACH
def test_complex_parameters_fail_with_the_references_message(info):
    name = info.name
    for make, error in ((info.reference, Exception), (info.optimizer, RuntimeError)):
        p = torch.nn.Parameter(torch.ones(3, 2, dtype=torch.complex128))
        p.grad = torch.ones_like(p)
        with pytest.raises(error, match=f"{name} does not support complex parameter."):
            make([p]).step()
        assert torch.equal(p.detach(), torch.ones(3, 2, dtype=torch.complex128))


# --------------------------------------------------------------------------------------------
# Compiled: rule.update through torch.compile, one compilation for every shape.


@pytest.mark.slow
@EACH
def test_compiled_matches_the_reference(info):
    """Matrices whose factors are soon of full rank: compiled rounding (inductor's matrix
    products) then stays at float64's rounding for Shampoo and at float32's for SOAP, whose
    refresh runs its QR in float32. On a vector, whose factor stays nearly singular, Shampoo's
    inverse root would amplify such differences by up to ε^(-1/2)."""
    kwargs = info.compiled
    problem = Problem([(8, 6), (5, 9), (6, 6)], torch.float64)
    results = []
    for make in (lambda p, **kw: info.optimizer(p, compile=True, **kw), info.reference):
        params = problem.parameters()
        optimizer = make(params, **kwargs)
        schedule = torch.optim.lr_scheduler.StepLR(optimizer, 5, 0.5)
        results.append(problem.train(params, optimizer, schedule, 12))
    moved = (results[1] - torch.cat([p.flatten() for p in problem.start])).abs().max()
    assert moved > 1e-2
    tolerance = 1e-4 if info.name == "SOAP" else 1e-9
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=tolerance * moved.item())


@EACH
def test_a_rule_optimizer_of_the_rule_is_the_same_optimizer(info):
    """With every parameter stepping every time, a step count per parameter (RuleOptimizer's)
    is the group's count (pytorch-optimizer's)."""
    kwargs = info.configs[1]
    results = []
    for make in (lambda p: optim.RuleOptimizer(p, info.rule(**kwargs)),
                 lambda p: info.reference(p, **kwargs)):
        problem = Problem(SHAPES, torch.float64)
        params = problem.parameters()
        optimizer = make(params)
        schedule = torch.optim.lr_scheduler.StepLR(optimizer, 15, 0.5)
        results.append(problem.train(params, optimizer, schedule, 20))
    assert torch.equal(*results)
