"""adalearn: adaptive gradient optimizers, derived and drawn.

Submodules load on first use, so ``import adalearn`` imports neither torch nor matplotlib:

- :mod:`adalearn.rules`: every algorithm as a pure update rule on numpy arrays or torch tensors
- :mod:`adalearn.optim`: ``torch.optim.Optimizer`` classes built from the rules (needs torch)
- :mod:`adalearn.functions`: 2-D test functions with analytic gradients
- :mod:`adalearn.trajectory`: run a rule on a function, batched over starts and hyperparameters
- :mod:`adalearn.plotting`, :mod:`adalearn.animation`, :mod:`adalearn.widgets`: the pictures
- :mod:`adalearn.knobs`: the hyperparameters that the sliders of explorers and playgrounds set
- :mod:`adalearn.data`, :mod:`adalearn.training`: the book's datasets and training loop (torch)
- :mod:`adalearn.models`: the small networks of the book's training chapters (torch)
- :mod:`adalearn.parametrization`: μP's per-layer initialisation and learning rates (torch)
"""

import importlib

__version__ = "0.2.0"

_SUBMODULES = (
    "rules",
    "optim",
    "functions",
    "trajectory",
    "plotting",
    "knobs",
    "animation",
    "widgets",
    "data",
    "training",
    "models",
    "parametrization",
)

__all__ = [*_SUBMODULES, "__version__"]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
