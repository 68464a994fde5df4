"""A small torch training loop that records the losses the book plots.

:func:`fit` runs mini-batch training with any ``torch.optim.Optimizer``, including those whose
``step`` needs a closure (``adalearn.optim.Heun``), and returns a :class:`History`: the loss of
every mini-batch, the mean loss of every epoch and, when asked, the validation loss and a metric
per epoch.

The fitting experiment of the book's chapters uses the pieces next to it: :func:`half_mse`
(the loss), :func:`linear_model` (the layer and its start), :func:`least_squares_floor` (the
lowest loss a linear layer can reach on the data); :func:`accuracy` scores a classifier and
:func:`optimizer_path` runs a torch optimizer on a 2-D test function.

How noisy a mini-batch gradient is: :func:`per_example_gradients` gives the gradient of every
sample, :func:`gradient_noise` the size of the full gradient and of its per-sample noise from
them, and :func:`gradient_noise_estimate` the same two numbers from the gradient norms of two
batch sizes alone; their ratio is the noise scale (:class:`GradientNoise`).

Examples
--------
>>> import torch
>>> from adalearn import data, training
>>> X, y = data.linear_regression(seed=0)
>>> model = torch.nn.Linear(2, 1)
>>> optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
>>> history = training.fit(model, optimizer, (X, y), epochs=30, batch_size=64,
...                        loss=torch.nn.MSELoss())
>>> history.iteration.shape, history.epoch.shape
((480,), (30,))
"""

from __future__ import annotations

import numbers
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt

from adalearn._array import torch_missing

try:
    import torch
except ModuleNotFoundError as error:
    raise torch_missing(__name__, error) from error

from adalearn.data import _check_positive_int

if TYPE_CHECKING:
    from adalearn.functions import Function

__all__ = [
    "GradientNoise",
    "History",
    "accuracy",
    "fit",
    "gradient_noise",
    "gradient_noise_estimate",
    "half_mse",
    "learning_rates",
    "least_squares_floor",
    "linear_model",
    "optimizer_path",
    "per_example_gradients",
]


@dataclass(frozen=True, eq=False)
class History:
    """The losses recorded by :func:`fit`, ready to plot.

    Attributes
    ----------
    iteration : numpy.ndarray
        Training loss of each mini-batch, in order, shape ``(epochs * batches_per_epoch,)``.
        Each value is measured on its mini-batch before that batch's update.
    epoch : numpy.ndarray
        Mean of the mini-batch losses of each epoch, shape ``(epochs,)``.
    validation : numpy.ndarray or None
        Loss on the whole validation set after each epoch, shape ``(epochs,)``; ``None`` when
        :func:`fit` got no validation set.
    train_metric, validation_metric : numpy.ndarray or None
        The ``metric`` on the whole training and validation set after each epoch, shape
        ``(epochs,)``; ``None`` when not requested.
    """

    iteration: np.ndarray
    epoch: np.ndarray
    validation: np.ndarray | None = None
    train_metric: np.ndarray | None = None
    validation_metric: np.ndarray | None = None

    @property
    def batches_per_epoch(self) -> int:
        """Number of mini-batches in one epoch (the last one may be smaller)."""
        return len(self.iteration) // len(self.epoch)


def _check_pair(name, pair):
    try:
        X, y = pair
    except (TypeError, ValueError):
        raise TypeError(
            f"`{name}` must be a pair of tensors (X, y). Received: {name}={pair!r}"
        ) from None
    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(
            f"`{name}` must be a pair of tensors (X, y). "
            f"Received: {name}=({type(X).__name__}, {type(y).__name__})"
        )
    if X.ndim == 0 or y.ndim == 0 or X.shape[0] != y.shape[0]:
        raise ValueError(
            f"`{name}` must hold X and y with the same first dimension. "
            f"Received: X.shape={tuple(X.shape)}, y.shape={tuple(y.shape)}"
        )
    if X.shape[0] == 0:
        raise ValueError(
            f"`{name}` must hold at least one sample. Received: X.shape={tuple(X.shape)}"
        )
    return X, y


def _interactive():
    """True in a Jupyter kernel or on a terminal, False under pytest and in CI."""
    if os.environ.get("PYTEST_CURRENT_TEST") or os.environ.get("CI"):
        return False
    # Only a kernel that is already running counts: IPython itself is never imported here.
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    if get_ipython is not None and getattr(get_ipython(), "kernel", None) is not None:
        return True
    return sys.stderr is not None and sys.stderr.isatty()


