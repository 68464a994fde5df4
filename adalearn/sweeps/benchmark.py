"""The benchmark of chapter 20: six optimizers, two networks, one protocol for all.

The networks, each with a training, a validation and a test split:

- ``"transformer"``: :class:`adalearn.models.CharTransformer` (one block, width 32) predicting
  the next character of :func:`adalearn.data.python_source`; the held-out windows at the end of
  the text are cut in two, the first half for validation and the second for the test;
- ``"digits"``: :func:`adalearn.models.mlp` with two hidden layers of 128 units on
  :func:`adalearn.data.digits`; 40 % of the images are held out, half for validation and half
  for the test.

Every optimizer trains a network for its :data:`STEPS` steps of :data:`BATCH` random samples,
with a linear warmup over the first :data:`WARMUP` of the steps followed by one of two decays
(:func:`multiplier`): a cosine to zero, or WSD's constant rate and linear cooldown to zero over
the last :data:`COOLDOWN` of the steps. The protocol has two stages, each a stored sweep:

1. *Tuning* (``benchmark_<network>_tuning``): every optimizer gets the same trials, every
   learning rate of its half-decade grid (:data:`LEARNING_RATES`) with both schedules, each run
   with the network's :data:`TUNING_SEEDS`; a trial is scored by its mean final validation loss.
   The transformer's runs cost the most, so it trains for fewer steps and tunes with one seed;
   within a network every optimizer gets the same budget.
2. *Test* (``benchmark_<network>``): each optimizer's best trial (:func:`chosen`) is run again
   with the fresh seeds :data:`TEST_SEEDS`, and only these runs are evaluated on the test split.

A seed fixes the initial weights and the order of the mini-batches, so two optimizers run with
the same seed start from the same weights and see the same batches: their results pair by seed.
Weight decay is fixed per optimizer (:func:`optimizer`), not tuned.
"""

from __future__ import annotations

import functools
import math

import torch

__all__ = [
    "BATCH",
    "BUCKETS",
    "COOLDOWN",
    "EVERY",
    "LEARNING_RATES",
    "NETWORKS",
    "OPTIMIZERS",
    "SCHEDULES",
    "STEPS",
    "TEST_SEEDS",
    "TUNING_SEEDS",
    "WARMUP",
    "chosen",
    "multiplier",
    "network",
    "optimizer",
    "run",
    "splits",
    "chosen_configs",
    "tuning_configs",
]

NETWORKS = ("transformer", "digits")
OPTIMIZERS = ("SGD + momentum", "Adam", "AdamW", "Lion", "Muon + AdamW", "SOAP")
SCHEDULES = ("cosine", "WSD")
STEPS = {"transformer": 300, "digits": 400}
BATCH = {"transformer": 16, "digits": 32}
WARMUP = 0.1  # fraction of the steps spent warming up, linearly from lr / warmup steps
COOLDOWN = 0.2  # fraction of the steps WSD spends decaying to zero
EVERY = 25  # steps between two evaluations of a test run
TUNING_SEEDS = {"transformer": (0,), "digits": (0, 1)}
TEST_SEEDS = (2, 3, 4, 5, 6)
#: Frequency buckets of the next character, by its share of the training text: lower edges.
BUCKETS = (0.1, 0.01, 0.001, 0.0)
# A fixed sample of training windows on which a test run also measures the loss per bucket.
TRAINING_SAMPLE, TRAINING_SAMPLE_SEED = 512, 12345

_ADAPTIVE = (3e-3, 1e-2, 3e-2, 0.1, 0.3)
#: Each optimizer's learning rates on each network: five points half a decade apart, placed by
#: short pilot runs so that the best one lies inside the grid.
LEARNING_RATES = {
    "transformer": {
        "SGD + momentum": (0.03, 0.1, 0.3, 1.0, 3.0),
        "Adam": _ADAPTIVE,
        "AdamW": _ADAPTIVE,
        "Lion": (1e-3, 3e-3, 1e-2, 3e-2, 0.1),
        "Muon + AdamW": _ADAPTIVE,
        "SOAP": _ADAPTIVE,
    },
    "digits": {
        "SGD + momentum": (0.01, 0.03, 0.1, 0.3, 1.0),
        **dict.fromkeys(("Adam", "AdamW", "Lion", "Muon + AdamW", "SOAP"),
                        (1e-3, 3e-3, 1e-2, 3e-2, 0.1)),
    },
}


