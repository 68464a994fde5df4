"""``state_dict()["param_groups"]`` in torch.optim's layout, and state dicts crossing both ways.

The rule for a param group's keys: every key torch.optim's namesake puts there, with the value
torch.optim gives it for the same arguments (its implementation flags, ``maximize``,
``decoupled_weight_decay``, ...), and besides them the rule's own hyperparameters that torch
lacks (``eps_root``), always, whatever their value. torch.optim keeps keys it does not know
when it loads a state dict, and adalearn fills in its extras at their defaults when they are
missing, so a state dict crosses in both directions.
"""

import copy

import pytest
import torch
from _cases import RULES

from adalearn import optim

NAMESAKES = [name for name in optim.__all__ if hasattr(torch.optim, name)]
MATRICES = {"Muon"}
SPARSE = {"SparseAdam"}

# The defaults, and arguments that change what torch.optim stores: its flags and options, where
# it has them (the table's layout variant).
VARIANTS = {info.name: [{}, info.layout] for info in RULES if info.layout is not None}


def params():
    generator = torch.Generator().manual_seed(0)
    return [torch.nn.Parameter(torch.randn(4, 3, generator=generator))]


def groups(optimizer):
    return [{k: v for k, v in group.items() if k != "params"}
            for group in optimizer.state_dict()["param_groups"]]


def test_every_namesake_has_variants():
    assert sorted(VARIANTS) == sorted(NAMESAKES)


@pytest.mark.parametrize("name", NAMESAKES)
@pytest.mark.parametrize("variant", [0, 1])
def test_param_groups_hold_torchs_keys_and_values_and_the_rules_extras(name, variant):
    kwargs = VARIANTS[name][variant]
    ours = getattr(optim, name)(params(), **kwargs)
    theirs = getattr(torch.optim, name)(params(), **kwargs)
    (our_group,), (their_group,) = groups(ours), groups(theirs)
    for key, value in their_group.items():
        assert key in our_group, (name, key)
        ours_value = our_group[key]
        # Equal, and a flag where torch has a flag (None, False and 0 are not the same flag).
        assert ours_value == value, (name, key, ours_value, value)
        assert (ours_value is None) == (value is None), (name, key)
        assert isinstance(ours_value, bool) == isinstance(value, bool), (name, key)
    extras = set(our_group) - set(their_group)
    assert extras == set(ours.rule.hyperparameters()) - set(their_group), (name, extras)
    for key in extras:  # present at their defaults too
        assert our_group[key] == ours.rule.hyperparameters()[key]


def test_an_extra_hyperparameter_is_in_the_group_only_where_the_rule_has_it():
    assert groups(optim.Adam(params()))[0]["eps_root"] == 0.0
    assert groups(optim.Adam(params(), eps_root=1e-8))[0]["eps_root"] == 1e-8
    for name in ("SGD", "Adadelta", "Adamax", "NAdam", "RAdam", "Adafactor", "Muon"):
        assert "eps_root" not in groups(getattr(optim, name)(params()))[0], name


@pytest.mark.parametrize("name", ["Adafactor", "Muon"])
def test_without_torchs_differentiable_flag_a_non_leaf_tensor_is_refused_as_in_torch(name):
    leaf = torch.randn(4, 3, requires_grad=True)
    for cls in (getattr(torch.optim, name), getattr(optim, name)):
        with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
            cls([leaf * 2])


def step(optimizer, p, seed):
    generator = torch.Generator().manual_seed(seed)
    name = optimizer.__class__.__name__
    if name in SPARSE:
        rows = torch.tensor([0, 2, 2])
        torch.nn.functional.embedding(rows, p, sparse=True).pow(2).sum().backward()
    elif name == "LBFGS":  # a quadratic whose minimum moves with the seed: step(closure)
        target = torch.randn(p.shape, generator=generator)

        def closure():
            optimizer.zero_grad()
            value = ((p - target) ** 2 * torch.arange(1.0, p.numel() + 1).view(p.shape)).sum()
            value.backward()
            return value

        optimizer.step(closure)
        return
    else:
        p.grad = torch.randn(p.shape, generator=generator)
    optimizer.step()
    optimizer.zero_grad()


@pytest.mark.parametrize("name", NAMESAKES)
@pytest.mark.parametrize("direction", ["torch->adalearn", "adalearn->torch"])
def test_a_state_dict_crosses_and_steps_on_as_the_straight_run(name, direction):
    """Both directions: the loaded optimizer's groups and its next steps are the straight run's."""
    kwargs = VARIANTS[name][1]
    first, second = ((torch.optim, optim) if direction == "torch->adalearn"
                     else (optim, torch.optim))
    (p,) = params()
    straight = getattr(first, name)([p], **kwargs)
    for seed in range(3):
        step(straight, p, seed)
    saved = copy.deepcopy(straight.state_dict())
    for seed in range(3, 6):
        step(straight, p, seed)
    expected = p.detach().clone()

    (q,) = params()
    resumed = getattr(first, name)([q], **kwargs)
    for seed in range(3):
        step(resumed, q, seed)
    other = getattr(second, name)([q], **kwargs)
    other.load_state_dict(saved)
    (their_group,) = groups(getattr(torch.optim, name)(params(), **kwargs))
    (loaded,) = groups(other)
    assert all(loaded[key] == value for key, value in their_group.items())
    for seed in range(3, 6):
        step(other, q, seed)
    assert torch.equal(q.detach(), expected)


def test_an_extra_hyperparameter_survives_a_trip_through_torch_optim():
    (p,) = params()
    ours = optim.Adam([p], lr=0.01, eps_root=1e-6)
    step(ours, p, 0)
    theirs = torch.optim.Adam([p], lr=0.01)
    theirs.load_state_dict(copy.deepcopy(ours.state_dict()))
    back = optim.Adam([p], lr=0.01)
    back.load_state_dict(copy.deepcopy(theirs.state_dict()))
    assert back.param_groups[0]["eps_root"] == 1e-6
    fresh = optim.Adam([p], lr=0.01)
    fresh.load_state_dict(copy.deepcopy(torch.optim.Adam([p], lr=0.01).state_dict()))
    assert fresh.param_groups[0]["eps_root"] == 0.0  # torch's state dict has none: the default


def test_groups_of_optimizers_without_a_torch_namesake_hold_their_rules_hyperparameters():
    for name in ("Lion", "AdamWScheduleFree", "Heun"):
        cls = getattr(optim, name)
        optimizer = cls(params(), lr=0.01)
        keys = set(groups(optimizer)[0]) - {"train_mode"}
        assert keys == set(optimizer.rule.hyperparameters()), name