def _progress_bar(epochs, progress):
    if progress is None:
        progress = _interactive()
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=epochs, unit="epoch")


def _scalar(value):
    return value.item() if isinstance(value, torch.Tensor) else float(value)


def fit(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    data: tuple[torch.Tensor, torch.Tensor],
    epochs: int,
    batch_size: int,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    shuffle: bool = False,
    seed: int = 0,
    closure: bool = False,
    validation: tuple[torch.Tensor, torch.Tensor] | None = None,
    metric: Callable[[torch.Tensor, torch.Tensor], torch.Tensor | float] | None = None,
    progress: bool | None = None,
) -> History:
    """Train ``model`` with mini-batches and record the loss of every batch and every epoch.

    Each epoch cuts ``data`` into consecutive mini-batches ``X[i:i + batch_size]`` (the last
    one holds the remainder), or into mini-batches of a fresh random permutation when
    ``shuffle`` is true. For each mini-batch it zeroes the gradients, computes
    ``loss(model(X_batch), y_batch)``, backpropagates and calls ``optimizer.step()``.

    Parameters
    ----------
    model : torch.nn.Module
        The model to train, in place.
    optimizer : torch.optim.Optimizer
        An optimizer over ``model``'s parameters.
    data : pair of torch.Tensor
        ``(X, y)`` with the same first dimension, e.g. the result of
        :func:`adalearn.data.linear_regression`.
    epochs : int
        Number of passes over ``data``.
    batch_size : int
        Samples per mini-batch; a value above the number of samples gives full-batch training.
    loss : callable
        ``loss(prediction, target)`` returning a scalar tensor, e.g. ``torch.nn.MSELoss()``.
    shuffle : bool, default False
        Visit the samples in a new random order each epoch.
    seed : int, default 0
        Seed of the private ``torch.Generator`` that draws the orders when ``shuffle`` is true.
    closure : bool, default False
        Call ``optimizer.step(closure)`` with a closure that zeroes the gradients, recomputes the
        loss on the current mini-batch, backpropagates and returns the loss. Always on for an
        optimizer whose ``requires_closure`` attribute is true: methods that evaluate the
        gradient more than once per step, such as :class:`adalearn.optim.Heun`. The recorded
        loss is the value ``step`` returns (by torch's convention, the loss at the parameters
        before the step); when ``step`` returns ``None``, the closure's first value.
    validation : pair of torch.Tensor, optional
        ``(X_val, y_val)``: after each epoch the model is evaluated on it (in eval mode, without
        gradients) with the same ``loss``, so summed losses stay comparable only at equal sizes.
        An optimizer with ``train()`` and ``eval()`` methods (schedule-free ones, whose
        evaluated point differs from the trained one) is switched to ``eval()`` for every
        evaluation and back to ``train()`` for training; after ``fit`` it is left in ``eval()``,
        so the model holds the point to evaluate.
    metric : callable, optional
        ``metric(prediction, target)`` returning a number (e.g. accuracy), evaluated after each
        epoch on the whole training set and on ``validation`` when given.
    progress : bool or None, default None
        Show a ``tqdm`` progress bar over the epochs. ``None`` shows it only in a Jupyter
        kernel or on a terminal, never under pytest or when the ``CI`` variable is set. Without
        ``tqdm`` installed there is no bar.

    Returns
    -------
    History
        The recorded losses as float64 numpy arrays.

    Notes
    -----
    ``History.epoch[k]`` is the mean of the mini-batch losses of epoch ``k`` alone. Loops that
    report the running mean over all iterations so far draw a smoother "epoch loss" curve that
    lags behind the model; the two agree only for the first epoch.
    """
    X, y = _check_pair("data", data)
    epochs = _check_positive_int("epochs", epochs)
    batch_size = _check_positive_int("batch_size", batch_size)
    if not callable(loss):
        raise TypeError(f"`loss` must be callable. Received: loss={loss!r}")
    if metric is not None and not callable(metric):
        raise TypeError(f"`metric` must be callable. Received: metric={metric!r}")
    if validation is not None:
        X_val, y_val = _check_pair("validation", validation)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"`seed` must be an integer. Received: seed={seed!r}")
    use_closure = bool(closure) or bool(getattr(optimizer, "requires_closure", False))

    n = X.shape[0]
    generator = torch.Generator().manual_seed(int(seed)) if shuffle else None

    def batch_loss(X_batch, y_batch):
        value = loss(model(X_batch), y_batch)
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            raise ValueError(
                "`loss` must return a scalar tensor. "
                f"Received: {type(value).__name__} of shape {tuple(getattr(value, 'shape', ()))}"
            )
        return value

    def train_step(X_batch, y_batch):
        if not use_closure:
            optimizer.zero_grad()
            value = batch_loss(X_batch, y_batch)
            value.backward()
            optimizer.step()
            return value.item()

        evaluations = []

        def step_closure():
            optimizer.zero_grad()
            # Optimizers run step() without gradients; the closure needs them back.
            with torch.enable_grad():
                value = batch_loss(X_batch, y_batch)
                value.backward()
            evaluations.append(value.detach())
            return value

        returned = optimizer.step(step_closure)
        if returned is None:
            if not evaluations:
                raise RuntimeError(
                    "`optimizer.step(closure)` must call the closure or return a loss. "
                    "Received: None, and the closure was not called"
                )
            returned = evaluations[0]
        return _scalar(returned)

    @torch.no_grad()
    def evaluate(X_eval, y_eval, function):
        return _scalar(function(model(X_eval), y_eval))

    iteration = []
    epoch_means = []
    validation_losses = []
    train_metric = []
    validation_metric = []
    was_training = model.training
    switches = callable(getattr(optimizer, "train", None)) and callable(
        getattr(optimizer, "eval", None)
    )
    bar = _progress_bar(epochs, progress)
    try:
        for _ in range(epochs):
            model.train()
            if switches:
                optimizer.train()
            order = torch.randperm(n, generator=generator) if shuffle else None
            epoch_losses = []
            for start in range(0, n, batch_size):
                if order is None:
                    X_batch, y_batch = X[start : start + batch_size], y[start : start + batch_size]
                else:
                    index = order[start : start + batch_size]
                    X_batch, y_batch = X[index], y[index]
                epoch_losses.append(train_step(X_batch, y_batch))
            iteration.extend(epoch_losses)
            epoch_means.append(float(np.mean(epoch_losses)))

            if switches:
                optimizer.eval()
            if validation is not None or metric is not None:
                model.eval()
                if validation is not None:
                    validation_losses.append(evaluate(X_val, y_val, loss))
                if metric is not None:
                    train_metric.append(evaluate(X, y, metric))
                    if validation is not None:
                        validation_metric.append(evaluate(X_val, y_val, metric))
            if bar is not None:
                postfix = {"loss": f"{epoch_means[-1]:.4g}"}
                if validation is not None:
                    postfix["val"] = f"{validation_losses[-1]:.4g}"
                bar.set_postfix(postfix)
                bar.update()
    finally:
        model.train(was_training)
        if bar is not None:
            bar.close()

    def array(values, wanted):
        return np.asarray(values, dtype=np.float64) if wanted else None

    return History(
        iteration=array(iteration, True),
        epoch=array(epoch_means, True),
        validation=array(validation_losses, validation is not None),
        train_metric=array(train_metric, metric is not None),
        validation_metric=array(validation_metric, metric is not None and validation is not None),
    )


