r"""Every optimizer of the book as one pure update rule on arrays.

A rule is a frozen dataclass of hyperparameters with two methods::

    state = rule.init(x)                               # a dict of arrays shaped like x
    x, state = rule.step(x, g, state, grad_fn=None)    # new arrays; the inputs are untouched

The same code runs on numpy arrays (the 2-D pictures) and on torch tensors (inside
:mod:`adalearn.optim`). It is batched over leading dimensions: an ``x`` of shape ``(N, 2)`` is
``N`` independent runs. Hyperparameters may be arrays that broadcast against ``x``, so a sweep
over learning rates is one vectorized run::

    lr = np.logspace(-3, 0, 50)[:, None]               # shape (50, 1): 50 runs
    rule = Adam(lr=lr)
    x = np.broadcast_to([3.0, 4.0], rule.broadcast_shape((2,)))

Names, defaults, state keys and formulas are torch.optim's, so a rule and its torch.optim
namesake agree to the last digits. Conventions found elsewhere are parameters, not copies:
``eps_root`` puts an epsilon inside the square root, as Lasagne and many course notes write
AdaGrad, RMSProp and Adam.

Writing your own rule: subclass :class:`Rule` as a frozen dataclass, give it ``init`` and
``step``, and it runs everywhere a built-in rule runs (:func:`adalearn.trajectory.run`,
:class:`adalearn.optim.RuleOptimizer`, the animations). ``namespace(x)`` (numpy or torch, for
``sqrt``, ``sign``, ``maximum``, ...) and ``zeros_like(x)`` come from this module too::

    from dataclasses import dataclass
    from adalearn.rules import Rule, namespace

    @dataclass(frozen=True)
    class SignSGD(Rule):
        lr: float = 1e-2

        def init(self, x):
            return {}

        def step(self, x, g, state, grad_fn=None):
            xp = namespace(x, g)
            return x - self.lr * xp.sign(g), state
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, ClassVar

import numpy as np

from adalearn._array import add, addcdiv, addcmul, copy, is_tensor, lerp, namespace, zeros_like

__all__ = [
    "Rule",
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adadelta",
    "Adam",
    "AdamW",
    "Adamax",
    "Heun",
    "SoftBatch",
    "namespace",
    "zeros_like",
]


# --------------------------------------------------------------------------------------------
# Validation: one check per hyperparameter, with torch.optim's wording where torch has one.


def _as_real_array(name, value):
    """``value`` as a float array for checking; TypeError when it is not real numbers."""
    if isinstance(value, bool) or isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be a real number or an array of them, got {value!r}")
    if is_tensor(value):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} must be a real number or an array of them, got {value!r}"
        ) from error
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{name} must be a real number or an array of them, got {value!r}")
    if np.iscomplexobj(array):
        raise TypeError(f"{name} must be real, got {value!r}")
    if array.size == 0:
        raise ValueError(f"{name} must not be empty, got {value!r}")
    return array.astype(float)


def _check(name, value, low=0.0, high=math.inf, *, high_open=False, message=None):
    """Raise unless every element of ``value`` is finite and in [low, high] (or [low, high))."""
    array = _as_real_array(name, value)
    above = array >= high if high_open else array > high
    if not np.all(np.isfinite(array)) or np.any(array < low) or np.any(above):
        raise ValueError(message or f"Invalid {name} value: {value}")


def _check_flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")


def _check_betas(betas):
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    for index, beta in enumerate(betas):
        _check(
            "beta",
            beta,
            0.0,
            1.0,
            high_open=True,
            message=f"Invalid beta parameter at index {index}: {beta}",
        )


def _check_lr(lr):
    _check("lr", lr, message=f"Invalid learning rate: {lr}")


def _check_eps(eps, name="eps"):
    _check(name, eps, message=f"Invalid epsilon value: {eps}" if name == "eps" else None)


def _any_nonzero(value):
    """True when a hyperparameter (a number or an array) is not all zeros."""
    if isinstance(value, numbers.Real):
        # Numbers, the usual case, skip numpy: rules call this at every step.
        return bool(value != 0)
    return bool(np.any(np.asarray(value) != 0))


# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Rule:
    """Base class of update rules: what a rule must provide.

    A subclass is a frozen dataclass whose fields are its hyperparameters. It overrides

    ``init(x) -> state``
        The optimizer state for a starting point ``x``: a dict of arrays (``zeros_like(x)``,
        ...) and, when the rule counts steps, ``"step": 0``.
    ``step(x, g, state, grad_fn=None) -> (x_new, state_new)``
        One update from ``x`` with gradient ``g = ∇f(x)``. Returns new arrays and a new state;
        never writes into ``x``, ``g`` or ``state``. Written with array operators and
        ``namespace(x)`` functions so that it runs on numpy arrays and torch tensors alike.

    A rule that evaluates the gradient more than once per step sets the class attribute
    ``evaluations`` and defines ``predict(x, g, state)``, the point where it needs the next
    gradient; ``step`` then calls ``grad_fn(self.predict(x, g, state))``. That is how
    :class:`adalearn.optim.RuleOptimizer` evaluates a closure there.

    A rule whose update of each coordinate depends only on that coordinate (of ``x``, ``g``
    and of state arrays shaped like ``x``) sets the class attribute ``elementwise = True``, as
    :class:`SGD` to :class:`Adamax` and :class:`Heun` do. :class:`adalearn.optim.RuleOptimizer` may
    then run it on many parameters at once, as one flat array, or on a large one in pieces. A
    subclass that mixes coordinates (a norm, a matrix product) sets it back to False.

    Hyperparameters are checked in ``__post_init__``, so bad input fails when the rule is built.
    """

    evaluations: ClassVar[int] = 1
    elementwise: ClassVar[bool] = False

    @property
    def name(self) -> str:
        """A short label for legends and tables."""
        return type(self).__name__

    def init(self, x) -> dict:
        raise NotImplementedError

    def step(self, x, g, state: dict, grad_fn: Callable | None = None):
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, Any]:
        """The hyperparameters this rule was built with, by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}

    def broadcast_shape(self, shape) -> tuple[int, ...]:
        """The shape of ``x`` after a step from an ``x`` of ``shape``.

        Array-valued hyperparameters broadcast against ``x``: ``Adam(lr=np.ones((5, 1)))``
        turns one start of shape ``(2,)`` into five runs of shape ``(5, 2)``.
        """
        shapes = [tuple(shape)]
        for value in self.hyperparameters().values():
            if isinstance(value, Rule):
                shapes.append(value.broadcast_shape(shape))
            elif isinstance(value, tuple):
                shapes.extend(np.shape(v) for v in value)
            elif not isinstance(value, (bool, str)):
                shapes.append(np.shape(value))
        return tuple(np.broadcast_shapes(*shapes))

    def replace(self, **changes) -> Rule:
        """A copy with some hyperparameters changed (and checked again)."""
        return dataclasses.replace(self, **changes)


