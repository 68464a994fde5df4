"""optim.Combined steps several optimizers as one, exactly as stepping each of them would."""

import copy

import pytest
import torch

from adalearn import models, optim


def net(seed=0):
    return models.CharTransformer(12, context=6, width=8, heads=2, seed=seed).double()


def batch(step):
    g = torch.Generator().manual_seed(step)
    tokens = torch.randint(12, (4, 7), generator=g)
    return tokens[:, :-1], tokens[:, 1:]


def loss(model, step):
    x, y = batch(step)
    return torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())


def muon_and_adamw(model, lr=0.02):
    matrices, others = models.matrix_parameters(model)
    return torch.optim.Muon(matrices, lr=lr), torch.optim.AdamW(others, lr=lr / 10)


def test_combined_equals_stepping_each_optimizer_with_a_scheduler():
    a, b = net(), net()
    combined = optim.Combined(*muon_and_adamw(a))
    separate = muon_and_adamw(b)
    scheduler = torch.optim.lr_scheduler.StepLR(combined, step_size=3, gamma=0.5)
    schedulers = [torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5) for o in separate]
    for step in range(8):
        combined.zero_grad()
        loss(a, step).backward()
        combined.step()
        scheduler.step()
        for o in separate:
            o.zero_grad()
        loss(b, step).backward()
        for o, s in zip(separate, schedulers, strict=True):
            o.step()
            s.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    assert [g["lr"] for g in combined.param_groups] == [0.02 / 4, 0.002 / 4]


def test_combined_state_dict_round_trip_continues_the_same_run():
    straight, resumed = net(), net()
    first = optim.Combined(*muon_and_adamw(straight))
    for step in range(6):
        first.zero_grad()
        loss(straight, step).backward()
        first.step()
        if step == 2:
            saved = copy.deepcopy(first.state_dict())  # torch hands out live tensors
            resumed.load_state_dict(straight.state_dict())
    # `resumed` holds the weights after three steps: continue it from the saved state.
    second = optim.Combined(*muon_and_adamw(resumed))
    second.load_state_dict(saved)
    for step in range(3, 6):
        second.zero_grad()
        loss(resumed, step).backward()
        second.step()
    for p, q in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(p, q)


def test_combined_rejects_shared_parameters_and_non_optimizers():
    model = net()
    with pytest.raises(ValueError, match="disjoint"):
        optim.Combined(torch.optim.SGD(model.parameters()), torch.optim.SGD(model.parameters()))
    with pytest.raises(TypeError, match="torch.optim.Optimizer"):
        optim.Combined(torch.optim.SGD(model.parameters()), "adam")
    with pytest.raises(ValueError, match="at least one"):
        optim.Combined()
