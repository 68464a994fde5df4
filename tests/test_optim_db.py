"""torch's own optimizer test database, run against every adalearn namesake of a torch.optim class.

``torch.testing._internal.common_optimizers.optim_db`` ships with torch: for each optimizer,
the constructor arguments its tests run (``optim_inputs_func``), the inputs that must fail and
how (``optim_error_inputs_func``), the schedulers to run with, and which implementation flags
it has. The tables below are built from ``adalearn.optim.__all__``, so an optimizer added
there with a torch.optim namesake is covered without a change here.
"""

import inspect

import pytest
import torch
from torch.nn import Parameter
from torch.optim.lr_scheduler import ReduceLROnPlateau

from adalearn import optim

common_optimizers = pytest.importorskip(
    "torch.testing._internal.common_optimizers", reason="torch's optim_db needs expecttest"
)
OptimizerErrorEnum = common_optimizers.OptimizerErrorEnum

INFOS = {info.name: info for info in common_optimizers.optim_db if info.name in optim.__all__}
STEPS = 40
MATRICES_ONLY = {"Muon"}  # torch.optim.Muon takes 2-D parameters only: the weight, not the bias
FLAGS = ("foreach", "fused", "capturable", "differentiable")


def test_every_namesake_is_in_the_database():
    namesakes = [name for name in optim.__all__ if hasattr(torch.optim, name)]
    assert len(namesakes) >= 7 and sorted(INFOS) == sorted(namesakes)


CONFIGS = [
    pytest.param(name, index, id=f"{name}-{index}-{config.desc}")
    for name, info in INFOS.items()
    for index, config in enumerate(info.optim_inputs_func(device="cpu"))
]


def fresh_kwargs(name, index):
    """The configuration's arguments, built anew: a Tensor lr is changed in place by schedulers."""
    return INFOS[name].optim_inputs_func(device="cpu")[index].kwargs


def problem(dtype, contiguous, seed=0):
    """torch's test problem: a 10×5 weight and a bias, contiguous or strided views."""
    generator = torch.Generator().manual_seed(seed)
    if contiguous:
        weight = torch.randn((10, 5), generator=generator, dtype=dtype)
        bias = torch.randn(10, generator=generator, dtype=dtype)
    else:
        weight = torch.randn((10, 5, 2), generator=generator, dtype=dtype)[..., 0]
        bias = torch.randn((10, 2), generator=generator, dtype=dtype)[..., 0]
    features = torch.randn(5, generator=generator, dtype=dtype)
    return Parameter(weight), Parameter(bias), features


# The rows of an embedding table that each step's batch looks up, with repeats.
ROWS = torch.tensor([[1, 4, 4], [0, 9, 2], [7, 7, 7], [3, 1, 8]])


def run(cls, kwargs, schedulers, dtype, contiguous, steps=STEPS):
    """``steps`` steps with a closure and the schedulers; the parameters and losses after.

    An optimizer that takes sparse gradients only (SparseAdam) gets the weight as an
    embedding table, whose gradient (``sparse=True``) holds the rows a batch looked up.
    """
    weight, bias, features = problem(dtype, contiguous)
    sparse = INFOS[cls.__name__].only_supports_sparse_grads
    params = [weight] if cls.__name__ in MATRICES_ONLY or sparse else [weight, bias]
    optimizer = cls(params, **kwargs)
    running = [make(optimizer) for make in schedulers]
    batches = iter(range(steps))

    def closure():
        optimizer.zero_grad()
        if sparse:
            rows = torch.nn.functional.embedding(ROWS[next(batches) % len(ROWS)], weight,
                                                 sparse=True)
            value = (rows.mv(features) - 1).pow(2).sum()
        else:
            value = (weight.mv(features) + bias).pow(2).sum()
        value.backward()
        return value

    losses = []
    for _ in range(steps):
        loss = optimizer.step(closure)
        losses.append(loss.detach())
        for scheduler in running:
            if isinstance(scheduler, ReduceLROnPlateau):
                scheduler.step(loss)
            else:
                scheduler.step()
    return torch.cat([weight.detach().flatten(), bias.detach().flatten()]), torch.stack(losses)


