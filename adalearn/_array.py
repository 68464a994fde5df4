"""The one place that tells numpy arrays from torch tensors.

Rules and test functions are written with operators and the few functions that numpy and
torch share by name (``sqrt``, ``abs``, ``maximum``, ``where``, ``cos``, ...). ``namespace(x)``
returns the module that holds those functions for ``x``, without importing torch when ``x`` is
not a tensor.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:
    import torch
    from typing_extensions import TypeIs

#: An array that a rule computes on: a numpy array or a torch tensor, one kind per call.
Array = TypeVar("Array", np.ndarray, "torch.Tensor")


def is_tensor(x: object) -> TypeIs[torch.Tensor]:
    """True when ``x`` is a torch tensor (checked without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def namespace(*arrays: object) -> ModuleType:
    """The array module (``numpy`` or ``torch``) for the given arrays.

    Any torch tensor among ``arrays`` makes it torch; otherwise numpy.
    """
    if any(is_tensor(a) for a in arrays):
        return sys.modules["torch"]
    return np


def torch_missing(module, error):
    """The error for ``import torch`` failing in ``module``: what to install, when it is torch.

    ``error`` is the ``ModuleNotFoundError`` the import raised; one about another module (a
    broken torch install) is returned unchanged.
    """
    if error.name != "torch":
        return error
    return ModuleNotFoundError(
        f"{module} needs torch: pip install 'adalearn[torch]' (or install torch as "
        "pytorch.org describes for your machine)",
        name="torch",
    )


def _float_array(x):
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(float)


def zeros_like(x: Array) -> Array:
    """Zeros with the shape, dtype and device of ``x`` (float64 for integer numpy input)."""
    if is_tensor(x):
        return sys.modules["torch"].zeros_like(x)
    return np.zeros_like(_float_array(x))


def copy(x):
    """A new array equal to ``x`` that shares no memory with it."""
    return x.clone() if is_tensor(x) else np.array(x, copy=True)


def lerp(start, end, weight):
    """``start + weight * (end - start)``, rounded exactly as ``torch.lerp`` rounds it.

    torch computes ``end - (end - start) * (1 - weight)`` when ``weight >= 0.5``; doing the
    same keeps numpy runs and torch.optim equal to the last digit.
    """
    if is_tensor(start) and isinstance(weight, (int, float)):
        return sys.modules["torch"].lerp(start, end, weight)
    xp = namespace(start, end)
    near_start = start + weight * (end - start)
    near_end = end - (end - start) * (1 - weight)
    if isinstance(weight, (int, float)):
        return near_start if weight < 0.5 else near_end
    return xp.where(xp.asarray(weight) < 0.5, near_start, near_end)


# One pass over memory instead of two or three, and torch.optim's rounding: on tensors with a
# number as the coefficient these run torch's fused operations; otherwise the same formula.


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _coefficient(value):
    """A zero-dimensional tensor coefficient as the number torch's fused operations read.

    torch.optim hands a Tensor ``lr`` to them (``alpha=-lr``), which read it as a Python
    number; so do these, except in compiled code and where the coefficient needs a gradient.
    """
    torch = sys.modules.get("torch")
    if (
        torch is not None
        and isinstance(value, torch.Tensor)
        and value.ndim == 0
        and not value.requires_grad
        and not torch.compiler.is_compiling()
    ):
        return value.item()
    return value


def add(a, b, alpha):
    """``a + alpha * b``."""
    alpha = _coefficient(alpha)
    if is_tensor(a) and is_tensor(b) and _number(alpha):
        return sys.modules["torch"].add(a, b, alpha=alpha)
    return a + alpha * b


def addcmul(a, b, c, value):
    """``a + value * b * c``."""
    value = _coefficient(value)
    if is_tensor(a) and is_tensor(b) and is_tensor(c) and _number(value):
        return sys.modules["torch"].addcmul(a, b, c, value=value)
    return a + value * b * c


def addcdiv(a, b, c, value):
    """``a + value * (b / c)``."""
    value = _coefficient(value)
    if is_tensor(a) and is_tensor(b) and is_tensor(c) and _number(value):
        return sys.modules["torch"].addcdiv(a, b, c, value=value)
    return a + value * (b / c)
