"""bfloat16 and float16 parameters, against torch.optim's default step on the same seeded run.

torch's CPU kernels round the vectorised body and the scalar tail of a low-precision tensor
differently, so an element's bits depend on where in its tensor it sits: batched into one
flat buffer, a small parameter's elements would move and round otherwise. adalearn steps each
low-precision parameter whole, as torch.optim does, eager and with ``compile=True``, and gives
its bits. (torch.optim's own ``foreach=True`` gives other bits than its default in these
dtypes, for SGD, Adagrad and RMSprop among others.)
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
        for p in params:
            p.grad = torch.randn(p.shape, generator=generator).to(dtype)
        optimizer.step()
    return torch.cat([p.detach().flatten() for p in params])


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
