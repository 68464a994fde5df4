"""Bad input fails at once, clearly, with torch.optim's wording, and changes nothing."""

import copy
import re

import numpy as np
import pytest
import torch
from _models import data, flat, loss, mlp

from adalearn import optim, rules

# (class name, keyword arguments, exception type, message, what torch.optim's namesake does):
# SAME raises this very error and message, ACCEPTS takes the input (adalearn is stricter on
# purpose), OTHER fails in its own words, NONE means torch.optim has no such optimizer.
SAME, ACCEPTS, OTHER, NONE = "same", "accepts", "other", "none"
INVALID = [
    ("SGD", {"lr": -1.0}, ValueError, "Invalid learning rate: -1.0", SAME),
    ("SGD", {"lr": float("nan")}, ValueError, "Invalid learning rate: nan", ACCEPTS),
    ("SGD", {"lr": float("inf")}, ValueError, "Invalid learning rate: inf", ACCEPTS),
    ("SGD", {"lr": "0.1"}, TypeError,
     "`lr` must be a real number or an array of them. Received: lr='0.1'", OTHER),
    ("SGD", {"lr": None}, TypeError,
     "`lr` must be a real number or an array of them. Received: lr=None", OTHER),
    ("SGD", {"momentum": -0.1}, ValueError, "Invalid momentum value: -0.1", SAME),
    ("SGD", {"weight_decay": -1e-4}, ValueError, "Invalid weight_decay value: -0.0001", SAME),
    ("SGD", {"nesterov": True}, ValueError,
     "Nesterov momentum requires a momentum and zero dampening", SAME),
    ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, ValueError,
     "Nesterov momentum requires a momentum and zero dampening", SAME),
    ("SGD", {"dampening": 1.5}, ValueError, "Invalid dampening value: 1.5", ACCEPTS),
    ("SGD", {"nesterov": "yes", "momentum": 0.9}, TypeError,
     "`nesterov` must be True or False. Received: nesterov='yes'", ACCEPTS),
    ("SGD", {"betas": (0.9, 0.99)}, TypeError, "unexpected keyword argument 'betas'", SAME),
    ("Adagrad", {"lr_decay": -1.0}, ValueError, "Invalid lr_decay value: -1.0", SAME),
    ("Adagrad", {"initial_accumulator_value": -1.0}, ValueError,
     "Invalid initial_accumulator_value value: -1.0", SAME),
    ("Adagrad", {"eps": -1e-10}, ValueError, "Invalid epsilon value: -1e-10", SAME),
    ("Adagrad", {"eps_root": -1e-7}, ValueError, "Invalid eps_root value: -1e-07", OTHER),
    ("RMSprop", {"alpha": -0.5}, ValueError, "Invalid alpha value: -0.5", SAME),
    ("RMSprop", {"momentum": -1.0}, ValueError, "Invalid momentum value: -1.0", SAME),
    ("RMSprop", {"eps": -1.0}, ValueError, "Invalid epsilon value: -1.0", SAME),
    ("RMSprop", {"centered": 1}, TypeError,
     "`centered` must be True or False. Received: centered=1", ACCEPTS),
    ("Adadelta", {"rho": 1.5}, ValueError, "Invalid rho value: 1.5", SAME),
    ("Adadelta", {"rho": -0.1}, ValueError, "Invalid rho value: -0.1", SAME),
    ("Adadelta", {"lr": -1.0}, ValueError, "Invalid learning rate: -1.0", SAME),
    ("Adam", {"betas": (1.0, 0.999)}, ValueError, "Invalid beta parameter at index 0: 1.0",
     SAME),
    ("Adam", {"betas": (0.9, -0.1)}, ValueError, "Invalid beta parameter at index 1: -0.1",
     SAME),
    ("Adam", {"betas": (0.9,)}, TypeError,
     "`betas` must be a pair (beta1, beta2). Received: betas=(0.9,)", OTHER),
    ("Adam", {"eps": -1e-8}, ValueError, "Invalid epsilon value: -1e-08", SAME),
    ("Adam", {"weight_decay": -0.1}, ValueError, "Invalid weight_decay value: -0.1", SAME),
    ("Adam", {"amsgrad": "no"}, TypeError,
     "`amsgrad` must be True or False. Received: amsgrad='no'", ACCEPTS),
    ("Adam", {"lr": np.array([0.1, -0.1])}, ValueError, "Invalid learning rate: [ 0.1 -0.1]",
     OTHER),
    ("Adam", {"lr": np.array([])}, ValueError,
     "`lr` must not be empty. Received: lr=array([], dtype=float64)", OTHER),
    ("Adam", {"lr": 1e-3j}, TypeError, "`lr` must be real. Received: lr=0.001j", OTHER),
    ("AdamW", {"betas": (0.9, 1.0)}, ValueError, "Invalid beta parameter at index 1: 1.0",
     SAME),
    ("AdamW", {"decoupled_weight_decay": False}, TypeError,
     "unexpected keyword argument 'decoupled_weight_decay'", SAME),
    ("Adamax", {"betas": (-0.1, 0.9)}, ValueError, "Invalid beta parameter at index 0: -0.1",
     SAME),
    ("Adamax", {"lr": -2e-3}, ValueError, "Invalid learning rate: -0.002", SAME),
    ("Heun", {"lr": -0.1}, ValueError, "Invalid learning rate: -0.1", NONE),
    ("Heun", {}, TypeError, "missing 1 required positional argument: 'lr'", NONE),
]

