"""bfloat16 and float16 parameters, against torch.optim's default step on the same seeded run.

torch's CPU kernels round the vectorised body and the scalar tail of a low-precision tensor
differently, so an element's bits depend on where in its tensor it sits: batched into one
flat buffer, a small parameter's elements would move and round otherwise. adalearn steps each
low-precision parameter whole, as torch.optim does, eager and with ``compile=True``, and gives
its bits; L-BFGS, which works on all parameters as one vector, adds its steps to each
parameter on its own for the same reason. (torch.optim's own ``foreach=True`` gives other
bits than its default in these dtypes, for SGD, Adagrad and RMSprop among others.)
"""

import pytest
import torch

from adalearn import optim

STEPS = 6
# Sizes that put elements at every offset of a vector register, around a batch of small
# parameters and a large one that the engine would otherwise step in blocks.
SHAPES = [(37,), (5, 7), (1000,), (3,), (40001,), (257, 30), (9,)]
# float16's smallest normal number is 6e-5: the epsilons are raised where they would vanish.
CONFIGS = {
    "SGD": {"lr": 0.01, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01},
    "Adagrad": {"lr": 0.01, "eps": 1e-3},
    "RMSprop": {"lr": 0.01, "momentum": 0.5, "centered": True, "eps": 1e-3},
    "Adadelta": {"eps": 1e-3, "weight_decay": 0.01},
    "Adam": {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True, "eps": 1e-3},
    "AdamW": {"lr": 0.01, "eps": 1e-3},
    "Adamax": {"lr": 0.01, "eps": 1e-3},
    "NAdam": {"lr": 0.01, "eps": 1e-3},
    "RAdam": {"lr": 0.01, "eps": 1e-3},
    "Adafactor": {"lr": 0.01},
    "Rprop": {"lr": 0.01, "etas": (0.4, 1.3)},
    "ASGD": {"lr": 0.01, "lambd": 0.01, "t0": 2.0, "weight_decay": 0.01},
    "LBFGS": {"lr": 0.1, "max_iter": 4, "history_size": 3},
}
DTYPES = pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16],
                                 ids=["bfloat16", "float16"])


def run(cls, kwargs, dtype, steps=STEPS, **extra):
    generator = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(s, generator=generator).to(dtype))
              for s in SHAPES]
    optimizer = cls(params, **kwargs, **extra)
    for step in range(steps):
        generator = torch.Generator().manual_seed(10 + step)
        if cls.__name__ == "LBFGS":
            optimizer.step(closure(optimizer, params))
            continue
        for p in params:
            p.grad = torch.randn(p.shape, generator=generator).to(dtype)
        optimizer.step()
    return torch.cat([p.detach().flatten() for p in params])


def closure(optimizer, params):
    """L-BFGS's loss: a scaled squared distance to fixed targets, summed in float32. (Targets
    that move at each step, or a larger scale, overflow its float16 dot products.)"""
    generator = torch.Generator().manual_seed(10)
    targets = [torch.randn(p.shape, generator=generator).to(p.dtype) for p in params]

    def value():
        optimizer.zero_grad()
        total = sum((p - t).float().pow(2).sum() * 2.0**-6
                    for p, t in zip(params, targets, strict=True))
        total.backward()
        return total

    return value


@pytest.mark.parametrize("name", CONFIGS)
@DTYPES
def test_eager_low_precision_steps_are_torch_optims_bit_for_bit(name, dtype):
    ours = run(getattr(optim, name), CONFIGS[name], dtype)
    theirs = run(getattr(torch.optim, name), CONFIGS[name], dtype)
    assert torch.isfinite(theirs).all()
    assert not torch.equal(theirs, run(getattr(torch.optim, name), CONFIGS[name], dtype, 0))
    assert torch.equal(ours, theirs), int((ours != theirs).sum())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["SGD", "Adam", "Adagrad"])
@DTYPES
def test_compiled_low_precision_steps_are_torch_optims_bit_for_bit(name, dtype):
    ours = run(getattr(optim, name), CONFIGS[name], dtype, compile=True)
    theirs = run(getattr(torch.optim, name), CONFIGS[name], dtype)
    assert torch.equal(ours, theirs), int((ours != theirs).sum())


def test_every_namesake_is_covered():
    namesakes = {name for name in optim.__all__ if hasattr(torch.optim, name)}
    assert namesakes == {*CONFIGS, "Muon", "SparseAdam"}


@DTYPES
def test_sparse_adam_on_a_low_precision_embedding_is_torch_optims_bit_for_bit(dtype):
    results = []
    for cls in (torch.optim.SparseAdam, optim.SparseAdam):
        torch.manual_seed(0)
        table = torch.nn.Embedding(50, 37, sparse=True).to(dtype)
        optimizer = cls(table.parameters(), lr=0.01, eps=1e-3)
        for step in range(STEPS):
            optimizer.zero_grad()
            rows = torch.randint(0, 50, (20,), generator=torch.Generator().manual_seed(step))
            table(rows).float().pow(2).sum().backward()
            optimizer.step()
        results.append(table.weight.detach().clone())
    torch.manual_seed(0)
    start = torch.nn.Embedding(50, 37).to(dtype).weight.detach()
    assert not torch.equal(results[0], start)
    assert torch.equal(*results), int((results[0] != results[1]).sum())


def test_muon_in_bfloat16_is_torch_optims_bit_for_bit():
    results = []
    for cls in (optim.Muon, torch.optim.Muon):
        generator = torch.Generator().manual_seed(0)
        params = [torch.nn.Parameter(torch.randn(s, generator=generator).bfloat16())
                  for s in [(5, 7), (40, 30)]]
        optimizer = cls(params, lr=0.02)
        for step in range(STEPS):
            generator = torch.Generator().manual_seed(10 + step)
            for p in params:
                p.grad = torch.randn(p.shape, generator=generator).bfloat16()
            optimizer.step()
        results.append(torch.cat([p.detach().flatten() for p in params]))
    assert torch.equal(*results)
