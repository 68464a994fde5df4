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

The rules: gradient descent to Adam (:class:`SGD`, :class:`Adagrad`, :class:`RMSprop`,
:class:`Adadelta`, :class:`Adam`, :class:`AdamW`, :class:`Adamax`), the ODE view
(:class:`Heun`), gradient accumulation (:class:`SoftBatch`), the optimizers after Adam
(:class:`NAdam`, :class:`RAdam`, :class:`Adafactor`, :class:`Muon`, :class:`Lion`,
:class:`AdamWScheduleFree`), torch.optim's :class:`Rprop`, :class:`ASGD` and :class:`LBFGS`,
the matrix preconditioners :class:`Shampoo` and :class:`SOAP`, and the learning-rate-free
:class:`Prodigy`.

Names, defaults, state keys and formulas are torch.optim's, so a rule and its torch.optim
namesake agree to the last digits. Conventions found elsewhere are parameters, not copies:
``eps_root`` puts an epsilon inside the square root, as Lasagne and many course notes write
AdaGrad, RMSProp and Adam.

Writing your own rule: subclass :class:`Rule` as a frozen dataclass, give it ``init`` (which
returns the state, a dict) and ``step`` (which returns the pair ``(x, state)``), and it runs
everywhere a built-in rule runs (:func:`adalearn.trajectory.run`,
:class:`adalearn.optim.RuleOptimizer`, the animations). ``namespace(x)`` (numpy or torch, for
``sqrt``, ``sign``, ``maximum``, ...) and ``zeros_like(x)`` come from this module too.
``eq=False`` keeps the rule comparable and hashable by identity, as the built-in rules are:
dataclass's default ``eq=True`` compares hyperparameters by value, which is ambiguous for an
array ``lr`` and makes the rule unhashable::

    from dataclasses import dataclass
    from adalearn.rules import Rule, namespace

    @dataclass(frozen=True, eq=False)
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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeAlias, cast

import numpy as np

from adalearn._array import (
    Array,
    add,
    addcdiv,
    addcmul,
    copy,
    is_tensor,
    lerp,
    namespace,
    zeros_like,
)

if TYPE_CHECKING:
    import torch

#: A rule's state: arrays shaped like ``x``, counts and numbers, by name.
State: TypeAlias = dict[str, Any]
# A hyperparameter: a number, or an array of them that broadcasts against x (a sweep).
Hyper: TypeAlias = "float | np.ndarray | torch.Tensor"

__all__ = [
    "Rule",
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adadelta",
    "Adam",
    "AdamW",
    "SparseAdam",
    "Adamax",
    "Heun",
    "SoftBatch",
    "NAdam",
    "RAdam",
    "Adafactor",
    "Muon",
    "Lion",
    "AdamWScheduleFree",
    "Rprop",
    "ASGD",
    "LBFGS",
    "Shampoo",
    "SOAP",
    "Prodigy",
    "newton_schulz",
    "Shards",
    "namespace",
    "zeros_like",
]


# --------------------------------------------------------------------------------------------
# Validation: one check per hyperparameter, with torch.optim's wording where torch has one.


def _as_real_array(name, value):
    """``value`` as a float array for checking; TypeError when it is not real numbers."""
    if isinstance(value, bool) or isinstance(value, (str, bytes)) or value is None:
        raise TypeError(
            f"`{name}` must be a real number or an array of them. Received: {name}={value!r}"
        )
    if is_tensor(value):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"`{name}` must be a real number or an array of them. Received: {name}={value!r}"
        ) from error
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise TypeError(
            f"`{name}` must be a real number or an array of them. Received: {name}={value!r}"
        )
    if np.iscomplexobj(array):
        raise TypeError(f"`{name}` must be real. Received: {name}={value!r}")
    if array.size == 0:
        raise ValueError(f"`{name}` must not be empty. Received: {name}={value!r}")
    return array.astype(float)


def _check(name, value, low=0.0, high=math.inf, *, high_open=False, message=None):
    """Raise unless every element of ``value`` is finite and in [low, high] (or [low, high))."""
    array = _as_real_array(name, value)
    above = array >= high if high_open else array > high
    if not np.all(np.isfinite(array)) or np.any(array < low) or np.any(above):
        raise ValueError(message or f"Invalid {name} value: {value}")


def _check_flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False. Received: {name}={value!r}")


