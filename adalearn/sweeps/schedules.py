"""Learning-rate schedules, schedule-free AdamW and Prodigy on the character transformer.

Chapters 14 and 15 compare, on one task, the shapes of a learning-rate schedule (constant,
cosine to zero or to a tenth, linear decay to zero, warmup–stable–decay with a linear or a
1 − √ cooldown), schedule-free AdamW, which has no schedule, and Prodigy, which has no
learning rate. The task is next-character prediction on Python's own source
(:func:`adalearn.data.python_source`) with :class:`adalearn.models.CharTransformer` (one block,
width 32), mini-batches of 16 windows of 32 characters, weight decay 0.1 for every method,
400 steps and three seeds per configuration; a cosine over 200 steps as well, the horizon at
which the schedule-free runs are also read.

Each run records the validation loss (nats per character, on the whole held-out set) at eight
evenly spaced steps, the last being the end of the run, and the training loss averaged over
consecutive blocks of 25 steps. Prodigy runs, with prodigyopt's default (no bias correction)
and with ``use_bias_correction``, also record their estimate ``d`` at the eight evaluations.
AdamW warms up through its scheduler, schedule-free AdamW through its own ``warmup_steps``,
and Prodigy not at all (its ``d`` starts at ``d0 = 1e-6``). Schedule-free runs are evaluated
at their averaged point (``optimizer.eval()``).
"""

from __future__ import annotations

import math

import torch

from adalearn import data, models, optim

__all__ = ["CONFIGS", "SCHEDULES", "multiplier", "run"]

SCHEDULES = ("constant", "cosine", "cosine to 10%", "linear to 0", "WSD, linear",
             "WSD, 1 − √")
WARMUP = 50  # linear warmup steps of AdamW and schedule-free AdamW
COOLDOWN = 0.2  # fraction of the run that WSD spends decaying
BATCH = 16
EVALUATIONS = 8
BLOCK = 25  # steps per recorded training-loss average
PEAK_LRS = (0.01, 0.02, 0.04, 0.08)
SEEDS = (0, 1, 2)
STEPS = 400

CONFIGS = (
    [{"method": "AdamW", "schedule": schedule, "lr": lr, "steps": STEPS, "seed": seed}
     for schedule in SCHEDULES for lr in PEAK_LRS for seed in SEEDS]
    + [{"method": "AdamW", "schedule": "cosine", "lr": lr, "steps": STEPS // 2, "seed": seed}
       for lr in PEAK_LRS for seed in SEEDS]
    + [{"method": "schedule-free AdamW", "schedule": "constant", "lr": lr, "steps": STEPS,
        "seed": seed} for lr in PEAK_LRS for seed in SEEDS]
    + [{"method": "Prodigy", "schedule": schedule, "lr": 1.0, "steps": STEPS,
        "bias_correction": correction, "seed": seed}
       for schedule in ("constant", "cosine") for correction in (False, True) for seed in SEEDS]
)


def multiplier(schedule, t, steps, warmup=WARMUP):
    """The factor of the peak learning rate at step ``t = 0, …, steps − 1``.

    A linear warmup ``min(1, (t + 1) / warmup)`` times the shape: the cosine
    ``(1 + cos(π t / steps)) / 2`` (or ``0.1 + 0.9`` times it), the line ``1 − t / steps``,
    or WSD's 1 until the last ``COOLDOWN · steps`` steps and then ``1 − s`` or ``1 − √s``
    with ``s`` going from 0 to 1 over the cooldown.
    """
    ramp = min(1.0, (t + 1) / warmup) if warmup else 1.0
    cosine = (1 + math.cos(math.pi * t / steps)) / 2
    cooldown = round(COOLDOWN * steps)
    s = min(max((t - (steps - cooldown)) / cooldown, 0.0), 1.0)
    shape = {
        "constant": 1.0,
        "cosine": cosine,
        "cosine to 10%": 0.1 + 0.9 * cosine,
        "linear to 0": 1 - t / steps,
        "WSD, linear": 1 - s,
        "WSD, 1 − √": 1 - math.sqrt(s),
    }
    if schedule not in shape:
        raise ValueError(f"`schedule` must be one of {SCHEDULES}. Received: schedule={schedule!r}")
    return ramp * shape[schedule]


def _optimizer(config, parameters):
    method, lr = config["method"], config["lr"]
    if method == "AdamW":
        return optim.AdamW(parameters, lr=lr, weight_decay=0.1)
    if method == "schedule-free AdamW":
        return optim.AdamWScheduleFree(parameters, lr=lr, weight_decay=0.1, warmup_steps=WARMUP)
    if method == "Prodigy":
        return optim.Prodigy(parameters, lr=lr, weight_decay=0.1,
                             use_bias_correction=config["bias_correction"])
    raise ValueError(f"`method` must be AdamW, schedule-free AdamW or Prodigy. "
                     f"Received: method={method!r}")


def run(config):
    """One training run of ``config``; its validation losses, training losses and ``d``."""
    chars = data.python_source(context=32)
    inputs, targets = chars.train[:, :-1], chars.train[:, 1:]
    held_out = chars.validation[:, :-1], chars.validation[:, 1:]
    steps, seed = config["steps"], config["seed"]
    net = models.CharTransformer(len(chars.alphabet), context=32, width=32, heads=4, seed=seed)
    optimizer = _optimizer(config, net.parameters())
    warmup = WARMUP if config["method"] == "AdamW" else 0
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda t: multiplier(config["schedule"], t, steps, warmup))
    switches = hasattr(optimizer, "train")
    if switches:
        optimizer.train()
    order = torch.Generator().manual_seed(seed)
    every = steps // EVALUATIONS
    validation, train, block, d = [], [], [], []

    def loss_of(batch_inputs, batch_targets):
        return torch.nn.functional.cross_entropy(net(batch_inputs).flatten(0, 1),
                                                 batch_targets.flatten())

    for t in range(steps):
        i = torch.randint(len(inputs), (BATCH,), generator=order)
        loss = loss_of(inputs[i], targets[i])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        block.append(loss.item())
        if len(block) == BLOCK:
            train.append(sum(block) / BLOCK)
            block = []
        if (t + 1) % every == 0:
            if switches:
                optimizer.eval()
            with torch.no_grad():
                validation.append(loss_of(*held_out).item())
            if switches:
                optimizer.train()
            if config["method"] == "Prodigy":
                d.append(optimizer.param_groups[0]["d"])
    result = {"validation": validation, "train": train}
    if d:
        result["d"] = d
    return result


if __name__ == "__main__":
    from adalearn import sweeps

    sweeps.main("schedules")
