"""The book's datasets: generated from a seed or shipped with a package, never downloaded.

- :func:`linear_regression`: noisy samples of a plane, the fitting experiment of every
  algorithm chapter (a one-layer linear network learns ``w = (0.5, 0.8)``).
- :func:`two_layer_net`: random inputs and targets with a small ReLU network and a summed
  squared-error loss, the classic "fit noise with a two-layer net" problem.
- :func:`digits`: scikit-learn's bundled 8×8 handwritten digits, split into training and
  validation sets, for train-versus-validation curves.
- :func:`python_source`: characters of Python's own standard library, as next-character
  windows for a small language model.

Every generator draws from its own ``torch.Generator``, so calling it neither depends on nor
changes torch's global random state, and the same seed always gives the same numbers.
"""

import math
import numbers
from collections.abc import Sequence
from typing import NamedTuple

from adalearn._array import torch_missing

try:
    import torch
except ModuleNotFoundError as error:
    raise torch_missing(__name__, error) from error

__all__ = [
    "Characters",
    "Samples",
    "Split",
    "TwoLayerNet",
    "digits",
    "linear_regression",
    "python_source",
    "two_layer_net",
]


class Samples(NamedTuple):
    """Inputs and targets of a supervised problem; unpacks as ``X, y``.

    :func:`adalearn.training.fit` takes it as its ``data`` argument.
    """

    X: torch.Tensor
    y: torch.Tensor


class Split(NamedTuple):
    """A training set and a validation set; unpacks as ``X_train, y_train, X_val, y_val``."""

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor


class Characters(NamedTuple):
    """Next-character windows of a text: what :func:`python_source` returns."""

    train: torch.Tensor
    validation: torch.Tensor
    alphabet: str


class TwoLayerNet(NamedTuple):
    """Data, model and loss of :func:`two_layer_net`; unpacks as ``x, y, model, loss_fn``."""

    x: torch.Tensor
    y: torch.Tensor
    model: torch.nn.Sequential
    loss_fn: torch.nn.MSELoss


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer. Received: {name}={value!r}")
    if value < 1:
        raise ValueError(f"`{name}` must be at least 1. Received: {name}={value!r}")
    return int(value)


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"`seed` must be an integer. Received: seed={seed!r}")
    if seed < 0:
        raise ValueError(f"`seed` must be non-negative. Received: seed={seed!r}")
    return int(seed)


def _check_real(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number. Received: {name}={value!r}")
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite. Received: {name}={value!r}")
    return float(value)


def _generator(seed):
    return torch.Generator().manual_seed(_check_seed(seed))


def linear_regression(
    n: int = 1000, w: tuple[float, float] = (0.5, 0.8), noise: float = 0.01, seed: int = 0
) -> Samples:
    r"""Noisy samples of the plane :math:`y = w_1 x_1 + w_2 x_2`, for the fitting experiments.

    .. math::

        X_i \sim \mathcal{N}(0, I_2), \qquad
        y_i = X_i^\top w + \text{noise} \cdot u_i, \quad u_i \sim \mathcal{U}[0, 1)

    The noise is uniform, not centred: its mean ``noise / 2`` acts as a small intercept, which
    a linear layer with a bias learns.

    Parameters
    ----------
    n : int, default 1000
        Number of samples.
    w : pair of float, default (0.5, 0.8)
        The true weights.
    noise : float, default 0.01
        Scale of the uniform noise added to each target; 0 gives exact targets.
    seed : int, default 0
        Seed of a private ``torch.Generator``. ``X`` is drawn first, then the noise, so the
        numbers equal those of ``torch.manual_seed(seed); torch.randn(n, 2); torch.rand(n)``;
        torch's global random state is neither used nor changed.

    Returns
    -------
    Samples
        ``X`` of shape ``(n, 2)`` and ``y`` of shape ``(n, 1)``, both float32.

    Examples
    --------
    >>> X, y = linear_regression(seed=0)
    >>> X.shape, y.shape
    (torch.Size([1000, 2]), torch.Size([1000, 1]))
    >>> X[0]
    tensor([-1.1258, -1.1524])
    """
    n = _check_positive_int("n", n)
    try:
        weights = w.tolist() if isinstance(w, torch.Tensor) else list(w)
    except TypeError:
        weights = None
    if weights is None or not all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) for v in weights
    ):
        raise TypeError(f"`w` must be a pair of real numbers. Received: w={w!r}")
    if len(weights) != 2:
        raise ValueError(f"`w` must have length 2. Received: w={w!r}")
    if not all(math.isfinite(v) for v in weights):
        raise ValueError(f"`w` must be finite. Received: w={w!r}")
    noise = _check_real("noise", noise)
    if noise < 0:
        raise ValueError(f"`noise` must be non-negative. Received: noise={noise!r}")

    generator = _generator(seed)
    X = torch.randn(n, 2, generator=generator)
    u = torch.rand(n, generator=generator)
    y = X @ torch.tensor([float(v) for v in weights]).unsqueeze(1) + (noise * u).unsqueeze(1)
    return Samples(X, y)


