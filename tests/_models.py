"""Small torch problems shared by the optimizer tests."""

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