def half_mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Half the mean squared error, the loss of the book's fitting experiment.

    .. math::

        L = \frac{1}{2K} \sum_{i=1}^{K} (\hat y_i - y_i)^2,
        \qquad \nabla_w L = \frac{1}{K} X^\top (\hat y - y) \text{ for } \hat y = Xw

    The factor ½ makes the gradient the plain mean of the residuals times the inputs, as
    derived by hand in many courses; :class:`torch.nn.MSELoss` is twice this loss.
    """
    return 0.5 * torch.nn.functional.mse_loss(prediction, target)


def linear_model(seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.nn.Linear:
    """A ``torch.nn.Linear(2, 1)`` started at weights drawn from N(0, 1) and a zero bias.

    The weights come from a private generator seeded with ``seed``, so the start is the same
    in every chapter and does not touch torch's global random state.
    """
    model = torch.nn.utils.skip_init(torch.nn.Linear, 2, 1, dtype=dtype)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.weight.copy_(torch.randn(1, 2, generator=generator))
        model.bias.zero_()
    return model


def least_squares_floor(X: torch.Tensor, y: torch.Tensor) -> float:
    """The smallest :func:`half_mse` a linear layer with a bias reaches on ``(X, y)``.

    Solved in float64 by least squares; no optimizer that trains the layer can go below it.
    """
    X, y = _check_pair("data", (X, y))
    design = torch.cat([X.double(), torch.ones(len(X), 1, dtype=torch.float64)], dim=1)
    target = y.double().reshape(len(X), -1)
    solution = torch.linalg.lstsq(design, target).solution
    return float(half_mse(design @ solution, target))


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The fraction of rows of ``logits`` whose largest entry is at the index in ``labels``."""
    return (logits.argmax(dim=-1) == labels).double().mean()