def _prepare(rule, x, g):
    """Check that ``g`` matches ``x`` and return the signed gradient (``-g`` to maximize)."""
    if tuple(g.shape) != tuple(x.shape):
        raise ValueError(
            f"g must have the shape of x: x has shape {tuple(x.shape)}, g has {tuple(g.shape)}"
        )
    return -g if getattr(rule, "maximize", False) else g


def _l2(rule, x, g):
    """Add the L2 penalty's gradient ``weight_decay * x`` (coupled weight decay)."""
    return add(g, x, rule.weight_decay) if _any_nonzero(rule.weight_decay) else g


def _sqrt(xp, v, delta, scale=1):
    """``sqrt(v + delta * scale)``, without the pass over memory that a zero ``delta`` costs."""
    return xp.sqrt(v + delta * scale) if _any_nonzero(delta) else xp.sqrt(v)


# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SGD(Rule):
    r"""Gradient descent, with heavy-ball or Nesterov momentum.

    With gradient :math:`g_t = \nabla f(x_{t-1}) + \lambda x_{t-1}`, learning rate
    :math:`\eta` = ``lr``, momentum :math:`\mu` = ``momentum``, dampening :math:`\tau` =
    ``dampening`` and weight decay :math:`\lambda` = ``weight_decay``:

    .. math::

        b_1 = g_1, \qquad b_t = \mu\, b_{t-1} + (1 - \tau)\, g_t \\
        d_t = g_t + \mu\, b_t \ \text{(nesterov)}, \qquad d_t = b_t \ \text{(otherwise)} \\
        x_t = x_{t-1} - \eta\, d_t

    Without momentum (:math:`\mu = 0`) this is plain gradient descent, :math:`x_t = x_{t-1}
    - \eta g_t`. State: ``momentum_buffer`` (:math:`b`), only when momentum is used.

    Conventions: this is torch.optim's form, where the learning rate multiplies the buffer.
    Sutskever et al. (2013) and Lasagne's ``apply_momentum`` keep a velocity
    :math:`v_t = \mu v_{t-1} - \eta g_t` and step :math:`x_t = x_{t-1} + v_t`. With a constant
    learning rate the two are the same iterates (:math:`v_t = -\eta b_t`); they differ when the
    learning rate changes during training. The first buffer is :math:`g_1` itself, not
    :math:`(1-\tau) g_1`.

    References: Polyak (1964), *Some methods of speeding up the convergence of iteration
    methods*; Nesterov (1983); Sutskever, Martens, Dahl and Hinton (2013), *On the importance of
    initialization and momentum in deep learning*.
    """

    elementwise: ClassVar[bool] = True
    lr: float = 1e-3
    momentum: float = 0.0
    dampening: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False
    _: KW_ONLY
    maximize: bool = False

    def __post_init__(self):
        _check_lr(self.lr)
        _check("momentum", self.momentum)
        _check("dampening", self.dampening, 0.0, 1.0)
        _check("weight_decay", self.weight_decay)
        _check_flag("nesterov", self.nesterov)
        _check_flag("maximize", self.maximize)
        if self.nesterov and (
            np.any(np.asarray(self.momentum) <= 0) or _any_nonzero(self.dampening)
        ):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    @property
    def name(self):
        if self.nesterov:
            return "Nesterov"
        return "Momentum" if _any_nonzero(self.momentum) else "SGD"

    def init(self, x):
        return {"momentum_buffer": None} if _any_nonzero(self.momentum) else {}

    def step(self, x, g, state, grad_fn=None):
        g = _l2(self, x, _prepare(self, x, g))
        if "momentum_buffer" not in state:
            return add(x, g, -self.lr), state
        buf = state["momentum_buffer"]
        buf = copy(g) if buf is None else add(self.momentum * buf, g, 1 - self.dampening)
        d = add(g, buf, self.momentum) if self.nesterov else buf
        return add(x, d, -self.lr), {"momentum_buffer": buf}


