"""The hyperparameters that sliders set, shared by the explorers and the playgrounds.

Beside each rule's learning rate, three shared controls (:data:`KNOBS`) set the momentum or
β₁, β₂, and α or ρ of every rule that has them. This module says which of them a rule has
(:func:`knob_values`), builds a rule with them changed (:func:`tune`), and lays out the grids
an explorer runs (:func:`lr_grid`, :func:`grids`)::

    >>> from adalearn import knobs, rules
    >>> adam = rules.Adam(lr=0.1, betas=(0.9, 0.99))
    >>> knobs.knob_values(adam)
    {'lr': 0.1, 'momentum': 0.9, 'beta2': 0.99}
    >>> knobs.tune(adam, lr=0.05, beta2=0.999).betas
    (0.9, 0.999)
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from adalearn import rules as update_rules

if TYPE_CHECKING:
    from adalearn.rules import Rule

__all__ = ["KNOBS", "describe", "grids", "knob_names", "knob_values", "lr_grid", "named_rules",
           "slider_values", "tune"]

#: The shared controls of explorers and playgrounds beside each rule's learning rate, with
#: the label of each and the values an explorer runs by default. ``momentum`` is SGD's and
#: RMSprop's momentum (only in rules that use one, so plain SGD stays plain) and β₁ of the
#: Adam family; ``beta2`` is their β₂; ``decay`` is RMSprop's α and AdaDelta's ρ.
KNOBS: dict[str, tuple[str, tuple[float, ...]]] = {
    "momentum": ("β, β₁", (0.0, 0.5, 0.8, 0.9, 0.95, 0.99)),
    "beta2": ("β₂", (0.8, 0.9, 0.95, 0.99, 0.999)),
    "decay": ("α, ρ", (0.5, 0.8, 0.9, 0.95, 0.99)),
}


def _inner(rule):
    """The rule that holds the hyperparameters (SoftBatch wraps another rule)."""
    inner = rule.hyperparameters().get("rule")
    return _inner(inner) if isinstance(inner, update_rules.Rule) else rule


def knob_values(rule: Rule) -> dict[str, Any]:
    """``{"lr": ..., kind: ...}``: the values of the hyperparameters the controls set in ``rule``.

    Only the hyperparameters the rule has (inside a SoftBatch, the wrapped rule's) appear;
    the kinds are those of :data:`KNOBS`.
    """
    fields = _inner(rule).hyperparameters()
    found: dict[str, Any] = {}
    if "lr" in fields:
        found["lr"] = fields["lr"]
    if "betas" in fields:
        found["momentum"], found["beta2"] = fields["betas"]
    elif "momentum" in fields and np.any(np.asarray(fields["momentum"]) != 0):
        found["momentum"] = fields["momentum"]
    for name in ("alpha", "rho"):
        if name in fields:
            found["decay"] = fields[name]
            break
    return found


def tune(rule: Rule, **values: Any) -> Rule:
    """``rule`` with the given controls (``lr`` and the kinds of :data:`KNOBS`) applied.

    Values may be arrays that broadcast against the iterates; a control the rule does not
    have is ignored.
    """
    fields = rule.hyperparameters()
    if isinstance(fields.get("rule"), update_rules.Rule):
        return rule.replace(rule=tune(fields["rule"], **values))
    present = knob_values(rule)
    changes: dict[str, Any] = {}
    if "lr" in values and "lr" in present:
        changes["lr"] = values["lr"]
    if "betas" in fields and ("momentum" in values or "beta2" in values):
        beta1, beta2 = fields["betas"]
        changes["betas"] = (values.get("momentum", beta1), values.get("beta2", beta2))
    elif "momentum" in values and "momentum" in present:
        changes["momentum"] = values["momentum"]
    if "decay" in values and "decay" in present:
        changes["alpha" if "alpha" in fields else "rho"] = values["decay"]
    return rule.replace(**changes) if changes else rule


def named_rules(
    rule_set: Mapping[str, Rule] | Sequence[Rule], name: str = "rules"
) -> dict[str, Rule]:
    """``rule_set`` as ``{label: rule}``: a mapping is kept, a sequence (a list) is labelled by
    rule names."""
    if isinstance(rule_set, Mapping):
        named = {str(k): v for k, v in rule_set.items()}
    elif isinstance(rule_set, Sequence) and not isinstance(rule_set, str):
        named = {}
        for rule in rule_set:
            base = getattr(rule, "name", type(rule).__name__)
            label, n = base, 2
            while label in named:
                label, n = f"{base} ({n})", n + 1
            named[label] = rule
    else:
        raise TypeError(
            f"`{name}` must be a dict {{label: rule}} or a list of rules. "
            f"Received: {name}={rule_set!r}"
        )
    if not named:
        raise ValueError(f"`{name}` must hold at least one rule. Received: {name}={rule_set!r}")
    for label, rule in named.items():
        if not isinstance(rule, update_rules.Rule):
            raise TypeError(
                f"`{name}[{label!r}]` must be an adalearn rule. "
                f"Received: {name}[{label!r}]={rule!r}"
            )
    return named


def slider_values(label: str, rule: Rule, name: str = "rules") -> dict[str, float]:
    """The rule's control values, each checked to be one number (a slider shows one value)."""
    found = knob_values(rule)
    for kind, value in found.items():
        if np.ndim(value) != 0:
            field = {"momentum": "momentum or betas[0]", "beta2": "betas[1]",
                     "decay": "alpha or rho"}.get(kind, kind)
            raise ValueError(
                f"`{name}[{label!r}].{field}` must be a single number: a slider sets it. "
                f"Received: {kind}={value!r}"
            )
        found[kind] = float(value)
    if tuple(rule.broadcast_shape((2,))) != (2,):
        raise ValueError(
            f"`{name}[{label!r}]` must describe one run (every hyperparameter a number). "
            f"Received: {name}[{label!r}]={rule!r}"
        )
    return found


def lr_grid(
    lr: float, *, below: float = 1.5, above: float = 1.0, per_decade: int = 8
) -> np.ndarray:
    """A log-spaced grid of learning rates around ``lr``, which is one of its values.

    Parameters
    ----------
    lr : float
        The centre of the grid.
    below, above : float
        How many decades the grid reaches below and above ``lr``.
    per_decade : int
        Values per decade.

    Returns
    -------
    ndarray
        ``lr * 10 ** (k / per_decade)`` for the integers k from ``-below * per_decade`` to
        ``above * per_decade``: 21 values by default, from lr/31.6 to 10·lr.
    """
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not (
        np.isfinite(lr) and lr > 0
    ):
        raise ValueError(f"`lr` must be a positive number. Received: lr={lr!r}")
    if isinstance(per_decade, bool) or not isinstance(per_decade, numbers.Integral) or not (
        1 <= per_decade <= 100
    ):
        raise ValueError(
            f"`per_decade` must be an integer in [1, 100]. Received: per_decade={per_decade!r}"
        )
    for name, value in (("below", below), ("above", above)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
            raise ValueError(f"`{name}` must be a number >= 0. Received: {name}={value!r}")
    k = np.arange(-round(below * per_decade), round(above * per_decade) + 1)
    return float(lr) * 10.0 ** (k / per_decade)


def grids(
    values: Mapping[str, Mapping[str, float]],
    *,
    lr: npt.ArrayLike | Mapping[str, npt.ArrayLike] | None = None,
    grid: Mapping[str, npt.ArrayLike] | None = None,
) -> tuple[dict[str, np.ndarray | None], dict[str, int], list[dict[str, Any]]]:
    """The grids an explorer steps through for rules with the control values ``values``.

    Parameters
    ----------
    values : dict {label: dict}
        Per rule, its :func:`slider_values`.
    lr : array_like or dict {label: array_like}, optional
        The learning-rate grid, for all rules or per label; default :func:`lr_grid` around
        each rule's own learning rate.
    grid : dict {kind: array_like}, optional
        The values of the shared controls; default those of :data:`KNOBS`, with the first
        rule's own value added.

    Returns
    -------
    lrs : dict {label: ndarray or None}
        Each rule's learning-rate grid (None for a rule without a learning rate).
    lr_index : dict {label: int}
        Where each learning-rate slider starts: the grid value nearest the rule's own.
    shared : list of dict
        Per shared control that at least one rule has, in the order of :data:`KNOBS`:
        ``kind``, ``label``, ``values`` and the ``index`` it starts at (the first rule's value
        that has it, as in the playground).
    """
    lrs: dict[str, np.ndarray | None] = {}
    lr_index: dict[str, int] = {}
    for label, found in values.items():
        own = found.get("lr")
        if own is None:
            lrs[label], lr_index[label] = None, 0
            continue
        chosen = lr.get(label) if isinstance(lr, dict) else lr
        if chosen is None:
            points = lr_grid(own)
        else:
            points = np.unique(np.asarray(chosen, dtype=float).ravel())
            if not points.size or not np.all(np.isfinite(points)) or np.any(points <= 0):
                raise ValueError(
                    f"`lr` must hold positive learning rates. Received: lr={chosen!r}"
                )
        lrs[label] = points
        lr_index[label] = (int(np.argmin(np.abs(np.log(points) - np.log(own)))) if own > 0
                           else 0)

    grid = {} if grid is None else dict(grid)
    unknown = sorted(set(grid) - set(KNOBS))
    if unknown:
        raise ValueError(
            f"`grid` must have keys among {sorted(KNOBS)}. Received: keys={unknown!r}"
        )
    shared: list[dict[str, Any]] = []
    for kind, (label, default) in KNOBS.items():
        owners = [found[kind] for found in values.values() if kind in found]
        if not owners:
            continue
        first = owners[0]
        if kind in grid:
            points = np.unique(np.asarray(grid[kind], dtype=float).ravel())
            if not points.size or not np.all(np.isfinite(points)):
                raise ValueError(
                    f"`grid[{kind!r}]` must hold finite numbers. "
                    f"Received: grid[{kind!r}]={grid[kind]!r}"
                )
        else:
            points = np.asarray(default, dtype=float)
            if not np.any(np.isclose(points, first, rtol=0, atol=1e-12)):
                points = np.sort(np.append(points, first))
        shared.append({"kind": kind, "label": label, "values": points,
                       "index": int(np.argmin(np.abs(points - first)))})
    return lrs, lr_index, shared


def _number(value):
    """A hyperparameter in words: one number to four digits, an array as its range."""
    array = np.asarray(value, dtype=float)
    if array.size == 1 or np.all(array == array.ravel()[0]):
        return f"{float(array.ravel()[0]):.4g}"
    return f"{array.min():.4g} to {array.max():.4g}"


def knob_names(rule: Rule) -> dict[str, str]:
    """``{kind: name}``: what the controls ``rule`` has are called, in words.

    ``"learning rate"``; the momentum of SGD is called momentum and β₁ in the Adam family;
    ``"β₂"``; RMSprop's decay α and AdaDelta's ρ.
    """
    fields = _inner(rule).hyperparameters()
    names = {"lr": "learning rate",
             "momentum": "β₁" if "betas" in fields else "momentum",
             "beta2": "β₂",
             "decay": "α" if "alpha" in fields else "ρ"}
    return {kind: names[kind] for kind in knob_values(rule)}


def describe(rule: Rule, run: tuple[int, tuple[int, ...]] | None = None) -> str:
    """The values of the controls ``rule`` has, in words, as a screen reader reads them.

    ``"learning rate 0.1, β₁ 0.9, β₂ 0.99"`` (see :func:`knob_names`); empty for a rule
    without any. An array hyperparameter is given as its range, or, with ``run`` =
    ``(index, batch_shape)``, as its value in that run of a batch (in C order).
    """
    parts = []
    for kind, name in knob_names(rule).items():
        value = knob_values(rule)[kind]
        if run is not None:
            index, batch_shape = run
            value = np.broadcast_to(np.asarray(value, dtype=float), (*batch_shape, 2)).reshape(
                -1, 2)[index]
        parts.append(f"{name} {_number(value)}")
    return ", ".join(parts)