def learning_rates(
    make_scheduler: Callable[[torch.optim.Optimizer], Any], steps: int, lr: float = 1.0
) -> np.ndarray:
    """The learning rate a ``torch.optim.lr_scheduler`` gives at each of ``steps`` steps.

    ``make_scheduler(optimizer)`` builds the scheduler for a throwaway ``torch.optim.SGD`` on
    one parameter that starts at learning rate ``lr``. Entry ``t`` of the result is the
    learning rate the optimizer's step ``t + 1`` uses: it is read before that step, and the
    scheduler is stepped after it, as in a training loop. Shape ``(steps,)``, float64.

    Examples
    --------
    >>> import torch
    >>> from adalearn import training
    >>> training.learning_rates(lambda o: torch.optim.lr_scheduler.StepLR(o, 2, 0.5), 5)
    array([1.  , 1.  , 0.5 , 0.5 , 0.25])
    """
    steps = _check_positive_int("steps", steps)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    scheduler = make_scheduler(optimizer)
    rates = np.empty(steps)
    for t in range(steps):
        rates[t] = optimizer.param_groups[0]["lr"]
        optimizer.step()
        if t + 1 < steps:
            scheduler.step()
    return rates


def optimizer_path(
    make_optimizer: Callable[[list[torch.Tensor]], torch.optim.Optimizer],
    fn: Function,
    start: npt.ArrayLike,
    steps: int,
) -> np.ndarray:
    """Run a torch optimizer on a 2-D test function from ``start``; return the visited points.

    ``make_optimizer(params)`` builds the optimizer (torch.optim's or adalearn's) for one
    float64 parameter vector, which gets ``fn.grad`` as its gradient at every step. The
    result has shape ``(steps + 1, 2)``, the start first, as ``trajectory.run(...).xs`` for a
    single start, so the two can be compared entry by entry.
    """
    steps = _check_positive_int("steps", steps)
    p = torch.tensor(np.asarray(start, dtype=np.float64), requires_grad=True)
    optimizer = make_optimizer([p])
    points = [p.detach().numpy().copy()]
    for _ in range(steps):
        p.grad = torch.as_tensor(fn.grad(p.detach().numpy()), dtype=torch.float64)
        optimizer.step()
        points.append(p.detach().numpy().copy())
    return np.array(points)


class GradientNoise(NamedTuple):
    r"""The squared norm of a full gradient and the trace of its per-sample covariance.

    For a loss :math:`L = \frac1N \sum_i \ell_i` with per-sample gradients :math:`g_i`, the full
    gradient is :math:`G = \frac1N \sum_i g_i` and the per-sample covariance
    :math:`\Sigma = \frac1N \sum_i (g_i - G)(g_i - G)^\top`. The gradient of a batch of
    :math:`B` samples drawn with replacement has mean :math:`G` and covariance :math:`\Sigma / B`.

    Attributes
    ----------
    squared_norm : float or numpy.ndarray
        :math:`\lvert G \rvert^2`.
    trace : float or numpy.ndarray
        :math:`\operatorname{tr} \Sigma`, the mean squared distance of a sample's gradient
        from :math:`G`.
    """

    squared_norm: Any
    trace: Any

    @property
    def scale(self) -> Any:
        r"""The simple noise scale, :math:`B_\text{simple} = \operatorname{tr}\Sigma / |G|^2`.

        The batch size at which the expected squared noise of a batch gradient,
        :math:`\operatorname{tr}\Sigma / B`, equals the squared norm of the gradient itself
        (McCandlish, Kaplan, Amodei et al., *An empirical model of large-batch training*, 2018).
        """
        return self.trace / self.squared_norm


