r"""Width parametrizations: how initialisation, multipliers and learning rates follow the width.

A *parametrization* is a rule for how each layer's initial scale, forward multiplier and
learning rate change when a network is made wider. The standard parametrization (SP) is
torch's default: every weight matrix is initialised with variance proportional to
:math:`1/\text{fan-in}` and one learning rate serves every layer. The maximal update
parametrization, μP (Yang et al., 2022), gives the hidden weights learning rates that shrink
with the fan-in and the readout a multiplier that does, so that every layer's update changes
its output by the same amount at every width, and the best hyperparameters of a narrow network
stay the best of a wide one.

Each parameter has a role, read from how its shape differs from the same parameter of a
*base* network (the network at the width where its hyperparameters were tuned): a dimension
that differs is a width dimension.

- **input**: the fan-in does not grow with the width (embeddings, biases, LayerNorm gains,
  a first layer fed by the data);
- **hidden**: fan-in and fan-out both grow (the weight matrices between two hidden layers);
- **output**: the fan-in grows and the fan-out does not (the readout).

With :math:`m = \text{fan-in} / \text{base fan-in}` of each layer, μP for Adam relative to the
base network is

=========  ===================================  ===========  ==============
role       initial variance                     multiplier   Adam's lr
=========  ===================================  ===========  ==============
input      as at the base width                 1            :math:`\eta`
hidden     base's :math:`/\, m` (as SP)          1            :math:`\eta / m`
output     as at the base width                 :math:`1/m`  :math:`\eta`
=========  ===================================  ===========  ==============

The multiplier is applied in the forward pass (the readout computes :math:`W (h/m)`); the
network has to do that itself, as :class:`adalearn.models.CharTransformerMuP` does.
At :math:`m = 1` every rule is SP's. This is the form of the table in which the ``mup``
package implements μP (``MuReadout``, ``MuAdam``); for Adam it is equivalent to the form
without a readout multiplier, in which the readout starts with variance
:math:`\propto 1/\text{fan-in}^2` and learns at :math:`\eta \propto 1/\text{fan-in}`.

:func:`mup_init_` turns torch's default initialisation into μP's; :func:`mup_param_groups`
gives Adam's (or AdamW's) parameter groups; :func:`roles` tells each parameter's role.

References: Yang, Hu, Babuschkin, Sidor, Liu, Farhi, Ryder, Pachocki, Chen and Gao (2022),
*Tensor Programs V: Tuning large neural networks via zero-shot hyperparameter transfer*,
arXiv:2203.03466; the ``mup`` package (github.com/microsoft/mup).
"""

from collections.abc import Mapping
from typing import NamedTuple

import torch

__all__ = ["Role", "mup_init_", "mup_param_groups", "roles"]


class Role(NamedTuple):
    """A parameter's role under width scaling, and how much its layer's fan-in has grown.

    ``kind`` is ``"input"``, ``"hidden"`` or ``"output"``; ``fan_in`` is the fan-in multiplier
    :math:`m`, the layer's fan-in over the base network's (1 when the fan-in is fixed).
    """

    kind: str
    fan_in: float


def _shapes(base):
    if isinstance(base, torch.nn.Module):
        return {name: tuple(p.shape) for name, p in base.named_parameters()}
    if isinstance(base, Mapping):
        return {name: tuple(shape) for name, shape in base.items()}
    raise TypeError(
        "`base` must be a torch.nn.Module or a mapping of parameter names to shapes. "
        f"Received: base={type(base).__name__}"
    )


