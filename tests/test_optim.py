"""adalearn.optim against torch.optim, torch autograd and closed forms."""

import copy
import inspect
import io

import pytest
import torch
from _cases import suite
from _models import data, flat, loss, mlp, train, wide_mlp

from adalearn import optim

STEPS = 100

# torch.optim's namesakes: the defaults and at least three non-default configurations each, run
# plain, plain, with two param groups with different learning rates, and with an LR scheduler.
INFOS = [info for info in suite("namesakes") if info.reference is not None]
SETUPS = ("plain", "plain", "groups", "scheduler")
CASES = [pytest.param(info, kwargs, setup, id=f"{info.name}-{index}-{setup}")
         for info in INFOS
         for index, (kwargs, setup) in enumerate(zip(info.configs, SETUPS, strict=True))]


def build(cls, model, kwargs, setup):
    if setup == "groups":
        first, second = list(model[0].parameters()), list(model[2].parameters())
        lr = kwargs.get("lr", inspect.signature(cls).parameters["lr"].default)
        params = [{"params": first}, {"params": second, "lr": lr * 3}]
    else:
        params = model.parameters()
    optimizer = cls(params, **kwargs)
    scheduler = None
    if setup == "scheduler":
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.5)
    return optimizer, scheduler


def run(cls, kwargs, setup, dtype):
    model = mlp(dtype)
    optimizer, scheduler = build(cls, model, kwargs, setup)
    return train(model, optimizer, *data(dtype), STEPS, scheduler)