def per_example_gradients(
    model: torch.nn.Module,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """The gradient of ``loss`` on each sample, one flattened row per sample.

    Row ``i`` is the gradient of ``loss(model(X[i:i+1]), y[i:i+1])`` with respect to the
    parameters of ``model`` that require gradients, in the order of ``model.parameters()``
    and flattened as :func:`torch.nn.utils.parameters_to_vector` does. All rows come from one
    vectorised pass (:func:`torch.func.vmap` over :func:`torch.func.grad`), not a loop. The
    model must treat the samples of a batch independently (no batch normalisation) and is
    left unchanged, its ``.grad`` fields included.

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    loss : callable
        ``loss(prediction, target)`` of a batch, returning a scalar tensor, as for :func:`fit`.
    X, y : torch.Tensor
        Inputs and targets with the same first dimension, the samples.
    chunk_size : int, optional
        Samples per vectorised chunk, to bound memory; all at once when ``None``.

    Returns
    -------
    torch.Tensor
        Shape ``(samples, parameters)``, in the dtype of the parameters.
    """
    from torch.func import functional_call, grad, vmap

    X, y = _check_pair("data", (X, y))
    if chunk_size is not None:
        chunk_size = _check_positive_int("chunk_size", chunk_size)
    params = {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}
    if not params:
        raise ValueError("`model` must have parameters that require gradients. Received: none")

    def sample_loss(params, x, target):
        return loss(functional_call(model, params, (x.unsqueeze(0),)), target.unsqueeze(0))

    rows = vmap(grad(sample_loss), in_dims=(None, 0, 0), chunk_size=chunk_size)(params, X, y)
    return torch.cat([rows[name].reshape(len(X), -1) for name in params], dim=1)


def gradient_noise(per_example: torch.Tensor) -> GradientNoise:
    """The exact :class:`GradientNoise` of a data set from its per-sample gradients.

    ``per_example`` holds one gradient per row, as :func:`per_example_gradients` returns it;
    :math:`G` is the mean of the rows and :math:`\\Sigma` their covariance with divisor ``N``
    (the samples are the whole population a batch is drawn from). Computed in float64.
    """
    if not isinstance(per_example, torch.Tensor) or per_example.ndim != 2 or not len(per_example):
        raise ValueError(
            "`per_example` must be a 2-D tensor with one gradient per row. "
            f"Received: per_example={type(per_example).__name__} of shape "
            f"{tuple(getattr(per_example, 'shape', ()))}"
        )
    rows = per_example.double()
    mean = rows.mean(dim=0)
    return GradientNoise(
        squared_norm=float(mean @ mean), trace=float((rows - mean).square().sum(dim=1).mean())
    )


def gradient_noise_estimate(
    small_squared_norm: npt.ArrayLike, big_squared_norm: npt.ArrayLike, small: int, big: int
) -> GradientNoise:
    r"""Unbiased estimates of :math:`|G|^2` and :math:`\operatorname{tr}\Sigma` at two batch sizes.

    The gradient :math:`G_B` of a batch of :math:`B` samples drawn with replacement has
    :math:`\mathbb E \lvert G_B \rvert^2 = \lvert G \rvert^2 + \operatorname{tr}\Sigma / B`.
    Squared norms measured at two batch sizes :math:`b < B` give two such equations, and
    solving them gives estimates whose expectations are exactly :math:`\lvert G \rvert^2`
    and :math:`\operatorname{tr}\Sigma` (McCandlish et al., 2018, appendix A):

    .. math::

        \lvert G \rvert^2 \approx \frac{B \lvert G_B \rvert^2 - b \lvert G_b \rvert^2}{B - b},
        \qquad
        \operatorname{tr}\Sigma \approx
        \frac{\lvert G_b \rvert^2 - \lvert G_B \rvert^2}{1/b - 1/B} .

    Their ratio, :attr:`GradientNoise.scale`, is not unbiased: average the two estimates over
    many measurements before dividing. Batches drawn without replacement from :math:`N`
    samples shrink the noise term by :math:`(N - B)/(N - 1)`, which these formulas ignore.

    Parameters
    ----------
    small_squared_norm, big_squared_norm : float or array_like
        :math:`\lvert G_b \rvert^2` and :math:`\lvert G_B \rvert^2`, measured on independent
        batches; arrays give one estimate per entry.
    small, big : int
        The batch sizes :math:`b < B`.
    """
    small = _check_positive_int("small", small)
    big = _check_positive_int("big", big)
    if small >= big:
        raise ValueError(
            f"`small` must be less than `big`. Received: small={small}, big={big}"
        )
    small_sq = np.asarray(small_squared_norm, dtype=np.float64)
    big_sq = np.asarray(big_squared_norm, dtype=np.float64)
    squared_norm = (big * big_sq - small * small_sq) / (big - small)
    trace = (small_sq - big_sq) / (1 / small - 1 / big)
    if squared_norm.ndim == 0:
        return GradientNoise(float(squared_norm), float(trace))
    return GradientNoise(squared_norm, trace)
