"""Rprop, ASGD and LBFGS beyond torch's optim_db: numpy, large layers, compiled, state_dict.

tests/test_optim_db.py runs torch's own configurations and error inputs for them (they are in
``adalearn.optim.__all__``). Here: layers large enough to be updated in blocks, ASGD's
average once it starts, ``compile=True``, ``state_dict`` both ways, and L-BFGS's own contract
(a closure, one vector, the line search, its rule on numpy). Rprop's and ASGD's rules on
numpy, as one batched sweep against torch.optim in float64, run with the other elementwise
rules' in tests/test_after_adam.py.
"""

import io
import re

import numpy as np
import pytest
import torch
from _cases import BY_NAME, configurations, invalid_rows, suite
from _models import data, flat, loss, mlp, wide_mlp

from adalearn import functions, optim, rules

INFOS = [info for info in suite("more_namesakes") if info.configs]
CASES = configurations(INFOS)
DTYPES = pytest.mark.parametrize("dtype", [torch.float64, torch.float32],
                                 ids=["float64", "float32"])


def train(make, model, kwargs, steps=40, dtype=torch.float64, **extra):
    optimizer = make(model.parameters(), **kwargs, **extra)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)
    x, y = data(dtype)
    for _ in range(steps):
        optimizer.zero_grad()
        loss(model, x, y).backward()
        optimizer.step()
        scheduler.step()
    return flat(model), optimizer


def averages(optimizer):
    return torch.cat([optimizer.state[p]["ax"].flatten()
                      for g in optimizer.param_groups for p in g["params"]])


@pytest.mark.parametrize(("info", "kwargs"), CASES)
@DTYPES
def test_large_layers_equal_torch_optim_bit_for_bit(info, kwargs, dtype):
    """600×600 layers, updated in blocks of 32768 elements; ASGD's average included."""
    ours, optimizer = train(info.optimizer, wide_mlp(dtype, widths=(600, 600)), kwargs,
                            steps=15, dtype=dtype)
    theirs, reference = train(info.reference, wide_mlp(dtype, widths=(600, 600)),
                              kwargs, steps=15, dtype=dtype)
    assert not torch.equal(theirs, flat(wide_mlp(dtype, widths=(600, 600))))
    assert torch.equal(ours, theirs)
    if info.name == "ASGD":
        assert not torch.equal(averages(reference), theirs), "the average has not started"
        assert torch.equal(averages(optimizer), averages(reference))


def test_rprop_rests_a_coordinate_after_its_gradient_changes_sign():
    """A sign change shrinks the step by eta- and skips the move; the next step keeps its size."""
    rule = rules.Rprop(lr=0.1, etas=(0.5, 1.2))
    x, state = np.array([1.0]), rule.init(np.array([1.0]))
    moves, sizes = [], []
    for g in (1.0, 1.0, -1.0, -1.0, -1.0):
        new, state = rule.step(x, np.array([g]), state)
        moves.append(float(new[0] - x[0]))
        sizes.append(float(state["step_size"][0]))
        x = new
    np.testing.assert_allclose(sizes, [0.1, 0.12, 0.06, 0.06, 0.072])
    np.testing.assert_allclose(moves, [-0.1, -0.12, 0.0, 0.06, 0.072])


def test_asgd_average_is_the_mean_of_the_iterates_after_t0():
    rule = rules.ASGD(lr=0.1, lambd=0.0, t0=3.0)
    x, state = np.array([4.0, -2.0]), rule.init(np.zeros(2))
    iterates = []
    for _ in range(10):
        x, state = rule.step(x, 2 * x, state)
        iterates.append(x)
    # Step t averages with mu_(t-1) = 1 / max(1, t - 1 - t0): x̄ is x_t up to t = t0 + 2 = 5,
    # then the running mean of x_5 ... x_t.
    np.testing.assert_allclose(state["ax"], np.mean(iterates[4:], axis=0), rtol=1e-14)
    assert not np.allclose(state["ax"], np.mean(iterates[3:], axis=0), rtol=1e-3)


@pytest.mark.parametrize(("info", "kwargs"), CASES)
def test_state_dict_resumes_and_crosses_to_and_from_torch_optim(info, kwargs):
    def resumed(first, second):
        model = mlp()
        _, optimizer = train(first, model, kwargs, steps=20)
        buffer = io.BytesIO()
        torch.save(optimizer.state_dict(), buffer)
        buffer.seek(0)
        optimizer = second(model.parameters(), **kwargs)
        optimizer.load_state_dict(torch.load(buffer))
        x, y = data()
        for _ in range(20):
            optimizer.zero_grad()
            loss(model, x, y).backward()
            optimizer.step()
        return flat(model)

    ours, theirs = info.optimizer, info.reference
    reference = resumed(theirs, theirs)
    assert torch.equal(resumed(ours, ours), reference)
    assert torch.equal(resumed(ours, theirs), reference)
    assert torch.equal(resumed(theirs, ours), reference)


@pytest.mark.slow
@pytest.mark.parametrize("info", [info for info in INFOS if info.compiled is not None], ids=repr)
def test_compiled_matches_torch_optim(info):
    for make_model in (mlp, lambda: wide_mlp(widths=(200, 200, 190))):
        ours, optimizer = train(info.optimizer, make_model(), info.compiled, compile=True)
        theirs, reference = train(info.reference, make_model(), info.compiled)
        assert not torch.equal(theirs, flat(make_model()))
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-10)
        if info.name == "ASGD":
            torch.testing.assert_close(averages(optimizer), averages(reference), rtol=0,
                                       atol=1e-10)