@dataclass(frozen=True, eq=False)
class Adagrad(Rule):
    r"""AdaGrad: each coordinate's step divided by the root of its summed squared gradients.

    With :math:`g_t = \nabla f(x_{t-1}) + \lambda x_{t-1}`, :math:`\eta` = ``lr``,
    :math:`\kappa` = ``lr_decay``, :math:`\epsilon` = ``eps``, :math:`\delta` = ``eps_root``
    and :math:`s_0` = ``initial_accumulator_value``:

    .. math::

        \eta_t = \frac{\eta}{1 + (t - 1)\kappa}, \qquad s_t = s_{t-1} + g_t^2 \\
        x_t = x_{t-1} - \eta_t \, \frac{g_t}{\sqrt{s_t + \delta} + \epsilon}

    State: ``step`` (:math:`t`), ``sum`` (:math:`s`).

    Conventions: torch.optim adds ``eps`` outside the root (``eps_root = 0``). Lasagne and the
    course lab write :math:`g / \sqrt{s + \epsilon}`: that is ``Adagrad(eps=0, eps_root=ε)``.

    Reference: Duchi, Hazan and Singer (2011), *Adaptive subgradient methods for online
    learning and stochastic optimization*, JMLR 12.
    """

    elementwise: ClassVar[bool] = True
    lr: float = 1e-2
    lr_decay: float = 0.0
    weight_decay: float = 0.0
    initial_accumulator_value: float = 0.0
    eps: float = 1e-10
    _: KW_ONLY
    maximize: bool = False
    eps_root: float = 0.0

    def __post_init__(self):
        _check_lr(self.lr)
        _check("lr_decay", self.lr_decay)
        _check("weight_decay", self.weight_decay)
        _check("initial_accumulator_value", self.initial_accumulator_value)
        _check_eps(self.eps)
        _check_eps(self.eps_root, "eps_root")
        _check_flag("maximize", self.maximize)

    def init(self, x):
        return {"step": 0, "sum": zeros_like(x) + self.initial_accumulator_value}

    def step(self, x, g, state, grad_fn=None):
        xp = namespace(x, g)
        g = _l2(self, x, _prepare(self, x, g))
        t = state["step"] + 1
        lr_t = self.lr / (1 + (t - 1) * self.lr_decay)
        s = addcmul(state["sum"], g, g, 1)
        std = _sqrt(xp, s, self.eps_root) + self.eps
        return addcdiv(x, g, std, -lr_t), {"step": t, "sum": s}


