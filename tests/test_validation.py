"""Bad input fails at once, clearly, with torch.optim's wording, and changes nothing."""

import copy
import re

import numpy as np
import pytest
import torch
from _cases import ACCEPTS, NONE, RULES, SAME, invalid_rows
from _models import data, flat, loss, mlp

from adalearn import optim, rules

# The refused inputs of torch.optim's namesakes and Heun, each with what torch.optim's namesake
# does with it (tests/_cases.py): SAME raises this very error and message, ACCEPTS takes the
# input (adalearn is stricter on purpose), OTHER fails in its own words, NONE means torch.optim
# has no such optimizer.
ROWS = [info for info in RULES if any(row.torch_does for row in info.invalid)]


@pytest.mark.parametrize(("info", "row"), invalid_rows(ROWS, lambda row: row.rule))
def test_rules_reject_bad_hyperparameters(info, row):
    with pytest.raises(row.error, match=re.escape(row.message)):
        info.rule(**row.kwargs)


@pytest.mark.parametrize(("info", "row"), invalid_rows(ROWS, lambda row: row.optimizer))
def test_optimizers_reject_them_alike_and_torch_does_as_the_row_says(info, row):
    """adalearn raises the row's error; torch.optim's namesake does what the row says it does.

    Where torch rejects the input itself, adalearn's message is torch's, word for word.
    """
    params = list(mlp().parameters())
    with pytest.raises(row.error, match=re.escape(row.message)) as ours:
        info.optimizer(params, **row.kwargs)
    if row.torch_does == NONE:
        assert not hasattr(torch.optim, info.name) and info.reference is None
        return
    if row.torch_does == ACCEPTS:
        info.reference(params, **row.kwargs)
        return
    with pytest.raises(Exception) as theirs:  # noqa: PT011 - which one is the row's question
        info.reference(params, **row.kwargs)
    if row.torch_does == SAME:
        assert type(theirs.value) is type(ours.value)
        assert str(theirs.value) == str(ours.value)
    else:
        assert str(theirs.value) != str(ours.value)


OPTIMIZER_ONLY = [
    (lambda: optim.Adam([]), ValueError, "optimizer got an empty parameter list"),
    (lambda: optim.SGD([1.0, 2.0], lr=0.1), TypeError, "optimizer can only optimize Tensors"),
    (lambda: optim.Adam(torch.zeros(2)), TypeError, "should be an iterable of Tensors or dicts"),
    (lambda: optim.RuleOptimizer(mlp().parameters(), "adam"), TypeError, "must be an adalearn"),
    (
        lambda: optim.SoftBatch(optim.SGD(mlp().parameters()), every=0),
        ValueError,
        "Invalid every value: 0",
    ),
    (
        lambda: optim.SoftBatch(optim.SGD(mlp().parameters()), every=1.5),
        TypeError,
        "`every` must be an integer. Received: every=1.5",
    ),
    (lambda: optim.SoftBatch("sgd", every=2), TypeError, "must be a torch.optim.Optimizer"),
    (
        lambda: optim.SoftBatch(optim.Heun(mlp().parameters(), lr=0.1), every=2),
        ValueError,
        "accumulates single gradients",
    ),
    (lambda: rules.SoftBatch(rules.Adam(), every=0), ValueError, "Invalid every value: 0"),
    (lambda: rules.SoftBatch(rules.Heun(0.1), every=2), ValueError, "single gradients"),
    (lambda: rules.SoftBatch(object(), every=2), TypeError, "`rule` must be an adalearn rule"),
    (
        lambda: rules.Adam().step(np.zeros(2), np.zeros(3), rules.Adam().init(np.zeros(2))),
        ValueError,
        "`g` must have the shape of x, (2,). Received: g.shape=(3,)",
    ),
]


@pytest.mark.parametrize(("make", "error", "message"), OPTIMIZER_ONLY)
def test_other_bad_input(make, error, message):
    with pytest.raises(error, match=re.escape(message)):
        make()


def test_heun_step_without_closure_is_a_type_error():
    model = mlp()
    optimizer = optim.Heun(model.parameters(), lr=0.1)
    loss(model, *data()).backward()
    with pytest.raises(TypeError, match="`closure` must be given to Heun.step"):
        optimizer.step()


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("SGD", {"momentum": 0.9}), ("Adam", {"amsgrad": True}), ("RMSprop", {"momentum": 0.9})],
)
def test_an_invalid_group_setting_leaves_everything_as_it_was(name, kwargs):
    model = mlp()
    groups = [{"params": model[0].parameters()}, {"params": model[2].parameters()}]
    optimizer = getattr(optim, name)(groups, lr=0.01, **kwargs)
    x, y = data()
    for _ in range(3):
        optimizer.zero_grad()
        loss(model, x, y).backward()
        optimizer.step()
    params_before = flat(model)
    state_before = copy.deepcopy(optimizer.state_dict()["state"])
    optimizer.param_groups[1]["lr"] = -1.0  # the second group is bad; the first is fine
    optimizer.zero_grad()
    loss(model, x, y).backward()
    with pytest.raises(ValueError, match="Invalid learning rate: -1.0"):
        optimizer.step()
    assert torch.equal(flat(model), params_before)
    state_after = optimizer.state_dict()["state"]
    for index, entry in state_before.items():
        for key, value in entry.items():
            assert torch.equal(state_after[index][key], value), (index, key)
