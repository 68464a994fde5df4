"""Matrix preconditioners on the character transformer: AdamW, Muon, Shampoo and SOAP.

Each run trains :class:`adalearn.models.CharTransformer` (one block, width 32) on
:func:`adalearn.data.python_source` for :data:`STEPS` steps of :data:`BATCH` random windows,
with the learning rate decaying linearly to zero, and records the mean loss on every held-out
window at the end and the training loss as means over blocks of :data:`CURVE_BLOCK` steps.

- ``"optimizer": "adamw"``: AdamW on every parameter, at ``lr``;
- ``"optimizer": "muon"``, ``"shampoo"``, ``"soap"``: that optimizer, at ``lr``, on the hidden
  weight matrices (:func:`adalearn.models.matrix_parameters`: attention's input and output
  projections and the MLP's two layers), and AdamW at :data:`REST_LR` on the rest (the
  embeddings, the output layer, biases and LayerNorms).

No weight decay anywhere: the runs are short. Each optimizer meets a half-decade grid of
learning rates, and three seeds fix the initial weights and the order of the windows.
``python -m adalearn.sweeps.matrix_transformer --jobs 2`` stores ``matrix_transformer.json``;
chapter 17 plots it.
"""


import torch

from adalearn.sweeps import _windows
from adalearn.sweeps._windows import next_character_loss, train

STEPS, BATCH, CONTEXT = 200, 16, 32
CURVE_BLOCK = 20  # the training loss is stored as means over blocks of this many steps
REST_LR = 0.03  # AdamW's rate for the parameters a matrix optimizer does not take
SEEDS = (0, 1, 2)
LEARNING_RATES = {
    "adamw": (3e-3, 1e-2, 3e-2, 0.1),
    "muon": (1e-2, 3e-2, 0.1, 0.3),
    "shampoo": (0.1, 0.3, 1.0, 3.0),
    "soap": (3e-3, 1e-2, 3e-2, 0.1),
}

CONFIGS = [
    {"optimizer": name, "lr": lr, "seed": seed, "steps": STEPS, "batch": BATCH}
    for name, rates in LEARNING_RATES.items()
    for lr in rates
    for seed in SEEDS
]


def characters():
    """The text of :func:`adalearn.data.python_source`, cut into windows of 33 characters."""
    return _windows.characters(CONTEXT)


def optimizer_for(name, net, lr):
    """AdamW on everything, or a matrix optimizer on the hidden matrices and AdamW on the rest."""
    from adalearn import models, optim

    if name == "adamw":
        return optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
    matrices, others = models.matrix_parameters(net)
    if name == "muon":
        matrix_optimizer = optim.Muon(matrices, lr=lr, weight_decay=0.0)
    elif name == "shampoo":
        matrix_optimizer = optim.Shampoo(matrices, lr=lr)
    elif name == "soap":
        matrix_optimizer = optim.SOAP(matrices, lr=lr, weight_decay=0.0)
    else:
        raise ValueError(
            "`optimizer` must be 'adamw', 'muon', 'shampoo' or 'soap'. "
            f"Received: optimizer={name!r}"
        )
    return optim.Combined(matrix_optimizer, optim.AdamW(others, lr=REST_LR, weight_decay=0.0))


def run(config):
    """Train one network; its final held-out loss and its training-loss curve."""
    from adalearn import models

    chars = characters()
    net = models.CharTransformer(len(chars.alphabet), context=CONTEXT, seed=config["seed"])
    optimizer = optimizer_for(config["optimizer"], net, config["lr"])
    losses = train(net, optimizer, chars.train, steps=config["steps"], batch=config["batch"],
                   seed=config["seed"], factor=lambda step, steps: 1 - step / steps)
    with torch.no_grad():
        held_out = next_character_loss(net, chars.validation).item()
    curve = torch.tensor(losses).reshape(-1, CURVE_BLOCK).mean(dim=1)
    return {"validation": held_out, "curve": curve.tolist()}


if __name__ == "__main__":
    from adalearn import sweeps

    raise SystemExit(sweeps.main("matrix_transformer"))