@pytest.mark.parametrize(("info", "kwargs", "setup"), CASES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_parity_with_torch_optim(info, kwargs, setup, dtype):
    """The rules call torch's fused operations where torch.optim does: the same bits."""
    ours = run(info.optimizer, kwargs, setup, dtype)
    reference = run(info.reference, kwargs, setup, dtype)
    assert not torch.equal(reference, flat(mlp(dtype))), "the reference did not move"
    assert torch.equal(ours, reference), (ours - reference).abs().max().item()


@pytest.mark.parametrize("info", INFOS, ids=repr)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_large_parameters_match_torch_optim_bit_for_bit(info, dtype):
    """A 600×600 layer is updated in blocks; the bits stay torch.optim's."""
    kwargs, setup = info.configs[1], SETUPS[1]
    if "lr" in kwargs:  # a tenth, so that the wide network does not diverge
        kwargs = {**kwargs, "lr": kwargs["lr"] / 10}
    results = []
    for cls in (info.optimizer, info.reference):
        model = wide_mlp(dtype, widths=(600, 600))
        optimizer, scheduler = build(cls, model, kwargs, setup)
        results.append(train(model, optimizer, *data(dtype), 30, scheduler))
    assert not torch.equal(results[1], flat(wide_mlp(dtype, widths=(600, 600)))), "nothing moved"
    assert torch.isfinite(results[1]).all()
    assert torch.equal(*results), (results[0] - results[1]).abs().max().item()


def one_step(model, optimizer):
    """Take one step; return the parameters and gradients from before it."""
    before = [p.detach().clone() for p in model.parameters()]
    optimizer.zero_grad()
    loss(model, *data()).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    optimizer.step()
    return before, grads


def test_groups_really_get_their_own_learning_rate():
    model = mlp()
    optimizer, _ = build(optim.SGD, model, {"lr": 0.1}, "groups")
    before, grads = one_step(model, optimizer)
    for p, p0, g, lr in zip(model.parameters(), before, grads, [0.1, 0.1, 0.3, 0.3], strict=True):
        torch.testing.assert_close(p.detach(), p0 - lr * g, rtol=0, atol=1e-15)


def test_constructor_signatures_match_torch():
    implementation_flags = {"foreach", "capturable", "differentiable", "fused"}
    for info in INFOS:
        name = info.name
        ours = inspect.signature(info.optimizer).parameters
        theirs = inspect.signature(info.reference).parameters
        for arg, parameter in theirs.items():  # the implementation flags too
            if arg != "params":
                assert ours[arg].default == parameter.default, (name, arg)
        assert set(theirs) <= set(ours), (name, set(theirs) - set(ours))
        positional = [
            arg
            for arg, p in theirs.items()
            if p.kind is p.POSITIONAL_OR_KEYWORD and arg not in implementation_flags | {"maximize"}
        ]
        assert [a for a, p in ours.items() if p.kind is p.POSITIONAL_OR_KEYWORD] == positional


def test_state_keys_match_torch():
    x, y = data()
    for info in INFOS:
        name = info.name
        for kwargs in info.configs:
            ours_model, theirs_model = mlp(), mlp()
            ours = info.optimizer(ours_model.parameters(), **kwargs)
            theirs = info.reference(theirs_model.parameters(), **kwargs)
            train(ours_model, ours, x, y, 2)
            train(theirs_model, theirs, x, y, 2)
            p, q = next(ours_model.parameters()), next(theirs_model.parameters())
            assert set(ours.state[p]) == set(theirs.state[q]), (name, kwargs)
            for key, value in theirs.state[q].items():
                assert ours.state[p][key].dtype == value.dtype, (name, key)
                assert ours.state[p][key].shape == value.shape, (name, key)


# ---------------------------------------------------------------------------------------------
# Heun: against torch autograd in a hand-written loop, and against the closed form.


@pytest.mark.parametrize(
    "make", [mlp, lambda: wide_mlp(widths=(600, 600))], ids=["small layers", "a layer in blocks"]
)
def test_heun_optimizer_matches_a_hand_written_autograd_loop(make):
    lr = 0.05
    x, y = data()
    model = make()
    optimizer = optim.Heun(model.parameters(), lr=lr)

    def closure():
        optimizer.zero_grad()
        value = loss(model, x, y)
        value.backward()
        return value

    reference = make()
    params = list(reference.parameters())
    for _ in range(30):
        returned = optimizer.step(closure)
        grads = torch.autograd.grad(loss(reference, x, y), params)
        with torch.no_grad():
            here = [p.clone() for p in params]
            for p, g in zip(params, grads, strict=True):
                p -= lr * g
        ahead = torch.autograd.grad(loss(reference, x, y), params)
        with torch.no_grad():
            for p, p0, g0, g1 in zip(params, here, grads, ahead, strict=True):
                p.copy_(p0 - lr / 2 * (g0 + g1))
    torch.testing.assert_close(flat(model), flat(reference), rtol=0, atol=1e-12)
    assert returned.item() > 0


def test_heun_optimizer_on_a_quadratic_is_the_closed_form():
    a = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    x = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    lr, steps = 0.1, 40
    optimizer = optim.Heun([x], lr=lr)

    def closure():
        optimizer.zero_grad()
        value = 0.5 * x @ a @ x
        value.backward()
        return value

    for _ in range(steps):
        optimizer.step(closure)
    m = torch.eye(2, dtype=torch.float64) - lr * a + lr**2 * a @ a / 2
    expected = torch.linalg.matrix_power(m, steps) @ torch.tensor([1.0, -2.0], dtype=torch.float64)
    torch.testing.assert_close(x.detach(), expected, rtol=0, atol=1e-12)


def test_heun_without_closure_fails_before_touching_anything():
    model = mlp()
    optimizer = optim.Heun(model.parameters(), lr=0.1)
    loss(model, *data()).backward()
    before = flat(model)
    with pytest.raises(TypeError, match="closure"):
        optimizer.step()
    assert torch.equal(flat(model), before)


# ---------------------------------------------------------------------------------------------
# SoftBatch: k steps of batch b equal one step of batch k*b.


@pytest.mark.parametrize(
    "make",
    [
        lambda params: optim.SGD(params, lr=0.1, momentum=0.9),
        lambda params: optim.Adam(params, lr=0.01),
        lambda params: torch.optim.Adam(params, lr=0.01),
    ],
    ids=["SGD", "Adam", "torch.optim.Adam"],
)
def test_soft_batch_equals_the_large_batch(make):
    every, small = 4, 16
    x, y = data()
    model, reference = mlp(), mlp()
    soft = optim.SoftBatch(make(model.parameters()), every=every)
    large = make(reference.parameters())
    for _ in range(3):
        for i in range(every):
            soft.zero_grad()
            loss(model, x[i * small : (i + 1) * small], y[i * small : (i + 1) * small]).backward()
            before = flat(model)
            soft.step()
            if i < every - 1:
                assert torch.equal(flat(model), before), "x moved between updates"
        large.zero_grad()
        loss(reference, x[: every * small], y[: every * small]).backward()
        large.step()
        torch.testing.assert_close(flat(model), flat(reference), rtol=0, atol=1e-12)


def test_soft_batch_shares_param_groups_with_schedulers():
    model = mlp()
    inner = optim.SGD(model.parameters(), lr=0.1)
    soft = optim.SoftBatch(inner, every=2)
    scheduler = torch.optim.lr_scheduler.StepLR(soft, step_size=1, gamma=0.5)
    soft.zero_grad()
    loss(model, *data()).backward()
    soft.step()
    scheduler.step()
    assert inner.param_groups[0]["lr"] == pytest.approx(0.05)


# ---------------------------------------------------------------------------------------------
# state_dict: resume bit for bit, and cross-load with torch.optim.

def _resumable(info):
    """The optimizer in its second configuration (Heun's only one)."""
    kwargs = info.configs[min(1, len(info.configs) - 1)]
    return pytest.param(lambda p: info.optimizer(p, **kwargs), id=info.name)


RESUMABLE = [
    *(_resumable(info) for info in suite("namesakes") if info.configs),
    pytest.param(lambda p: optim.SoftBatch(optim.Adam(p, lr=0.01), every=3), id="SoftBatch"),
]


def _advance(model, optimizer, steps):
    x, y = data()

    def closure():
        optimizer.zero_grad()
        value = loss(model, x, y)
        value.backward()
        return value

    for _ in range(steps):
        if getattr(optimizer, "requires_closure", False):
            optimizer.step(closure)
        else:
            closure()
            optimizer.step()


@pytest.mark.parametrize("make", RESUMABLE)
def test_state_dict_resume_is_bit_for_bit(make):
    model = mlp()
    optimizer = make(model.parameters())
    _advance(model, optimizer, 100)
    straight = flat(model)

    model = mlp()
    optimizer = make(model.parameters())
    _advance(model, optimizer, 50)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer)
    model = mlp(seed=7)
    model.load_state_dict(saved["model"])
    optimizer = make(model.parameters())
    optimizer.load_state_dict(saved["optimizer"])
    _advance(model, optimizer, 50)
    assert torch.equal(flat(model), straight)