# --------------------------------------------------------------------------------------------
# L-BFGS.


def rosenbrock_closure(p, optimizer):
    def closure():
        optimizer.zero_grad()
        value = (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2
        value.backward()
        return value
    return closure


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_rule_on_numpy_follows_torch_optim_on_rosenbrock(line_search_fn):
    fn = functions.Rosenbrock()
    kwargs = {"lr": 0.5 if line_search_fn is None else 1.0, "max_iter": 5, "history_size": 4,
              "line_search_fn": line_search_fn}
    rule = rules.LBFGS(**kwargs)
    x = np.array([-1.5, 2.0])
    state = rule.init(x)
    p = torch.nn.Parameter(torch.tensor([-1.5, 2.0], dtype=torch.float64))
    reference = torch.optim.LBFGS([p], **kwargs)
    closure = rosenbrock_closure(p, reference)
    for _ in range(8):
        x, state = rule.step(x, fn.grad(x), state, value=float(fn(x)),
                             value_and_grad=lambda z: (float(fn(z)), fn.grad(z)))
        reference.step(closure)
    assert state["func_evals"] == reference.state[p]["func_evals"]
    assert state["n_iter"] == reference.state[p]["n_iter"]
    np.testing.assert_allclose(x, p.detach().numpy(), rtol=0, atol=1e-9)
    assert fn(x) < 0.05 * fn(np.array([-1.5, 2.0]))


def test_lbfgs_with_one_iteration_is_a_rule_of_one_gradient_per_step():
    """LBFGS(max_iter=1) takes one gradient per step: the rule in a RuleOptimizer, on one
    parameter, is torch.optim.LBFGS(max_iter=1) in a plain training loop, bit for bit."""
    results = []
    for make in (lambda p: optim.RuleOptimizer(p, rules.LBFGS(lr=0.05, max_iter=1)),
                 lambda p: torch.optim.LBFGS(p, lr=0.05, max_iter=1)):
        torch.manual_seed(0)
        weight = torch.nn.Parameter(torch.randn(4, 3, dtype=torch.float64))
        optimizer = make([weight])
        features = torch.randn(64, 3, dtype=torch.float64)
        targets = torch.randn(64, 4, dtype=torch.float64)
        for step in range(30):
            batch = slice(8 * (step % 8), 8 * (step % 8) + 8)  # mini-batches: noisy gradients
            optimizer.zero_grad()
            value = ((features[batch] @ weight.T - targets[batch]) ** 2).mean()
            value.backward()
            optimizer.step(lambda value=value: value)
        results.append(weight.detach().clone())
    assert torch.equal(*results)


def test_lbfgs_state_crosses_to_and_from_torch_optim():
    def resumed(first, second):
        model = mlp()
        x, y = data()
        optimizer = first(model.parameters(), history_size=5, line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad()
            value = loss(model, x, y)
            value.backward()
            return value

        for _ in range(3):
            optimizer.step(closure)
        buffer = io.BytesIO()
        torch.save(optimizer.state_dict(), buffer)
        buffer.seek(0)
        optimizer = second(model.parameters(), history_size=5, line_search_fn="strong_wolfe")
        optimizer.load_state_dict(torch.load(buffer))
        for _ in range(3):
            optimizer.step(closure)
        return flat(model)

    reference = resumed(torch.optim.LBFGS, torch.optim.LBFGS)
    assert torch.equal(resumed(optim.LBFGS, optim.LBFGS), reference)
    assert torch.equal(resumed(optim.LBFGS, torch.optim.LBFGS), reference)
    assert torch.equal(resumed(torch.optim.LBFGS, optim.LBFGS), reference)


def test_lbfgs_needs_a_closure_and_refuses_compile_and_a_second_group():
    model = mlp()
    optimizer = optim.LBFGS(model.parameters())
    with pytest.raises(TypeError, match=r"`closure` must be given to LBFGS.step"):
        optimizer.step()
    with pytest.raises(ValueError, match=r"`compile` must be False for LBFGS"):
        optim.LBFGS(model.parameters(), compile=True)
    optimizer.add_param_group({"params": [torch.nn.Parameter(torch.zeros(2))]})
    with pytest.raises(ValueError, match=re.escape(
            "LBFGS doesn't support per-parameter options (parameter groups)")):
        optimizer.step(lambda: torch.zeros(()))


@pytest.mark.parametrize(("info", "row"), invalid_rows([BY_NAME["LBFGS"]]))
def test_lbfgs_bad_hyperparameters(info, row):
    with pytest.raises(row.error, match=re.escape(row.message)):
        info.rule(**row.kwargs)


def test_lbfgs_rule_asks_for_values_when_it_needs_them():
    rule = rules.LBFGS()  # max_iter=20: it evaluates the function again
    with pytest.raises(TypeError, match=r"`value` and `value_and_grad` must be given"):
        rule.step(np.ones(2), np.ones(2), rule.init(np.ones(2)))


@pytest.mark.parametrize(("info", "row"), invalid_rows(INFOS))
def test_rprop_and_asgd_bad_hyperparameters(info, row):
    with pytest.raises(row.error, match=re.escape(row.message)):
        info.optimizer(mlp().parameters(), **row.kwargs)