# Arguments only an optimizer takes: tensors where torch.optim checks them, and its flags.
OPTIMIZER_ARGUMENTS = [
    ("SGD", {"lr": torch.tensor([0.1, 0.1])}, ValueError, "Tensor lr must be 1-element", SAME),
    ("Adam", {"lr": torch.tensor(1e-3), "foreach": True}, ValueError,
     "lr as a Tensor is not supported for capturable=False and foreach=True", SAME),
    ("Adam", {"betas": (0.9, torch.tensor(0.99))}, ValueError,
     "betas must be either both floats or both Tensors", SAME),
    ("SGD", {"capturable": False}, TypeError, "unexpected keyword argument 'capturable'", SAME),
    ("Adam", {"capturable": True}, NotImplementedError,
     "`capturable` must be False: adalearn.optim does not capture its steps in CUDA graphs. "
     "Received: capturable=True", ACCEPTS),
    ("Adam", {"fused": True, "differentiable": True}, RuntimeError,
     "`fused` does not support `differentiable`", SAME),
    ("AdamW", {"fused": True, "foreach": True}, RuntimeError,
     "`fused` and `foreach` cannot be `True` together.", SAME),
    ("Adagrad", {"foreach": "yes"}, TypeError,
     "`foreach` must be one of (None, False, True). Received: foreach='yes'", ACCEPTS),
]


def ids(row):
    return f"{row[0]}-{'-'.join(row[1]) or 'no-args'}"


@pytest.mark.parametrize(("name", "kwargs", "error", "message", "torch_does"), INVALID,
                         ids=map(ids, INVALID))
def test_rules_reject_bad_hyperparameters(name, kwargs, error, message, torch_does):
    with pytest.raises(error, match=re.escape(message)):
        getattr(rules, name)(**kwargs)


@pytest.mark.parametrize(("name", "kwargs", "error", "message", "torch_does"),
                         INVALID + OPTIMIZER_ARGUMENTS, ids=map(ids, INVALID + OPTIMIZER_ARGUMENTS))
def test_optimizers_reject_them_alike_and_torch_does_as_the_row_says(
    name, kwargs, error, message, torch_does
):
    """adalearn raises the row's error; torch.optim's namesake does what the row says it does.

    Where torch rejects the input itself, adalearn's message is torch's, word for word.
    """
    params = list(mlp().parameters())
    with pytest.raises(error, match=re.escape(message)) as ours:
        getattr(optim, name)(params, **kwargs)
    if torch_does == NONE:
        assert not hasattr(torch.optim, name)
        return
    namesake = getattr(torch.optim, name)
    if torch_does == ACCEPTS:
        namesake(params, **kwargs)
        return
    with pytest.raises(Exception) as theirs:  # noqa: PT011 - which one is the row's question
        namesake(params, **kwargs)
    if torch_does == SAME:
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