@pytest.mark.parametrize(("info", "kwargs", "setup"),
                         [c for c in CASES if c.values[2] != "scheduler"])
@pytest.mark.parametrize("direction", ["torch->adalearn", "adalearn->torch"])
def test_state_dict_crosses_to_and_from_torch_optim(info, kwargs, setup, direction):
    first, second = info.reference, info.optimizer
    if direction == "adalearn->torch":
        first, second = second, first
    model = mlp()
    optimizer, _ = build(first, model, kwargs, setup)
    _advance(model, optimizer, 50)
    state = copy.deepcopy(optimizer.state_dict())  # torch.optim updates its state in place
    _advance(model, optimizer, 50)
    straight = flat(model)

    model = mlp()
    optimizer, _ = build(first, model, kwargs, setup)
    _advance(model, optimizer, 50)
    other, _ = build(second, model, kwargs, setup)
    other.load_state_dict(state)
    _advance(model, other, 50)
    assert torch.equal(flat(model), straight)


# ---------------------------------------------------------------------------------------------


def test_rule_optimizer_runs_a_readers_rule():
    from dataclasses import dataclass

    from adalearn.rules import Rule

    @dataclass(frozen=True)
    class SignDescent(Rule):
        lr: float = 0.01

        def init(self, x):
            return {"step": 0}

        def step(self, x, g, state, grad_fn=None):
            return x - self.lr * g.sign(), {"step": state["step"] + 1}

    model = mlp()
    optimizer = optim.RuleOptimizer(model.parameters(), SignDescent(lr=0.01))
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.1)
    before, grads = one_step(model, optimizer)
    for p, p0, g in zip(model.parameters(), before, grads, strict=True):
        assert torch.equal(p.detach(), p0 - 0.01 * g.sign())
        assert optimizer.state[p]["step"].item() == 1
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)


def _perturbed_run(make, steps=30):
    """Adam where one bias misses every other gradient, and state and weights are edited.

    Small parameters run batched; the batch must follow a changing set of gradients, a state
    entry replaced by a new tensor, one changed in place and a weight given new storage, as
    torch.optim does.
    """
    model = mlp()
    optimizer = make(model.parameters())
    x, y = data()
    weight, bias = model[0].weight, model[0].bias
    for step in range(steps):
        optimizer.zero_grad()
        loss(model, x, y).backward()
        if 10 <= step < 20 and step % 2 == 0:
            bias.grad = None
        if step == 20:
            optimizer.state[weight]["exp_avg"] = torch.full_like(weight, 0.01)
        if step == 22:
            optimizer.state[bias]["exp_avg_sq"].mul_(4)
        if step == 25:
            weight.data = weight.detach() * 0.5  # new storage, as model.to() would give
        optimizer.step()
    steps_taken = [optimizer.state[p]["step"].item() for p in model.parameters()]
    return flat(model), steps_taken


@pytest.mark.parametrize(
    "compile", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["eager", "compiled"]
)
def test_batched_parameters_follow_changing_gradients_and_state(compile):
    ours, our_steps = _perturbed_run(lambda p: optim.Adam(p, lr=0.01, compile=compile))
    reference, steps = _perturbed_run(lambda p: torch.optim.Adam(p, lr=0.01))
    assert steps == [30, 25, 30, 30] and our_steps == steps
    if compile:
        torch.testing.assert_close(ours, reference, rtol=0, atol=1e-10)
    else:
        assert torch.equal(ours, reference), (ours - reference).abs().max().item()


def test_a_deep_copy_steps_on_as_torch_optims_does():
    """copy.deepcopy (and pickle) of an optimizer keeps its rule: it failed before."""
    results = []
    for cls in (optim.Adam, torch.optim.Adam):
        model = mlp()
        optimizer = cls(model.parameters(), lr=0.01)
        _advance(model, optimizer, 5)
        twin_model, twin = copy.deepcopy((model, optimizer))
        _advance(twin_model, twin, 5)
        results.append(flat(twin_model))
    assert torch.equal(*results)