@dataclass(frozen=True, eq=False)
class RMSprop(Rule):
    r"""RMSProp: divide by the root of an exponential average of squared gradients.

    With :math:`g_t = \nabla f(x_{t-1}) + \lambda x_{t-1}`, :math:`\eta` = ``lr``,
    :math:`\alpha` = ``alpha``, :math:`\mu` = ``momentum``, :math:`\epsilon` = ``eps`` and
    :math:`\delta` = ``eps_root``:

    .. math::

        v_t = \alpha v_{t-1} + (1 - \alpha) g_t^2 \\
        \bar g_t = \bar g_{t-1} + (1 - \alpha)(g_t - \bar g_{t-1}) \quad \text{(centered)} \\
        r_t = \sqrt{v_t - \bar g_t^2 + \delta} + \epsilon \ \text{(centered)}, \qquad
        r_t = \sqrt{v_t + \delta} + \epsilon \ \text{(otherwise)} \\
        b_t = \mu b_{t-1} + g_t / r_t, \qquad x_t = x_{t-1} - \eta\, b_t

    Without momentum, :math:`x_t = x_{t-1} - \eta\, g_t / r_t`. Centering divides by an
    estimate of the gradient's standard deviation instead of its root mean square. State:
    ``step``, ``square_avg`` (:math:`v`), ``momentum_buffer`` (:math:`b`, with momentum) and
    ``grad_avg`` (:math:`\bar g`, centered).

    Conventions: torch.optim adds ``eps`` outside the root. Lasagne and the course lab use
    :math:`g / \sqrt{v + \epsilon}`: ``RMSprop(eps=0, eps_root=ε)``. Graves (2013) writes the
    centered variant with the momentum in Sutskever's form,
    :math:`u_t = \mu u_{t-1} - \eta g_t / \sqrt{v_t - \bar g_t^2 + \epsilon}`, which is
    ``RMSprop(centered=True, momentum=μ, eps=0, eps_root=ε)`` with :math:`u_t = -\eta b_t`.

    References: Tieleman and Hinton (2012), *Lecture 6.5, Neural Networks for Machine
    Learning*; Graves (2013), *Generating sequences with recurrent neural networks*.
    """

    elementwise: ClassVar[bool] = True
    lr: float = 1e-2
    alpha: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum: float = 0.0
    centered: bool = False
    _: KW_ONLY
    maximize: bool = False
    eps_root: float = 0.0

    def __post_init__(self):
        _check_lr(self.lr)
        _check_eps(self.eps)
        _check("momentum", self.momentum)
        _check("weight_decay", self.weight_decay)
        _check("alpha", self.alpha)
        _check_eps(self.eps_root, "eps_root")
        _check_flag("centered", self.centered)
        _check_flag("maximize", self.maximize)

    def init(self, x):
        state = {"step": 0, "square_avg": zeros_like(x)}
        if _any_nonzero(self.momentum):
            state["momentum_buffer"] = zeros_like(x)
        if self.centered:
            state["grad_avg"] = zeros_like(x)
        return state

    def step(self, x, g, state, grad_fn=None):
        xp = namespace(x, g)
        g = _l2(self, x, _prepare(self, x, g))
        new = {"step": state["step"] + 1}
        v = new["square_avg"] = addcmul(self.alpha * state["square_avg"], g, g, 1 - self.alpha)
        if self.centered:
            g_avg = state["grad_avg"]
            g_avg = new["grad_avg"] = lerp(g_avg, g, 1 - self.alpha)
            r = _sqrt(xp, addcmul(v, g_avg, g_avg, -1), self.eps_root) + self.eps
        else:
            r = _sqrt(xp, v, self.eps_root) + self.eps
        if "momentum_buffer" in state:
            buf = addcdiv(self.momentum * state["momentum_buffer"], g, r, 1)
            new["momentum_buffer"] = buf
            return add(x, buf, -self.lr), new
        return addcdiv(x, g, r, -self.lr), new


