"""Steps to a target loss against the batch size, for SGD and Adam on the digits network.

Each configuration is one optimizer, one batch size and one seed. It trains
``models.mlp([64, 64, 10])`` on the training images of ``data.digits()`` with a constant
learning rate and batches drawn with replacement, at the learning rates of a grid half an
octave apart, and records after how many steps the cross-entropy on the whole training set
first falls to each target. The seed fixes the initial weights and the batches; every learning
rate of a configuration starts from the same weights and sees the same batches.

The loss on the whole training set is measured after each of the first 100 steps and then
every ``t // 100`` steps, so a step count is exact to 1 %. A run stops when it reaches the last
target; when it diverges (a loss that is not finite or above 10); when it has not reduced the
loss by a tenth at step 100; or when it has taken one and a half times as many steps as the
fastest run so far, since it can no longer be the fastest. Its steps are ``None`` for the
targets it did not reach.

The learning rates run from the largest down and stop two rates after the fastest one: steps
to the last target fall and then rise as the rate shrinks, and a smaller rate is not faster
for the earlier targets either. ``lrs`` in a result are the rates that were run.

``python -m adalearn.sweeps.batch_size`` stores the results; chapter 19 (the batch size) plots
them.
"""

from __future__ import annotations

import math

import torch

from adalearn import data, models

TARGETS = [0.3, 0.1, 0.05]
BATCHES = [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
SEEDS = [0, 1, 2]
LEARNING_RATES = {
    "sgd": [round(0.05 * 2 ** (k / 2), 6) for k in range(12)],  # 0.05 to 2.26
    "adam": [round(0.0025 * 2 ** (k / 2), 6) for k in range(12)],  # 0.0025 to 0.113
}
MAX_STEPS = 8_000

CONFIGS = [
    {"optimizer": name, "batch": batch, "seed": seed, "lrs": LEARNING_RATES[name],
     "targets": TARGETS}
    for name in ("sgd", "adam")
    for batch in BATCHES
    for seed in SEEDS
]


def _optimizer(name, params, lr):
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    return torch.optim.Adam(params, lr=lr)


def _steps_to_targets(config, lr, cap, split, batches):
    """The steps at which one run first reaches each target (None when it does not)."""
    net = models.mlp([64, 64, 10], seed=config["seed"])
    optimizer = _optimizer(config["optimizer"], net.parameters(), lr)
    loss = torch.nn.CrossEntropyLoss()
    targets = config["targets"]
    reached: list[int | None] = [None] * len(targets)
    with torch.no_grad():
        start = loss(net(split.X_train), split.y_train).item()
    measure = 1
    for t in range(1, cap + 1):
        index = batches(t)
        optimizer.zero_grad()
        loss(net(split.X_train[index]), split.y_train[index]).backward()
        optimizer.step()
        if t < measure:
            continue
        measure = t + max(1, t // 100)
        with torch.no_grad():
            value = loss(net(split.X_train), split.y_train).item()
        if not math.isfinite(value) or value > 10 or (t == 100 and value > 0.9 * start):
            break
        for k, target in enumerate(targets):
            if reached[k] is None and value <= target:
                reached[k] = t
        if reached[-1] is not None:
            break
    return reached


def run(config):
    """Steps to each target at the learning rates of ``config``'s grid that were run."""
    split = data.digits()
    n, batch = len(split.X_train), config["batch"]
    generator = torch.Generator().manual_seed(config["seed"])
    drawn: list[torch.Tensor] = []

    def batches(t):
        while len(drawn) < t:
            drawn.append(torch.randint(n, (batch,), generator=generator))
        return drawn[t - 1]

    lrs, steps = [], []
    fastest, slower = None, 0
    for lr in sorted(config["lrs"], reverse=True):
        cap = MAX_STEPS if fastest is None else min(MAX_STEPS, 3 * fastest // 2)
        reached = _steps_to_targets(config, lr, cap, split, batches)
        lrs.append(lr)
        steps.append(reached)
        last = reached[-1]
        if last is not None and (fastest is None or last < fastest):
            fastest, slower = last, 0
        elif fastest is not None:
            slower += 1
            if slower == 2:
                break
    return {"lrs": lrs[::-1], "steps": steps[::-1]}


if __name__ == "__main__":
    from adalearn import sweeps

    raise SystemExit(sweeps.main("batch_size"))
