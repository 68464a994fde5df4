"""Small torch problems shared by the optimizer tests."""

import math

import torch

INPUTS, OUTPUTS, SAMPLES = 5, 3, 64


def mlp(dtype=torch.float64, seed=0):
    """A two-layer tanh network with reproducible weights."""
    generator = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(INPUTS, 8), torch.nn.Tanh(), torch.nn.Linear(8, OUTPUTS)
    ).to(dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=dtype) * 0.5)
    return model


def wide_mlp(dtype=torch.float64, seed=0, widths=(200, 200)):
    """A tanh network with hidden layers of the given widths: 200 × 200 weights by default.

    adalearn.optim updates a layer above 32768 weights on its own, not batched with the
    small ones.
    """
    generator = torch.Generator().manual_seed(seed)
    sizes = [INPUTS, *widths, OUTPUTS]
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=False):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.Tanh()]
    model = torch.nn.Sequential(*layers[:-1]).to(dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=dtype) / p.shape[-1] ** 0.5)
    return model


def data(dtype=torch.float64, seed=1):
    """Inputs and targets far from what the network starts at.

    The gradients stay large for the 100 test steps, so the runs do not reach the noisy regime
    near a minimum where one rounding difference grows into a visible one: two correct
    implementations then agree to a few units in the last place.
    """
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(SAMPLES, INPUTS, generator=generator, dtype=dtype)
    y = 5 + torch.randn(SAMPLES, OUTPUTS, generator=generator, dtype=dtype)
    return x, y


def loss(model, x, y):
    return torch.nn.functional.mse_loss(model(x), y)


def flat(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def train(model, optimizer, x, y, steps, scheduler=None):
    """Full-batch training for ``steps`` steps; returns the flattened parameters."""
    for _ in range(steps):
        optimizer.zero_grad()
        loss(model, x, y).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return flat(model)


class Problem:
    """A least-squares loss with a quartic term for each parameter: ½‖A vec(P) − b‖² + Σ P⁴/10.

    Its gradient mixes every entry of a parameter with every other, as a layer's does.
    """

    def __init__(self, shapes, dtype=torch.float64, seed=0):
        generator = torch.Generator().manual_seed(seed)
        self.start, self.matrices, self.targets = [], [], []
        for shape in shapes:
            n = math.prod(shape)
            self.start.append(torch.randn(shape, generator=generator, dtype=dtype))
            self.matrices.append(torch.randn(n, n, generator=generator, dtype=dtype) / n**0.5)
            self.targets.append(torch.randn(n, generator=generator, dtype=dtype))

    def parameters(self):
        return [torch.nn.Parameter(p.clone()) for p in self.start]

    def loss(self, params):
        return sum(
            0.5 * (a @ p.reshape(-1) - b).pow(2).sum() + 0.1 * p.pow(4).sum()
            for p, a, b in zip(params, self.matrices, self.targets, strict=True)
        )

    def train(self, params, optimizer, scheduler, steps):
        """``steps`` full steps with a schedule; returns the parameters, flattened."""
        for _ in range(steps):
            optimizer.zero_grad()
            self.loss(params).backward()
            optimizer.step()
            scheduler.step()
        return torch.cat([p.detach().flatten() for p in params])