@dataclass(frozen=True, eq=False)
class Adadelta(Rule):
    r"""AdaDelta: a step in the units of x, the ratio of two running root mean squares.

    With :math:`g_t = \nabla f(x_{t-1}) + \lambda x_{t-1}`, :math:`\rho` = ``rho``,
    :math:`\epsilon` = ``eps`` and :math:`\eta` = ``lr``:

    .. math::

        v_t = \rho v_{t-1} + (1 - \rho) g_t^2 \\
        \Delta_t = \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t \\
        u_t = \rho u_{t-1} + (1 - \rho) \Delta_t^2, \qquad x_t = x_{t-1} - \eta\, \Delta_t

    State: ``step``, ``square_avg`` (:math:`v`), ``acc_delta`` (:math:`u`).

    Conventions: the paper has no learning rate (:math:`\eta = 1`, torch's default) and
    suggests :math:`\rho = 0.95`, :math:`\epsilon = 10^{-6}`; torch's default :math:`\rho` is
    0.9. Both epsilons sit inside the roots. Because :math:`u_0 = 0`, the first steps have size
    about :math:`\sqrt{\epsilon / v_t}\,|g_t|`: AdaDelta starts slowly.

    Reference: Zeiler (2012), *ADADELTA: an adaptive learning rate method*, arXiv:1212.5701.
    """

    elementwise: ClassVar[bool] = True
    lr: float = 1.0
    rho: float = 0.9
    eps: float = 1e-6
    weight_decay: float = 0.0
    _: KW_ONLY
    maximize: bool = False

    def __post_init__(self):
        _check_lr(self.lr)
        _check("rho", self.rho, 0.0, 1.0)
        _check_eps(self.eps)
        _check("weight_decay", self.weight_decay)
        _check_flag("maximize", self.maximize)

    def init(self, x):
        return {"step": 0, "square_avg": zeros_like(x), "acc_delta": zeros_like(x)}

    def step(self, x, g, state, grad_fn=None):
        xp = namespace(x, g)
        g = _l2(self, x, _prepare(self, x, g))
        v = addcmul(self.rho * state["square_avg"], g, g, 1 - self.rho)
        delta = xp.sqrt(state["acc_delta"] + self.eps) / xp.sqrt(v + self.eps) * g
        u = addcmul(self.rho * state["acc_delta"], delta, delta, 1 - self.rho)
        new = {"step": state["step"] + 1, "square_avg": v, "acc_delta": u}
        return add(x, delta, -self.lr), new


