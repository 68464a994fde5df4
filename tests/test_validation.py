"""Bad input fails at once, clearly, with torch.optim's wording, and changes nothing."""

import copy
import re

import numpy as np
import pytest
import torch
from _models import data, flat, loss, mlp

from adalearn import optim, rules

# (class name, keyword arguments, exception type, message pattern)
INVALID = [
    ("SGD", {"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
    ("SGD", {"lr": float("nan")}, ValueError, "Invalid learning rate: nan"),
    ("SGD", {"lr": float("inf")}, ValueError, "Invalid learning rate: inf"),
    ("SGD", {"lr": "0.1"}, TypeError, "lr must be a real number"),
    ("SGD", {"lr": None}, TypeError, "lr must be a real number"),
    ("SGD", {"momentum": -0.1}, ValueError, "Invalid momentum value: -0.1"),
    ("SGD", {"weight_decay": -1e-4}, ValueError, "Invalid weight_decay value: -0.0001"),
    ("SGD", {"nesterov": True}, ValueError, "Nesterov momentum requires a momentum"),
    (
        "SGD",
        {"nesterov": True, "momentum": 0.9, "dampening": 0.1},
        ValueError,
        "Nesterov momentum requires a momentum and zero dampening",
    ),
    ("SGD", {"dampening": 1.5}, ValueError, "Invalid dampening value: 1.5"),
    ("SGD", {"nesterov": "yes", "momentum": 0.9}, TypeError, "nesterov must be True or False"),
    ("SGD", {"betas": (0.9, 0.99)}, TypeError, "unexpected keyword argument 'betas'"),
    ("Adagrad", {"lr_decay": -1.0}, ValueError, "Invalid lr_decay value: -1.0"),
    (
        "Adagrad",
        {"initial_accumulator_value": -1.0},
        ValueError,
        "Invalid initial_accumulator_value value: -1.0",
    ),
    ("Adagrad", {"eps": -1e-10}, ValueError, "Invalid epsilon value: -1e-10"),
    ("Adagrad", {"eps_root": -1e-7}, ValueError, "Invalid eps_root value: -1e-07"),
    ("RMSprop", {"alpha": -0.5}, ValueError, "Invalid alpha value: -0.5"),
    ("RMSprop", {"momentum": -1.0}, ValueError, "Invalid momentum value: -1.0"),
    ("RMSprop", {"eps": -1.0}, ValueError, "Invalid epsilon value: -1.0"),
    ("RMSprop", {"centered": 1}, TypeError, "centered must be True or False"),
    ("Adadelta", {"rho": 1.5}, ValueError, "Invalid rho value: 1.5"),
    ("Adadelta", {"rho": -0.1}, ValueError, "Invalid rho value: -0.1"),
    ("Adadelta", {"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
    ("Adam", {"betas": (1.0, 0.999)}, ValueError, "Invalid beta parameter at index 0: 1.0"),
    ("Adam", {"betas": (0.9, -0.1)}, ValueError, "Invalid beta parameter at index 1: -0.1"),
    ("Adam", {"betas": (0.9,)}, TypeError, "betas must be a pair"),
    ("Adam", {"eps": -1e-8}, ValueError, "Invalid epsilon value: -1e-08"),
    ("Adam", {"weight_decay": -0.1}, ValueError, "Invalid weight_decay value: -0.1"),
    ("Adam", {"amsgrad": "no"}, TypeError, "amsgrad must be True or False"),
    ("Adam", {"lr": np.array([0.1, -0.1])}, ValueError, "Invalid learning rate"),
    ("Adam", {"lr": np.array([])}, ValueError, "lr must not be empty"),
    ("Adam", {"lr": 1e-3j}, TypeError, "lr must be real"),
    ("AdamW", {"betas": (0.9, 1.0)}, ValueError, "Invalid beta parameter at index 1: 1.0"),
    ("AdamW", {"decoupled_weight_decay": False}, TypeError, "unexpected keyword argument"),
    ("Adamax", {"betas": (-0.1, 0.9)}, ValueError, "Invalid beta parameter at index 0: -0.1"),
    ("Adamax", {"lr": -2e-3}, ValueError, "Invalid learning rate: -0.002"),
    ("Heun", {"lr": -0.1}, ValueError, "Invalid learning rate: -0.1"),
    ("Heun", {}, TypeError, "missing 1 required positional argument: 'lr'"),
]


def ids(row):
    return f"{row[0]}-{'-'.join(row[1]) or 'no-args'}"


@pytest.mark.parametrize(("name", "kwargs", "error", "message"), INVALID, ids=map(ids, INVALID))
def test_rules_reject_bad_hyperparameters(name, kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        getattr(rules, name)(**kwargs)


@pytest.mark.parametrize(("name", "kwargs", "error", "message"), INVALID, ids=map(ids, INVALID))
def test_optimizers_reject_them_alike(name, kwargs, error, message):
    params = list(mlp().parameters())
    with pytest.raises(error, match=re.escape(message)):
        getattr(optim, name)(params, **kwargs)


@pytest.mark.parametrize(("name", "kwargs", "error", "message"), INVALID, ids=map(ids, INVALID))
def test_the_wording_is_torchs_where_torch_has_one(name, kwargs, error, message):
    """Where torch.optim's own checks reject the same input, its message is ours."""
    if not hasattr(torch.optim, name):
        pytest.skip(f"torch.optim has no {name}")
    params = list(mlp().parameters())
    try:
        getattr(torch.optim, name)(params, **kwargs)
    except ValueError as theirs:
        if not re.match("Invalid|Nesterov", str(theirs)):
            pytest.skip(f"torch fails elsewhere: {theirs}")
        with pytest.raises(ValueError) as ours:
            getattr(optim, name)(params, **kwargs)
        assert str(ours.value) == str(theirs)
    except Exception:  # noqa: BLE001 - torch fails in its own way (or later); nothing to compare
        pass


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
        "every must be an integer",
    ),
    (lambda: optim.SoftBatch("sgd", every=2), TypeError, "must be a torch.optim.Optimizer"),
    (
        lambda: optim.SoftBatch(optim.Heun(mlp().parameters(), lr=0.1), every=2),
        ValueError,
        "accumulates single gradients",
    ),
    (lambda: rules.SoftBatch(rules.Adam(), every=0), ValueError, "Invalid every value: 0"),
    (lambda: rules.SoftBatch(rules.Heun(0.1), every=2), ValueError, "single gradients"),
    (lambda: rules.SoftBatch(object(), every=2), TypeError, "rule must be an adalearn rule"),
    (
        lambda: rules.Adam().step(np.zeros(2), np.zeros(3), rules.Adam().init(np.zeros(2))),
        ValueError,
        "g must have the shape of x",
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
    with pytest.raises(TypeError, match="needs a closure"):
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
