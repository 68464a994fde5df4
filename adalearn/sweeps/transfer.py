"""Learning rates across widths: the character transformer under SP and μP, Adam and Muon.

Each run trains :class:`adalearn.models.CharTransformer` (the standard parametrization, SP) or
:class:`adalearn.models.CharTransformerMuP` (μP relative to width :data:`BASE_WIDTH`) of one
width on :func:`adalearn.data.python_source` for :data:`STEPS` steps of :data:`BATCH` random
windows, with a linear warmup over the first tenth of the steps and a linear decay to zero
after it, and records the final loss on 256 held-out windows and on 256 training windows.

- ``"optimizer": "adam"``: Adam (no weight decay) at one learning rate under SP, or with
  :func:`adalearn.parametrization.mup_param_groups` under μP;
- ``"optimizer": "muon"``: SP, Muon with ``adjust_lr_fn="match_rms_adamw"`` on the hidden
  matrices (:func:`adalearn.models.matrix_parameters`) and Adam on the rest, both at the
  same learning rate.

The learning rates are a quarter-decade grid, every width meets every rate, and two seeds fix
the initial weights and the order of the windows. ``python -m adalearn.sweeps.transfer
--jobs 2`` stores ``transfer.json``; chapter 18 plots it.
"""

import math

import torch

from adalearn.sweeps._windows import characters, next_character_loss, train

BASE_WIDTH = 32
WIDTHS = (32, 64, 128, 256)
LEARNING_RATES = tuple(10 ** (k / 4) for k in range(-14, -1))  # 10^-3.5 ... 10^-0.5
SEEDS = (0, 1)
STEPS, BATCH, CONTEXT, EVALUATED = 300, 16, 32, 256
CURVE_BLOCK = 20  # the training loss is stored as means over blocks of this many steps

CONFIGS = [
    {"optimizer": optimizer, "parametrization": parametrization, "width": width,
     "seed": seed, "lr": lr, "steps": STEPS, "batch": BATCH}
    for optimizer, parametrization in (("adam", "sp"), ("adam", "mup"), ("muon", "sp"))
    for width in WIDTHS
    for seed in SEEDS
    for lr in LEARNING_RATES
]


def network(parametrization, width, seed):
    """The transformer of a run: SP's :class:`CharTransformer` or its μP variant."""
    from adalearn import models

    vocabulary = len(characters(CONTEXT).alphabet)
    if parametrization == "sp":
        return models.CharTransformer(vocabulary, context=CONTEXT, width=width, seed=seed)
    if parametrization == "mup":
        return models.CharTransformerMuP(vocabulary, context=CONTEXT, width=width,
                                         base_width=BASE_WIDTH, seed=seed)
    raise ValueError(
        f"`parametrization` must be 'sp' or 'mup'. Received: parametrization={parametrization!r}"
    )


def optimizer_for(name, net, lr):
    """The optimizer of a run: Adam (with μP's groups for a μP network) or Muon with Adam."""
    from adalearn import models, optim, parametrization

    if name == "adam":
        if isinstance(net, models.CharTransformerMuP):
            return optim.Adam(parametrization.mup_param_groups(net, net.base_shapes(), lr))
        return optim.Adam(net.parameters(), lr=lr)
    if name == "muon":
        matrices, others = models.matrix_parameters(net)
        return optim.Combined(
            optim.Muon(matrices, lr=lr, weight_decay=0.0, adjust_lr_fn="match_rms_adamw"),
            optim.Adam(others, lr=lr),
        )
    raise ValueError(f"`optimizer` must be 'adam' or 'muon'. Received: optimizer={name!r}")


def schedule(step, steps):
    """The factor of the learning rate at ``step`` (from 0): warmup over a tenth, then to 0."""
    warmup = steps // 10
    if step < warmup:
        return (step + 1) / warmup
    return (steps - step) / (steps - warmup)


def _finite(value):
    return value if math.isfinite(value) else None


def run(config):
    """Train one network; its final held-out and training losses, and its loss curve.

    A loss that is not finite (a run that diverged) is stored as ``None``.
    """
    chars = characters(CONTEXT)
    net = network(config["parametrization"], config["width"], config["seed"])
    optimizer = optimizer_for(config["optimizer"], net, config["lr"])
    steps = config["steps"]
    losses = train(net, optimizer, chars.train, steps=steps, batch=config["batch"],
                   seed=config["seed"], factor=schedule)
    with torch.no_grad():
        validation = next_character_loss(net, chars.validation[:EVALUATED]).item()
        trained = next_character_loss(net, chars.train[:EVALUATED]).item()
    curve = [sum(losses[i : i + CURVE_BLOCK]) / CURVE_BLOCK for i in range(0, steps, CURVE_BLOCK)]
    return {
        "validation": _finite(validation),
        "train": _finite(trained),
        "curve": [_finite(value) for value in curve],
    }


if __name__ == "__main__":
    from adalearn import sweeps

    sweeps.main("transfer")