@dataclass(frozen=True, eq=False)
class Adam(Rule):
    r"""Adam: momentum on the gradient, RMSProp on its scale, both bias-corrected.

    With :math:`g_t = \nabla f(x_{t-1})` (plus :math:`\lambda x_{t-1}` for L2 weight decay),
    :math:`\eta` = ``lr``, :math:`(\beta_1, \beta_2)` = ``betas``, :math:`\epsilon` = ``eps``
    and :math:`\delta` = ``eps_root``:

    .. math::

        m_t = m_{t-1} + (1 - \beta_1)(g_t - m_{t-1}), \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        \hat m_t = \frac{m_t}{1 - \beta_1^t}, \qquad \hat v_t = \frac{v_t}{1 - \beta_2^t} \\
        x_t = x_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t + \delta} + \epsilon}

    With ``amsgrad`` the denominator uses :math:`\max_{s \le t} v_s` instead of :math:`v_t`.
    The first line is the usual :math:`m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t`, written as
    torch computes it. State: ``step``, ``exp_avg`` (:math:`m`), ``exp_avg_sq`` (:math:`v`),
    ``max_exp_avg_sq`` (with amsgrad).

    Weight decay: ``weight_decay`` adds :math:`\lambda x` to the gradient (L2 regularisation,
    then rescaled by Adam). :class:`AdamW` instead shrinks :math:`x` by
    :math:`(1 - \eta\lambda)` before the step (decoupled weight decay).

    Conventions: bias correction divides by :math:`1 - \beta^t` with :math:`t` counted from 1.
    torch.optim and the paper add ``eps`` outside the root (``eps_root = 0``); the course lab
    writes :math:`\sqrt{\hat v_t + \epsilon}`, i.e. ``Adam(eps=0, eps_root=ε)``. Lasagne and
    the paper's "efficient version" add :math:`\hat\epsilon` to :math:`\sqrt{v_t}` before bias
    correction, which is ``eps = ε̂ / sqrt(1 - β₂ᵗ)``, a different epsilon at every step.
    Keras-style code sometimes writes the rates as :math:`1 - \beta` (``b1 = 0.1``).

    References: Kingma and Ba (2015), *Adam: a method for stochastic optimization*, ICLR;
    Reddi, Kale and Kumar (2018), *On the convergence of Adam and beyond*, ICLR (AMSGrad).
    """

    elementwise: ClassVar[bool] = True
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    amsgrad: bool = False
    _: KW_ONLY
    maximize: bool = False
    eps_root: float = 0.0
    decoupled_weight_decay: bool = False

    def __post_init__(self):
        _check_lr(self.lr)
        _check_eps(self.eps)
        _check_betas(self.betas)
        _check("weight_decay", self.weight_decay)
        _check_eps(self.eps_root, "eps_root")
        _check_flag("amsgrad", self.amsgrad)
        _check_flag("maximize", self.maximize)
        _check_flag("decoupled_weight_decay", self.decoupled_weight_decay)
        object.__setattr__(self, "betas", tuple(self.betas))

    def init(self, x):
        state = {"step": 0, "exp_avg": zeros_like(x), "exp_avg_sq": zeros_like(x)}
        if self.amsgrad:
            state["max_exp_avg_sq"] = zeros_like(x)
        return state

    def step(self, x, g, state, grad_fn=None):
        xp = namespace(x, g)
        g = _prepare(self, x, g)
        beta1, beta2 = self.betas
        if self.decoupled_weight_decay:
            if _any_nonzero(self.weight_decay):
                x = x * (1 - self.lr * self.weight_decay)
        else:
            g = _l2(self, x, g)
        t = state["step"] + 1
        m = lerp(state["exp_avg"], g, 1 - beta1)
        v = addcmul(beta2 * state["exp_avg_sq"], g, g, 1 - beta2)
        new = {"step": t, "exp_avg": m, "exp_avg_sq": v}
        if self.amsgrad:
            v = new["max_exp_avg_sq"] = xp.maximum(state["max_exp_avg_sq"], v)
        correction1 = 1 - beta1**t
        correction2 = 1 - beta2**t
        # sqrt(v + δ·c2) / sqrt(c2) is sqrt(v̂ + δ), and with δ = 0 exactly torch's arithmetic.
        denom = _sqrt(xp, v, self.eps_root, correction2) / correction2**0.5 + self.eps
        return addcdiv(x, m, denom, -self.lr / correction1), new