def two_layer_net(
    N: int = 64,
    D_in: int = 1000,
    H: int = 100,
    D_out: int = 10,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> TwoLayerNet:
    """A two-layer ReLU network with random inputs and targets, for comparing optimizers.

    The network ``Linear(D_in, H) → ReLU → Linear(H, D_out)`` learns to map ``N`` random
    inputs to ``N`` random targets under the summed squared error
    ``MSELoss(reduction="sum")``. The problem has no structure to learn, so the loss curve
    shows the optimizer alone.

    Parameters
    ----------
    N : int, default 64
        Number of samples (the batch size: the whole set is one batch).
    D_in, H, D_out : int, default 1000, 100, 10
        Input, hidden and output widths.
    seed : int, default 0
        Seeds inputs, targets and the layers' initial weights. The numbers equal those of
        ``torch.manual_seed(seed)`` followed by ``x = torch.randn(N, D_in)``,
        ``y = torch.randn(N, D_out)`` and building the model with torch's default
        initialisation; torch's global random state is left as it was.
    dtype : torch.dtype, default torch.float32
        Floating dtype of the data and the parameters.

    Returns
    -------
    TwoLayerNet
        ``x`` of shape ``(N, D_in)``, ``y`` of shape ``(N, D_out)``, the ``model`` and the
        ``loss_fn``.
    """
    N = _check_positive_int("N", N)
    D_in = _check_positive_int("D_in", D_in)
    H = _check_positive_int("H", H)
    D_out = _check_positive_int("D_out", D_out)
    seed = _check_seed(seed)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"`dtype` must be a floating torch.dtype. Received: dtype={dtype!r}")

    # torch.nn.Linear initialises from the global generator; forking keeps the caller's state
    # while reusing torch's own default initialisation unchanged.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        x = torch.randn(N, D_in, dtype=dtype)
        y = torch.randn(N, D_out, dtype=dtype)
        model = torch.nn.Sequential(
            torch.nn.Linear(D_in, H, dtype=dtype),
            torch.nn.ReLU(),
            torch.nn.Linear(H, D_out, dtype=dtype),
        )
    return TwoLayerNet(x, y, model, torch.nn.MSELoss(reduction="sum"))


def digits(test_size: float = 0.25, seed: int = 0) -> Split:
    """Scikit-learn's handwritten digits as tensors, split for train-versus-validation curves.

    The 1,797 images of 8×8 pixels ship with scikit-learn (nothing is downloaded). Pixel
    intensities 0..16 are divided by 16, so features lie in [0, 1]. The split is stratified:
    each digit keeps the same share in both sets.

    Parameters
    ----------
    test_size : float, default 0.25
        Fraction of the samples held out for validation, strictly between 0 and 1.
    seed : int, default 0
        Seed of the shuffle before the split.

    Returns
    -------
    Split
        ``X_train``, ``X_val``: float32 of shape ``(samples, 64)``; ``y_train``, ``y_val``:
        int64 class labels 0..9 (what ``torch.nn.CrossEntropyLoss`` expects).

    Raises
    ------
    ImportError
        When scikit-learn is not installed.
    """
    test_size = _check_real("test_size", test_size)
    if not 0 < test_size < 1:
        raise ValueError(f"`test_size` must be in (0, 1). Received: test_size={test_size!r}")
    seed = _check_seed(seed)
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as error:
        raise ImportError(
            "adalearn.data.digits needs scikit-learn, which ships the digits images: "
            "pip install scikit-learn"
        ) from error

    images, labels = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(
        images / 16.0, labels, test_size=test_size, random_state=seed, stratify=labels
    )
    return Split(
        torch.as_tensor(X_train, dtype=torch.float32),
        torch.as_tensor(y_train, dtype=torch.int64),
        torch.as_tensor(X_val, dtype=torch.float32),
        torch.as_tensor(y_val, dtype=torch.int64),
    )


PYTHON_MODULES = ("textwrap", "functools", "heapq", "fractions", "statistics")


def python_source(
    context: int = 32, modules: Sequence[str] = PYTHON_MODULES, validation: float = 0.1
) -> Characters:
    """Characters of Python's standard library source, cut into next-character windows.

    The text is the source of the standard-library ``modules`` of the running Python, joined
    in order: nothing is downloaded, and one Python version always gives the same text. Its
    last ``validation`` fraction is held out. Each set is cut into non-overlapping windows of
    ``context + 1`` token ids; a window's first ``context`` ids are the input and its last
    ``context`` the targets, shifted by one character.

    Parameters
    ----------
    context : int, default 32
        Characters a model sees before predicting the next one.
    modules : sequence of str
        Names of pure-Python standard-library modules.
    validation : float, default 0.1
        Fraction of the text held out, strictly between 0 and 1.

    Returns
    -------
    Characters
        ``train`` and ``validation``: int64 tensors of shape ``(windows, context + 1)``;
        ``alphabet``: the distinct characters, in the order of their ids.
    """
    import importlib
    import inspect

    context = _check_positive_int("context", context)
    validation = _check_real("validation", validation)
    if not 0 < validation < 1:
        raise ValueError(f"`validation` must be in (0, 1). Received: validation={validation!r}")
    if isinstance(modules, str) or not modules:
        raise TypeError(
            f"`modules` must be a sequence of module names. Received: modules={modules!r}"
        )
    text = "".join(inspect.getsource(importlib.import_module(name)) for name in modules)
    alphabet = "".join(sorted(set(text)))
    ids = torch.tensor([alphabet.index(c) for c in text], dtype=torch.int64)
    cut = int(len(ids) * (1 - validation))

    def windows(part):
        count = (len(part) - 1) // context
        starts = torch.arange(count) * context
        return part[starts[:, None] + torch.arange(context + 1)]

    return Characters(windows(ids[:cut]), windows(ids[cut:]), alphabet)