def _check_betas(betas):
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
        raise TypeError(f"`betas` must be a pair (beta1, beta2). Received: betas={betas!r}")
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

    A rule whose ``step`` also takes a torch sparse gradient (``nn.Embedding(sparse=True)``)
    sets ``sparse = True``, as :class:`SGD`, :class:`Adagrad` and :class:`SparseAdam` do;
    :class:`adalearn.optim.RuleOptimizer` refuses sparse gradients for the others.

    A rule that needs the whole of a matrix for part of its step (Muon's orthogonalisation)
    may define ``step_shard(x, g, state, whole)``: the step of one shard of the matrix (rows of
    ``x``, ``g`` and of the state arrays shaped like ``x``), where ``whole`` is a
    :class:`Shards` that gathers what must be whole and gives back this shard's rows. State
    that every process keeps whole (Shampoo's factors) it returns through
    ``whole.replicated``; ``init_shard(x, whole)``, where the rule defines it, is the state
    before the first step of rows ``x`` (otherwise ``init(x)``). Then
    :class:`adalearn.optim.RuleOptimizer` runs it on the local rows of a sharded (FSDP2)
    parameter and communicates only what ``step_shard`` gathers; any other rule that is not
    elementwise is given the whole parameter, gradient and state, gathered.

    A rule may also define ``step_in_place(x, g, state) -> new``: the same step on torch
    tensors, written into ``x`` and the state's tensors with torch's in-place operations, each
    the operation ``step`` does, so the bits are the same; it returns the entries it does not
    write (the step count). The eager engine of :class:`adalearn.optim.RuleOptimizer` calls it
    when every hyperparameter is a number and every state tensor exists: a step then makes one
    pass over memory per operation, and no temporary the size of ``x`` but the few that
    torch.optim makes too. :class:`SGD`, :class:`Adagrad`, :class:`RMSprop`,
    :class:`Adadelta`, :class:`Adam`, :class:`Adamax`, :class:`Adafactor` and :class:`ASGD`
    define it. A
    subclass that overrides ``step`` and not ``step_in_place`` runs its own ``step``.

    Hyperparameters are checked in ``__post_init__``, so bad input fails when the rule is built.
    """

    evaluations: ClassVar[int] = 1
    elementwise: ClassVar[bool] = False
    sparse: ClassVar[bool] = False

    @property
    def name(self) -> str:
        """A short label for legends and tables."""
        return type(self).__name__

    def init(self, x: Array) -> State:
        raise NotImplementedError

    def step(
        self, x: Array, g: Array, state: State, grad_fn: Callable[[Array], Array] | None = None
    ) -> tuple[Array, State]:
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, Any]:
        """The hyperparameters this rule was built with, by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}

    def broadcast_shape(self, shape: Iterable[int]) -> tuple[int, ...]:
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

    def replace(self, **changes: Any) -> Self:
        """A copy with some hyperparameters changed (and checked again)."""
        return dataclasses.replace(self, **changes)


class Shards:
    """The rows of a matrix that one process holds, and how to reach the whole of it.

    ``shape`` is the whole matrix's shape. ``gather(t)`` returns the whole matrix of which
    ``t`` holds this process's rows; ``local(t)`` returns this process's rows of a whole
    matrix ``t``; ``replicated(t)`` marks a state array that every process holds whole, the
    same on each, so that it is stored as such. This base class is the unsharded case, where
    the rows are the whole: ``Shards(x.shape)`` leaves every array as it is.
    :class:`adalearn.optim.RuleOptimizer` hands ``step_shard`` a subclass that gathers over
    the processes of a sharded parameter.
    """

    def __init__(self, shape: Iterable[int]) -> None:
        self.shape = tuple(shape)

    def gather(self, t: Array) -> Array:
        return t

    def local(self, t: Array) -> Array:
        return t

    def replicated(self, t: Array) -> Array:
        return t


def _prepare(rule, x, g):
    """Check that ``g`` matches ``x`` and return the signed gradient (``-g`` to maximize)."""
    if is_tensor(x) != is_tensor(g):
        raise TypeError(
            "`g` must be the same kind of array as x: numpy arrays both, or torch tensors both "
            "(convert with g.numpy() or torch.as_tensor(g)). "
            f"Received: x of type {type(x).__name__}, g of type {type(g).__name__}"
        )
    if not is_tensor(x):
        # On the numpy path a tensor hyperparameter would meet numpy arrays mid-formula.
        for name, value in rule.hyperparameters().items():
            if any(map(is_tensor, value if isinstance(value, tuple) else (value,))):
                raise TypeError(
                    f"`{name}` must be a number or a numpy array when {rule.name} runs on "
                    f"numpy arrays (convert it with {name}.numpy(), or build it with numpy). "
                    f"Received: {name}={value!r}"
                )
    if tuple(g.shape) != tuple(x.shape):
        raise ValueError(
            f"`g` must have the shape of x, {tuple(x.shape)}. Received: g.shape={tuple(g.shape)}"
        )
    return -g if getattr(rule, "maximize", False) else g


def _l2(rule, x, g):
    """Add the L2 penalty's gradient ``weight_decay * x`` (coupled weight decay)."""
    return add(g, x, rule.weight_decay) if _any_nonzero(rule.weight_decay) else g


def _numbers(rule, *names):
    """The hyperparameters ``names`` of ``rule``, a pair such as ``betas`` as its two numbers.

    ``step_in_place`` passes them to torch's in-place operations, which take numbers.
    """
    values = []
    for name in names:
        value = getattr(rule, name)
        for v in value if isinstance(value, tuple) else (value,):
            if not isinstance(v, (int, float)):
                raise TypeError(
                    f"{type(rule).__name__}.step_in_place takes numbers as hyperparameters; "
                    f"use step for an array or tensor `{name}`. Received: {name}={value!r}"
                )
            values.append(v)
    return cast(list[float], values)


def _sqrt(xp, v, delta, scale=1):
    """``sqrt(v + delta * scale)``, without the pass over memory that a zero ``delta`` costs."""
    return xp.sqrt(v + delta * scale) if _any_nonzero(delta) else xp.sqrt(v)


# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SGD(Rule):
    r"""Gradient descent, with heavy-ball or Nesterov momentum.

    With gradient :math:`g_t = \nabla f(x_{t-1}) + \lambda x_{t-1}`, learning rate
    :math:`\eta` = ``lr``, momentum :math:`\beta` = ``momentum``, dampening :math:`\tau` =
    ``dampening`` and weight decay :math:`\lambda` = ``weight_decay``:

    .. math::

        b_1 = g_1, \qquad b_t = \beta\, b_{t-1} + (1 - \tau)\, g_t \\
        d_t = g_t + \beta\, b_t \ \text{(nesterov)}, \qquad d_t = b_t \ \text{(otherwise)} \\
        x_t = x_{t-1} - \eta\, d_t

    Without momentum (:math:`\beta = 0`) this is plain gradient descent, :math:`x_t = x_{t-1}
    - \eta g_t`. State: ``momentum_buffer`` (:math:`b`), only when momentum is used.

    Conventions: this is torch.optim's form, where the learning rate multiplies the buffer.
    Sutskever et al. (2013) and Lasagne's ``apply_momentum`` keep a velocity
    :math:`v_t = \beta v_{t-1} - \eta g_t` and step :math:`x_t = x_{t-1} + v_t`. With a constant
    learning rate the two are the same iterates (:math:`v_t = -\eta b_t`); they differ when the
    learning rate changes during training. The first buffer is :math:`g_1` itself, not
    :math:`(1-\tau) g_1`.

    References: Polyak (1964), *Some methods of speeding up the convergence of iteration
    methods*; Nesterov (1983); Sutskever, Martens, Dahl and Hinton (2013), *On the importance of
    initialization and momentum in deep learning*.
    """

    elementwise: ClassVar[bool] = True
    sparse: ClassVar[bool] = True
    lr: Hyper = 1e-3
    momentum: Hyper = 0.0
    dampening: Hyper = 0.0
    weight_decay: Hyper = 0.0
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
    def name(self) -> str:
        if self.nesterov:
            return "Nesterov"
        return "Momentum" if _any_nonzero(self.momentum) else "SGD"

    def init(self, x: Array) -> State:
        return {"momentum_buffer": None} if _any_nonzero(self.momentum) else {}

    def step(
        self, x: Array, g: Array, state: State, grad_fn: Callable[[Array], Array] | None = None
    ) -> tuple[Array, State]:
        g = _l2(self, x, _prepare(self, x, g))
        if "momentum_buffer" not in state:
            return add(x, g, -self.lr), state
        buf = state["momentum_buffer"]
        buf = copy(g) if buf is None else add(self.momentum * buf, g, 1 - self.dampening)
        d = add(g, buf, self.momentum) if self.nesterov else buf
        return add(x, d, -self.lr), {"momentum_buffer": buf}

    def step_in_place(self, x: torch.Tensor, g: torch.Tensor, state: State) -> State:
        """The rule's ``step``, written into ``x`` and ``state`` (see :class:`Rule`)."""
        lr, momentum, dampening = _numbers(self, "lr", "momentum", "dampening")
        g = _l2(self, x, _prepare(self, x, g))
        if "momentum_buffer" not in state:
            x.add_(g, alpha=-lr)
            return {}
        buf = state["momentum_buffer"].mul_(momentum).add_(g, alpha=1 - dampening)
        x.add_(add(g, buf, momentum) if self.nesterov else buf, alpha=-lr)
        return {}


@dataclass(frozen=True, eq=False)
class Adagrad(Rule):
    r"""AdaGrad: each coordinate's step divided by the root of its summed squared gradients.

    With :math:`g_t = \nabla f(x_{t-1}) + \lambda x_{t-1}`, :math:`\eta` = ``lr``,
    :math:`\varphi` = ``lr_decay``, :math:`\epsilon` = ``eps``, :math:`\delta` = ``eps_root``
    and :math:`s_0` = ``initial_accumulator_value``:

    .. math::

        \eta_t = \frac{\eta}{1 + (t - 1)\varphi}, \qquad s_t = s_{t-1} + g_t^2 \\
        x_t = x_{t-1} - \eta_t \, \frac{g_t}{\sqrt{s_t + \delta} + \epsilon}

    State: ``step`` (:math:`t`), ``sum`` (:math:`s`).

    Conventions: torch.optim adds ``eps`` outside the root (``eps_root = 0``). Lasagne and many
    course notes write :math:`g / \sqrt{s + \epsilon}`: that is ``Adagrad(eps=0, eps_root=ε)``.

    Reference: Duchi, Hazan and Singer (2011), *Adaptive subgradient methods for online
    learning and stochastic optimization*, JMLR 12.
    """

    elementwise: ClassVar[bool] = True
    sparse: ClassVar[bool] = True
    lr: Hyper = 1e-2
    lr_decay: Hyper = 0.0
    weight_decay: Hyper = 0.0
    initial_accumulator_value: Hyper = 0.0
    eps: Hyper = 1e-10
    _: KW_ONLY
    maximize: bool = False
    eps_root: Hyper = 0.0

    def __post_init__(self):
        _check_lr(self.lr)
        _check("lr_decay", self.lr_decay)
        _check("weight_decay", self.weight_decay)
        _check("initial_accumulator_value", self.initial_accumulator_value)
        _check_eps(self.eps)
        _check_eps(self.eps_root, "eps_root")
        _check_flag("maximize", self.maximize)

    def init(self, x: Array) -> State:
        return {"step": 0, "sum": zeros_like(x) + self.initial_accumulator_value}

    def step(
        self, x: Array, g: Array, state: State, grad_fn: Callable[[Array], Array] | None = None
    ) -> tuple[Array, State]:
        xp = namespace(x, g)
        g = _prepare(self, x, g)
        t = state["step"] + 1
        lr_t = self.lr / (1 + (t - 1) * self.lr_decay)
        if is_tensor(g) and g.is_sparse:
            return self._sparse_step(xp, x, g, state["sum"], t, lr_t)
        g = _l2(self, x, g)
        s = addcmul(state["sum"], g, g, 1)
        std = _sqrt(xp, s, self.eps_root) + self.eps
        return addcdiv(x, g, std, -lr_t), {"step": t, "sum": s}

    def step_in_place(self, x: torch.Tensor, g: torch.Tensor, state: State) -> State:
        """The rule's ``step``, written into ``x`` and ``state`` (see :class:`Rule`)."""
        import torch

        lr, lr_decay, eps = _numbers(self, "lr", "lr_decay", "eps")
        g = _l2(self, x, _prepare(self, x, g))
        t = state["step"] + 1
        s = state["sum"].addcmul_(g, g, value=1)
        std = _sqrt(torch, s, self.eps_root).add_(eps)
        x.addcdiv_(g, std, value=-lr / (1 + (t - 1) * lr_decay))
        return {"step": t}

    def _sparse_step(self, xp, x, g, s, t, lr_t):
        """The step for a sparse gradient, as torch.optim takes it: only the rows it holds.

        Elsewhere the gradient is zero, and the dense step would leave ``x`` and ``s`` as they
        are; weight decay, which would not, is refused with torch's message.
        """
        if _any_nonzero(self.weight_decay):
            raise RuntimeError("weight_decay option is not compatible with sparse gradients")
        g = g.coalesce()  # the update is non-linear, so each index must appear once
        indices, values = g.indices(), g.values()
        s = s + xp.sparse_coo_tensor(indices, values * values, g.shape, check_invariants=False)
        std = _sqrt(xp, s.sparse_mask(g).values(), self.eps_root) + self.eps
        step = xp.sparse_coo_tensor(indices, values / std, g.shape, check_invariants=False)
        return add(x, step, -lr_t), {"step": t, "sum": s}


@dataclass(frozen=True, eq=False)
class RMSprop(Rule):
    r"""RMSProp: divide by the root of an exponential average of squared gradients.

    With :math:`g_t = \nabla f(x_{t-1}) + \lambda x_{t-1}`, :math:`\eta` = ``lr``,
    :math:`\alpha` = ``alpha``, :math:`\beta` = ``momentum``, :math:`\epsilon` = ``eps`` and
    :math:`\delta` = ``eps_root``:

    .. math::

        v_t = \alpha v_{t-1} + (1 - \alpha) g_t^2 \\
        \bar g_t = \bar g_{t-1} + (1 - \alpha)(g_t - \bar g_{t-1}) \quad \text{(centered)} \\
        r_t = \sqrt{v_t - \bar g_t^2 + \delta} + \epsilon \ \text{(centered)}, \qquad
        r_t = \sqrt{v_t + \delta} + \epsilon \ \text{(otherwise)} \\
        b_t = \beta b_{t-1} + g_t / r_t, \qquad x_t = x_{t-1} - \eta\, b_t

    Without momentum, :math:`x_t = x_{t-1} - \eta\, g_t / r_t`. Centering divides by an
    estimate of the gradient's standard deviation instead of its root mean square. State:
    ``step``, ``square_avg`` (:math:`v`), ``momentum_buffer`` (:math:`b`, with momentum) and
    ``grad_avg`` (:math:`\bar g`, centered).

    Conventions: torch.optim adds ``eps`` outside the root. Lasagne and many course notes use
    :math:`g / \sqrt{v + \epsilon}`: ``RMSprop(eps=0, eps_root=ε)``. Graves (2013) writes the
    centered variant with the momentum in Sutskever's form,
    :math:`u_t = \beta u_{t-1} - \eta g_t / \sqrt{v_t - \bar g_t^2 + \epsilon}`, which is
    ``RMSprop(centered=True, momentum=β, eps=0, eps_root=ε)`` with :math:`u_t = -\eta b_t`.

    References: Tieleman and Hinton (2012), *Lecture 6.5, Neural Networks for Machine
    Learning*; Graves (2013), *Generating sequences with recurrent neural networks*.
    """

    elementwise: ClassVar[bool] = True
    lr: Hyper = 1e-2
    alpha: Hyper = 0.99
    eps: Hyper = 1e-8
    weight_decay: Hyper = 0.0
    momentum: Hyper = 0.0
    centered: bool = False
    _: KW_ONLY
    maximize: bool = False
    eps_root: Hyper = 0.0

    def __post_init__(self):
        _check_lr(self.lr)
        _check_eps(self.eps)
        _check("momentum", self.momentum)
        _check("weight_decay", self.weight_decay)
        _check("alpha", self.alpha)
        _check_eps(self.eps_root, "eps_root")
        _check_flag("centered", self.centered)
        _check_flag("maximize", self.maximize)

    def init(self, x: Array) -> State:
        state = {"step": 0, "square_avg": zeros_like(x)}
        if _any_nonzero(self.momentum):
            state["momentum_buffer"] = zeros_like(x)
        if self.centered:
            state["grad_avg"] = zeros_like(x)
        return state

    def step(
        self, x: Array, g: Array, state: State, grad_fn: Callable[[Array], Array] | None = None
    ) -> tuple[Array, State]:
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

    def step_in_place(self, x: torch.Tensor, g: torch.Tensor, state: State) -> State:
        """The rule's ``step``, written into ``x`` and ``state`` (see :class:`Rule`)."""
        import torch

        lr, alpha, eps, momentum = _numbers(self, "lr", "alpha", "eps", "momentum")
        g = _l2(self, x, _prepare(self, x, g))
        v = state["square_avg"].mul_(alpha).addcmul_(g, g, value=1 - alpha)
        if self.centered:
            g_avg = state["grad_avg"].lerp_(g, 1 - alpha)
            r = _sqrt(torch, torch.addcmul(v, g_avg, g_avg, value=-1), self.eps_root)
        else:
            r = _sqrt(torch, v, self.eps_root)
        r.add_(eps)
        if "momentum_buffer" in state:
            buf = state["momentum_buffer"].mul_(momentum).addcdiv_(g, r, value=1)
            x.add_(buf, alpha=-lr)
        else:
            x.addcdiv_(g, r, value=-lr)
        return {"step": state["step"] + 1}


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
    lr: Hyper = 1.0
    rho: Hyper = 0.9
    eps: Hyper = 1e-6
    weight_decay: Hyper = 0.0
    _: KW_ONLY
    maximize: bool = False

    def __post_init__(self):
        _check_lr(self.lr)
        _check("rho", self.rho, 0.0, 1.0)
        _check_eps(self.eps)
        _check("weight_decay", self.weight_decay)
        _check_flag("maximize", self.maximize)

    def init(self, x: Array) -> State:
        return {"step": 0, "square_avg": zeros_like(x), "acc_delta": zeros_like(x)}

    def step(
        self, x: Array, g: Array, state: State, grad_fn: Callable[[Array], Array] | None = None
    ) -> tuple[Array, State]:
        xp = namespace(x, g)
        g = _l2(self, x, _prepare(self, x, g))
        v = addcmul(self.rho * state["square_avg"], g, g, 1 - self.rho)
        delta = xp.sqrt(state["acc_delta"] + self.eps) / xp.sqrt(v + self.eps) * g
        u = addcmul(self.rho * state["acc_delta"], delta, delta, 1 - self.rho)
        new = {"step": state["step"] + 1, "square_avg": v, "acc_delta": u}
        return add(x, delta, -self.lr), new

    def step_in_place(self, x: torch.Tensor, g: torch.Tensor, state: State) -> State:
        """The rule's ``step``, written into ``x`` and ``state`` (see :class:`Rule`)."""
        lr, rho, eps = _numbers(self, "lr", "rho", "eps")
        g = _l2(self, x, _prepare(self, x, g))
        v = state["square_avg"].mul_(rho).addcmul_(g, g, value=1 - rho)
        u = state["acc_delta"]
        delta = (u + eps).sqrt_().div_((v + eps).sqrt_()).mul_(g)
        u.mul_(rho).addcmul_(delta, delta, value=1 - rho)
        x.add_(delta, alpha=-lr)
        return {"step": state["step"] + 1}


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
    torch.optim and the paper add ``eps`` outside the root (``eps_root = 0``); many course
    notes write :math:`\sqrt{\hat v_t + \epsilon}`, i.e. ``Adam(eps=0, eps_root=ε)``. Lasagne and
    the paper's "efficient version" add :math:`\hat\epsilon` to :math:`\sqrt{v_t}` before bias
    correction, which is ``eps = ε̂ / sqrt(1 - β₂ᵗ)``, a different epsilon at every step.
    Keras-style code sometimes writes the rates as :math:`1 - \beta` (``b1 = 0.1``).

    References: Kingma and Ba (2015), *Adam: a method for stochastic optimization*, ICLR;
    Reddi, Kale and Kumar (2018), *On the convergence of Adam and beyond*, ICLR (AMSGrad).
    """

    elementwise: ClassVar[bool] = True
    lr: Hyper = 1e-3
    betas: tuple[Hyper, Hyper] = (0.9, 0.999)
    eps: Hyper = 1e-8
    weight_decay: Hyper = 0.0
    amsgrad: bool = False
    _: KW_ONLY
    maximize: bool = False
    eps_root: Hyper = 0.0
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

    def init(self, x: Array) -> State:
        state = {"step": 0, "exp_avg": zeros_like(x), "exp_avg_sq": zeros_like(x)}
        if self.amsgrad:
            state["max_exp_avg_sq"] = zeros_like(x)
        return state

    def step(
        self, x: Array, g: Array, state: State, grad_fn: Callable[[Array], Array] | None = None
    ) -> tuple[Array, State]:
        xp = namespace(x, g)
        g = _prepare(self, x, g)
        beta1, beta2 = self.betas
        if self.decoupled_weight_decay:
            if _any_nonzero(self.weight_decay):
                x = cast(Array, x * (1 - self.lr * self.weight_decay))
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

    def step_in_place(self, x: torch.Tensor, g: torch.Tensor, state: State) -> State:
        """The rule's ``step``, written into ``x`` and ``state`` (see :class:`Rule`)."""
        import torch

        lr, beta1, beta2, weight_decay, eps = _numbers(self, "lr", "betas", "weight_decay", "eps")
        g = _prepare(self, x, g)
        if not self.decoupled_weight_decay:
            g = _l2(self, x, g)
        elif weight_decay:
            x.mul_(1 - lr * weight_decay)
        t = state["step"] + 1
        m = state["exp_avg"].lerp_(g, 1 - beta1)
        v = state["exp_avg_sq"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
        if self.amsgrad:
            v = torch.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        correction1 = 1 - beta1**t
        correction2 = 1 - beta2**t
        denom = _sqrt(torch, v, self.eps_root, correction2).div_(correction2**0.5)
        x.addcdiv_(m, denom.add_(eps), value=-lr / correction1)
        return {"step": t}


@dataclass(frozen=True, eq=False)
class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay.

    The same update as :class:`Adam`, except that weight decay does not go through the
    gradient: before the Adam step, :math:`x \leftarrow (1 - \eta\lambda)\, x` with
    :math:`\eta` = ``lr`` and :math:`\lambda` = ``weight_decay`` (default ``1e-2``). The decay
    is then the same for every coordinate, whatever the gradient's scale.

    Reference: Loshchilov and Hutter (2019), *Decoupled weight decay regularization*, ICLR.
    """

    weight_decay: Hyper = 1e-2
    decoupled_weight_decay: bool = field(default=True, init=False, repr=False)


@dataclass(frozen=True, eq=False)
class SparseAdam(Rule):
    r"""SparseAdam: Adam that moves only the coordinates the gradient holds ("lazy" Adam).

    With :math:`\eta` = ``lr``, :math:`(\beta_1, \beta_2)` = ``betas`` and :math:`\epsilon` =
    ``eps``, for each coordinate :math:`i` that the gradient :math:`g_t` holds:

    .. math::

        m_{t,i} = m_{t-1,i} + (1 - \beta_1)(g_{t,i} - m_{t-1,i}), \qquad
        v_{t,i} = v_{t-1,i} + (1 - \beta_2)(g_{t,i}^2 - v_{t-1,i}) \\
        x_{t,i} = x_{t-1,i} - \eta\, \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t}\,
                  \frac{m_{t,i}}{\sqrt{v_{t,i}} + \epsilon}

    and the other coordinates, with their moments, stay as they are. A torch sparse gradient
    (``nn.Embedding(sparse=True)``) holds the rows of the embeddings a batch used; an array or
    a dense tensor holds every coordinate, and the step is then Adam's with :math:`\epsilon`
    added before the bias correction of :math:`\sqrt{v}` (the paper's "efficient version").
    The step count :math:`t` advances for every gradient, also for one that holds nothing.
    State: ``step``, ``exp_avg`` (:math:`m`), ``exp_avg_sq`` (:math:`v`).

    Conventions: torch.optim's SparseAdam, whose optimizer refuses dense gradients. Unlike
    Adam's, the moments of the rows a batch does not use do not decay, so a rarely used
    embedding keeps an old momentum until it is used again.

    References: Kingma and Ba (2015), *Adam: a method for stochastic optimization*, ICLR;
    implementation: ``torch.optim.SparseAdam``.
    """

    elementwise: ClassVar[bool] = True
    sparse: ClassVar[bool] = True
    lr: Hyper = 1e-3
    betas: tuple[Hyper, Hyper] = (0.9, 0.999)
    eps: Hyper = 1e-8
    _: KW_ONLY
    maximize: bool = False

    def __post_init__(self):
        if not np.all(_as_real_array("lr", self.lr) > 0):
            raise ValueError(f"Invalid learning rate: {self.lr}")
        if not np.all(_as_real_array("eps", self.eps) > 0):
            raise ValueError(f"Invalid epsilon value: {self.eps}")
        _check_betas(self.betas)
        _check_flag("maximize", self.maximize)
        object.__setattr__(self, "betas", tuple(self.betas))

    def init(self, x: Array) -> State:
        return {"step": 0, "exp_avg": zeros_like(x), "exp_avg_sq": zeros_like(x)}

    def step(
        self, x: Array, g: Array, state: State, grad_fn: Callable[[Array], Array] | None = None
    ) -> tuple[Array, State]:
        xp = namespace(x, g)
        g = _prepare(self, x, g)
        beta1, beta2 = self.betas
        t = state["step"] + 1
        m, v = state["exp_avg"], state["exp_avg_sq"]
        sparse = is_tensor(g) and g.is_sparse
        if sparse:
            # Only a tensor is sparse; mypy, which does not narrow g by `sparse`, needs the casts.
            g = cast(Any, g).coalesce()  # the update is non-linear, so each index must appear once
            if cast(Any, g).values().numel() == 0:
                return x, {**state, "step": t}
            indices, values = cast(Any, g).indices(), cast(Any, g).values()
            m_old, v_old = m.sparse_mask(g).values(), v.sparse_mask(g).values()
        else:
            values, m_old, v_old = g, m, v
        m_change = (values - m_old) * (1 - beta1)
        v_change = (values * values - v_old) * (1 - beta2)
        m_new, v_new = m_change + m_old, v_change + v_old
        step_size = self.lr * math.sqrt(1 - beta2**t) / (1 - beta1**t)
        change = -step_size * (m_new / (xp.sqrt(v_new) + self.eps))
        if not sparse:
            return x + change, {"step": t, "exp_avg": m_new, "exp_avg_sq": v_new}

        def scatter(rows):
            return xp.sparse_coo_tensor(indices, rows, g.shape, check_invariants=False)

        new = {"step": t, "exp_avg": m + scatter(m_change), "exp_avg_sq": v + scatter(v_change)}
        return x + scatter(change), new


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
    lr: Hyper = 2e-3
    betas: tuple[Hyper, Hyper] = (0.9, 0.999)
    eps: Hyper = 1e-8
    weight_decay: Hyper = 0.0
    _: KW_ONLY
    maximize: bool = False

    def __post_init__(self):
        _check_lr(self.lr)
        _check_eps(self.eps)
        _check_betas(self.betas)
        _check("weight_decay", self.weight_decay)
        _check_flag("maximize", self.maximize)
        object.__setattr__(self, "betas", tuple(self.betas))

    def init(self, x: Array) -> State:
        return {"step": 0, "exp_avg": zeros_like(x), "exp_inf": zeros_like(x)}

    def step(
        self, x: Array, g: Array, state: State, grad_fn: Callable[[Array], Array] | None = None
    ) -> tuple[Array, State]:
        xp = namespace(x, g)
        g = _l2(self, x, _prepare(self, x, g))
        beta1, beta2 = self.betas
        t = state["step"] + 1
        m = lerp(state["exp_avg"], g, 1 - beta1)
        u = xp.maximum(beta2 * state["exp_inf"], xp.abs(g) + self.eps)
        lr_t = self.lr / (1 - beta1**t)
        return addcdiv(x, m, u, -lr_t), {"step": t, "exp_avg": m, "exp_inf": u}

    def step_in_place(self, x: torch.Tensor, g: torch.Tensor, state: State) -> State:
        """The rule's ``step``, written into ``x`` and ``state`` (see :class:`Rule`)."""
        import torch

        lr, beta1, beta2, eps = _numbers(self, "lr", "betas", "eps")
        g = _l2(self, x, _prepare(self, x, g))
        t = state["step"] + 1
        m = state["exp_avg"].lerp_(g, 1 - beta1)
        u = state["exp_inf"].mul_(beta2)
        torch.maximum(u, g.abs().add_(eps), out=u)
        x.addcdiv_(m, u, value=-(lr / (1 - beta1**t)))
        return {"step": t}


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

    def init(self, x: Array) -> State:
        return {}

    def predict(self, x: Array, g: Array, state: State) -> Array:
        """The Euler predictor :math:`\\tilde x`, where the second gradient is taken."""
        return add(x, g, -self.lr)

    def step(
        self, x: Array, g: Array, state: State, grad_fn: Callable[[Array], Array] | None = None
    ) -> tuple[Array, State]:
        if grad_fn is None:
            raise TypeError(
                "`grad_fn` must be given to Heun.step, the gradient as a function of x: Heun "
                "evaluates the gradient a second time at the Euler predictor. "
                "Received: grad_fn=None"
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
            raise TypeError(f"`rule` must be an adalearn rule. Received: rule={self.rule!r}")
        if isinstance(self.every, bool) or not isinstance(self.every, numbers.Integral):
            raise TypeError(f"`every` must be an integer. Received: every={self.every!r}")
        if self.every < 1:
            raise ValueError(f"Invalid every value: {self.every}")
        if self.rule.evaluations != 1:
            raise ValueError(
                "`rule` must take one gradient per step, as SoftBatch accumulates single "
                f"gradients. Received: rule={self.rule!r}, which evaluates "
                f"{self.rule.evaluations} per step"
            )

    @property
    def name(self) -> str:
        return f"{self.rule.name} (soft batch ×{self.every})"

    def init(self, x: Array) -> State:
        return {"inner": self.rule.init(x), "grad_sum": zeros_like(x), "count": 0}

    def step(
        self, x: Array, g: Array, state: State, grad_fn: Callable[[Array], Array] | None = None
    ) -> tuple[Array, State]:
        grad_sum = state["grad_sum"] + g
        count = state["count"] + 1
        if count < self.every:
            return x, {"inner": state["inner"], "grad_sum": grad_sum, "count": count}
        x, inner = self.rule.step(x, grad_sum / self.every, state["inner"], grad_fn)
        return x, {"inner": inner, "grad_sum": zeros_like(grad_sum), "count": 0}


# --------------------------------------------------------------------------------------------
# After Adam: NAdam, RAdam, Adafactor, Muon (torch.optim), Lion (lion-pytorch) and schedule-free
# AdamW (the schedulefree package).


def _scalar_dtype(torch):
    """The dtype torch.optim keeps its per-parameter scalars in (``step``, ``mu_product``)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _item(value):
    """A zero-dimensional tensor as a Python number, read the way torch.optim reads one.

    torch.optim computes its step-dependent coefficients in Python floats, from ``.item()``;
    so does a rule in eager code. Code traced by torch.compile keeps the tensor (in float64,
    the precision of a Python float), so that the step stays one graph, and so does a
    differentiable step, whose results depend on the tensor through autograd.
    """
    if not is_tensor(value):
        return value
    torch = namespace(value)
    if torch.compiler.is_compiling():
        return value.to(torch.float64)
    if value.requires_grad and torch.is_grad_enabled():
        return value
    return value.item()


def _scalar_state(x, value, dtype=None):
    """A scalar entry of a rule's state: a 0-d tensor beside tensors, a float beside arrays.

    The tensor's dtype is torch.optim's for such scalars, or float64 for ``dtype="float64"``.
    """
    if is_tensor(x):
        torch = namespace(x)
        dtype = torch.float64 if dtype == "float64" else _scalar_dtype(torch)
        return torch.tensor(value, dtype=dtype)
    return float(value)


def _like(old, value):
    """``value`` in the form of the state entry ``old`` it replaces (a 0-d tensor or not)."""
    if is_tensor(old) and not is_tensor(value):
        return namespace(old).tensor(value, dtype=old.dtype)
    if is_tensor(old) and is_tensor(value):
        return value.to(old.dtype)
    return value


def _real(value):
    return isinstance(value, numbers.Real)


def _where(condition, a, b):
    """``a if condition else b``: Python's on numbers, elementwise on arrays and tensors."""
    if isinstance(condition, (bool, np.bool_)):
        return a if condition else b
    if is_tensor(condition):
        torch = namespace(condition)
        like = {"dtype": torch.float64}
        a = a if is_tensor(a) else torch.as_tensor(a, **like)
        b = b if is_tensor(b) else torch.as_tensor(b, **like)
        return torch.where(condition, a, b)
    return np.where(condition, a, b)


def _maximum(a, b):
    """``max(a, b)`` as Python computes it on numbers; elementwise otherwise."""
    if _real(a) and _real(b):
        return max(a, b)
    return _where(b > a, b, a)


def _minimum(a, b):
    """``min(a, b)`` as Python computes it on numbers; elementwise otherwise."""
    if _real(a) and _real(b):
        return min(a, b)
    return _where(b < a, b, a)


def _norm(x, axis=None):
    """The Euclidean norm of ``x`` (of all its elements, or along ``axis``, kept)."""
    if is_tensor(x):
        return x.norm(2) if axis is None else namespace(x).norm(x, dim=axis, keepdim=True)
    if axis is None:
        return np.linalg.norm(np.ravel(x))
    return np.linalg.norm(x, axis=axis, keepdims=True)


def _mean_of_rows(x):
    return x.mean(dim=-2, keepdim=True) if is_tensor(x) else x.mean(axis=-2, keepdims=True)


def _clamp_min(x, low):
    return x.clamp(min=low) if is_tensor(x) else np.maximum(x, low)


def _rsqrt(x):
    return namespace(x).rsqrt(x) if is_tensor(x) else 1 / np.sqrt(x)


def _addmm(start, a, b, beta=1.0, alpha=1.0):
    """``beta * start + alpha * (a @ b)``, in one call of ``torch.addmm`` on tensors."""
    if is_tensor(start):
        return namespace(start).addmm(start, a, b, beta=beta, alpha=alpha)
    return beta * start + alpha * (a @ b)


def _size(x):
    return math.prod(x.shape)


def _reject_complex(rule, x):
    """torch.optim's error for the rules that do not take complex parameters."""
    if x.is_complex() if is_tensor(x) else np.iscomplexobj(x):
        raise RuntimeError(f"{rule.name} does not support complex parameters")


def _check_pair(name, value, names):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise TypeError(f"`{name}` must be a pair {names}. Received: {name}={value!r}")


@dataclass(frozen=True, eq=False)
class NAdam(Rule):
    r"""NAdam: Adam whose momentum looks one step ahead, as Nesterov's does.

    With :math:`g_t = \nabla f(x_{t-1})` (plus :math:`\lambda x_{t-1}` for L2 weight decay),
    :math:`\eta` = ``lr``, :math:`(\beta_1, \beta_2)` = ``betas``, :math:`\epsilon` = ``eps``
    and :math:`\psi` = ``momentum_decay``:

    .. math::

        \mu_t = \beta_1 \big(1 - \tfrac12\, 0.96^{t\psi}\big), \qquad
        \Pi_t = \prod_{i=1}^{t} \mu_i \\
        m_t = m_{t-1} + (1 - \beta_1)(g_t - m_{t-1}), \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        d_t = \sqrt{v_t / (1 - \beta_2^t)} + \epsilon \\
        x_t = x_{t-1} - \eta\, \frac{1 - \mu_t}{1 - \Pi_t}\, \frac{g_t}{d_t}
                      - \eta\, \frac{\mu_{t+1}}{1 - \Pi_{t+1}}\, \frac{m_t}{d_t}

    The step mixes the new gradient and the momentum that will be there one step later, each
    bias-corrected by the product of the momentum coefficients it carries; the coefficient
    :math:`\mu_t` warms up from :math:`\beta_1/2` towards :math:`\beta_1`. With
    ``decoupled_weight_decay`` the decay is AdamW's, :math:`x \leftarrow (1 - \eta\lambda) x`
    before the step ("NAdamW"). State: ``step``, ``mu_product`` (:math:`\Pi_t`, a scalar: a
    zero-dimensional tensor of torch.optim's step dtype beside tensors), ``exp_avg``
    (:math:`m`), ``exp_avg_sq`` (:math:`v`).

    Conventions: torch.optim's, which follows Dozat's paper and its momentum schedule
    (:math:`\psi = 0.004`, i.e. :math:`0.96^{t/250}`); eps is added to the bias-corrected root,
    as in Adam.

    References: Dozat (2016), *Incorporating Nesterov momentum into Adam*, ICLR workshop;
    implementation: ``torch.optim.NAdam`` (single-tensor path).
    """

    elementwise: ClassVar[bool] = True
    lr: Hyper = 2e-3
    betas: tuple[Hyper, Hyper] = (0.9, 0.999)
    eps: Hyper = 1e-8
    weight_decay: Hyper = 0.0
    momentum_decay: Hyper = 4e-3
    decoupled_weight_decay: bool = False
    _: KW_ONLY
    maximize: bool = False

    def __post_init__(self):
        _check_lr(self.lr)
        _check_eps(self.eps)
        _check_betas(self.betas)
        _check("weight_decay", self.weight_decay)
        _check("momentum_decay", self.momentum_decay)
        _check_flag("decoupled_weight_decay", self.decoupled_weight_decay)
        _check_flag("maximize", self.maximize)
        object.__setattr__(self, "betas", tuple(self.betas))

    def init(self, x: Array) -> State:
        return {
            "step": 0,
            "mu_product": _scalar_state(x, 1.0),
            "exp_avg": zeros_like(x),
            "exp_avg_sq": zeros_like(x),
        }

    def step(
        self, x: Array, g: Array, state: State, grad_fn: Callable[[Array], Array] | None = None
    ) -> tuple[Array, State]:
        xp = namespace(x, g)
        g = _prepare(self, x, g)
        beta1, beta2 = self.betas
        t = state["step"] + 1
        if _any_nonzero(self.weight_decay):
            if self.decoupled_weight_decay:
                x = cast(Array, x * (1 - self.lr * self.weight_decay))
            else:
                g = add(g, x, self.weight_decay)
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * self.momentum_decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * self.momentum_decay))
        mu_product = state["mu_product"]
        # torch.optim multiplies the stored scalar in its own dtype (float32 by default).
        mu_product = _like(mu_product, mu_product * _like(mu_product, mu))
        m = lerp(state["exp_avg"], g, 1 - beta1)
        v = addcmul(beta2 * state["exp_avg_sq"], g, g, 1 - beta2)
        denom = xp.sqrt(v / (1 - beta2**t)) + self.eps
        product = _item(mu_product)
        x = addcdiv(x, g, denom, -self.lr * (1.0 - mu) / (1.0 - product))
        x = addcdiv(x, m, denom, -self.lr * mu_next / (1.0 - product * mu_next))
        return x, {"step": t, "mu_product": mu_product, "exp_avg": m, "exp_avg_sq": v}


@dataclass(frozen=True, eq=False)
class RAdam(Rule):
    r"""RAdam: Adam that waits for its second moment to be trustworthy.

    With :math:`g_t`, :math:`\eta` = ``lr``, :math:`(\beta_1, \beta_2)` = ``betas``,
    :math:`\epsilon` = ``eps``, and :math:`m_t, v_t` as in :class:`Adam`:

    .. math::

        \hat m_t = \frac{m_t}{1 - \beta_1^t}, \qquad
        \rho_\infty = \frac{2}{1 - \beta_2} - 1, \qquad
        \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1 - \beta_2^t} \\
        x_t = x_{t-1} - \eta\, \hat m_t\, r_t\, \frac{\sqrt{1 - \beta_2^t}}{\sqrt{v_t} + \epsilon},
        \qquad r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\,\rho_\infty}
                                {(\rho_\infty - 4)(\rho_\infty - 2)\,\rho_t}}
        \quad \text{when } \rho_t > 5 \\
        x_t = x_{t-1} - \eta\, \hat m_t \quad \text{otherwise (momentum SGD)}

    :math:`\rho_t` is the length of the simple moving average that the exponential one
    approximates at step :math:`t`. While it is short, the adaptive step's variance is large
    (or infinite, for :math:`\rho_t \le 4`), so RAdam takes plain momentum steps; afterwards
    :math:`r_t` rescales the adaptive step to the variance it has at :math:`\rho_\infty`. This
    is a built-in, derived warmup. ``decoupled_weight_decay`` is as in :class:`NAdam`. State:
    ``step``, ``exp_avg`` (:math:`m`), ``exp_avg_sq`` (:math:`v`).

    Conventions: the paper switches at :math:`\rho_t > 4`; its code and torch.optim at 5
    (with :math:`\beta_2 = 0.999`, the first five steps are momentum steps). eps is added to
    :math:`\sqrt{v_t}` before bias correction, unlike torch's Adam.

    References: Liu, Jiang, He, Chen, Liu, Gao and Han (2020), *On the variance of the
    adaptive learning rate and beyond*, ICLR; implementation: ``torch.optim.RAdam``.
    """

    elementwise: ClassVar[bool] = True
    lr: Hyper = 1e-3
    betas: tuple[Hyper, Hyper] = (0.9, 0.999)
    eps: Hyper = 1e-8
    weight_decay: Hyper = 0.0
    decoupled_weight_decay: bool = False
    _: KW_ONLY
    maximize: bool = False

    def __post_init__(self):
        _check_lr(self.lr)
        _check_eps(self.eps)
        _check_betas(self.betas)
        _check("weight_decay", self.weight_decay)
        _check_flag("decoupled_weight_decay", self.decoupled_weight_decay)
        _check_flag("maximize", self.maximize)
        object.__setattr__(self, "betas", tuple(self.betas))

    def init(self, x: Array) -> State:
        return {"step": 0, "exp_avg": zeros_like(x), "exp_avg_sq": zeros_like(x)}

    def step(
        self, x: Array, g: Array, state: State, grad_fn: Callable[[Array], Array] | None = None
    ) -> tuple[Array, State]:
        xp = namespace(x, g)
        g = _prepare(self, x, g)
        beta1, beta2 = self.betas
        t = state["step"] + 1
        if _any_nonzero(self.weight_decay):
            if self.decoupled_weight_decay:
                x = cast(Array, x * (1 - self.lr * self.weight_decay))
            else:
                g = add(g, x, self.weight_decay)
        m = lerp(state["exp_avg"], g, 1 - beta1)
        v = addcmul(beta2 * state["exp_avg_sq"], g, g, 1 - beta2)
        new = {"step": t, "exp_avg": m, "exp_avg_sq": v}
        correction2 = 1 - beta2**t
        momentum_step = m / (1 - beta1**t) * self.lr
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * (beta2**t) / correction2
        rectified = rho_t > 5.0
        if not isinstance(rectified, (bool, np.bool_)) or rectified:
            # Where not rectified, r is computed on harmless numbers and then not used.
            safe_t, safe_inf = _where(rectified, rho_t, 6.0), _where(rectified, rho_inf, 6.0)
            rect = ((safe_t - 4) * (safe_t - 2) * safe_inf
                    / ((safe_inf - 4) * (safe_inf - 2) * safe_t)) ** 0.5
            adaptive = correction2**0.5 / (xp.sqrt(v) + self.eps)
            step = _where(rectified, momentum_step * adaptive * rect, momentum_step)
        else:
            step = momentum_step
        return x - step, new


@dataclass(frozen=True, eq=False)
class Adafactor(Rule):
    r"""Adafactor: Adam's second moment in factored form, steps relative to the weights.

    With :math:`G_t = \nabla f(X_{t-1})`, :math:`\eta` = ``lr``, :math:`\tau` =
    ``beta2_decay``, :math:`(\epsilon_1, \epsilon_2)` = ``eps``, :math:`d` = ``d`` and
    :math:`\lambda` = ``weight_decay``, for a matrix :math:`X` of shape :math:`n \times m`:

    .. math::

        \hat\beta_{2,t} = 1 - t^{\tau}, \qquad
        \rho_t = \min(\eta, 1/\sqrt t), \qquad
        \alpha_t = \rho_t \max\big(\epsilon_2, \operatorname{RMS}(X_{t-1})\big) \\
        R_t = \hat\beta_{2,t} R_{t-1} + (1 - \hat\beta_{2,t})\, \operatorname{mean}_j G_{t,ij}^2,
        \qquad
        C_t = \hat\beta_{2,t} C_{t-1} + (1 - \hat\beta_{2,t})\, \operatorname{mean}_i G_{t,ij}^2
        \\
        \hat V_t = \frac{R_t C_t}{\max(\operatorname{mean}_i R_{t,i},\ \epsilon_1)}, \qquad
        U_t = \frac{G_t}{\max(\sqrt{\hat V_t},\ \epsilon_1)}, \qquad
        \hat U_t = \frac{U_t}{\max\big(1,\ \operatorname{RMS}(U_t) / d\big)} \\
        X_t = (1 - \eta\lambda)\, X_{t-1} - \alpha_t \hat U_t

    :math:`R_t` (``row_var``, shape ``(..., n, 1)``) and :math:`C_t` (``col_var``, shape
    ``(..., 1, m)``) hold :math:`n + m` numbers where Adam holds :math:`nm`: the second moment
    is estimated as the rank-one matrix :math:`R_t C_t / \operatorname{mean}(R_t)`. A tensor of
    more dimensions is factored over its last two; a vector or scalar keeps the full
    ``variance`` :math:`V_t = \hat\beta_{2,t} V_{t-1} + (1 - \hat\beta_{2,t}) G_t^2`. There is
    no first moment. :math:`\hat\beta_{2,t}` grows from 0 towards 1, so early steps forget
    fast. The step is relative to the weights' own RMS and clipped to an RMS of at most
    :math:`d`. With :math:`\epsilon_1` = ``None`` (the default) it is the machine epsilon of
    ``x``'s dtype. State: ``step``, ``row_var`` and ``col_var`` (or ``variance``).

    The rule is not elementwise: the norms and means run over the whole of ``x``, which is one
    parameter (also on numpy, where an ``x`` of shape ``(N, 2)`` is one matrix, not N runs).

    Conventions: torch.optim's, which differs from the paper as torch's documentation says:
    :math:`\eta` caps the relative step (the paper's constant 0.01) and scales the weight
    decay (the paper has none); :math:`\epsilon_1` enters the estimate and the update instead
    of being added to :math:`G^2`; means replace the paper's sums.

    References: Shazeer and Stern (2018), *Adafactor: adaptive learning rates with sublinear
    memory cost*, ICML; implementation: ``torch.optim.Adafactor`` (single-tensor path).
    """

    elementwise: ClassVar[bool] = False
    lr: Hyper = 1e-2
    beta2_decay: Hyper = -0.8
    eps: tuple[float | None, float] = (None, 1e-3)
    d: Hyper = 1.0
    weight_decay: Hyper = 0.0
    _: KW_ONLY
    maximize: bool = False

    def __post_init__(self):
        _check("lr", self.lr, message=f"Learning rate should be >= 0 but is: {self.lr}")
        _check("beta2_decay", self.beta2_decay, -math.inf, 0.0,
               message=f"beta2_decay should be <= 0 but is: {self.beta2_decay}")
        _check_pair("eps", self.eps, "(eps1, eps2)")
        eps1, eps2 = self.eps
        if eps1 is not None:
            _check("eps1", eps1, message=f"epsilon1 should be >= 0 but is: {eps1}")
        _check("eps2", eps2, message=f"epsilon2 should be >= 0 but is: {eps2}")
        _check("d", self.d, 1.0,
               message=f"Clipping threshold d should be >= 1 but is: {self.d}")
        _check("weight_decay", self.weight_decay,
               message=f"weight_decay should be >= 0 but is: {self.weight_decay}")
        _check_flag("maximize", self.maximize)
        object.__setattr__(self, "eps", tuple(self.eps))

    def init(self, x: Array) -> State:
        if x.ndim > 1:
            return {"step": 0, "row_var": zeros_like(x[..., :1]),
                    "col_var": zeros_like(x[..., :1, :])}
        return {"step": 0, "variance": zeros_like(x)}

    def step(
        self, x: Array, g: Array, state: State, grad_fn: Callable[[Array], Array] | None = None
    ) -> tuple[Array, State]:
        _reject_complex(self, x)
        g = _prepare(self, x, g)
        t = state["step"] + 1
        eps1, beta2_complement, alpha = self._coefficients(x, t)
        if _any_nonzero(self.weight_decay):
            x = cast(Array, x * (1 - self.lr * self.weight_decay))
        new = {"step": t}
        if g.ndim > 1:
            # Means of squares as torch computes them: a norm, squared, without a g * g.
            row_norm, col_norm = _norm(g, axis=-1), _norm(g, axis=-2)
            row = new["row_var"] = lerp(
                state["row_var"], row_norm * row_norm / g.shape[-1], beta2_complement
            )
            col = new["col_var"] = lerp(
                state["col_var"], col_norm * col_norm / g.shape[-2], beta2_complement
            )
            estimate = row @ col / _clamp_min(_mean_of_rows(row), eps1)
        else:
            estimate = new["variance"] = lerp(state["variance"], g * g, beta2_complement)
        update = _rsqrt(_clamp_min(estimate, eps1 * eps1)) * g
        return add(x, update, -alpha / self._clip(update)), new

    def step_in_place(self, x: torch.Tensor, g: torch.Tensor, state: State) -> State:
        """The rule's ``step``, written into ``x`` and ``state`` (see :class:`Rule`)."""
        import torch

        _reject_complex(self, x)
        lr, weight_decay = _numbers(self, "lr", "weight_decay")
        g = _prepare(self, x, g)
        t = state["step"] + 1
        eps1, beta2_complement, alpha = self._coefficients(x, t)
        if weight_decay:
            x.mul_(1 - lr * weight_decay)
        if g.ndim > 1:
            row_norm, col_norm = _norm(g, axis=-1), _norm(g, axis=-2)
            row = state["row_var"].lerp_(row_norm * row_norm / g.shape[-1], beta2_complement)
            col = state["col_var"].lerp_(col_norm * col_norm / g.shape[-2], beta2_complement)
            update = torch.matmul(row, col).div_(_clamp_min(_mean_of_rows(row), eps1))
            update.clamp_(min=eps1 * eps1)
        else:
            variance = state["variance"].lerp_(g * g, beta2_complement)
            update = _clamp_min(variance, eps1 * eps1)
        update = update.rsqrt_().mul_(g)
        x.add_(update, alpha=-alpha / self._clip(update))
        return {"step": t}

    def _coefficients(self, x, t):
        """At step ``t`` from ``x``: the floor of the second moments, the weight of the new
        squared gradient in them, and the step size before clipping."""
        eps1, eps2 = self.eps
        if eps1 is None:
            eps1 = float(namespace(x).finfo(x.dtype).eps)
        rho = _minimum(self.lr, 1 / (t**0.5))
        return eps1, t**self.beta2_decay, _maximum(eps2, _item(_norm(x)) / (_size(x) ** 0.5)) * rho

    def _clip(self, update):
        """What the update is divided by so that its root mean square is at most ``d``."""
        return _maximum(1.0, _item(_norm(update)) / ((_size(update) ** 0.5) * self.d))


def newton_schulz(
    g: Array,
    coefficients: tuple[float, float, float] = (3.4445, -4.7750, 2.0315),
    steps: int = 5,
    eps: Hyper = 1e-7,
) -> Array:
    r"""Newton–Schulz iteration towards the orthogonal factor of a matrix, as Muon runs it.

    With :math:`X_0 = G / \max(\lVert G \rVert_F, \epsilon)` (transposed first when
    :math:`G` has more rows than columns, so that :math:`X X^\top` is the smaller Gram
    matrix) and :math:`(a, b, c)` = ``coefficients``, ``steps`` times:

    .. math::

        A = X X^\top, \qquad X \leftarrow a X + (b A + c A^2)\, X

    On the singular values this is :math:`\sigma \mapsto a\sigma + b\sigma^3 + c\sigma^5`,
    the same polynomial for each, while the singular vectors stay: the iterate is
    :math:`U p^{k}(\Sigma / \lVert G \rVert_F) V^\top` for :math:`G = U \Sigma V^\top`. The
    default coefficients (Jordan's) push small singular values up fast: after five steps every
    one above 1% of :math:`\lVert G \rVert_F` lies between about 0.68 and 1.2, not at 1; with
    :math:`(1.5, -0.5, 0)` the iteration is the classical cubic one, which converges to
    :math:`U V^\top`. On tensors it runs in bfloat16, as torch.optim's Muon does; numpy has no
    bfloat16 and runs it in ``g``'s precision.
    """
    xp = namespace(g)
    if steps >= 100:
        raise ValueError("Number of steps must be less than 100 for computational efficiency")
    if len(g.shape) != 2:
        raise ValueError("Input tensor gradient must be a 2D matrix")
    if len(coefficients) != 3:
        raise ValueError("Coefficients must be a tuple of exactly 3 values")
    a, b, c = coefficients
    # cast: mypy does not know that g is a tensor where xp is torch.
    x = cast(Any, g).bfloat16() if xp is not np else np.asarray(g, dtype=np.result_type(g, float))
    tall = g.shape[0] > g.shape[1]
    if tall:
        x = x.T
    x = x / _clamp_min(_norm(x), eps)
    for _ in range(steps):
        gram = x @ x.T
        x = _addmm(x, _addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.T if tall else x


@dataclass(frozen=True, eq=False)
class Muon(Rule):
    r"""Muon: momentum, orthogonalised, for the weight matrices of hidden layers.

    With :math:`G_t = \nabla f(X_{t-1})` for a matrix :math:`X` of shape :math:`A \times B`,
    :math:`\eta` = ``lr``, :math:`\mu` = ``momentum``, :math:`\lambda` = ``weight_decay``:

    .. math::

        M_t = \mu M_{t-1} + (1 - \mu)\, G_t, \qquad
        \tilde M_t = (1 - \mu)\, G_t + \mu M_t \ \text{(nesterov)}, \quad
        \tilde M_t = M_t \ \text{(otherwise)} \\
        O_t = \operatorname{NS}_k(\tilde M_t), \qquad
        X_t = (1 - \eta\lambda)\, X_{t-1} - \eta\, s(A, B)\, O_t

    where :math:`\operatorname{NS}_k` is ``ns_steps`` steps of
    :func:`~adalearn.rules.newton_schulz` with ``ns_coefficients`` and ``eps``: approximately
    :math:`U V^\top` for :math:`\tilde M_t = U \Sigma V^\top`. Every direction of the step
    gets about the same size, whatever the gradient's singular value in it: steepest descent
    in the spectral norm. The scale :math:`s` (``adjust_lr_fn``) is
    :math:`\sqrt{\max(1, A/B)}` (``None`` or ``"original"``, Jordan's) or
    :math:`0.2\sqrt{\max(A, B)}` (``"match_rms_adamw"``, which gives the update AdamW's
    typical RMS, so AdamW's learning rate and weight decay carry over) or :math:`\sqrt{A/B}`
    (``"spectral_unclamped"``, torch 2.14's, which also scales wide matrices down). State:
    ``momentum_buffer`` (:math:`M`); no step count.

    Only matrices: like torch.optim, ``init`` rejects an ``x`` that is not 2-D. Use AdamW for
    biases, gains and embeddings. Not elementwise.

    Sharded (FSDP2), a process holds some rows of :math:`X`, :math:`G` and :math:`M`: the
    momentum, the decay and the step run on them, and only :math:`\tilde M_t` is gathered
    whole for :math:`\operatorname{NS}_k` (:meth:`~adalearn.rules.Muon.step_shard`): per
    matrix and step, one all-gather of :math:`AB` bfloat16 numbers, of which a process
    receives the :math:`(P-1)/P` it lacks among :math:`P` processes. Every process then
    orthogonalises the whole matrix and keeps its rows; the result is the unsharded step's,
    bit for bit.

    Conventions: torch.optim's. The momentum is an exponential average (torch's formula
    sheet writes :math:`M_t = \mu M_{t-1} + G_t`, its code averages); decoupled weight decay
    uses the unscaled :math:`\eta`. On tensors Newton–Schulz runs in bfloat16 as in torch;
    on numpy in ``x``'s precision, so numpy and torch agree to bfloat16's precision only.

    References: Jordan, Jin, Boza, You, Cesista, Newhouse and Bernstein (2024), *Muon: an
    optimizer for hidden layers in neural networks*, kellerjordan.github.io/posts/muon;
    Liu et al. (2025), *Muon is scalable for LLM training*, arXiv:2502.16982;
    implementation: ``torch.optim.Muon``.
    """

    elementwise: ClassVar[bool] = False
    lr: Hyper = 1e-3
    weight_decay: Hyper = 0.1
    momentum: Hyper = 0.95
    nesterov: bool = True
    ns_coefficients: tuple[float, float, float] = (3.4445, -4.7750, 2.0315)
    eps: Hyper = 1e-7
    ns_steps: int = 5
    adjust_lr_fn: str | None = None

    def __post_init__(self):
        _check("lr", self.lr, message=f"Learning rate should be >= 0 but is: {self.lr}")
        _check("momentum", self.momentum,
               message=f"momentum should be >= 0 but is: {self.momentum}")
        _check("weight_decay", self.weight_decay,
               message=f"weight decay should be >= 0 but is: {self.weight_decay}")
        if self.adjust_lr_fn not in (None, "original", "match_rms_adamw", "spectral_unclamped"):
            raise ValueError(f"Adjust learning rate function {self.adjust_lr_fn} is not supported")
        _check_flag("nesterov", self.nesterov)
        _check_eps(self.eps)
        steps = self.ns_steps
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
            raise TypeError(
                f"`ns_steps` must be a non-negative integer. Received: ns_steps={steps!r}"
            )
        if steps >= 100:
            raise ValueError("Number of steps must be less than 100 for computational efficiency")
        coefficients = self.ns_coefficients
        if isinstance(coefficients, (str, bytes)) or not hasattr(coefficients, "__len__"):
            raise TypeError(
                "`ns_coefficients` must be a tuple (a, b, c). "
                f"Received: ns_coefficients={coefficients!r}"
            )
        if len(coefficients) != 3:
            raise ValueError("Coefficients must be a tuple of exactly 3 values")
        for coefficient in coefficients:
            _as_real_array("ns_coefficients", coefficient)
        object.__setattr__(self, "ns_coefficients", tuple(coefficients))

    def init(self, x: Array) -> State:
        if x.ndim != 2:
            size = x.size() if is_tensor(x) else tuple(x.shape)
            raise ValueError(
                f"Muon only supports 2D parameters whereas we found a parameter with size: {size}"
            )
        return {"momentum_buffer": zeros_like(x)}

    def scale(self, shape: Sequence[int]) -> float:
        """The factor :math:`s(A, B)` of the learning rate for a matrix of ``shape``."""
        rows, columns = shape[:2]
        if self.adjust_lr_fn == "match_rms_adamw":
            return 0.2 * math.sqrt(max(rows, columns))
        if self.adjust_lr_fn == "spectral_unclamped":
            return math.sqrt(rows / columns)
        return math.sqrt(max(1, rows / columns))

    def step(
        self, x: Array, g: Array, state: State, grad_fn: Callable[[Array], Array] | None = None
    ) -> tuple[Array, State]:
        return self.step_shard(x, g, state, Shards(x.shape))

    def step_shard(
        self, x: Array, g: Array, state: State, whole: Shards
    ) -> tuple[Array, State]:
        """The step of some rows of a matrix (see :class:`Shards`); all of it, unsharded.

        The momentum, the weight decay and the step are elementwise and run on the rows.
        Newton–Schulz needs the whole direction: on tensors it is gathered in bfloat16, the
        precision the iteration runs in (so the result is the unsharded step's to the bit),
        and each process keeps its rows of the orthogonalised matrix.
        """
        _reject_complex(self, x)
        if g.ndim != 2:
            raise ValueError("Param gradient must be a 2D matrix")
        g = _prepare(self, x, g)
        buffer = lerp(state["momentum_buffer"], g, 1 - self.momentum)
        direction = lerp(g, buffer, self.momentum) if self.nesterov else buffer
        if is_tensor(direction):
            direction = direction.bfloat16()  # newton_schulz's first operation, before gathering
        update = newton_schulz(whole.gather(direction), self.ns_coefficients, self.ns_steps,
                               self.eps)
        update = whole.local(update)
        if is_tensor(update):
            # In x's precision before the learning rate multiplies it (torch's add_ does so).
            update = update.to(cast(Any, x).dtype)  # cast: x is a tensor when update is
        if _any_nonzero(self.weight_decay):
            x = cast(Array, x * (1 - self.lr * self.weight_decay))
        # A tensor learning rate scales the update as a number, as torch's add_ takes it.
        step_size = _item(-self.lr * self.scale(whole.shape))
        return add(x, update, step_size), {"momentum_buffer": buffer}


@dataclass(frozen=True, eq=False)
class Lion(Rule):
    r"""Lion: the sign of an interpolated momentum, a step of the same size in every coordinate.

    With :math:`g_t = \nabla f(x_{t-1})`, :math:`\eta` = ``lr``, :math:`(\beta_1, \beta_2)` =
    ``betas`` and :math:`\lambda` = ``weight_decay``:

    .. math::

        c_t = \operatorname{sign}\big(\beta_1 m_{t-1} + (1 - \beta_1)\, g_t\big) \\
        x_t = (1 - \eta \lambda')\, x_{t-1} - \eta\, c_t, \qquad
        m_t = \beta_2 m_{t-1} + (1 - \beta_2)\, g_t

    with :math:`\lambda' = \lambda` or, with ``decoupled_weight_decay``,
    :math:`\lambda' = \lambda / \eta_0` where :math:`\eta_0` = ``init_lr`` (by default the
    ``lr`` the rule is built with): the decay per step is then :math:`\lambda` times the
    schedule's factor :math:`\eta / \eta_0`, independent of the learning rate chosen. The
    step interpolates with :math:`\beta_1` but the momentum is kept with :math:`\beta_2 >
    \beta_1`, so the sign follows the current gradient more than the memory does. Every
    coordinate moves by exactly :math:`\eta` (or 0): the learning rate is typically 3–10
    times smaller than AdamW's, the weight decay as many times larger. State: ``exp_avg``
    (:math:`m`); no step count.

    Conventions: lion-pytorch's (0.2.5), with the paper's update; its betas may be 0 or 1
    (torch's usual betas may not be 1).

    References: Chen, Liang, Huang, Real, Wang, Pham, Dong, Luong, Hsieh, Lu and Le (2023),
    *Symbolic discovery of optimization algorithms*, NeurIPS; implementation:
    ``lion_pytorch.Lion`` (lucidrains/lion-pytorch).
    """

    elementwise: ClassVar[bool] = True
    lr: Hyper = 1e-4
    betas: tuple[Hyper, Hyper] = (0.9, 0.99)
    weight_decay: Hyper = 0.0
    _: KW_ONLY
    decoupled_weight_decay: bool = False
    init_lr: Hyper | None = None

    def __post_init__(self):
        _check_lr(self.lr)
        if isinstance(self.betas, (str, bytes)) or not hasattr(self.betas, "__len__") or len(
            self.betas
        ) != 2:
            raise TypeError(
                f"`betas` must be a pair (beta1, beta2). Received: betas={self.betas!r}"
            )
        for index, beta in enumerate(self.betas):
            _check("beta", beta, 0.0, 1.0,
                   message=f"Invalid beta parameter at index {index}: {beta}")
        _check("weight_decay", self.weight_decay)
        _check_flag("decoupled_weight_decay", self.decoupled_weight_decay)
        object.__setattr__(self, "betas", tuple(self.betas))
        if self.init_lr is None:
            object.__setattr__(self, "init_lr", self.lr)
        _check("init_lr", self.init_lr)
        if self.decoupled_weight_decay and not np.all(_as_real_array("init_lr", self.init_lr)):
            raise ValueError(
                "`init_lr` must be positive for decoupled weight decay, which divides by it. "
                f"Received: init_lr={self.init_lr!r}"
            )

    def init(self, x: Array) -> State:
        return {"exp_avg": zeros_like(x)}

    def step(
        self, x: Array, g: Array, state: State, grad_fn: Callable[[Array], Array] | None = None
    ) -> tuple[Array, State]:
        xp = namespace(x, g)
        _prepare(self, x, g)
        beta1, beta2 = self.betas
        decay = self.weight_decay
        if _any_nonzero(decay):
            if self.decoupled_weight_decay:
                decay = decay / cast(float, self.init_lr)  # set in __post_init__
            x = cast(Array, x * (1.0 - self.lr * decay))
        m = state["exp_avg"]
        x = add(x, xp.sign(add(m * beta1, g, 1.0 - beta1)), -self.lr)
        return x, {"exp_avg": add(m * beta2, g, 1.0 - beta2)}


@dataclass(frozen=True, eq=False)
class AdamWScheduleFree(Rule):
    r"""Schedule-free AdamW: no learning-rate schedule, an average of the iterates instead.

    Three sequences: :math:`z` takes AdamW steps, :math:`x` is a weighted average of the
    :math:`z`'s, and the gradient is taken at :math:`y`, between the two. With :math:`t = k+1`
    at step :math:`k`, :math:`\eta` = ``lr``, :math:`(\beta_1, \beta_2)` = ``betas``,
    :math:`\epsilon` = ``eps``, :math:`\lambda` = ``weight_decay``, :math:`T` =
    ``warmup_steps``, :math:`r` = ``r`` and :math:`p` = ``weight_lr_power``:

    .. math::

        \eta_t = \eta \min(1, t / T), \qquad
        w_t = t^r \big(\max_{s \le t} \eta_s\big)^p, \qquad
        c_t = w_t \Big/ \textstyle\sum_{s \le t} w_s \\
        v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2, \qquad g_t = \nabla f(y_{t-1}) \\
        z_t = z_{t-1} - \eta_t \lambda\, y_{t-1}
                      - \eta_t\, \frac{g_t}{\sqrt{v_t / (1 - \beta_2^t)} + \epsilon} \\
        x_t = (1 - c_t)\, x_{t-1} + c_t z_t, \qquad
        y_t = \beta_1 x_t + (1 - \beta_1)\, z_t

    with :math:`x_0 = y_0 = z_0` the start (``decay_at_z`` decays :math:`z_{t-1}` instead of
    :math:`y_{t-1}`). With :math:`r = 0` and no warmup, :math:`c_t = 1/t`: :math:`x_t` is the
    plain mean of :math:`z_1, \dots, z_t`. The average does what a decaying schedule does,
    without knowing the length of the run; :math:`\beta_1` plays the part of momentum.

    The parameter a rule steps (its ``x`` argument) is :math:`y`, where the gradient is taken.
    The model is meant to be evaluated at the average :math:`x`:
    :meth:`~adalearn.rules.AdamWScheduleFree.evaluation_point` gives it, and
    :meth:`~adalearn.rules.AdamWScheduleFree.training_point` gives :math:`y` back from the
    state. State: ``step`` (:math:`k`), ``weight_sum`` (:math:`\sum w`), ``lr_max``
    (:math:`\max \eta_s`, :math:`-1` before the first step), ``z``, ``x`` (the average) and
    ``exp_avg_sq`` (:math:`v`); the scalars are float64.

    Conventions: schedulefree's reference implementation (1.4.1), except that it keeps the
    step count, the weight sum and the largest learning rate per param group (the same for
    every parameter that gets a gradient at every step), also stores :math:`y` (here it is the
    parameter itself, and :meth:`~adalearn.rules.AdamWScheduleFree.training_point` recomputes
    it with the same operations), and prints a line when switching between training and
    evaluation.

    References: Defazio, Yang, Mehta, Mishchenko, Khaled and Cutkosky (2024), *The road less
    scheduled*, NeurIPS; implementation: ``schedulefree.AdamWScheduleFreeReference``
    (facebookresearch/schedule_free).
    """

    elementwise: ClassVar[bool] = True
    lr: Hyper = 0.0025
    betas: tuple[Hyper, Hyper] = (0.9, 0.999)
    eps: Hyper = 1e-8
    weight_decay: Hyper = 0.0
    warmup_steps: int = 0
    r: Hyper = 0.0
    weight_lr_power: Hyper = 2.0
    decay_at_z: bool = False

    def __post_init__(self):
        _check_lr(self.lr)
        _check_betas(self.betas)
        _check_eps(self.eps)
        _check("weight_decay", self.weight_decay)
        steps = self.warmup_steps
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
            error = ValueError if isinstance(steps, numbers.Integral) else TypeError
            raise error(
                f"`warmup_steps` must be a non-negative integer. Received: warmup_steps={steps!r}"
            )
        _check("r", self.r, -math.inf)
        _check("weight_lr_power", self.weight_lr_power, -math.inf)
        _check_flag("decay_at_z", self.decay_at_z)
        object.__setattr__(self, "betas", tuple(self.betas))

    def init(self, x: Array) -> State:
        return {
            "step": 0,
            "weight_sum": _scalar_state(x, 0.0, "float64"),
            "lr_max": _scalar_state(x, -1.0, "float64"),
            "z": copy(x),
            "x": copy(x),
            "exp_avg_sq": zeros_like(x),
        }

    def evaluation_point(self, state: State) -> np.ndarray | torch.Tensor:
        """The average :math:`x`, where the model is evaluated (and checkpointed)."""
        return state["x"]

    def training_point(self, state: State) -> np.ndarray | torch.Tensor:
        """:math:`y = \\beta_1 x + (1 - \\beta_1) z`, where the gradient is taken."""
        beta1 = self.betas[0]
        return add(state["x"] * beta1, state["z"], 1 - beta1)

    def step(
        self, x: Array, g: Array, state: State, grad_fn: Callable[[Array], Array] | None = None
    ) -> tuple[Array, State]:
        xp = namespace(x, g)
        _prepare(self, x, g)
        beta2 = self.betas[1]
        k = state["step"]
        lr = self.lr * _where(k < self.warmup_steps, (k + 1) / max(self.warmup_steps, 1), 1.0)
        lr_max = _maximum(lr, _item(state["lr_max"]))
        weight = ((k + 1) ** self.r) * (lr_max**self.weight_lr_power)
        weight_sum = _item(state["weight_sum"]) + weight
        empty = weight_sum == 0
        average = _where(empty, 0.0, weight / _where(empty, 1.0, weight_sum))
        z = state["z"]
        if _any_nonzero(self.weight_decay):
            z = add(z, z if self.decay_at_z else x, -lr * self.weight_decay)
        v = addcmul(beta2 * state["exp_avg_sq"], g, g, 1 - beta2)
        z = addcdiv(z, g, xp.sqrt(v / (1 - beta2 ** (k + 1))) + self.eps, -lr)
        x_avg = add(state["x"] * (1 - average), z, average)
        new = {
            "step": k + 1,
            "weight_sum": _like(state["weight_sum"], weight_sum),
            "lr_max": _like(state["lr_max"], lr_max),
            "z": z,
            "x": x_avg,
            "exp_avg_sq": v,
        }
        return cast(Array, self.training_point(new)), new


# --------------------------------------------------------------------------------------------
# torch.optim's remaining namesakes (Rprop, ASGD, LBFGS), the matrix preconditioners Shampoo and
# SOAP (pytorch-optimizer) and Prodigy (prodigyopt).


def _check_integer(name, value, low=0):
    """An integer of at least ``low``: TypeError for other types, ValueError below ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer. Received: {name}={value!r}")
    if value < low:
        raise ValueError(f"`{name}` must be at least {low}. Received: {name}={value!r}")


def _value(x):
    """A zero-dimensional tensor read as a number, also where it requires grad (``.item()``).

    torch.optim reads ASGD's learning rate ``eta`` this way: no gradient flows through it.
    """
    return _item(x.detach()) if is_tensor(x) else x


def _stored_as_torch(old, value):
    """``value`` written into the scalar ``old`` as torch.optim writes ASGD's: made a tensor of
    the default scalar dtype first, then copied into ``old``'s dtype (float64 after
    ``load_state_dict``, which casts it to the parameter's)."""
    if not is_tensor(old):
        return value
    dtype = _scalar_dtype(namespace(old))
    value = value.to(dtype) if is_tensor(value) else namespace(old).tensor(value, dtype=dtype)
    return value.to(old.dtype)


@dataclass(frozen=True, eq=False)
class Rprop(Rule):
    r"""Rprop: the sign of the gradient, with a step size per coordinate that learns itself.

    With :math:`g_t = \nabla f(x_{t-1})`, :math:`(\eta_-, \eta_+)` = ``etas`` and
    :math:`(\Gamma_{\min}, \Gamma_{\max})` = ``step_sizes``, for every coordinate:

    .. math::

        \sigma_t = \operatorname{sign}(g_t\, \tilde g_{t-1}), \qquad
        \gamma_t = \operatorname{clip}\big(\gamma_{t-1} \cdot
            \{\eta_+ \text{ if } \sigma_t > 0;\ \eta_- \text{ if } \sigma_t < 0;\
              1 \text{ otherwise}\},\ \Gamma_{\min},\ \Gamma_{\max}\big) \\
        \tilde g_t = 0 \text{ if } \sigma_t < 0, \quad \tilde g_t = g_t \text{ otherwise};
        \qquad
        x_t = x_{t-1} - \gamma_t \operatorname{sign}(\tilde g_t)

    with :math:`\gamma_0` = ``lr`` and :math:`\tilde g_0 = 0`. While the gradient keeps its
    sign the step grows by :math:`\eta_+` a step; when the sign flips, a minimum was jumped
    over: the step shrinks by :math:`\eta_-` and the coordinate rests for one step (its
    remembered gradient is zero, so the next product is zero and the step size stays). Only
    the sign of the gradient is used, never its size. State: ``step``, ``prev``
    (:math:`\tilde g`), ``step_size`` (:math:`\gamma`).

    Conventions: torch.optim's, which is Igel and Hüsken's iRprop⁻: no weight-backtracking
    (Riedmiller and Braun's original takes the last step back after a sign change) and the
    remembered gradient set to zero after one. ``lr`` is only the initial step size: a
    scheduler that changes it later changes nothing. RMSProp was introduced as a mini-batch
    version of Rprop: it keeps Rprop's indifference to the gradient's scale by dividing by a
    running root mean square, which, unlike the sign, averages over mini-batches.

    References: Riedmiller and Braun (1993), *A direct adaptive method for faster
    backpropagation learning: the RPROP algorithm*, IEEE ICNN; Igel and Hüsken (2000),
    *Improving the Rprop learning algorithm*; implementation: ``torch.optim.Rprop``
    (single-tensor path).
    """

    elementwise: ClassVar[bool] = True
    lr: Hyper = 1e-2
    etas: tuple[Hyper, Hyper] = (0.5, 1.2)
    step_sizes: tuple[Hyper, Hyper] = (1e-6, 50)
    _: KW_ONLY
    maximize: bool = False

    def __post_init__(self):
        _check_lr(self.lr)
        _check_pair("etas", self.etas, "(etaminus, etaplus)")
        etaminus, etaplus = (_as_real_array("etas", eta) for eta in self.etas)
        if not (np.all(etaminus > 0) and np.all(etaminus < 1) and np.all(etaplus > 1)):
            raise ValueError(f"Invalid eta values: {self.etas[0]}, {self.etas[1]}")
        _check_pair("step_sizes", self.step_sizes, "(min, max)")
        low, high = self.step_sizes
        _check("step_sizes", low, message=f"Invalid step_sizes values: {low}, {high}")
        _check("step_sizes", high, message=f"Invalid step_sizes values: {low}, {high}")
        if np.any(_as_real_array("step_sizes", low) > _as_real_array("step_sizes", high)):
            raise ValueError(f"Invalid step_sizes values: {low}, {high}")
        _check_flag("maximize", self.maximize)
        object.__setattr__(self, "etas", tuple(self.etas))
        object.__setattr__(self, "step_sizes", tuple(self.step_sizes))

    def init(self, x: Array) -> State:
        return {"step": 0, "prev": zeros_like(x), "step_size": zeros_like(x) + self.lr}

    def step(
        self, x: Array, g: Array, state: State, grad_fn: Callable[[Array], Array] | None = None
    ) -> tuple[Array, State]:
        xp = namespace(x, g)
        g = _prepare(self, x, g)
        etaminus, etaplus = self.etas
        low, high = self.step_sizes
        sign = xp.sign(g * state["prev"])
        # NaN stays NaN, as torch's masked assignments leave it.
        factor = xp.where(sign > 0, etaplus,
                          xp.where(sign < 0, etaminus, xp.where(sign == 0, 1.0, sign)))
        step_size = xp.clip(state["step_size"] * factor, low, high)
        g = xp.where(factor == etaminus, 0.0, g)
        x = addcmul(x, xp.sign(g), step_size, -1)
        return x, {"step": state["step"] + 1, "prev": g, "step_size": step_size}


@dataclass(frozen=True, eq=False)
class ASGD(Rule):
    r"""ASGD: gradient descent with a decaying step, and the average of its iterates.

    With :math:`g_t = \nabla f(x_{t-1}) + \lambda x_{t-1}`, :math:`\eta` = ``lr``,
    :math:`\kappa` = ``lambd``, :math:`\alpha` = ``alpha``, :math:`t_0` = ``t0`` and
    :math:`\lambda` = ``weight_decay``:

    .. math::

        x_t = (1 - \kappa \eta_{t-1})\, x_{t-1} - \eta_{t-1}\, g_t, \qquad
        \bar x_t = \bar x_{t-1} + \mu_{t-1} (x_t - \bar x_{t-1}) \\
        \eta_t = \frac{\eta}{(1 + \kappa \eta t)^{\alpha}}, \qquad
        \mu_t = \frac{1}{\max(1, t - t_0)}

    with :math:`\eta_0 = \eta` and :math:`\mu_0 = 1`, so that :math:`\bar x_t = x_t` up to step
    :math:`t_0 + 2` and from there on :math:`\bar x_t` is the running mean of
    :math:`x_{t_0+2}, \dots, x_t` (for an integer :math:`t_0`). The parameters themselves are
    the plain iterates :math:`x_t`; the average :math:`\bar x` is state (``ax``), to be
    copied into the model for evaluation. State:
    ``step``, ``eta`` (:math:`\eta_t`), ``mu`` (:math:`\mu_t`), ``ax`` (:math:`\bar x`); the
    scalars as zero-dimensional tensors beside tensors.

    Conventions: torch.optim's. :math:`\eta_t` and :math:`\mu_t` are rounded to torch's scalar
    dtype (float32 unless the default dtype is float64) and read back from it; the decay
    :math:`1 - \kappa\eta_{t-1}` is a second, L2-like shrinkage. ``eta`` starts at the ``lr``
    of the first step; later, :math:`\eta_t` is computed from the current ``lr``, so a
    scheduler acts with one step of delay. With the default :math:`t_0 = 10^6` no averaging
    happens in a short run.

    References: Polyak and Juditsky (1992), *Acceleration of stochastic approximation by
    averaging*, SIAM J. Control Optim.; Ruppert (1988), *Efficient estimations from a slowly
    convergent Robbins–Monro process*; Bottou (2012), *Stochastic gradient descent tricks*
    (the step schedule); implementation: ``torch.optim.ASGD`` (single-tensor
    path).
    """

    elementwise: ClassVar[bool] = True
    lr: Hyper = 1e-2
    lambd: Hyper = 1e-4
    alpha: Hyper = 0.75
    t0: Hyper = 1e6
    weight_decay: Hyper = 0.0
    _: KW_ONLY
    maximize: bool = False

    def __post_init__(self):
        _check_lr(self.lr)
        _check("lambd", self.lambd)
        _check("alpha", self.alpha)
        _check("t0", self.t0)
        _check("weight_decay", self.weight_decay)
        _check_flag("maximize", self.maximize)

    def init(self, x: Array) -> State:
        lr = _value(self.lr)
        # A sweep over learning rates (numpy) keeps one eta per run.
        eta = _scalar_state(x, lr) if np.ndim(lr) == 0 else np.asarray(lr, dtype=float)
        return {"step": 0, "eta": eta, "mu": _scalar_state(x, 1.0), "ax": zeros_like(x)}

    def step(
        self, x: Array, g: Array, state: State, grad_fn: Callable[[Array], Array] | None = None
    ) -> tuple[Array, State]:
        g = _l2(self, x, _prepare(self, x, g))
        t = state["step"] + 1
        eta = _value(state["eta"])
        x = add(x * (1 - self.lambd * eta), g, -eta)
        mu, ax = _item(state["mu"]), state["ax"]
        if not isinstance(mu, numbers.Real):  # an array, or a tensor in compiled code
            ax = _where(mu != 1, ax + (x - ax) * mu, x)
        elif mu != 1:
            ax = ax + (x - ax) * mu
        else:
            ax = copy(x)
        return x, {**self._scalars(state, t), "ax": ax}

    def step_in_place(self, x: torch.Tensor, g: torch.Tensor, state: State) -> State:
        """The rule's ``step``, written into ``x`` and ``state`` (see :class:`Rule`)."""
        (lambd,) = _numbers(self, "lambd")
        g = _l2(self, x, _prepare(self, x, g))
        t = state["step"] + 1
        eta = _value(state["eta"])
        x.mul_(1 - lambd * eta).add_(g, alpha=-eta)
        mu, ax = _item(state["mu"]), state["ax"]
        if mu != 1:
            ax.add_((x - ax).mul_(mu))
        else:
            ax.copy_(x)
        return self._scalars(state, t)

    def _scalars(self, state, t):
        """The step count and the scalars ``eta`` and ``mu`` after step ``t``."""
        lr = _value(self.lr)
        return {
            "step": t,
            "eta": _stored_as_torch(state["eta"], lr / ((1 + self.lambd * lr * t) ** self.alpha)),
            "mu": _stored_as_torch(state["mu"], 1 / _maximum(1, t - self.t0)),
        }


def _dot(a, b):
    """The dot product of two vectors (``torch.dot`` on tensors, as torch.optim's L-BFGS)."""
    return a.dot(b) if is_tensor(a) else np.dot(a, b)


def _cubic_minimum(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through two points with their values and slopes, clamped.

    Within ``bounds`` (by default the interval between the points); the interval's middle
    when the cubic has no minimum. The interpolation of Nocedal and Wright (2006), eq. 3.59.
    """
    if bounds is None:
        bounds = (x1, x2) if x1 <= x2 else (x2, x1)
    low, high = bounds
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    discriminant = d1**2 - g1 * g2
    if discriminant < 0:
        return (low + high) / 2.0
    d2 = namespace(discriminant).sqrt(discriminant)
    if x1 <= x2:
        point = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        point = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(point, low), high)


def _move(x, d, t, pieces=None):
    """``x + t d``, computed piece by piece when ``pieces`` gives the sizes ``x`` is made of.

    torch.optim's L-BFGS adds the step to each parameter on its own; in bfloat16 and float16
    an element's rounding depends on where it sits in the tensor being added to, so the pieces
    are added as the parameters are.
    """
    if pieces is None or len(pieces) < 2:
        return add(x, d, t)
    parts, start = [], 0
    for n in pieces:
        parts.append(add(x[start : start + n], d[start : start + n], t))
        start += n
    return namespace(x).concatenate(parts)


def _strong_wolfe(value_and_grad, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25, move=_move):
    """A step length along ``d`` from ``x`` that satisfies the strong Wolfe conditions.

    Nocedal and Wright's algorithms 3.5 (bracketing) and 3.6 (zoom), with cubic interpolation,
    as torch.optim's L-BFGS runs them (after minFunc): at most ``max_ls`` evaluations beyond
    the first, sufficient decrease with ``c1``, curvature with ``c2``. ``f``, ``g`` and ``gtd``
    are the value, gradient and slope at ``t = 0``; ``move(x, d, t)`` is the point at step
    ``t``. Returns the value and gradient at the step found, the step, and the number of
    evaluations.
    """
    d_norm = namespace(d).abs(d).max()
    g = copy(g)
    f_new, g_new = value_and_grad(move(x, d, t))
    evaluations = 1
    gtd_new = _dot(g_new, d)

    # Bracketing: grow the step until an interval is known to hold a point that satisfies the
    # conditions, or the current step satisfies them.
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        too_far = f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev)
        if not too_far and abs(gtd_new) <= -c2 * gtd:
            bracket, values, grads = [t], [f_new], [g_new]
            done = True
            break
        if too_far or gtd_new >= 0:
            bracket, values = [t_prev, t], [f_prev, f_new]
            grads, slopes = [g_prev, copy(g_new)], [gtd_prev, gtd_new]
            break
        step = _cubic_minimum(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                              bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, copy(g_new), gtd_new
        t = step
        f_new, g_new = value_and_grad(move(x, d, t))
        evaluations += 1
        gtd_new = _dot(g_new, d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, values, grads = [0, t], [f, f_new], [g, g_new]

    # Zoom: shrink the interval, keeping its low end the lowest point seen.
    insufficient = False
    low, high = (0, 1) if values[0] <= values[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_minimum(bracket[0], values[0], slopes[0], bracket[1], values[1], slopes[1])
        top, bottom = max(bracket), min(bracket)
        margin = 0.1 * (top - bottom)
        if min(top - t, t - bottom) < margin:
            # Near an end: after a second such step, or on the end itself, move a tenth in.
            if insufficient or t >= top or t <= bottom:
                t = top - margin if abs(t - top) < abs(t - bottom) else bottom + margin
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        f_new, g_new = value_and_grad(move(x, d, t))
        evaluations += 1
        gtd_new = _dot(g_new, d)
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= values[low]:
            bracket[high], values[high], grads[high], slopes[high] = t, f_new, copy(g_new), gtd_new
            low, high = (0, 1) if values[0] <= values[1] else (1, 0)
            continue
        if abs(gtd_new) <= -c2 * gtd:
            done = True
        elif gtd_new * (bracket[high] - bracket[low]) >= 0:
            bracket[high], values[high] = bracket[low], values[low]
            grads[high], slopes[high] = grads[low], slopes[low]
        bracket[low], values[low], grads[low], slopes[low] = t, f_new, copy(g_new), gtd_new
    return values[low], grads[low], bracket[low], evaluations


@dataclass(frozen=True, eq=False)
class LBFGS(Rule):
    r"""L-BFGS: a quasi-Newton step from the last few gradient differences.

    ``x`` is one vector (an array of any shape is taken as its flattened elements). With
    :math:`s_i = x_{i+1} - x_i` and :math:`y_i = g_{i+1} - g_i` for the last :math:`m` =
    ``history_size`` iterations (those with :math:`y_i^\top s_i > 10^{-10}`), the direction is
    :math:`d = -H g`, where :math:`H` is the BFGS inverse-Hessian estimate built from those
    pairs, starting from :math:`H_0 = \gamma I` with :math:`\gamma = y^\top s / y^\top y` of the
    newest pair. It is computed without forming :math:`H` (the two-loop recursion,
    :math:`O(mn)`):

    .. math::

        q \leftarrow -g; \quad \text{for } i = \text{newest} \dots \text{oldest}:\
            a_i = \rho_i s_i^\top q,\ q \leftarrow q - a_i y_i \\
        r \leftarrow \gamma q; \quad \text{for } i = \text{oldest} \dots \text{newest}:\
            b_i = \rho_i y_i^\top r,\ r \leftarrow r + (a_i - b_i) s_i; \qquad d = r

    with :math:`\rho_i = 1 / y_i^\top s_i`. The step is :math:`x \leftarrow x + t d` with
    :math:`t` = ``lr`` (the very first one :math:`t = \eta \min(1, 1/\lVert g \rVert_1)`, as
    there is no curvature yet), or, with ``line_search_fn="strong_wolfe"``, the step length
    that a line search finds. One ``step`` is one call of torch.optim's ``LBFGS.step``: up to
    ``max_iter`` such iterations and ``max_eval`` function evaluations, stopped early when the
    largest gradient entry is at most ``tolerance_grad``, or the step, the slope along
    :math:`d` or the change of the loss falls below ``tolerance_change``.

    Calling it. Beyond the gradient ``g`` at ``x``, L-BFGS needs values and more gradients:
    ``step(x, g, state, value=f(x), value_and_grad=fn)``, where ``fn(x)`` returns the pair
    ``(f(x), ∇f(x))`` (``grad_fn`` is not used). When ``x`` is several arrays flattened and
    concatenated, ``pieces`` (their sizes) makes each move :math:`x + t d` piece by piece, as
    torch.optim adds to each parameter (in bfloat16 and float16 the rounding of an element
    depends on where it sits in the array added to). ``value_and_grad`` is required unless
    ``max_iter=1`` and there is no line search; that configuration takes exactly one gradient
    per step, as every other rule does, and is the stochastic L-BFGS of a training loop.
    :class:`adalearn.optim.LBFGS` passes a function that sets the parameters and calls the
    closure. The rule is not elementwise, not batched over leading dimensions, and runs eagerly
    (its loop depends on the values it computes).

    State, torch.optim's: ``func_evals``, ``n_iter`` (iterations over all steps), ``d``,
    ``t``, ``old_dirs`` (the :math:`y_i`), ``old_stps`` (the :math:`s_i`), ``ro``
    (:math:`\rho_i`), ``H_diag`` (:math:`\gamma`), ``prev_flat_grad`` and ``prev_loss``; the
    scratch list ``al`` of torch's is not kept.

    Conventions: torch.optim's, including that the line search uses its default
    ``tolerance_change`` of :math:`10^{-9}`, not the rule's, and that the curvature condition
    uses :math:`c_1 = 10^{-4}`, :math:`c_2 = 0.9`.

    References: Liu and Nocedal (1989), *On the limited memory BFGS method for large scale
    optimization*, Math. Programming 45; Nocedal and Wright (2006), *Numerical Optimization*,
    chapters 3 and 7; implementation: ``torch.optim.LBFGS`` (after Schmidt's minFunc).
    """

    lr: Hyper = 1.0
    max_iter: int = 20
    max_eval: int | None = None
    tolerance_grad: Hyper = 1e-7
    tolerance_change: Hyper = 1e-9
    history_size: int = 100
    line_search_fn: str | None = None

    def __post_init__(self):
        _check_lr(self.lr)
        _check_integer("max_iter", self.max_iter, 1)
        if self.max_eval is None:
            object.__setattr__(self, "max_eval", self.max_iter * 5 // 4)
        _check_integer("max_eval", self.max_eval, 1)
        _check("tolerance_grad", self.tolerance_grad)
        _check("tolerance_change", self.tolerance_change)
        _check_integer("history_size", self.history_size, 1)
        if self.line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(
                "`line_search_fn` must be None or 'strong_wolfe'. "
                f"Received: line_search_fn={self.line_search_fn!r}"
            )

    def init(self, x: Array) -> State:
        return {"func_evals": 0, "n_iter": 0}

    def direction(self, g: Array, state: State) -> tuple[Array, State]:
        """The L-BFGS direction :math:`-Hg` (the two-loop recursion) and the updated memory.

        ``state`` holds the previous direction ``d``, step ``t`` and gradient
        ``prev_flat_grad``; the pair :math:`(s, y)` they give joins the memory when
        :math:`y^\\top s > 10^{-10}`. Returns ``d`` and the new ``old_dirs``, ``old_stps``,
        ``ro`` and ``H_diag``.
        """
        if state["n_iter"] == 1:
            return -g, {"old_dirs": [], "old_stps": [], "ro": [], "H_diag": 1}
        old_dirs: list[Any]
        old_stps: list[Any]
        ro: list[Any]
        old_dirs, old_stps, ro = state["old_dirs"], state["old_stps"], state["ro"]
        scale = state["H_diag"]
        y = g - state["prev_flat_grad"]
        s = state["d"] * state["t"]
        ys = _dot(y, s)
        if ys > 1e-10:
            keep: int = 1 if len(old_dirs) == self.history_size else 0
            old_dirs, old_stps = [*old_dirs[keep:], y], [*old_stps[keep:], s]
            ro = [*ro[keep:], 1.0 / ys]
            scale = ys / _dot(y, y)
        q = -g
        a: list[Any] = [None] * len(old_dirs)
        for i in reversed(range(len(old_dirs))):
            a[i] = _dot(old_stps[i], q) * ro[i]
            q = add(q, old_dirs[i], -a[i])
        r = q * scale
        for i in range(len(old_dirs)):
            b = _dot(old_dirs[i], r) * ro[i]
            r = add(r, old_stps[i], a[i] - b)
        return r, {"old_dirs": old_dirs, "old_stps": old_stps, "ro": ro, "H_diag": scale}

    def step(
        self,
        x: Array,
        g: Array,
        state: State,
        grad_fn: Callable[[Array], Array] | None = None,
        *,
        value: float | None = None,
        value_and_grad: Callable[[Array], tuple[float, Array]] | None = None,
        pieces: Sequence[int] | None = None,
    ) -> tuple[Array, State]:
        g = _prepare(self, x, g)
        if (value is None or value_and_grad is None) and (
            self.max_iter > 1 or self.line_search_fn is not None
        ):
            raise TypeError(
                "`value` and `value_and_grad` must be given to LBFGS.step: the loss at x and a "
                "function that returns the loss and its gradient at a point, as L-BFGS "
                f"evaluates the loss again with max_iter={self.max_iter} and "
                f"line_search_fn={self.line_search_fn!r}. "
                f"Received: value={value!r}, value_and_grad={value_and_grad!r}"
            )
        shape = x.shape
        x, g = x.reshape(-1), g.reshape(-1)
        abs_ = namespace(x, g).abs
        # A tensor lr is kept as the object itself: torch's state["t"] is then that tensor,
        # which a scheduler changes in place before the next step's s = d t reads it.
        lr = self.lr
        state = {**state, "func_evals": state["func_evals"] + 1}
        loss, evaluations = value, 1
        if abs_(g).max() <= self.tolerance_grad:
            return x.reshape(shape), state
        n_iter = 0
        while n_iter < self.max_iter:
            n_iter += 1
            state["n_iter"] += 1
            d, memory = self.direction(g, state)
            state.update(memory, d=d, prev_flat_grad=copy(g), prev_loss=loss)
            t = min(1.0, 1.0 / abs_(g).sum()) * lr if state["n_iter"] == 1 else lr
            state["t"] = t
            gtd = _dot(g, d)
            if gtd > -self.tolerance_change:
                break
            more = 0
            if self.line_search_fn is not None:
                loss, g, t, more = _strong_wolfe(
                    value_and_grad, x, t, d, loss, g, gtd,
                    max_ls=cast(int, self.max_eval) - evaluations,  # an int after __post_init__
                    move=lambda x, d, t: _move(x, d, t, pieces))
                state["t"] = t
                x = _move(x, d, t, pieces)
                converged = abs_(g).max() <= self.tolerance_grad
            else:
                x = _move(x, d, t, pieces)
                converged = False
                if n_iter != self.max_iter:
                    # Not after the last iteration: the next step evaluates there anyway.
                    # cast: max_iter > 1 here, so step checked that value_and_grad is given.
                    loss, g = cast(Callable[[Array], tuple[float, Array]], value_and_grad)(x)
                    converged = abs_(g).max() <= self.tolerance_grad
                    more = 1
            evaluations += more
            state["func_evals"] += more
            if (
                n_iter == self.max_iter
                or evaluations >= cast(int, self.max_eval)
                or converged
                or abs_(d * t).max() <= self.tolerance_change
                or abs(loss - state["prev_loss"]) < self.tolerance_change
            ):
                break
        return x.reshape(shape), state


# The matrix preconditioners. Their linear algebra runs on numpy or torch through these helpers;
# on tensors each is the operation pytorch-optimizer calls, so that the results are its own.


def _check_reference(name, value, message, positive=False):
    """pytorch-optimizer's checks: its messages, as ValueErrors."""
    _as_real_array(name, value)
    if np.any(np.asarray(value) <= 0) if positive else np.any(np.asarray(value) < 0):
        raise ValueError(message)


def _reject_complex_matrix(rule, x):
    """pytorch-optimizer's refusal of complex parameters, in its words, as torch's error type."""
    if x.is_complex() if is_tensor(x) else np.iscomplexobj(x):
        raise RuntimeError(f"{rule.name} does not support complex parameter.")


def _eye(x, n):
    """The ``n`` × ``n`` identity in the dtype and on the device of ``x``."""
    if is_tensor(x):
        return namespace(x).eye(n, dtype=x.dtype, device=x.device)
    return np.eye(n, dtype=x.dtype)


def _permute(x, order):
    return x.permute(*order) if is_tensor(x) else np.transpose(x, order)


def _unfold(x, axis):
    """The mode-``axis`` unfolding: that axis first, the others flattened, row-major."""
    moved = x.movedim(axis, 0) if is_tensor(x) else np.moveaxis(x, axis, 0)
    return moved.reshape(x.shape[axis], -1)


def _inverse_root(matrix, power):
    """:math:`M^{-1/p}` of a symmetric positive semi-definite ``matrix``, by an SVD.

    The SVD runs in float64 for float64 input and in float32 otherwise, as
    pytorch-optimizer's ``compute_power_svd``.
    """
    if is_tensor(matrix):
        torch = namespace(matrix)
        dtype = torch.float64 if matrix.dtype == torch.float64 else torch.float32
        u, s, vh = torch.linalg.svd(matrix.to(dtype), full_matrices=False)
        return ((u * s.pow(-1.0 / power).unsqueeze(-2)) @ vh).to(matrix.dtype)
    dtype = np.float64 if matrix.dtype == np.float64 else np.float32
    u, s, vh = np.linalg.svd(matrix.astype(dtype), full_matrices=False)
    return ((u * (s ** (-1.0 / power))[None, :]) @ vh).astype(matrix.dtype)


@dataclass(frozen=True, eq=False)
class Shampoo(Rule):
    r"""Shampoo: one preconditioner per dimension of a tensor, a Kronecker factor each.

    With :math:`G_t` the gradient of a matrix :math:`X` of shape :math:`m \times n`,
    :math:`\eta` = ``lr`` and :math:`\epsilon` = ``matrix_eps``:

    .. math::

        L_t = L_{t-1} + G_t G_t^\top, \qquad R_t = R_{t-1} + G_t^\top G_t, \qquad
        L_0 = \epsilon I_m,\ R_0 = \epsilon I_n \\
        X_t = X_{t-1} - \eta\, L_t^{-1/4}\, G_t\, R_t^{-1/4}

    :math:`L_t` and :math:`R_t` hold :math:`m^2 + n^2` numbers where full-matrix AdaGrad,
    :math:`(\epsilon I + \sum_s g_s g_s^\top)^{-1/2} g_t` with :math:`g = \operatorname{vec}
    G`, holds :math:`(mn)^2`. Since :math:`\sum_s g_s g_s^\top \preceq r\, (L_t^{1/2} \otimes
    R_t^{1/2})` for gradients of rank at most :math:`r` (Gupta, Koren and Singer's lemma), the
    Kronecker product of the two fourth roots stands in for that square root. A tensor of
    order :math:`k` gets one factor per dimension, :math:`H_{i,t} = H_{i,t-1} + G_{(i)}
    G_{(i)}^\top` (:math:`G_{(i)}` the mode-:math:`i` unfolding), each applied with the power
    :math:`-1/(2k)`; a vector (:math:`k = 1`) is full-matrix AdaGrad,
    :math:`(\epsilon I + \sum_s g_s g_s^\top)^{-1/2} g_t`. State: ``step``,
    ``momentum_buffer`` and, per dimension :math:`i`, ``pre_cond_i`` (:math:`H_i`) and
    ``inv_pre_cond_i`` (:math:`H_i^{-1/2k}`).

    The roots come from an SVD (float64 for float64 parameters, float32 otherwise) every
    ``preconditioning_compute_steps`` steps (until the first such step the roots are zero and
    the parameters do not move). On numpy and on torch alike; the step is not elementwise.

    Conventions: pytorch-optimizer's ``Shampoo`` (4.1.0), which adds to the paper's algorithm:

    - ``momentum`` :math:`\mu` mixes the gradient with the *previous update*:
      :math:`\tilde G_t = (1 - \mu) G_t + \mu\, U_{t-1}`, where :math:`U_{t-1}` is last step's
      preconditioned direction (``momentum_buffer``, which holds the update even without
      momentum; the first is :math:`G_1`, taken before ``maximize`` negates it).
      :math:`\tilde G_t`, after weight decay, is both accumulated into the factors and
      preconditioned.
    - ``weight_decay`` :math:`\lambda` adds :math:`\lambda X` to the gradient, or with
      ``weight_decouple`` multiplies :math:`X` by :math:`1 - \eta\lambda` first (by
      :math:`1 - \lambda` with ``fixed_decay``).

    References: Gupta, Koren and Singer (2018), *Shampoo: preconditioned stochastic tensor
    optimization*, ICML; implementation: ``pytorch_optimizer.Shampoo`` (kozistr/
    pytorch_optimizer).
    """

    lr: float = 1e-3
    momentum: float = 0.0
    weight_decay: float = 0.0
    weight_decouple: bool = False
    fixed_decay: bool = False
    preconditioning_compute_steps: int = 1
    matrix_eps: float = 1e-6
    _: KW_ONLY
    maximize: bool = False

    def __post_init__(self):
        _check_reference("lr", self.lr, f"learning rate must be positive. ({self.lr} > 0)")
        momentum = _as_real_array("momentum", self.momentum)
        if np.any(momentum < 0) or np.any(momentum >= 1):
            raise ValueError("momentum must be in the range [0.0, 1.0)")
        _check_reference("weight_decay", self.weight_decay, "weight_decay must be non-negative")
        _check_flag("weight_decouple", self.weight_decouple)
        _check_flag("fixed_decay", self.fixed_decay)
        steps = self.preconditioning_compute_steps
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
            raise TypeError(
                "`preconditioning_compute_steps` must be an integer. "
                f"Received: preconditioning_compute_steps={steps!r}"
            )
        if steps < 1:
            raise ValueError(f"preconditioning_compute_steps must be positive. ({steps} > 0)")
        _check_reference("matrix_eps", self.matrix_eps, "matrix_eps must be non-negative")
        _check_flag("maximize", self.maximize)

    def init(self, x: Array) -> State:
        return self.init_shard(x, Shards(x.shape))

    def init_shard(self, x: Array, whole: Shards) -> State:
        """The state of rows ``x`` of a tensor (see :class:`Shards`): factors of the whole."""
        state: State = {"step": 0}
        if _any_nonzero(self.momentum):
            state["momentum_buffer"] = None  # the first gradient, at the first step
        for i, n in enumerate(whole.shape):
            state[f"pre_cond_{i}"] = _eye(x, n) * self.matrix_eps
            state[f"inv_pre_cond_{i}"] = zeros_like(_eye(x, n))
        return state

    def step(
        self, x: Array, g: Array, state: State, grad_fn: Callable[[Array], Array] | None = None
    ) -> tuple[Array, State]:
        return self.step_shard(x, g, state, Shards(x.shape))

    def step_shard(
        self, x: Array, g: Array, state: State, whole: Shards
    ) -> tuple[Array, State]:
        """The step of some rows of a tensor (see :class:`Shards`); all of it, unsharded.

        The momentum and the weight decay are elementwise and run on the rows; the gradient
        they give is gathered whole, once, and every process updates the factors and their
        roots, the same on each (they are kept whole: replicated), preconditions the whole
        gradient and keeps its rows, as the parameter's step and the momentum buffer.
        """
        t = state["step"] + 1
        x, new = self._update(x, g, state, t % self.preconditioning_compute_steps == 0, whole)
        return x, {"step": t, **new}

    def update(self, x: Array, g: Array, state: State, refresh: bool) -> tuple[Array, State]:
        """The step without its count: ``refresh`` says whether the roots are recomputed.

        ``step`` decides it from the count; :class:`adalearn.optim.Shampoo` compiles this
        method with ``compile=True``.
        """
        return self._update(x, g, state, refresh, Shards(x.shape))

    def _update(self, x, g, state, refresh, whole):
        _reject_complex_matrix(self, x)
        first = g
        g = _prepare(self, x, g)
        new = {}
        if _any_nonzero(self.momentum):
            buffer = state["momentum_buffer"]
            g = lerp(g, first if buffer is None else buffer, self.momentum)
        if _any_nonzero(self.weight_decay):
            if self.weight_decouple:
                x = x * (1.0 - self.weight_decay * (1.0 if self.fixed_decay else self.lr))
            else:
                g = add(g, x, self.weight_decay)
        g = whole.gather(g)
        shape, order = g.shape, len(g.shape)
        statistics = g
        for i, n in enumerate(shape):
            unfolded = _unfold(statistics, i)
            factor = _addmm(state[f"pre_cond_{i}"], unfolded, unfolded.T)
            new[f"pre_cond_{i}"] = whole.replicated(factor)
            root = state[f"inv_pre_cond_{i}"]
            if refresh:
                root = _inverse_root(factor, 2 * order)
            new[f"inv_pre_cond_{i}"] = whole.replicated(root)
            # Dimension i to the front, multiplied from the left (the last from the right).
            g = _swap(g, 0, i)
            swapped = g.shape
            g = g.reshape(n, -1)
            g = (g.T @ root).reshape(shape) if i == order - 1 else (root @ g).reshape(swapped)
        g = new["momentum_buffer"] = whole.local(g)
        return add(x, g, -self.lr), new


def _swap(x, a, b):
    return x.transpose(a, b) if is_tensor(x) else np.swapaxes(x, a, b)


def _merged_shape(shape, max_dim):
    """pytorch-optimizer's ``merge_small_dims``: neighbouring dimensions multiplied together
    while their product stays at most ``max_dim``; all of them in one when they fit (where the
    reference returns ``[1]`` and then fails to reshape)."""
    merged, product = [], 1
    for n in shape:
        product *= n
        if product > max_dim:
            merged.append(product // n)
            product = n
    merged.append(product)
    return merged


def _take(x, indices, axis):
    return x.index_select(axis, indices) if is_tensor(x) else np.take(x, indices, axis=axis)


def _eigenvectors(matrix):
    """The eigenvectors of a symmetric matrix, by eigenvalue from the largest down."""
    shifted = matrix + 1e-30 * _eye(matrix, matrix.shape[0])
    if is_tensor(matrix):
        return namespace(matrix).flip(namespace(matrix).linalg.eigh(shifted)[1], dims=[1])
    return np.linalg.eigh(shifted)[1][:, ::-1].copy()


def _qr_in_float32(matrix):
    """The Q of a QR factorisation computed in float32, returned in ``matrix``'s dtype."""
    if is_tensor(matrix):
        torch = namespace(matrix)
        return torch.linalg.qr(matrix.to(torch.float32))[0].to(matrix.dtype)
    return np.linalg.qr(matrix.astype(np.float32))[0].astype(matrix.dtype)


def _descending(values):
    if is_tensor(values):
        return namespace(values).argsort(values, descending=True)
    return np.argsort(-values, kind="stable")


@dataclass(frozen=True, eq=False)
class SOAP(Rule):
    r"""SOAP: Adam run in the eigenbasis of Shampoo's preconditioner, refreshed now and then.

    For a matrix :math:`X` with gradient :math:`G_t`, :math:`\eta` = ``lr``,
    :math:`(\beta_1, \beta_2)` = ``betas``, :math:`\beta_s` = ``shampoo_beta`` (by default
    :math:`\beta_2`), :math:`\epsilon` = ``eps``, :math:`\lambda` = ``weight_decay`` and
    :math:`f` = ``precondition_frequency``:

    .. math::

        L_t = \beta_s L_{t-1} + (1 - \beta_s)\, G_t G_t^\top, \qquad
        R_t = \beta_s R_{t-1} + (1 - \beta_s)\, G_t^\top G_t \\
        \tilde G_t = Q_L^\top G_t Q_R, \qquad
        M_t = \beta_1 M_{t-1} + (1 - \beta_1)\, G_t, \qquad
        V_t = \beta_2 V_{t-1} + (1 - \beta_2)\, \tilde G_t^{\,2} \\
        X_t = (1 - \eta\lambda)\Big(X_{t-1} - \eta\,
              \frac{\sqrt{1 - \beta_2^{k}}}{1 - \beta_1^{k}}\;
              Q_L \frac{Q_L^\top M_t Q_R}{\sqrt{V_t} + \epsilon} Q_R^\top\Big)

    where :math:`Q_L, Q_R` are the eigenvectors of :math:`L, R`. Shampoo's update
    :math:`L^{-1/4} G R^{-1/4}` rescales :math:`G` in that basis by fixed powers of the
    eigenvalues; SOAP instead runs Adam on the rotated coordinates, so each gets the scale of
    its own running second moment :math:`V` and the basis can go stale for a while: it is
    refreshed every :math:`f` steps, by one step of power iteration and a QR factorisation,
    :math:`Q \leftarrow \operatorname{qr}(L\,Q)` (columns ordered by the estimated
    eigenvalues :math:`\operatorname{diag}(Q^\top L Q)`, with :math:`V`'s coordinates reordered
    alike). The first step only starts the factors and computes :math:`Q` by an eigen
    decomposition, so that the projection never uses the gradient it projects; :math:`k` is
    the number of steps before the current one. A tensor of order :math:`k` has one factor per
    dimension of at most ``max_precondition_dim`` (larger ones are left in place); a vector is
    plain Adam unless ``precondition_1d``; ``merge_dims`` first merges neighbouring small
    dimensions (with ``data_format="channels_last"`` a 4-D tensor is taken as NHWC). State:
    ``step``, ``exp_avg`` (:math:`M`, in the original coordinates), ``exp_avg_sq``
    (:math:`V`, in the rotated ones), ``GG`` (the factors; ``[]`` where a dimension has none),
    ``Q`` (their bases), and the ``precondition_frequency`` and ``shampoo_beta`` of the first
    step.

    On numpy and on torch; not elementwise. The eigen and QR decompositions are LAPACK's on
    either, and where a factor has repeated eigenvalues (a rank-deficient :math:`L` or
    :math:`R`, as early in training for a matrix that is not square) its eigenvectors are any
    basis of that eigenspace, which the diagonal :math:`V` then depends on: numpy and torch
    then agree only in distribution, and torch agrees with pytorch-optimizer because it makes
    the same calls on the same numbers.

    Conventions: pytorch-optimizer's ``SOAP`` (4.1.0), a port of the authors' first release,
    with its names (``max_precondition_dim``, ``normalize_gradient``; the authors'
    ``max_precond_dim``, ``normalize_grads``) and defaults, and where it differs from that
    release:

    - ``shampoo_beta=None`` (the authors': ``-1``) uses :math:`\beta_2`; the factors keep the
      gradient's dtype (the authors' float32) and their first eigen decomposition runs in it;
      the QR refresh runs in float32, as in both.
    - the step count and the bias correction belong to the param group; ``merge_dims`` uses
      pytorch-optimizer's merging rule, except that a tensor whose dimensions all merge into
      one keeps that one dimension and a vector is never merged (where the reference fails).
    - ``normalize_gradient`` divides the update by its RMS plus ``eps`` (the authors' plus
      :math:`10^{-30}`).

    The authors' release of December 2024 keeps :math:`M` in the rotated basis instead,
    carrying it into each new basis at a refresh.

    References: Vyas, Morwani, Zhao, Kwun, Shapira, Brandfonbrener, Janson and Kakade (2025),
    *SOAP: improving and stabilizing Shampoo using Adam*, ICLR (arXiv:2409.11321);
    implementation: ``pytorch_optimizer.SOAP`` (kozistr/pytorch_optimizer), after
    nikhilvyas/SOAP.
    """

    lr: float = 3e-3
    betas: tuple[float, float] = (0.95, 0.95)
    shampoo_beta: float | None = None
    weight_decay: float = 1e-2
    precondition_frequency: int = 10
    max_precondition_dim: int = 10000
    merge_dims: bool = False
    precondition_1d: bool = False
    correct_bias: bool = True
    normalize_gradient: bool = False
    data_format: str = "channels_first"
    eps: float = 1e-8
    _: KW_ONLY
    maximize: bool = False

    def __post_init__(self):
        _check_reference("lr", self.lr, f"learning rate must be positive. ({self.lr} > 0)")
        _check_pair("betas", self.betas, "(beta1, beta2)")
        for index, beta in enumerate(self.betas):
            value = _as_real_array("betas", beta)
            if np.any(value < 0) or np.any(value >= 1):
                raise ValueError(f"beta{index + 1} must be in the range [0.0, 1.0)")
        if self.shampoo_beta is not None:
            _check_reference("shampoo_beta", self.shampoo_beta,
                             "shampoo_beta must be non-negative")
        _check_reference("weight_decay", self.weight_decay, "weight_decay must be non-negative")
        for name in ("precondition_frequency", "max_precondition_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"`{name}` must be an integer. Received: {name}={value!r}")
            if value <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("merge_dims", "precondition_1d", "correct_bias", "normalize_gradient",
                     "maximize"):
            _check_flag(name, getattr(self, name))
        if self.data_format not in ("channels_first", "channels_last"):
            raise ValueError(
                "`data_format` must be 'channels_first' or 'channels_last'. "
                f"Received: data_format={self.data_format!r}"
            )
        _check_reference("eps", self.eps, "eps must be non-negative")
        object.__setattr__(self, "betas", tuple(self.betas))

    def _nhwc(self, x):
        return self.data_format == "channels_last" and x.ndim == 4

    def _merge(self, x):
        """``x`` as the preconditioners see it: NCHW, small dimensions merged if asked."""
        if not self.merge_dims or x.ndim < 2:
            return x
        if self._nhwc(x):
            x = _permute(x, (0, 3, 1, 2))
        return x.reshape(_merged_shape(x.shape, self.max_precondition_dim))

    def _unmerge(self, merged, like):
        """The inverse of :meth:`_merge` for a tensor shaped like ``like``."""
        if not self.merge_dims or like.ndim < 2:
            return merged
        if self._nhwc(like):
            n, h, w, c = like.shape
            return _permute(merged.reshape(n, c, h, w), (0, 2, 3, 1))
        return merged.reshape(like.shape)

    def _factored(self, x):
        """Which dimensions of the merged ``x`` get a factor."""
        if x.ndim == 1:
            return [self.precondition_1d and x.shape[0] <= self.max_precondition_dim]
        return [n <= self.max_precondition_dim for n in self._merge(x).shape]

    def init_shard(self, x: Array, whole: Shards) -> State:
        """The state of rows ``x`` of a tensor (see :class:`Shards`): the whole tensor's."""
        if is_tensor(x):
            return self.init(x.new_zeros(whole.shape))
        return self.init(np.zeros(whole.shape, dtype=x.dtype))

    def init(self, x: Array) -> State:
        factors = []
        for has, n in zip(self._factored(x), self._merge(x).shape, strict=True):
            factors.append(zeros_like(_eye(x, n)) if has else [])
        beta = self.betas[1] if self.shampoo_beta is None else self.shampoo_beta
        return {"step": 0, "exp_avg": zeros_like(x), "exp_avg_sq": zeros_like(x),
                "GG": factors, "Q": None,
                "precondition_frequency": self.precondition_frequency, "shampoo_beta": beta}

    def project(self, x: Array, bases: Sequence[Array | list[Any]], back: bool = False) -> Array:
        """``x`` in the eigenbasis (:math:`Q_L^\\top X Q_R`), or back from it (``back``)."""
        rotated: Any = self._merge(x)
        for basis in bases:
            if len(basis) > 0:
                rotated = namespace(x).tensordot(rotated, basis, ([0], [1 if back else 0]))
            else:  # no factor: move the dimension to the end, as tensordot does
                rotated = _permute(rotated, (*range(1, rotated.ndim), 0))
        return self._unmerge(rotated, x)

    def _update_factors(self, g, state, refresh):
        """The factors after gradient ``g``; new bases at first and at a refresh."""
        beta = state["shampoo_beta"]
        factors, bases, second = list(state["GG"]), state["Q"], state["exp_avg_sq"]
        if g.ndim == 1:
            if len(factors[0]) > 0:
                factors[0] = lerp(factors[0], g[:, None] @ g[None, :], 1.0 - beta)
        else:
            merged = self._merge(g)
            for i in range(merged.ndim):
                if len(factors[i]) > 0:
                    others = [*range(i), *range(i + 1, merged.ndim)]
                    outer = namespace(g).tensordot(merged, merged, (others, others))
                    factors[i] = lerp(factors[i], outer, 1.0 - beta)
        if bases is None:
            bases = [_eigenvectors(f) if len(f) > 0 else [] for f in factors]
        if refresh:
            bases, second = self._refresh(factors, bases, second)
        return factors, bases, second

    def _refresh(self, factors, bases, second):
        """One power iteration and a QR per factor; :math:`V`'s coordinates follow the order."""
        merged = self._merge(second)
        new: list[Any] = []
        for axis, (factor, basis) in enumerate(zip(factors, bases, strict=True)):
            if len(factor) == 0:
                new.append([])
                continue
            product = factor @ basis
            order = _descending((basis * product).sum(0))
            merged = _take(merged, order, axis)
            new.append(_qr_in_float32(_take(product, order, 1)))
        return new, self._unmerge(merged, second)

    def step(
        self, x: Array, g: Array, state: State, grad_fn: Callable[[Array], Array] | None = None
    ) -> tuple[Array, State]:
        return self.step_shard(x, g, state, Shards(x.shape))

    def step_shard(
        self, x: Array, g: Array, state: State, whole: Shards
    ) -> tuple[Array, State]:
        """The step of some rows of a tensor (see :class:`Shards`); all of it, unsharded.

        The gradient is gathered whole, once; every process keeps the moments, the factors
        and their bases whole (replicated), updates them, the same on each, and keeps its rows
        of the update, for the parameter's step and weight decay.
        """
        count = state["step"]
        refresh = count > 0 and count % state["precondition_frequency"] == 0
        _reject_complex_matrix(self, x)
        g = whole.gather(_prepare(self, x, g))
        if state["Q"] is None:
            factors, bases, second = self._update_factors(g, state, refresh)
            state = {**state, "GG": factors, "Q": bases, "exp_avg_sq": second}
            if count == 0:  # the first step only starts the factors and the bases
                return x, self._kept(state, whole, step=1)
        x, new = self._update(x, g, state, self.step_size(count), refresh, whole)
        return x, self._kept(new, whole, step=count + 1)

    @staticmethod
    def _kept(state, whole, step):
        """``state`` with its count, the moments marked as held whole by every process."""
        moments = {key: whole.replicated(state[key]) for key in ("exp_avg", "exp_avg_sq")}
        return {**state, **moments, "step": step}

    def step_size(self, count: int) -> float:
        r""":math:`\eta \sqrt{1 - \beta_2^k} / (1 - \beta_1^k)` after :math:`k` = ``count``
        steps (:math:`\eta` without ``correct_bias``)."""
        if not self.correct_bias:
            return self.lr
        beta1, beta2 = self.betas
        return self.lr * (math.sqrt(1.0 - math.pow(beta2, count))
                          / (1.0 - math.pow(beta1, count)))

    def update(
        self, x: Array, g: Array, state: State, step_size: float | torch.Tensor, refresh: bool
    ) -> tuple[Array, State]:
        """The step after the first, given its size and whether the bases are refreshed.

        ``step`` computes both from the count; :class:`adalearn.optim.SOAP` compiles this
        method with ``compile=True``.
        """
        _reject_complex_matrix(self, x)
        return self._update(x, _prepare(self, x, g), state, step_size, refresh, Shards(x.shape))

    def _update(self, x, g, state, step_size, refresh, whole):
        """:meth:`update` of this process's rows of ``x``, from the whole gradient ``g``."""
        xp = namespace(x, g)
        beta1, beta2 = self.betas
        bases = state["Q"]
        rotated = self.project(g, bases)
        m = lerp(state["exp_avg"], g, 1.0 - beta1)
        v = lerp(state["exp_avg_sq"], rotated * rotated, 1.0 - beta2)
        update = self.project(self.project(m, bases) / (xp.sqrt(v) + self.eps), bases, back=True)
        if self.normalize_gradient:
            update = update / (xp.sqrt(xp.mean(update * update)) + self.eps)
        x = add(x, whole.local(update), -step_size)
        if _any_nonzero(self.weight_decay):
            x = x * (1.0 - self.weight_decay * self.lr)
        factors, bases, second = self._update_factors(g, {**state, "exp_avg_sq": v}, refresh)
        return x, {**state, "exp_avg": m, "exp_avg_sq": second, "GG": factors, "Q": bases}


@dataclass(frozen=True, eq=False)
class Prodigy(Rule):
    r"""Prodigy: Adam whose learning rate is an estimate :math:`d` of the distance to the solution.

    With :math:`g_k` the gradient at :math:`x_k` (plus :math:`\lambda x_k` unless
    ``decouple``), :math:`\eta` = ``lr`` (a multiplier, 1 by default), :math:`(\beta_1,
    \beta_2)` = ``betas``, :math:`\beta_3` = ``beta3`` (by default :math:`\sqrt{\beta_2}`),
    :math:`\epsilon` = ``eps``, :math:`d_0` = ``d0``, :math:`c` = ``d_coef`` and :math:`\rho`
    = ``growth_rate``, step :math:`k = 0, 1, \dots`:

    .. math::

        \hat\eta_k = d_k\, \eta\, b_k, \qquad
        b_k = \sqrt{1 - \beta_2^{k+1}} / (1 - \beta_1^{k+1}) \text{ (use\_bias\_correction)},
        \ b_k = 1 \text{ (otherwise)} \\
        m_{k+1} = \beta_1 m_k + d_k (1 - \beta_1)\, g_k, \qquad
        v_{k+1} = \beta_2 v_k + d_k^2 (1 - \beta_2)\, g_k^2 \\
        r_{k+1} = \beta_3 r_k + \tfrac{d_k}{d_0} \hat\eta_k\, \langle g_k, x_0 - x_k \rangle,
        \qquad
        s_{k+1} = \beta_3 s_k + \tfrac{d_k}{d_0} \hat\eta_k\, g_k \\
        \hat d_{k+1} = c\, \frac{r_{k+1}}{\lVert s_{k+1} \rVert_1}, \qquad
        d_{k+1} = \min\big(\max_{j \le k+1} \hat d_j,\ \rho\, d_k\big) \\
        x_{k+1} = x_k - \hat\eta_k\, \frac{m_{k+1}}{\sqrt{v_{k+1}} + d_{k+1} \epsilon}

    (with decoupled weight decay, :math:`x_k` is first scaled by :math:`1 - \lambda\hat\eta_k`;
    with :math:`\beta_1 = 0` the numerator is :math:`d_{k+1} g_k`). The :math:`\max` starts
    at :math:`d_0`, and at the first increase :math:`d` jumps to :math:`\hat d` whatever
    :math:`\rho`. Why :math:`\hat d` estimates the distance :math:`D = \lVert x_0 - x_*
    \rVert`: for a convex :math:`f`, :math:`\langle g_k, x_k - x_* \rangle \ge 0`, so
    :math:`r` (the weighted sum of :math:`\langle g, x_0 - x\rangle`) is at most
    :math:`\langle s, x_0 - x_* \rangle \le \lVert s \rVert_1 D_\infty`: with :math:`c \le 1`
    (and the same weights in :math:`r` and :math:`s`), :math:`\hat d` never overestimates the
    distance in the :math:`\infty`-norm, and :math:`d` keeps the largest such lower bound seen
    so far. With ``safeguard_warmup`` :math:`s` is weighted by
    :math:`d_k/d_0 \cdot d_k` instead of :math:`d_k/d_0 \cdot \hat\eta_k`, so that a
    learning-rate warmup does not shrink the denominator. ``slice_p`` computes :math:`r` and
    :math:`s` on every ``slice_p``-th element only.

    The estimate is global. :math:`r` and :math:`\lVert s \rVert_1` are sums over every
    coordinate of the model, so for several parameters :math:`d` is one number, computed from
    all of them: Prodigy on parameters :math:`x^{(1)}, \dots, x^{(n)}` is Prodigy on their
    concatenation. A step therefore has three phases, which this rule exposes:
    :meth:`~adalearn.rules.Prodigy.accumulate` (per parameter: the moments, :math:`s`, and its
    parts of the two sums), :meth:`~adalearn.rules.Prodigy.estimate` (once: the new
    :math:`d`) and :meth:`~adalearn.rules.Prodigy.apply` (per parameter: the update).
    Its ``step`` runs the three on one array, which it takes as the
    whole model (on numpy, an ``x`` of shape ``(N, 2)`` is one model of :math:`2N`
    coordinates, not N runs); :class:`adalearn.optim.Prodigy` runs the first phase on every
    parameter, sums, estimates once and applies. The state of one array holds prodigyopt's
    per-parameter ``step``, ``s``, ``p0`` (:math:`x_0`, sliced; a zero scalar when
    :math:`x_0 = 0`), ``exp_avg`` (:math:`m`, when :math:`\beta_1 > 0`) and ``exp_avg_sq``
    (:math:`v`), and what prodigyopt keeps in its param groups: ``d``, ``d_max``,
    ``d_numerator`` (:math:`r`) and ``k``. Not elementwise; numpy and torch.

    Conventions: prodigyopt's ``Prodigy`` (1.1.2), the authors' package. :math:`r` and
    :math:`\lVert s \rVert_1` are read as Python floats (``.item()``). A step in which
    :math:`\lVert s \rVert_1 = 0` (no gradient yet) updates the moments and stops there. The
    moments carry the factors :math:`d` and :math:`d^2`, so that :math:`m / \sqrt v` is Adam's
    ratio; the paper's Algorithm 3 writes the same update.

    References: Mishchenko and Defazio (2024), *Prodigy: an expeditiously adaptive
    parameter-free learner*, ICML; Defazio and Mishchenko (2023), *Learning-rate-free learning
    by D-adaptation*, ICML; implementation: ``prodigyopt.Prodigy`` (konstmish/prodigy).
    """

    lr: float = 1.0
    betas: tuple[float, float] = (0.9, 0.999)
    beta3: float | None = None
    eps: float = 1e-8
    weight_decay: float = 0.0
    decouple: bool = True
    use_bias_correction: bool = False
    safeguard_warmup: bool = False
    d0: float = 1e-6
    d_coef: float = 1.0
    growth_rate: float = math.inf
    fsdp_in_use: bool = False
    slice_p: int = 1

    def __post_init__(self):
        _check("d0", self.d0, message=f"Invalid d0 value: {self.d0}")
        if np.any(_as_real_array("d0", self.d0) <= 0):
            raise ValueError(f"Invalid d0 value: {self.d0}")
        _check_lr(self.lr)
        _check_eps(self.eps)
        if np.any(_as_real_array("eps", self.eps) <= 0):
            raise ValueError(f"Invalid epsilon value: {self.eps}")
        _check_betas(self.betas)
        if self.beta3 is not None:
            _check("beta3", self.beta3, 0.0, 1.0)
        _check("weight_decay", self.weight_decay)
        for name in ("decouple", "use_bias_correction", "safeguard_warmup", "fsdp_in_use"):
            _check_flag(name, getattr(self, name))
        _check("d_coef", self.d_coef)
        growth = _as_real_array("growth_rate", self.growth_rate)
        if np.any(np.isnan(growth)) or np.any(growth <= 0):
            raise ValueError(f"Invalid growth_rate value: {self.growth_rate}")
        _check_integer("slice_p", self.slice_p, 1)
        object.__setattr__(self, "betas", tuple(self.betas))

    def init(self, x: Array) -> State:
        xp = namespace(x)
        flat = x.reshape(-1)[:: self.slice_p]
        state = {"step": 0, "s": zeros_like(flat),
                 "p0": copy(flat) if bool(xp.any(x)) else zeros_like(x.reshape(-1)[0])}
        if self.betas[0] > 0:
            state["exp_avg"] = zeros_like(x)
        state["exp_avg_sq"] = zeros_like(x)
        return {**state, "d": self.d0, "d_max": self.d0, "d_numerator": 0.0, "k": 0}

    def gradient(self, x: Array, g: Array) -> Array:
        """``g`` with the L2 penalty's gradient :math:`\\lambda x` added (without ``decouple``)."""
        if _any_nonzero(self.weight_decay) and not self.decouple:
            return add(g, x, self.weight_decay)
        return g

    def scale(self, d: float, k: int) -> float:
        """:math:`\\hat\\eta_k = d\\, \\eta\\, b_k`: the step size of step ``k`` for ``d``."""
        if not self.use_bias_correction:
            return d * self.lr
        beta1, beta2 = self.betas
        return d * self.lr * (((1 - beta2 ** (k + 1)) ** 0.5) / (1 - beta1 ** (k + 1)))

    def accumulate(
        self, x: Array, g: Array, state: State, d: float, dlr: float
    ) -> tuple[State, float, float]:
        """Phase 1, per parameter: the moments and :math:`s` after gradient ``g`` (with
        :meth:`gradient` applied), and this parameter's parts of :math:`r`'s increment and of
        :math:`\\lVert s \\rVert_1`, as numbers. ``d`` and ``dlr`` (:math:`\\hat\\eta`) are
        the step's, the same for every parameter. A parameter whose ``lr`` is 0 contributes
        nothing and keeps its moments."""
        if not _any_nonzero(self.lr):
            return state, 0.0, 0.0
        xp = namespace(x, g)
        beta1, beta2 = self.betas
        beta3 = self.beta3 if self.beta3 is not None else math.sqrt(beta2)
        sliced = g.reshape(-1)[:: self.slice_p]
        ratio = d / self.d0
        numerator = ratio * dlr * float(_dot(sliced, state["p0"] - x.reshape(-1)[:: self.slice_p]))
        new = dict(state)
        if beta1 > 0:
            new["exp_avg"] = add(state["exp_avg"] * beta1, g, d * (1 - beta1))
        new["exp_avg_sq"] = addcmul(state["exp_avg_sq"] * beta2, g, g, d * d * (1 - beta2))
        weight = ratio * d if self.safeguard_warmup else ratio * dlr
        s = new["s"] = add(state["s"] * beta3, sliced, weight)
        return new, numerator, float(xp.abs(s).sum())

    def estimate(
        self, d: float, d_max: float, numerator: float, denominator: float
    ) -> tuple[float, float, float]:
        """Phase 2, once: the new ``(d, d_max, d_hat)`` from :math:`r` = ``numerator`` and
        :math:`\\lVert s \\rVert_1` = ``denominator``."""
        d_hat = self.d_coef * numerator / denominator
        if d == self.d0:
            d = max(d, d_hat)
        d_max = max(d_max, d_hat)
        return min(d_max, d * self.growth_rate), d_max, d_hat

    def apply(
        self, x: Array, g: Array, state: State, d: float, dlr: float
    ) -> tuple[Array, State]:
        """Phase 3, per parameter: the update with the new estimate ``d`` and the step's
        ``dlr``; the parameter's ``step`` count advances."""
        xp = namespace(x, g)
        denom = xp.sqrt(state["exp_avg_sq"]) + d * self.eps
        if _any_nonzero(self.weight_decay) and self.decouple:
            x = add(x, x, -self.weight_decay * dlr)
        if self.betas[0] > 0:
            x = addcdiv(x, state["exp_avg"], denom, -dlr)
        else:
            x = addcdiv(x, g, denom, -dlr * d)
        return x, {**state, "step": state["step"] + 1}

    def step(
        self, x: Array, g: Array, state: State, grad_fn: Callable[[Array], Array] | None = None
    ) -> tuple[Array, State]:
        g = self.gradient(x, _prepare(self, x, g))
        beta3 = self.beta3 if self.beta3 is not None else math.sqrt(self.betas[1])
        d, k = state["d"], state["k"]
        dlr = self.scale(d, k)
        numerator = state["d_numerator"] * beta3
        state, increment, denominator = self.accumulate(x, g, state, d, dlr)
        if denominator == 0:
            return x, state
        numerator = numerator + increment
        d, d_max, _ = self.estimate(d, state["d_max"], numerator, denominator)
        x, state = self.apply(x, g, state, d, dlr)
        return x, {**state, "d": d, "d_max": d_max, "d_numerator": numerator, "k": k + 1}