@dataclass(frozen=True, eq=False)
class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay.

    The same update as :class:`Adam`, except that weight decay does not go through the
    gradient: before the Adam step, :math:`x \leftarrow (1 - \eta\lambda)\, x` with
    :math:`\eta` = ``lr`` and :math:`\lambda` = ``weight_decay`` (default ``1e-2``). The decay
    is then the same for every coordinate, whatever the gradient's scale.

    Reference: Loshchilov and Hutter (2019), *Decoupled weight decay regularization*, ICLR.
    """

    weight_decay: float = 1e-2
    decoupled_weight_decay: bool = field(default=True, init=False, repr=False)


@dataclass(frozen=True, eq=False)
class Adamax(Rule):
    r"""Adamax: Adam with the infinity norm in place of the root mean square.

    With :math:`g_t = \nabla f(x_{t-1}) + \lambda x_{t-1}`, :math:`\eta` = ``lr``,
    :math:`(\beta_1, \beta_2)` = ``betas`` and :math:`\epsilon` = ``eps``:

    .. math::

        m_t = m_{t-1} + (1 - \beta_1)(g_t - m_{t-1}) \\
        u_t = \max(\beta_2 u_{t-1},\ |g_t| + \epsilon) \\
        x_t = x_{t-1} - \frac{\eta}{1 - \beta_1^t}\, \frac{m_t}{u_t}

    :math:`u_t` is the limit :math:`p \to \infty` of :math:`(\beta_2^p u_{t-1}^p + (1 -
    \beta_2^p) |g_t|^p)^{1/p}`; it needs no bias correction. State: ``step``, ``exp_avg``
    (:math:`m`), ``exp_inf`` (:math:`u`).

    Conventions: the paper has no epsilon; torch adds it to :math:`|g_t|` inside the max,
    Lasagne to :math:`u_t` in the denominator.

    Reference: Kingma and Ba (2015), *Adam: a method for stochastic optimization*, section 7.
    """

    elementwise: ClassVar[bool] = True
    lr: float = 2e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    _: KW_ONLY
    maximize: bool = False

    def __post_init__(self):
        _check_lr(self.lr)
        _check_eps(self.eps)
        _check_betas(self.betas)
        _check("weight_decay", self.weight_decay)
        _check_flag("maximize", self.maximize)
        object.__setattr__(self, "betas", tuple(self.betas))

    def init(self, x):
        return {"step": 0, "exp_avg": zeros_like(x), "exp_inf": zeros_like(x)}

    def step(self, x, g, state, grad_fn=None):
        xp = namespace(x, g)
        g = _l2(self, x, _prepare(self, x, g))
        beta1, beta2 = self.betas
        t = state["step"] + 1
        m = lerp(state["exp_avg"], g, 1 - beta1)
        u = xp.maximum(beta2 * state["exp_inf"], xp.abs(g) + self.eps)
        lr_t = self.lr / (1 - beta1**t)
        return addcdiv(x, m, u, -lr_t), {"step": t, "exp_avg": m, "exp_inf": u}


@dataclass(frozen=True, eq=False)
class Heun(Rule):
    r"""Heun's method on the gradient flow: an Euler step, then the average of two slopes.

    Gradient descent is Euler's method on :math:`\dot x = -\nabla f(x)` with step
    :math:`\eta` = ``lr``. Heun's method looks ahead with that Euler step and then moves
    along the mean of the gradients at both ends:

    .. math::

        \tilde x_t = x_{t-1} - \eta\, \nabla f(x_{t-1}) \\
        x_t = x_{t-1} - \frac{\eta}{2} \big(\nabla f(x_{t-1}) + \nabla f(\tilde x_t)\big)

    It costs two gradient evaluations per step (``evaluations = 2``): ``step`` needs
    ``grad_fn``, the gradient as a function of x. Its local error is :math:`O(\eta^3)` against
    Euler's :math:`O(\eta^2)`. On :math:`f = \tfrac12 x^\top A x` one step is
    :math:`x_t = (I - \eta A + \tfrac12 \eta^2 A^2)\, x_{t-1}`, the second-order Taylor
    polynomial of the exact flow :math:`e^{-\eta A}`.

    Reference: Süli and Mayers (2003), *An Introduction to Numerical Analysis*, chapter 12.
    """

    lr: float
    evaluations: ClassVar[int] = 2
    elementwise: ClassVar[bool] = True

    def __post_init__(self):
        _check_lr(self.lr)

    def init(self, x):
        return {}

    def predict(self, x, g, state):
        """The Euler predictor :math:`\\tilde x`, where the second gradient is taken."""
        return add(x, g, -self.lr)

    def step(self, x, g, state, grad_fn=None):
        if grad_fn is None:
            raise TypeError(
                "Heun.step needs grad_fn, the gradient as a function of x: it evaluates the "
                "gradient a second time at the Euler predictor"
            )
        g = _prepare(self, x, g)
        g_ahead = grad_fn(self.predict(x, g, state))
        return x - self.lr / 2 * (g + g_ahead), state


@dataclass(frozen=True, eq=False)
class SoftBatch(Rule):
    r"""Gradient accumulation ("soft batch"): apply ``rule`` once every ``every`` gradients.

    The gradients :math:`g_1, \dots, g_k` of :math:`k` = ``every`` consecutive mini-batches are
    summed while :math:`x` stays where it is; at the :math:`k`-th, ``rule`` takes one step with
    their mean :math:`\frac1k \sum_i g_i`. With a loss that averages over the batch, :math:`k`
    mini-batches of size :math:`b` then give exactly the gradient of one batch of size
    :math:`kb`, with the memory of a batch of size :math:`b`.

    State: ``grad_sum``, ``count`` (gradients summed so far) and ``inner`` (the rule's state).
    """

    rule: Rule
    every: int

    def __post_init__(self):
        if not isinstance(self.rule, Rule):
            raise TypeError(f"rule must be an adalearn rule, got {self.rule!r}")
        if isinstance(self.every, bool) or not isinstance(self.every, numbers.Integral):
            raise TypeError(f"every must be an integer, got {self.every!r}")
        if self.every < 1:
            raise ValueError(f"Invalid every value: {self.every}")
        if self.rule.evaluations != 1:
            raise ValueError(
                f"SoftBatch accumulates single gradients; {self.rule.name} evaluates "
                f"{self.rule.evaluations} per step"
            )

    @property
    def name(self):
        return f"{self.rule.name} (soft batch ×{self.every})"

    def init(self, x):
        return {"inner": self.rule.init(x), "grad_sum": zeros_like(x), "count": 0}

    def step(self, x, g, state, grad_fn=None):
        grad_sum = state["grad_sum"] + g
        count = state["count"] + 1
        if count < self.every:
            return x, {"inner": state["inner"], "grad_sum": grad_sum, "count": count}
        x, inner = self.rule.step(x, grad_sum / self.every, state["inner"], grad_fn)
        return x, {"inner": inner, "grad_sum": zeros_like(grad_sum), "count": 0}