def roles(model, base):
    """Each parameter's :class:`Role`, by name, from its shape against the ``base`` network's.

    Parameters
    ----------
    model : torch.nn.Module
        The network to scale.
    base : torch.nn.Module or mapping of str to shape
        The same network at its base width (``mup``'s base shapes), or the shapes of its
        parameters by name, as ``{name: p.shape for name, p in base.named_parameters()}``.

    Notes
    -----
    A weight of two or more dimensions is read as ``(fan_out, fan_in, ...)``, torch's layout
    for ``Linear`` and convolution weights, except the weight of an ``Embedding``, whose rows
    are indexed by its input (fan-in: the vocabulary) and whose columns are its output.
    A parameter of one dimension (a bias or a gain) has a fan-in of 1, so its role is input.
    """
    base_shapes = _shapes(base)
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    if shapes.keys() != base_shapes.keys():
        raise ValueError(
            "`base` must have the parameters of `model`. Received: base lacks "
            f"{sorted(shapes.keys() - base_shapes.keys())} and has extra "
            f"{sorted(base_shapes.keys() - shapes.keys())}"
        )
    embeddings = {
        id(module.weight) for module in model.modules() if isinstance(module, torch.nn.Embedding)
    }
    found = {}
    for name, p in model.named_parameters():
        shape, base_shape = shapes[name], base_shapes[name]
        if len(shape) != len(base_shape):
            raise ValueError(
                f"`base` must give {name} as many dimensions as `model` does. "
                f"Received: {base_shape} for {shape}"
            )
        if len(shape) < 2 or id(p) in embeddings:
            found[name] = Role("input", 1.0)
            continue
        fan_out_grows, fan_in_grows = shape[0] != base_shape[0], shape[1] != base_shape[1]
        fan_in = shape[1] / base_shape[1]
        if fan_in_grows and fan_out_grows:
            found[name] = Role("hidden", fan_in)
        elif fan_in_grows:
            found[name] = Role("output", fan_in)
        else:
            found[name] = Role("input", 1.0)
    return found


@torch.no_grad()
def mup_init_(model, base):
    r"""Turn torch's default initialisation of ``model`` into μP's relative to ``base``, in place.

    torch initialises a ``Linear`` layer's weight and bias uniformly with bound
    :math:`1/\sqrt{\text{fan-in}}`. That is μP's scale for hidden weights, which are left
    alone; the readout's weight and every ``Linear`` bias are multiplied by
    :math:`\sqrt m` (their layer's fan-in multiplier), which keeps them at the scale they
    have at the base width. Embeddings, norms and other parameters are not changed: torch's
    scale for them does not depend on the width. Call it once, on a freshly built network
    (as ``mup.set_base_shapes`` with ``rescale_params=True`` does); returns ``model``.
    """
    found = roles(model, base)
    for prefix, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        role = found[f"{prefix}.weight" if prefix else "weight"]
        if role.kind == "output":
            module.weight.mul_(role.fan_in**0.5)
        if module.bias is not None:
            module.bias.mul_(role.fan_in**0.5)
    return model


def mup_param_groups(model, base, lr, weight_decay=0.0):
    r"""Adam's parameter groups for μP relative to ``base``: :math:`\eta/m` for hidden weights.

    Hidden weights learn at ``lr / m`` with ``weight_decay * m`` (their fan-in multiplier
    :math:`m`), so that AdamW's decoupled decay per step, :math:`\eta\lambda`, does not change
    with the width; every other parameter learns at ``lr`` with ``weight_decay``. Pass the
    groups to :class:`torch.optim.Adam` or :class:`torch.optim.AdamW` (or their adalearn
    namesakes); each group also records its ``role``.

    Parameters
    ----------
    model, base : torch.nn.Module
        As for :func:`roles`; ``base`` may also be a mapping of parameter names to shapes.
    lr : float
        The learning rate tuned at the base width.
    weight_decay : float, default 0.0
        The weight decay tuned at the base width.

    Returns
    -------
    list of dict
        Groups in the order in which their first parameter appears in ``model``.
    """
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0.0 <= lr < float("inf"):
        raise ValueError(f"Invalid learning rate: {lr}")
    if (
        isinstance(weight_decay, bool)
        or not isinstance(weight_decay, (int, float))
        or not 0.0 <= weight_decay < float("inf")
    ):
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")
    found = roles(model, base)
    groups = {}
    for name, p in model.named_parameters():
        role = found[name]
        m = role.fan_in if role.kind == "hidden" else 1.0
        key = (role.kind, m)
        if key not in groups:
            groups[key] = {"params": [], "lr": lr / m, "weight_decay": weight_decay * m,
                           "role": role.kind}
        groups[key]["params"].append(p)
    return list(groups.values())