@pytest.mark.parametrize(("name", "index"), CONFIGS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_every_cpu_configuration_equals_torch_optim_bit_for_bit(name, index, dtype):
    info = INFOS[name]
    for schedulers in info.scheduler_inputs:
        for contiguous in (True, False):
            ours = run(getattr(optim, name), fresh_kwargs(name, index), schedulers, dtype,
                       contiguous)
            theirs = run(info.optim_cls, fresh_kwargs(name, index), schedulers, dtype,
                         contiguous)
            start = torch.cat([p.detach().flatten() for p in problem(dtype, contiguous)[:2]])
            assert not torch.equal(theirs[0], start), "torch.optim did not move"
            assert torch.equal(ours[0], theirs[0]), (schedulers, contiguous)
            assert torch.equal(ours[1], theirs[1]), "the closure's losses differ"


ERRORS = [
    pytest.param(name, index, id=f"{name}-{index}-{error.optimizer_error_input.desc}")
    for name, info in INFOS.items()
    for index, error in enumerate(info.optim_error_inputs_func(device="cpu", dtype=torch.float32))
]


@pytest.mark.parametrize(("name", "index"), ERRORS)
def test_every_cpu_error_input_fails_as_torch_says(name, index):
    error = INFOS[name].optim_error_inputs_func(device="cpu", dtype=torch.float32)[index]
    given = error.optimizer_error_input
    cls = getattr(optim, name)
    if issubclass(error.error_type, Warning):
        expect = pytest.warns(error.error_type, match=error.error_regex)
    else:
        expect = pytest.raises(error.error_type, match=error.error_regex)
    if error.error_on == OptimizerErrorEnum.CONSTRUCTION_ERROR:
        with expect:
            cls(given.params, **given.kwargs)
    else:
        optimizer = cls(given.params, **given.kwargs)
        with expect:
            optimizer.step()


# ---------------------------------------------------------------------------------------------
# torch's implementation flags.


def torch_flags(name):
    parameters = inspect.signature(getattr(torch.optim, name)).parameters
    return [flag for flag in FLAGS if flag in parameters]


def test_the_flags_are_torchs_and_so_are_their_defaults():
    for name in INFOS:
        ours = inspect.signature(getattr(optim, name)).parameters
        theirs = inspect.signature(getattr(torch.optim, name)).parameters
        for flag in FLAGS:
            assert (flag in ours) == (flag in theirs), (name, flag)
            if flag in theirs:
                assert ours[flag].default == theirs[flag].default, (name, flag)


@pytest.mark.parametrize("name", INFOS)
def test_a_flag_torch_lacks_is_a_type_error_as_in_torch(name):
    weight, bias, _ = problem(torch.float32, True)
    for flag in set(FLAGS) - set(torch_flags(name)):
        for cls in (getattr(torch.optim, name), getattr(optim, name)):
            with pytest.raises(TypeError, match=f"unexpected keyword argument '{flag}'"):
                cls([weight, bias], **{flag: False})


# Every setting that must do what torch.optim's default does: its numbers, bit for bit.
DEFAULT_LIKE = [
    pytest.param(name, flag, value, id=f"{name}-{flag}={value}")
    for name in INFOS
    for flag in torch_flags(name)
    for value in {"foreach": (None, False, True), "fused": (None, False)}.get(flag, (False,))
]


@pytest.mark.parametrize(("name", "flag", "value"), DEFAULT_LIKE)
def test_flags_that_keep_the_default_give_torchs_default_numbers(name, flag, value):
    info = INFOS[name]
    for index in range(len(info.optim_inputs_func(device="cpu"))):
        kwargs = {**fresh_kwargs(name, index), flag: value}
        ours = run(getattr(optim, name), kwargs, info.scheduler_inputs[0], torch.float32, True)
        theirs = run(info.optim_cls, fresh_kwargs(name, index), info.scheduler_inputs[0],
                     torch.float32, True)
        assert torch.equal(ours[0], theirs[0]), fresh_kwargs(name, index)


@pytest.mark.parametrize("name", [n for n in INFOS if "capturable" in torch_flags(n)])
def test_capturable_is_not_implemented_and_says_so(name):
    weight, bias, _ = problem(torch.float32, True)
    with pytest.raises(NotImplementedError, match=r"`capturable` must be False.*capturable=True"):
        getattr(optim, name)([weight, bias], capturable=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in INFOS if "fused" in torch_flags(n)])