def _check(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"`{name}` must be one of {allowed}. Received: {name}={value!r}")
    return value


@functools.cache
def splits(name):
    """``{"train": (X, y), "validation": (X, y), "test": (X, y)}`` of network ``name``."""
    from adalearn import data

    _check("network", name, NETWORKS)
    if name == "transformer":
        chars = data.python_source(context=32)
        held = chars.validation
        half = len(held) // 2
        windows = {"train": chars.train, "validation": held[:half], "test": held[half:]}
        return {key: (w[:, :-1], w[:, 1:]) for key, w in windows.items()}
    digits = data.digits(test_size=0.4, seed=0)
    half = len(digits.X_val) // 2
    return {
        "train": (digits.X_train, digits.y_train),
        "validation": (digits.X_val[:half], digits.y_val[:half]),
        "test": (digits.X_val[half:], digits.y_val[half:]),
    }


def network(name, seed):
    """The network ``name`` with its initial weights drawn under ``seed``."""
    from adalearn import models

    _check("network", name, NETWORKS)
    if name == "transformer":
        return models.CharTransformer(100, context=32, width=32, heads=4, seed=seed)
    return models.mlp([64, 128, 128, 10], seed=seed)


def optimizer(name, net, lr):
    """Optimizer ``name`` over ``net``'s parameters at learning rate ``lr``.

    SGD with momentum 0.9 and Adam have no weight decay; AdamW, Muon, the AdamW beside it, and
    SOAP decay by 0.1, and Lion by 1.0 (its rates are about ten times smaller, so the product
    ``lr · weight_decay`` that sets the decay per step is alike). Muon takes the hidden weight
    matrices (:func:`adalearn.models.matrix_parameters`) with ``adjust_lr_fn="match_rms_adamw"``,
    which scales its step to the size of an AdamW step, so that one rate serves it and the
    AdamW that takes the other parameters. SOAP takes every parameter; on a vector it is Adam.
    """
    from adalearn import models, optim

    _check("optimizer", name, OPTIMIZERS)
    params = list(net.parameters())
    if name == "SGD + momentum":
        return optim.SGD(params, lr=lr, momentum=0.9)
    if name == "Adam":
        return optim.Adam(params, lr=lr)
    if name == "AdamW":
        return optim.AdamW(params, lr=lr, weight_decay=0.1)
    if name == "Lion":
        return optim.Lion(params, lr=lr, weight_decay=1.0)
    if name == "SOAP":
        return optim.SOAP(params, lr=lr, weight_decay=0.1)
    matrices, others = models.matrix_parameters(net)
    return optim.Combined(
        optim.Muon(matrices, lr=lr, weight_decay=0.1, adjust_lr_fn="match_rms_adamw"),
        optim.AdamW(others, lr=lr, weight_decay=0.1),
    )


def multiplier(schedule, t, steps):
    """The factor of the peak learning rate at step ``t = 0, …, steps − 1``.

    A linear warmup ``(t + 1) / w`` over the first ``w = WARMUP · steps`` steps, then either
    a cosine from 1 to 0 over the remaining steps (``"cosine"``), or 1 until the last
    ``COOLDOWN · steps`` steps and a straight line from 1 to 0 over those (``"WSD"``).
    """
    _check("schedule", schedule, SCHEDULES)
    warmup = round(WARMUP * steps)
    if t < warmup:
        return (t + 1) / warmup
    if schedule == "cosine":
        return (1 + math.cos(math.pi * (t - warmup) / (steps - warmup))) / 2
    cooldown = round(COOLDOWN * steps)
    return min(1.0, (steps - t) / cooldown)


def _losses(net, name, X, y):
    """The loss of every sample (every predicted character), without gradients."""
    with torch.no_grad():
        logits = net(X)
        return torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none"
        )


@functools.cache
def _bucket_of_class():
    """The frequency bucket (an index into :data:`BUCKETS`) of every character."""
    targets = splits("transformer")["train"][1]
    share = torch.bincount(targets.flatten(), minlength=100).double() / targets.numel()
    bucket = torch.full((100,), len(BUCKETS) - 1)
    for index, low in reversed(list(enumerate(BUCKETS))):
        bucket[share >= low] = index
    return bucket


def _per_bucket(losses, targets):
    bucket = _bucket_of_class()[targets.flatten()]
    return [losses[bucket == b].mean().item() for b in range(len(BUCKETS))]


