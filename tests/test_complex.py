"""Complex parameters, against torch.optim on the same seeded run.

torch.optim steps a complex parameter as its real and imaginary parts
(``torch.view_as_real``), except where its code does complex arithmetic (SGD throughout,
Adadelta's update, L2 weight decay in most); adalearn's namesakes give its numbers bit for
bit, eager, and with ``compile=True`` to float32's precision. The optimizers torch refuses
complex parameters for raise its error. The cases come from torch's own optimizer database:
each configuration it runs, for every optimizer it marks ``supports_complex``. LBFGS, which
steps with a closure, minimises a weighted distance to random targets.
"""

import pytest
import torch

from adalearn import optim

common_optimizers = pytest.importorskip(
    "torch.testing._internal.common_optimizers", reason="torch's optim_db needs expecttest"
)
INFOS = {info.name: info for info in common_optimizers.optim_db if info.name in optim.__all__}
COMPLEX = [name for name, info in INFOS.items() if info.supports_complex]
REFUSED = [name for name, info in INFOS.items() if not info.supports_complex]
STEPS = 5
# An optimizer that takes a closure (LBFGS) iterates up to 20 times within each step.
CLOSURE_STEPS = 2
# A small parameter (batched), a vector, and one of 40,000 real numbers (stepped in blocks).
SHAPES = [(4, 3), (5,), (100, 200)]


def configurations(name):
    return [pytest.param(name, index, id=f"{name}-{index}-{config.desc}")
            for index, config in enumerate(INFOS[name].optim_inputs_func(device="cpu"))]


def run(cls, name, index, dtype=torch.complex64, steps=None, **extra):
    kwargs = INFOS[name].optim_inputs_func(device="cpu")[index].kwargs
    if steps is None:
        steps = CLOSURE_STEPS if INFOS[name].step_requires_closure else STEPS
    generator = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(s, generator=generator, dtype=dtype))
              for s in SHAPES]
    weights = [torch.linspace(0.5, 2.0, 2 * p.numel(), dtype=p.real.dtype).view(*p.shape, 2)
               for p in params]
    optimizer = cls(params, **kwargs, **extra)
    for step in range(steps):
        generator = torch.Generator().manual_seed(10 + step)
        targets = [torch.randn(p.shape, generator=generator, dtype=dtype) for p in params]
        if not INFOS[name].step_requires_closure:
            for p, target in zip(params, targets, strict=True):
                p.grad = target
            optimizer.step()
            continue

        def closure(targets=targets):
            """A weighted distance to the step's targets, in the real and imaginary parts."""
            optimizer.zero_grad()
            value = sum((torch.view_as_real(p - t).pow(2) * w).sum()
                        for p, t, w in zip(params, targets, weights, strict=True))
            value.backward()
            return value

        optimizer.step(closure)
    return torch.cat([torch.view_as_real(p.detach()).flatten() for p in params])


def test_the_cases_cover_every_namesake():
    assert len(COMPLEX) >= 9 and {"Adafactor", "Muon", "SparseAdam"} <= set(REFUSED)


@pytest.mark.parametrize(("name", "index"), [c for n in COMPLEX for c in configurations(n)])
@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128], ids=["c64", "c128"])
def test_complex_parameters_step_as_torch_optim_bit_for_bit(name, index, dtype):
    ours = run(getattr(optim, name), name, index, dtype)
    theirs = run(INFOS[name].optim_cls, name, index, dtype)
    start = run(INFOS[name].optim_cls, name, index, dtype, steps=0)
    assert not torch.equal(theirs, start), "torch.optim did not move"
    assert torch.equal(ours, theirs), (ours - theirs).abs().max().item()


@pytest.mark.slow
# LBFGS refuses compile=True (its loop branches on the values it computes).
@pytest.mark.parametrize("name", [name for name in COMPLEX if name != "LBFGS"])
def test_compiled_complex_steps_are_torch_optims_to_float32_precision(name):
    for index in range(len(INFOS[name].optim_inputs_func(device="cpu"))):
        ours = run(getattr(optim, name), name, index, compile=True)
        theirs = run(INFOS[name].optim_cls, name, index)
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1.3e-6)


@pytest.mark.parametrize("name", REFUSED)
def test_the_others_refuse_complex_parameters_as_torch_does(name):
    messages = []
    for cls in (INFOS[name].optim_cls, getattr(optim, name)):
        p = torch.nn.Parameter(torch.ones(3, 2, dtype=torch.complex64))
        p.grad = torch.ones_like(p)
        with pytest.raises((RuntimeError, ValueError)) as error:
            cls([p]).step()
        messages.append((type(error.value), str(error.value)))
        assert torch.equal(p.detach(), torch.ones(3, 2, dtype=torch.complex64))
    assert messages[0] == messages[1]
    assert "complex" in messages[0][1]