def test_fused_selects_the_compiled_step(name):
    info = INFOS[name]
    weight, bias, _ = problem(torch.float32, True)
    assert getattr(optim, name)([weight, bias], fused=True).compile is True
    ours = run(getattr(optim, name), {"fused": True}, info.scheduler_inputs[0], torch.float64,
               True)
    theirs = run(info.optim_cls, {}, info.scheduler_inputs[0], torch.float64, True)
    torch.testing.assert_close(ours[0], theirs[0], rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", [n for n in INFOS if "fused" in torch_flags(n)])
def test_fused_refuses_what_torchs_fused_refuses(name):
    weight, bias, _ = problem(torch.float32, True)
    for clash, message in (("differentiable", "`fused` does not support `differentiable`"),
                           ("foreach", "`fused` and `foreach` cannot be `True` together")):
        for cls in (getattr(torch.optim, name), getattr(optim, name)):
            with pytest.raises(RuntimeError, match=message):
                cls([weight, bias], fused=True, **{clash: True})


FLOAT32_BIAS_CORRECTION = {"Adam", "AdamW"}


def differentiable_step(cls, kwargs, inputs):
    """One differentiable step from ``inputs``: the new parameter and state tensors.

    As torch's own differentiability tests do it: the parameter is a clone (not a leaf), its
    gradient and the state tensors require grad.
    """
    p0, g, state = inputs
    p = p0.clone()
    p.grad = g
    optimizer = cls([p], differentiable=True, **kwargs)
    optimizer.state[p].update({k: v.clone() if k != "step" else v for k, v in state.items()})
    optimizer.step()
    return p, {k: v for k, v in optimizer.state[p].items() if k != "step"}


@pytest.mark.parametrize(("name", "index"), [c for c in CONFIGS
                                             if "differentiable" in torch_flags(c.values[0])])
def test_differentiable_steps_have_torchs_values_and_gradients(name, index):
    """d(new parameter, new state) / d(parameter, gradient, state), against torch's step."""
    kwargs = fresh_kwargs(name, index)
    if isinstance(kwargs.get("lr"), torch.Tensor):
        kwargs["lr"] = kwargs["lr"].item()
    generator = torch.Generator().manual_seed(index)
    p0 = torch.randn(10, generator=generator, dtype=torch.float64)
    warm = Parameter(p0.clone())
    warming = INFOS[name].optim_cls([warm], **kwargs)  # a state after a few steps
    for _ in range(3):
        warm.grad = torch.randn(10, generator=generator, dtype=torch.float64)
        warming.step()
    state = {
        k: v.detach().clone().requires_grad_(k != "step")
        for k, v in warming.state[warm].items()
        if isinstance(v, torch.Tensor)
    }
    p0.requires_grad_(True)
    g = torch.randn(10, generator=generator, dtype=torch.float64, requires_grad=True)
    inputs = [p0, g, *(v for k, v in state.items() if k != "step")]
    results = []
    for cls in (getattr(optim, name), INFOS[name].optim_cls):
        p, new = differentiable_step(cls, kwargs, (p0, g, state))
        outputs = [p, *(new[k] for k in sorted(state) if k != "step")]
        weights = [torch.linspace(-1, 2, out.numel(), dtype=out.dtype) for out in outputs]
        total = sum((w * out.flatten()).sum() for w, out in zip(weights, outputs, strict=True))
        grads = torch.autograd.grad(total, inputs, allow_unused=True)
        results.append(([out.detach() for out in outputs], grads))
    (our_values, our_grads), (values, grads) = results
    # torch's differentiable Adam computes 1 - beta2 ** t from its float32 step tensor, where
    # its for-loop step (and adalearn's) uses Python numbers; at t = 4 the difference cancels
    # down to five digits in common. There, finite differences hold adalearn to more.
    rtol = 1e-4 if name in FLOAT32_BIAS_CORRECTION else 1e-12
    for ours, theirs in zip(our_values, values, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=rtol, atol=0)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    for ours, theirs in zip(our_grads, grads, strict=True):
        if theirs is None or not theirs.any():
            assert ours is None or not ours.any()
        else:
            torch.testing.assert_close(ours, theirs, rtol=rtol, atol=1e-14)

    def step(*tensors):
        p, new = differentiable_step(getattr(optim, name), kwargs, (
            tensors[0], tensors[1], {**state, **dict(zip(keys, tensors[2:], strict=True))}
        ))
        return (p, *(new[k] for k in keys))

    keys = [k for k in state if k != "step"]
    if name in FLOAT32_BIAS_CORRECTION:
        assert torch.autograd.gradcheck(step, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


def test_differentiable_cannot_be_compiled():
    weight, bias, _ = problem(torch.float32, True)
    with pytest.raises(ValueError, match=r"`compile` must be False.*Received: compile=True"):
        optim.Adam([weight, bias], differentiable=True, compile=True)
