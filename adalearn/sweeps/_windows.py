"""What the character-transformer sweeps share: the text, the next-character loss and the
training loop."""

from __future__ import annotations

import functools

import torch


@functools.cache
def characters(context):
    """The text of :func:`adalearn.data.python_source`, cut into windows of ``context + 1``
    characters (made once per process)."""
    from adalearn import data

    return data.python_source(context=context)


def next_character_loss(net, windows):
    """Mean cross-entropy of each window's next characters, in nats."""
    logits = net(windows[:, :-1])
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), windows[:, 1:].flatten())


def train(net, optimizer, windows, *, steps, batch, seed, factor):
    """Train ``net`` for ``steps`` steps on ``batch`` windows drawn at random under ``seed``.

    Each param group's learning rate is its initial one times ``factor(step, steps)``.
    Returns the training loss of every step.
    """
    rates = [group["lr"] for group in optimizer.param_groups]
    order = torch.Generator().manual_seed(seed)
    losses = []
    for step in range(steps):
        for group, rate in zip(optimizer.param_groups, rates, strict=True):
            group["lr"] = rate * factor(step, steps)
        sample = windows[torch.randint(len(windows), (batch,), generator=order)]
        loss = next_character_loss(net, sample)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