def run(config):
    """One training run: its final validation loss (tuning) or its test losses over the steps.

    A tuning run returns ``{"validation": loss}``, or ``{"validation": None, "diverged": t}``
    when the training loss stops being finite at step ``t``. A test run returns the test loss
    at steps ``0, EVERY, 2·EVERY, …, steps`` (``"steps"``, ``"test"``), and the final test
    accuracy of the digits network or, for the transformer, the mean loss on each frequency
    bucket of the test split and of a fixed sample of training windows over the same steps.
    """
    name, split = config["network"], config["split"]
    _check("split", split, ("validation", "test"))
    data = splits(name)
    X, y = data["train"]
    steps, seed = config["steps"], config["seed"]
    net = network(name, seed)
    opt = optimizer(config["optimizer"], net, config["lr"])
    peaks = [group["lr"] for group in opt.param_groups]
    order = torch.Generator().manual_seed(seed)
    if name == "transformer":
        picker = torch.Generator().manual_seed(TRAINING_SAMPLE_SEED)
        sample = torch.randperm(len(X), generator=picker)[:TRAINING_SAMPLE]
        probe = X[sample], y[sample]
    record = {"steps": [], "test": [], "test_buckets": [], "train_buckets": []}

    def evaluate(t):
        net.eval()
        losses = _losses(net, name, *data["test"])
        record["steps"].append(t)
        record["test"].append(losses.mean().item())
        if name == "transformer":
            record["test_buckets"].append(_per_bucket(losses, data["test"][1]))
            record["train_buckets"].append(_per_bucket(_losses(net, name, *probe), probe[1]))
        net.train()

    if split == "test":
        evaluate(0)
    for t in range(steps):
        factor = multiplier(config["schedule"], t, steps)
        for group, peak in zip(opt.param_groups, peaks, strict=True):
            group["lr"] = peak * factor
        index = torch.randint(len(X), (config["batch"],), generator=order)
        logits = net(X[index])
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), y[index].reshape(-1)
        )
        if not torch.isfinite(loss):
            if split == "test":
                raise RuntimeError(f"a test run diverged at step {t}: {config}")
            return {"validation": None, "diverged": t}
        opt.zero_grad()
        loss.backward()
        opt.step()
        if split == "test" and (t + 1) % EVERY == 0:
            evaluate(t + 1)
    if split == "validation":
        net.eval()
        return {"validation": _losses(net, name, *data["validation"]).mean().item()}
    if name == "digits":
        net.eval()
        with torch.no_grad():
            X_test, y_test = data["test"]
            record["accuracy"] = (net(X_test).argmax(dim=1) == y_test).double().mean().item()
        del record["test_buckets"], record["train_buckets"]
    return record


def tuning_configs(name):
    """The tuning trials of network ``name``: optimizers × learning rates × schedules × seeds."""
    _check("network", name, NETWORKS)
    return [
        {"network": name, "optimizer": opt, "lr": lr, "schedule": schedule, "seed": seed,
         "steps": STEPS[name], "batch": BATCH[name], "split": "validation"}
        for opt in OPTIMIZERS
        for lr in LEARNING_RATES[name][opt]
        for schedule in SCHEDULES
        for seed in TUNING_SEEDS[name]
    ]


def trials(record):
    """``{optimizer: {(lr, schedule): mean validation loss}}`` of a stored tuning sweep.

    A trial with a diverged seed scores infinity.
    """
    scores = {}
    for config, result in zip(record.configs, record.results, strict=True):
        key = (config["lr"], config["schedule"])
        value = result["validation"]
        scores.setdefault(config["optimizer"], {}).setdefault(key, []).append(
            math.inf if value is None else value
        )
    return {opt: {key: sum(v) / len(v) for key, v in by.items()} for opt, by in scores.items()}


def chosen(name):
    """``{optimizer: (lr, schedule)}``: the trial of lowest mean validation loss, per optimizer."""
    from adalearn import sweeps

    scores = trials(sweeps.load(f"benchmark_{_check('network', name, NETWORKS)}_tuning"))
    return {opt: min(by, key=by.__getitem__) for opt, by in scores.items()}


def chosen_configs(name):
    """The test runs of network ``name``: each optimizer's chosen trial with each test seed."""
    return [
        {"network": name, "optimizer": opt, "lr": lr, "schedule": schedule, "seed": seed,
         "steps": STEPS[name], "batch": BATCH[name], "split": "test"}
        for opt, (lr, schedule) in chosen(name).items()
        for seed in TEST_SEEDS
    ]
