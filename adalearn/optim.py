"""torch.optim optimizers that run the rules of :mod:`adalearn.rules` on tensors.

``SGD, Adagrad, RMSprop, Adadelta, Adam, AdamW, SparseAdam, Adamax, NAdam, RAdam, Adafactor,
Muon, Rprop, ASGD, LBFGS`` take torch.optim's constructor arguments, defaults and state keys and
give its numbers, so they drop into any training loop::

    optimizer = adalearn.optim.Adam(model.parameters(), lr=1e-3)
    for x, y in batches:
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()

They are real :class:`torch.optim.Optimizer` subclasses: hyperparameters live in
``param_groups`` (so ``torch.optim.lr_scheduler`` works), per-parameter state in ``self.state``,
and ``state_dict()`` loads into the torch.optim namesake and back. Each also accepts the
rule's extra keyword arguments, such as ``eps_root``, and torch's implementation flags where
its namesake has them (``foreach``, ``fused``, ``capturable``, ``differentiable``). A param
group holds every key torch.optim's namesake puts there, with torch's value, and the rule's
own hyperparameters that torch lacks (``eps_root``), always: torch.optim keeps them when it
loads such a state dict, and a state dict from torch.optim gets them at their defaults.

They run where training code runs: on DTensor parameters (FSDP2's ``fully_shard``,
``distribute_module``), under DDP, on complex parameters (through their real view, and in
complex arithmetic where torch.optim's code uses it), on sparse gradients (SGD, Adagrad and
SparseAdam; the others refuse them in torch's words) and on bfloat16 and float16 parameters,
with torch.optim's numbers to the last bit.

:class:`Lion` is lion-pytorch's Lion and :class:`AdamWScheduleFree` the schedulefree package's
reference AdamW, with its ``train()`` and ``eval()``. :class:`Shampoo` and :class:`SOAP` are
pytorch-optimizer's, with its step count per param group, and :class:`Prodigy` is prodigyopt's,
with its estimate ``d`` in the param groups. :class:`Heun` evaluates the gradient twice per
step and :class:`LBFGS` up to ``max_eval`` times, so both need ``step(closure)``.
:class:`SoftBatch` wraps any optimizer and steps it once every ``every`` calls with the mean
gradient. :class:`RuleOptimizer` turns any rule, your own too, into an optimizer.

What a step does is :meth:`RuleOptimizer.reference_step`, the rule applied to one parameter.
The engine behind it (``adalearn._engine``) runs the same arithmetic on many parameters at
once, in blocks, or compiled, and gives the same numbers.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, cast, overload

import numpy as np

from adalearn._array import torch_missing

try:
    import torch
except ModuleNotFoundError as error:
    raise torch_missing(__name__, error) from error

from adalearn import _engine, _torch_internals, rules

if TYPE_CHECKING:
    from torch.optim.optimizer import ParamsT, StateDict

__all__ = [
    "RuleOptimizer",
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adadelta",
    "Adam",
    "AdamW",
    "SparseAdam",
    "Adamax",
    "Heun",
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
    "SoftBatch",
    "Combined",
]


def _step_dtype():
    """The dtype torch.optim stores its step counts in."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _plain(value):
    """True for a hyperparameter made of Python scalars (which can be compared and cached)."""
    if isinstance(value, tuple):
        return all(map(_plain, value))
    return value is None or isinstance(value, (bool, int, float, str))


class RuleOptimizer(torch.optim.Optimizer):
    """A torch optimizer that applies an :class:`adalearn.rules.Rule` to every parameter.

    The rule's hyperparameters become the defaults of ``param_groups``; a group may override
    any of them (``[{"params": ..., "lr": 0.1}, ...]``) and schedulers may change them between
    steps. Each parameter's state is the rule's state dict, stored in ``self.state[p]`` with
    ``"step"`` kept as a tensor like torch.optim does.

    A step is :meth:`reference_step` on every parameter that has a gradient. Rules that
    evaluate the gradient twice (``rule.evaluations == 2``, such as Heun) need
    ``step(closure)``: the closure is called again at the point ``rule.predict`` gives, for all
    parameters at once. After such a step ``p.grad`` holds the gradient at that point.

    The numbers are the reference step's, but the work is organised for speed. A rule whose
    ``elementwise`` attribute is true (every built-in rule) runs on parameters of fewer than
    32768 elements together, as one flat array whose slices are their states. SGD, Adagrad,
    RMSprop, Adadelta, Adam, AdamW, Adamax, ASGD and Adafactor write their step in place, as
    torch.optim does (``rule.step_in_place``, the same operations): on each flat array, and on
    each larger parameter whole. Any other rule runs on larger parameters in blocks, so that its
    temporaries stay in cache. A block (and a flat array) holds 32768 elements for each of
    torch's threads (``torch.get_num_threads()``): each operation on it is split over the
    threads, each thread working on a cache-sized piece. bfloat16 and
    float16 parameters, and sparse gradients, are stepped one by one, as torch.optim steps
    them (an element's bits depend on where it sits in a low-precision tensor).

    A sharded parameter (a DTensor, as FSDP2 makes them) is stepped through its local shard,
    where an elementwise rule needs no communication; a rule that mixes coordinates gets the
    whole matrix where it needs it, and each process keeps its part
    (:meth:`adalearn.rules.Muon.step_shard` gathers only Muon's direction). The state keeps
    torch.optim's form: DTensors placed as their parameter.

    With ``compile=True`` the rule is compiled by :func:`torch.compile` into one in-place update
    per step: the same formulas, fused into a single pass over the parameter, its gradient and
    its state, with one call for up to sixteen large parameters. The first steps compile
    (seconds); the learning rate and the step count enter as tensors, so neither a scheduler
    nor a new step recompiles, while a change of another hyperparameter does. The small
    parameters of a group become views into one flat buffer (``p.data``; each stays the same
    ``Parameter`` with its shape and values), so that only the gradients are copied; one later
    given new storage (``p.data = ...``, ``model.to(...)``) is taken into a new buffer. When
    this torch lacks one of the private internals the compiled step relies on, the optimizer
    warns once, naming it, and runs eagerly. The step is compiled for the number of torch's
    threads it runs at (once for each number: inductor's loops are parallel only when
    compiled above one thread).

    Against torch's fused CPU kernels (``fused=True``: Adam, AdamW, SGD, Adagrad), which
    also make one pass over each parameter, its gradient and its state: the compiled step
    takes all small parameters of a group in one call, on one flat buffer, and up to sixteen
    large ones per call, where the fused kernel runs per parameter; its numbers are those of
    the rule's formulas (float32 Adam agrees with torch.optim's default to rounding, as the
    fused kernel does). The fused kernel needs no compilation, and steps bfloat16 and float16
    parameters inside the kernel, in float32; the compiled step gives them the eager step,
    for torch.optim's default's bits.

    With ``differentiable=True`` the step runs with autograd on, parameter by parameter, so
    that the new parameters and states are differentiable functions of the old ones, of the
    gradients and of tensor hyperparameters, as torch.optim's ``differentiable=True`` makes them.

    Example, with a rule written by the reader::

        optimizer = RuleOptimizer(model.parameters(), SignSGD(lr=1e-3))
    """

    def __init__(
        self,
        params: ParamsT,
        rule: rules.Rule,
        *,
        compile: bool = False,
        differentiable: bool = False,
    ) -> None:
        if not isinstance(rule, rules.Rule):
            raise TypeError(f"`rule` must be an adalearn rule. Received: rule={rule!r}")
        for name, value in (("compile", compile), ("differentiable", differentiable)):
            if not isinstance(value, bool):
                raise TypeError(f"`{name}` must be True or False. Received: {name}={value!r}")
        if compile and differentiable:
            raise ValueError(
                "`compile` must be False when differentiable=True: compiled steps write in "
                "place, outside autograd. Received: compile=True"
            )
        self.rule = rule
        self.compile = compile and _engine.can_compile()
        self.differentiable = differentiable
        super().__init__(params, {**rule.hyperparameters(), **self._group_keys()})
        self._start()

    def _group_keys(self):
        """The keys a param group holds besides the rule's hyperparameters.

        "differentiable", as torch.optim keeps it: it lets the base class take non-leaf
        tensors.
        """
        return {"differentiable": self.differentiable}

    def _start(self):
        # Per group: the hyperparameter values last seen and the rule built (and checked) from
        # them. And the engine, which differentiable steps do without.
        self._rules = {}
        self._engine = None
        if not self.differentiable:
            self._engine = _engine.Engine(
                self.state, self.reference_step, self._rule_state, self._store_state,
                compile=self.compile, as_real=self._complex_as_real,
            )

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for name in self.rule.hyperparameters():
            values = group[name] if isinstance(group[name], tuple) else (group[name],)
            if any(isinstance(value, np.ndarray) and value.ndim > 0 for value in values):
                raise TypeError(
                    f"`{name}` must be a number or a one-element tensor in an optimizer: a numpy "
                    "array does not multiply the parameters' tensors (one value: float(...); "
                    "a run per value of an array is trajectory.run's). "
                    f"Received: {name}={group[name]!r}"
                )

    @property
    def requires_closure(self) -> bool:
        """True when ``step`` must be given a closure."""
        return self.rule.evaluations > 1

    def __getstate__(self):
        return {**super().__getstate__(), "rule": self.rule, "compile": self.compile,
                "differentiable": self.differentiable}

    def __setstate__(self, state):
        super().__setstate__(state)
        if not hasattr(self, "_engine"):  # unpickled or copied: a fresh engine
            self._start()
        self._rules = {}
        if self._engine is not None:
            self._engine.reset(self.state)
        # A state_dict from torch.optim lacks the rule's extra hyperparameters (eps_root, ...).
        for group in self.param_groups:
            for name, default in {**self.rule.hyperparameters(), **self._group_keys()}.items():
                group.setdefault(name, default)

    def _group_rule(self, index, group):
        """The rule for one param group, rebuilt (and so checked) when its values change."""
        values = {k: group[k] for k in self.rule.hyperparameters()}
        plain = all(map(_plain, values.values()))
        key = tuple((type(v), v) for v in values.values()) if plain else None
        cached = self._rules.get(index)
        if plain and cached is not None and cached[0] == key:
            return cached[1]
        rule = self.rule.replace(**values)
        if plain:
            self._rules[index] = (key, rule)
        return rule

    @overload
    def step(self, closure: None = None) -> None: ...
    @overload
    def step(self, closure: Callable[[], float]) -> float: ...
    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Update every parameter that has a gradient; return the closure's loss, if any."""
        group_rules = [self._group_rule(i, group) for i, group in enumerate(self.param_groups)]
        if self.requires_closure and closure is None:
            raise TypeError(
                f"`closure` must be given to {type(self).__name__}.step: a function that clears "
                "the gradients, recomputes the loss, calls backward() and returns the loss, as "
                f"the rule evaluates the gradient {self.rule.evaluations} times per step. "
                "Received: closure=None"
            )
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        work = [
            (index, p)
            for index, group in enumerate(self.param_groups)
            for p in group["params"]
            if p.grad is not None
        ]
        self._check_gradients(work)
        if self.requires_closure:
            states = [self._rule_state(group_rules[i], p) for i, p in work]
            grads = [p.grad.clone() for _, p in work]
            ahead = self._gradients_ahead(group_rules, work, states, grads, closure)
        else:
            grads, ahead = [p.grad for _, p in work], None
        if self._engine is not None:
            self._engine.step(group_rules, work, grads, ahead)
            return loss
        with torch.set_grad_enabled(self.differentiable):
            for i, (index, p) in enumerate(work):
                self.reference_step(group_rules[index], p, grads[i],
                                    None if ahead is None else ahead[i])
        return loss

    @property
    def _sparse_error(self):
        """torch.optim's message for a sparse gradient given to a rule that takes none."""
        return f"{type(self.rule).__name__} does not support sparse gradients"

    def _check_gradients(self, work):
        """Refuse, before anything moves, sparse gradients that the rule does not take."""
        if not self.rule.sparse and any(p.grad.is_sparse for _, p in work):
            raise RuntimeError(self._sparse_error)

    def reference_step(
        self,
        rule: rules.Rule,
        p: torch.Tensor,
        g: torch.Tensor,
        g_ahead: torch.Tensor | None = None,
        *,
        viewed: bool = False,
    ) -> None:
        """One step of ``rule`` on parameter ``p`` with gradient ``g``: what a step means.

        The rule's own pure step, ``x, state = rule.step(x, g, state)``, with its result
        written back into ``p`` and ``self.state[p]``. ``g_ahead`` is the gradient at the
        rule's look-ahead point, for rules that need one (Heun).

        The rule computes on what the parameter holds: the real and imaginary parts of a
        complex parameter, for an elementwise rule (``torch.view_as_real``, as torch.optim),
        and the local shard of a sharded one (a DTensor, as FSDP2 makes them). A rule that
        mixes coordinates gets a sharded matrix gathered (see ``_engine.step_whole``).
        ``viewed`` says that the gradients are in the rule's view already.
        """
        if p.is_complex() and rule.elementwise and not self._complex_as_real(rule):
            return self._complex_step(rule, p, g)
        if not viewed:
            g = _engine.rule_tensor(g, rule, like=p)
            g_ahead = None if g_ahead is None else _engine.rule_tensor(g_ahead, rule, like=p)
        grad_fn = None if g_ahead is None else (lambda _x: g_ahead)
        if _engine.is_sharded(p) and not rule.elementwise:
            whole = not hasattr(rule, "step_shard")
            state = self._rule_state(rule, p, whole=whole)
            x, new_state = _engine.step_whole(rule, p, g, state, grad_fn)
        else:
            x = _engine.rule_tensor(p, rule)
            x, new_state = rule.step(x, g, self._rule_state(rule, p), grad_fn=grad_fn)
        _engine.write(p, x, rule)
        self._store_state(p, new_state)

    def _complex_as_real(self, rule):
        """True when the step of a complex parameter is ``rule``'s step on its real view."""
        return True

    if TYPE_CHECKING:
        # Defined by the subclasses whose _complex_as_real can be False.
        def _complex_step(self, rule: rules.Rule, p: torch.Tensor, g: torch.Tensor) -> None: ...

    def _rule_state(self, rule, p, whole=False):
        """The rule's view of ``self.state[p]``: step counts as Python numbers, tensors as
        :func:`adalearn._engine.rule_tensor` shows them (or gathered whole, with ``whole``).
        """
        stored = self.state.get(p)
        if not stored:
            return _engine.initial_state(rule, p.detach(), whole)
        return {
            k: v.item() if k == "step" and isinstance(v, torch.Tensor)
            else v.full_tensor() if whole and _engine.is_sharded(v)
            else _engine.rule_tensor(v, rule) if isinstance(v, torch.Tensor) and v.dim()
            else v
            for k, v in stored.items()
        }

    def _store_state(self, p, new_state):
        for key, value in new_state.items():  # a rule without state leaves self.state alone
            if key == "step":
                value = torch.tensor(float(value), dtype=_step_dtype())
            self.state[p][key] = _engine.stored_tensor(value, p)

    def _gradients_ahead(self, group_rules, work, states, grads, closure):
        """Gradients at the points where the rules look ahead, all parameters moved at once."""
        here = [p.detach().clone() for _, p in work]
        for (index, p), state, g in zip(work, states, grads, strict=True):
            rule = group_rules[index]
            x, g = _engine.rule_tensor(p.detach(), rule), _engine.rule_tensor(g, rule, like=p)
            _engine.write(p, rule.predict(x, g, state), rule)
        with torch.enable_grad():
            closure()
        ahead = [torch.zeros_like(p) if p.grad is None else p.grad.clone() for _, p in work]
        for (_, p), x in zip(work, here, strict=True):
            p.copy_(x)
        return ahead


# --------------------------------------------------------------------------------------------
# The optimizers named after their torch.optim namesakes: the rule's constructor, plus torch's
# implementation flags where the namesake has them.

_FLAGS = ("foreach", "fused", "capturable", "differentiable")


def _torch_flags(name):
    """The implementation flags of ``torch.optim.<name>`` and their defaults, if it exists."""
    namesake = getattr(torch.optim, name, None)
    if namesake is None:
        return {}
    parameters = inspect.signature(namesake).parameters
    return {flag: parameters[flag].default for flag in _FLAGS if flag in parameters}


def _check_flag(name, value, allowed=(None, False, True)):
    if not any(value is a for a in allowed):
        raise TypeError(f"`{name}` must be one of {allowed}. Received: {name}={value!r}")


class _NamedOptimizer(RuleOptimizer):
    """An optimizer whose constructor is its rule's: ``Adam(params, lr=..., betas=...)``."""

    rule_class: type[rules.Rule]
    # Set for each subclass by __init_subclass__.
    _flags: ClassVar[dict[str, Any]]
    __signature__: ClassVar[inspect.Signature]
    # torch.optim.Adam's checks of Tensor learning rates and betas (its namesakes only).
    _adam_tensor_checks = False
    # How the rule runs and what compile=True does, in the generated docstring.
    _runs_on = "on every parameter"
    _compile_doc = ("``compile=True`` compiles the rule into one in-place update per step (see "
                    ":class:`RuleOptimizer`).")
    # Why compile=True is refused, for an optimizer whose step cannot be compiled (or None).
    _refuses_compile: ClassVar[str | None] = None
    # Keys torch.optim's namesake puts in a param group that are neither hyperparameters of
    # the rule nor implementation flags.
    _torch_keys: dict = {}
    # How torch.optim's namesake steps a complex parameter, where it is not the rule's step on
    # the real view (torch.view_as_real): "complex", its operations on the complex tensors
    # (SGD); "add", the step is added to the complex parameter (Adadelta). And whether L2
    # weight decay is added to the complex gradient before the view. The difference is in the
    # bits: torch's complex add(a, b, alpha) rounds alpha * b before adding it, its real one
    # does not.
    _complex = "real"
    _complex_l2 = False

    def __init__(
        self, params: ParamsT, *args: Any, compile: bool = False, **kwargs: Any
    ) -> None:
        if compile and self._refuses_compile:
            raise ValueError(
                f"`compile` must be False for {type(self).__name__}: {self._refuses_compile}. "
                "Received: compile=True"
            )
        flags = {**self._flags, **{k: kwargs.pop(k) for k in self._flags if k in kwargs}}
        try:
            values = inspect.signature(self.rule_class).bind_partial(*args, **kwargs).arguments
        except TypeError:
            values = {}  # building the rule below says what is wrong, in Python's words
        self._check_tensors(values, flags)
        for name, value in flags.items():
            _check_flag(name, value)
        if flags.get("capturable"):
            raise NotImplementedError(
                "`capturable` must be False: adalearn.optim does not capture its steps in CUDA "
                "graphs. Received: capturable=True"
            )
        if flags.get("fused"):
            if flags.get("differentiable"):
                raise RuntimeError("`fused` does not support `differentiable`")
            if flags.get("foreach"):
                raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
            compile = True  # one fused pass per step, as torch's fused kernels
        self._flag_values = flags
        super().__init__(params, self.rule_class(*args, **kwargs), compile=compile,
                         differentiable=bool(flags.get("differentiable")))

    def _complex_l2_of(self, rule):
        return (self._complex_l2 and not getattr(rule, "decoupled_weight_decay", False)
                and rules._any_nonzero(rule.weight_decay))

    def _complex_as_real(self, rule):
        return self._complex == "real" and not self._complex_l2_of(rule)

    def _complex_step(self, rule, p, g):
        """torch.optim's step of a complex parameter, where it is not the rule's on the real
        view (see ``_complex``): eager, one parameter at a time.
        """
        stored = self.state.get(p)
        # A new state is built on the real view, where Adagrad's initial accumulator value
        # goes into the real and the imaginary parts, as in torch.optim.
        real = torch.view_as_real(p.detach())
        state = {k: v.item() if k == "step" else v for k, v in stored.items()} if stored else {
            k: _engine.stored_tensor(v, p) for k, v in rule.init(real).items()}
        if self._complex == "complex":
            x, new_state = rule.step(p, g, state)
            p.copy_(x)
            return self._store_state(p, new_state)
        if self._complex_l2_of(rule):
            g = (-g if rule.maximize else g).add(p, alpha=rule.weight_decay)
            rule = rule.replace(weight_decay=0.0, maximize=False)
        state = {k: torch.view_as_real(v) if isinstance(v, torch.Tensor) and v.is_complex()
                 else v for k, v in state.items()}
        if self._complex == "add":  # from zero, the rule's x_new is its step exactly
            step, new_state = rule.step(torch.zeros_like(real), torch.view_as_real(g), state)
            p.add_(torch.view_as_complex(step))
        else:
            x, new_state = rule.step(real, torch.view_as_real(g), state)
            real.copy_(x)
        self._store_state(p, new_state)

    def _group_keys(self):
        """torch.optim's keys, with the values given: its flags and its other keys."""
        return {**self._flag_values, **self._torch_keys}

    def __getstate__(self):
        return {**super().__getstate__(), "_flag_values": self._flag_values}

    def _check_tensors(self, values, flags):
        """torch.optim's checks of hyperparameters given as tensors, with its wording."""
        lr = values.get("lr")
        foreach_only = flags.get("foreach") and not flags.get("capturable")
        if isinstance(lr, torch.Tensor):
            if self._adam_tensor_checks and foreach_only:
                raise ValueError(
                    "lr as a Tensor is not supported for capturable=False and foreach=True"
                )
            if lr.numel() != 1:
                raise ValueError("Tensor lr must be 1-element")
        betas = values.get("betas")
        if not self._adam_tensor_checks or not isinstance(betas, tuple):
            return
        tensors = [isinstance(beta, torch.Tensor) for beta in betas]
        if any(tensors) and not all(tensors):
            raise ValueError("betas must be either both floats or both Tensors")
        for index, beta in enumerate(betas):
            if isinstance(beta, torch.Tensor):
                if foreach_only:
                    raise ValueError(
                        f"betas[{index}] as a Tensor is not supported for capturable=False "
                        "and foreach=True"
                    )
                if beta.numel() != 1:
                    raise ValueError(f"Tensor betas[{index}] must be 1-element")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._flags = _torch_flags(cls.__name__)
        rule_signature = inspect.signature(cls.rule_class)
        keyword = inspect.Parameter.KEYWORD_ONLY
        params = inspect.Parameter("params", inspect.Parameter.POSITIONAL_OR_KEYWORD)
        flags = [inspect.Parameter(k, keyword, default=v) for k, v in cls._flags.items()]
        compile_ = inspect.Parameter("compile", keyword, default=False)
        cls.__signature__ = rule_signature.replace(
            parameters=[params, *rule_signature.parameters.values(), *flags, compile_],
            return_annotation=None,
        )
        name = cls.rule_class.__name__
        flag_text = ""
        if cls._flags:
            flag_text = (
                f"torch's implementation flags are accepted ({', '.join(cls._flags)}): "
                "``foreach`` changes nothing, ``fused=True`` selects ``compile=True``, "
                "``differentiable=True`` makes the step differentiable and "
                "``capturable=True`` is not implemented.\n\n"
            )
        compile_doc = (f"``compile=True`` is refused: {cls._refuses_compile}."
                       if cls._refuses_compile else cls._compile_doc)
        # A class's own docstring (what it adds, such as train() and eval()) comes first.
        own = cls.__dict__.get("__doc__")
        cls.__doc__ = (
            (f"{inspect.cleandoc(own)}\n\n" if own else "")
            + f"torch.optim-compatible {name}, running "
            f":class:`adalearn.rules.{name}` {cls._runs_on}.\n\n"
            f"{compile_doc} {flag_text}"
            f"The update, the conventions and the references are the rule's:\n\n"
            f"{inspect.getdoc(cls.rule_class)}"
        )


class SoftBatch(torch.optim.Optimizer):
    """Gradient accumulation: step ``optimizer`` once every ``every`` calls, with the mean gradient.

    Each call of ``step()`` adds the current gradients to a running sum and leaves the
    parameters alone; the ``every``-th call sets each gradient to the mean of the last
    ``every`` and steps the wrapped optimizer. With a loss that averages over its batch,
    ``every=k`` on mini-batches of size ``b`` is one step on a batch of size ``k·b``.

    ``param_groups`` are the wrapped optimizer's own, so learning-rate schedulers and
    ``zero_grad()`` on either act on both. ``state_dict()`` holds the running sums, the count
    and the wrapped optimizer's state.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, every: int) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"`optimizer` must be a torch.optim.Optimizer. Received: optimizer={optimizer!r}"
            )
        if getattr(optimizer, "requires_closure", False):
            raise ValueError(
                "`optimizer` must take one gradient per step, as SoftBatch accumulates single "
                f"gradients. Received: optimizer={type(optimizer).__name__}, which evaluates "
                "several per step"
            )
        rules.SoftBatch(rules.SGD(), every)  # the one place `every` is checked
        self.optimizer = optimizer
        self.every = every
        self.count = 0
        super().__init__(optimizer.param_groups, optimizer.defaults)

    @overload
    def step(self, closure: None = None) -> None: ...
    @overload
    def step(self, closure: Callable[[], float]) -> float: ...
    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Accumulate the gradients; every ``every``-th call, step with their mean."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
        for p in params:
            state = self.state[p]
            state["grad_sum"] = p.grad.clone() if "grad_sum" not in state else (
                state["grad_sum"] + p.grad
            )
        self.count += 1
        if self.count == self.every:
            for p in params:
                p.grad = self.state[p].pop("grad_sum") / self.every
            self.optimizer.step()
            self.count = 0
        return loss

    def state_dict(self) -> StateDict:
        state = super().state_dict()
        state["count"] = self.count
        state["optimizer"] = self.optimizer.state_dict()
        return state

    def load_state_dict(self, state_dict: StateDict) -> None:
        self.optimizer.load_state_dict(state_dict["optimizer"])
        super().load_state_dict(state_dict)
        self.count = state_dict["count"]
        # Loading built new group dicts; share the wrapped optimizer's again.
        self.param_groups = self.optimizer.param_groups


class Combined(torch.optim.Optimizer):
    """Several optimizers over disjoint sets of parameters, used as one.

    A matrix optimizer such as :class:`torch.optim.Muon` updates only the weight matrices of
    hidden layers; the embeddings, biases, norms and output layer of the same network need
    an elementwise optimizer beside it::

        matrices, others = adalearn.models.matrix_parameters(model)
        optimizer = Combined(torch.optim.Muon(matrices, lr=0.02), AdamW(others, lr=3e-3))

    ``step()`` evaluates the closure, if any, once and then steps each optimizer in turn;
    ``zero_grad()`` clears every gradient. ``param_groups`` is the list of the optimizers'
    own groups (the same dicts), so a learning-rate scheduler built on the combination
    scales every group. ``state_dict()`` holds each optimizer's state dict.

    Parameters
    ----------
    *optimizers : torch.optim.Optimizer
        At least one; no parameter may belong to two of them.
    """

    def __init__(self, *optimizers: torch.optim.Optimizer) -> None:
        if not optimizers:
            raise ValueError(
                "`optimizers` must hold at least one optimizer. Received: optimizers=()"
            )
        seen = set()
        for index, optimizer in enumerate(optimizers):
            if not isinstance(optimizer, torch.optim.Optimizer):
                raise TypeError(
                    "`optimizers` must be torch.optim.Optimizer instances. "
                    f"Received: optimizers[{index}]={optimizer!r}"
                )
            if getattr(optimizer, "requires_closure", False):
                raise ValueError(
                    "`optimizers` must each take one gradient per step. "
                    f"Received: optimizers[{index}]={type(optimizer).__name__}, which evaluates "
                    "several"
                )
            for group in optimizer.param_groups:
                for p in group["params"]:
                    if id(p) in seen:
                        raise ValueError(
                            "`optimizers` must update disjoint parameters. Received: "
                            f"optimizers[{index}] repeats a parameter of shape {tuple(p.shape)}"
                        )
                    seen.add(id(p))
        self.optimizers = tuple(optimizers)
        params = [p for o in self.optimizers for g in o.param_groups for p in g["params"]]
        super().__init__(params, {})
        self.param_groups = [group for o in self.optimizers for group in o.param_groups]

    @overload
    def step(self, closure: None = None) -> None: ...
    @overload
    def step(self, closure: Callable[[], float]) -> float: ...
    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Step every optimizer; return the closure's loss, if any."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for optimizer in self.optimizers:
            optimizer.step()
        return loss

    def state_dict(self) -> StateDict:
        return {"optimizers": [optimizer.state_dict() for optimizer in self.optimizers]}

    def load_state_dict(self, state_dict: StateDict) -> None:
        states = state_dict["optimizers"]
        if len(states) != len(self.optimizers):
            raise ValueError(
                f"`state_dict` must hold {len(self.optimizers)} optimizers' states. "
                f"Received: len(state_dict['optimizers'])={len(states)}"
            )
        for optimizer, state in zip(self.optimizers, states, strict=True):
            optimizer.load_state_dict(state)
        # Loading built new group dicts; share the optimizers' again.
        self.param_groups = [group for o in self.optimizers for group in o.param_groups]


# --------------------------------------------------------------------------------------------
# The named optimizers: one line each. A class named after a torch.optim optimizer takes that
# optimizer's implementation flags too.


class SGD(_NamedOptimizer):
    rule_class = rules.SGD
    _complex = "complex"


class Adagrad(_NamedOptimizer):
    rule_class = rules.Adagrad
    _complex_l2 = True


class RMSprop(_NamedOptimizer):
    rule_class = rules.RMSprop
    _complex_l2 = True


class Adadelta(_NamedOptimizer):
    rule_class = rules.Adadelta
    _complex = "add"
    _complex_l2 = True


class Adam(_NamedOptimizer):
    rule_class = rules.Adam
    _adam_tensor_checks = True
    _complex_l2 = True
    _sparse_error = (
        "Adam does not support sparse gradients, please consider SparseAdam instead"
    )


class AdamW(_NamedOptimizer):
    rule_class = rules.AdamW
    _adam_tensor_checks = True
    _torch_keys = {"decoupled_weight_decay": True}
    _sparse_error = Adam._sparse_error


class SparseAdam(_NamedOptimizer):
    """Only for sparse gradients, as torch.optim's: ``nn.Embedding(sparse=True)``'s, for
    example. The parameters must be dense and real (refused when built, with torch's
    message), and a dense gradient is refused at the step. The step count is kept as a
    Python int, as torch.optim keeps it.
    """

    rule_class = rules.SparseAdam

    def __init__(self, params: ParamsT, *args: Any, **kwargs: Any) -> None:
        super().__init__(params, *args, **kwargs)
        for kind, test, problem in (
            ("Sparse", lambda p: p.is_sparse, "SparseAdam requires dense parameter tensors"),
            ("Complex", lambda p: p.is_complex(),
             "SparseAdam does not support complex parameters"),
        ):
            found = [[i, j] for i, group in enumerate(self.param_groups)
                     for j, p in enumerate(group["params"]) if test(p)]
            if found:
                raise ValueError(f"{kind} params at indices {found}: {problem}")

    def _check_gradients(self, work):
        if any(not p.grad.is_sparse for _, p in work):
            raise RuntimeError(
                "SparseAdam does not support dense gradients, please consider Adam instead"
            )

    def _store_state(self, p, new_state):
        super()._store_state(p, new_state)
        if "step" in new_state:
            self.state[p]["step"] = int(new_state["step"])


class Adamax(_NamedOptimizer):
    rule_class = rules.Adamax
    _complex_l2 = True


class Heun(_NamedOptimizer):
    rule_class = rules.Heun


class NAdam(_NamedOptimizer):
    rule_class = rules.NAdam


class RAdam(_NamedOptimizer):
    rule_class = rules.RAdam


class Adafactor(_NamedOptimizer):
    rule_class = rules.Adafactor


class Muon(_NamedOptimizer):
    rule_class = rules.Muon

    def __init__(self, params: ParamsT, *args: Any, **kwargs: Any) -> None:
        super().__init__(params, *args, **kwargs)
        for group in self.param_groups:  # as torch.optim.Muon: matrices only, said at once
            for p in group["params"]:
                if p.ndim != 2:
                    raise ValueError(
                        "Muon only supports 2D parameters whereas we found a parameter with "
                        f"size: {p.size()}"
                    )


class Lion(_NamedOptimizer):
    rule_class = rules.Lion


class AdamWScheduleFree(_NamedOptimizer):
    """Schedule-free AdamW, as ``schedulefree.AdamWScheduleFreeReference``, with its two modes.

    The parameters hold :math:`y`, where gradients are taken, in train mode, and the average
    :math:`x`, where the model is meant to be evaluated, in eval mode. Like the reference, the
    optimizer starts in eval mode: call ``optimizer.train()`` before the training steps and
    ``optimizer.eval()`` before evaluating or saving the model. ``step`` refuses to run in
    eval mode. The mode is kept per param group, as ``group["train_mode"]``.
    """

    rule_class = rules.AdamWScheduleFree

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group({"train_mode": False, **param_group})

    def load_state_dict(self, state_dict: StateDict) -> None:
        # torch casts every floating state tensor to its parameter's dtype; the weight sum and
        # the largest learning rate stay float64, as the reference keeps them in Python floats.
        scalars = {
            index: {key: entry[key] for key in ("weight_sum", "lr_max") if key in entry}
            for index, entry in state_dict["state"].items()
        }
        super().load_state_dict(state_dict)
        saved_ids = [i for group in state_dict["param_groups"] for i in group["params"]]
        params = [p for group in self.param_groups for p in group["params"]]
        for index, p in zip(saved_ids, params, strict=True):
            for key, value in scalars.get(index, {}).items():
                self.state[p][key] = torch.as_tensor(value, dtype=torch.float64).clone()

    @torch.no_grad()
    def train(self) -> None:
        """Put :math:`y` (where gradients are taken) into the parameters of every group."""
        self._switch(True, lambda rule, state: rule.training_point(state))

    @torch.no_grad()
    def eval(self) -> None:
        """Put the average :math:`x` (where the model is evaluated) into the parameters."""
        self._switch(False, lambda rule, state: rule.evaluation_point(state))

    def _switch(self, train_mode, point):
        for index, group in enumerate(self.param_groups):
            if group["train_mode"] == train_mode:
                continue
            rule = self._group_rule(index, group)
            for p in group["params"]:
                if self.state.get(p):  # parameters that have not stepped stay where they are
                    _engine.write(p, point(rule, self._rule_state(rule, p)), rule)
            group["train_mode"] = train_mode

    @overload
    def step(self, closure: None = None) -> None: ...
    @overload
    def step(self, closure: Callable[[], float]) -> float: ...
    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        if not self.param_groups[0]["train_mode"]:
            raise RuntimeError(
                "`train_mode` must be True when AdamWScheduleFree steps: call optimizer.train() "
                "before training and optimizer.eval() before evaluating or saving. "
                "Received: train_mode=False"
            )
        return super().step(closure)


# --------------------------------------------------------------------------------------------
# torch.optim's remaining namesakes, and the optimizers of Part III beyond torch: Shampoo and
# SOAP (as pytorch-optimizer's), Prodigy (as prodigyopt's).


class Rprop(_NamedOptimizer):
    rule_class = rules.Rprop


class ASGD(_NamedOptimizer):
    rule_class = rules.ASGD


class LBFGS(_NamedOptimizer):
    """L-BFGS over all parameters as one vector, as ``torch.optim.LBFGS``: ``step(closure)``.

    Each step evaluates the closure (which clears the gradients, computes the loss, calls
    ``backward()`` and returns the loss) at least once and up to ``max_eval`` times. The
    parameters are flattened into one vector, the rule's ``x``; the rule's ``value_and_grad``
    writes a point into the parameters, calls the closure and gathers the gradients. Like
    torch's, it takes one param group only, keeps its state on the first parameter, and
    returns the loss of the closure's first call. ``compile=True`` is refused: the rule's loop
    depends on the values it computes.

    Sharded parameters (DTensors, as FSDP2 makes them) are gathered into the vector, and each
    process computes the same iterations on it and writes its rows back: per step one
    all-gather of every parameter, and per evaluation of the closure one of every gradient.
    The state holds whole vectors on every process, as torch's holds them for one.
    """

    rule_class = rules.LBFGS
    _runs_on = "on all parameters as one vector"
    _refuses_compile = "its iterations and line search branch on the values they compute"

    def __init__(self, params: ParamsT, *args: Any, **kwargs: Any) -> None:
        super().__init__(params, *args, **kwargs)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")

    @property
    def requires_closure(self) -> bool:
        return True

    @staticmethod
    def _pieces(tensors):
        """The tensors as pieces of the vector: whole (a sharded one gathered) and real."""
        pieces = []
        for t in tensors:
            t = t.full_tensor() if _engine.is_sharded(t) else t
            pieces.append(torch.view_as_real(t) if t.is_complex() else t)
        return pieces

    def _flat(self, tensors):
        return torch.cat([t.reshape(-1) for t in self._pieces(tensors)])

    def _flat_grad(self):
        grads = []
        for p in self.param_groups[0]["params"]:
            grad = p.grad
            if grad is None:
                grad = torch.zeros(p.shape, dtype=p.dtype, device=p.device)
            elif grad.is_sparse:
                grad = grad.to_dense()
            grads.append(grad)
        return self._flat(grads)

    def _set(self, x):
        """Write the vector ``x`` into the parameters (a sharded one's rows into its shard)."""
        offset = 0
        for p in self.param_groups[0]["params"]:
            target = _engine._local(p.detach())
            shape = p.shape
            if p.is_complex():
                target, shape = torch.view_as_real(target), (*shape, 2)
            piece = x[offset : offset + math.prod(shape)].view(shape)
            offset += piece.numel()
            target.copy_(_engine._Rows(p).local(piece) if _engine.is_sharded(p) else piece)

    @overload
    def step(self, closure: None = None) -> NoReturn: ...
    @overload
    def step(self, closure: Callable[[], float]) -> float: ...
    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float:
        """Run up to ``max_iter`` L-BFGS iterations; return the closure's first loss."""
        if closure is None:
            raise TypeError(
                "`closure` must be given to LBFGS.step: a function that clears the gradients, "
                "recomputes the loss, calls backward() and returns the loss, as L-BFGS "
                "evaluates the loss several times per step. Received: closure=None"
            )
        if len(self.param_groups) != 1:  # a group added after construction
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        closure = torch.enable_grad()(closure)
        rule = self._group_rule(0, self.param_groups[0])
        params = self.param_groups[0]["params"]
        state = self.state[params[0]]
        loss = closure()
        pieces = self._pieces([p.detach() for p in params])
        x = torch.cat([piece.reshape(-1) for piece in pieces])

        def value_and_grad(point):
            self._set(point)
            return float(closure()), self._flat_grad()

        x, new_state = rule.step(x, self._flat_grad(), {**rule.init(x), **state},
                                 value=float(loss), value_and_grad=value_and_grad,
                                 pieces=[piece.numel() for piece in pieces])
        self._set(x)
        state.update(new_state)
        return loss


def _matrix_update(rule, x, g, state, *decisions):
    """A matrix rule's update, out of place: what ``compile=True`` compiles for it."""
    return rule.update(x, g, state, *decisions)


if TYPE_CHECKING:
    # _PerGroupCount is mixed into named optimizers, whose attributes it uses.
    _MixedIntoNamed = _NamedOptimizer
else:
    _MixedIntoNamed = object


class _PerGroupCount(_MixedIntoNamed):
    """For a named optimizer that counts steps per param group (``group["step"]``), as
    pytorch-optimizer's do, and runs its rule parameter by parameter.

    Each parameter's state is the rule's without ``"step"``; the rule is handed the group's
    count of earlier steps. ``compile=True`` compiles the rule's ``update`` (the step without
    its count, the step-dependent numbers passed in as a tensor and a flag), once for all
    shapes, with the learning rate an input so that a scheduler does not recompile it. A
    sharded parameter (FSDP2's, a DTensor) takes the rule's ``step_shard``, eagerly.
    """

    if TYPE_CHECKING:
        # Each optimizer's step of one parameter, from its state with the group's count.
        def _update(
            self, index: int, rule: rules.Rule, p: torch.Tensor, state: dict[str, Any]
        ) -> tuple[torch.Tensor, dict[str, Any]]: ...

    @overload
    def step(self, closure: None = None) -> None: ...
    @overload
    def step(self, closure: Callable[[], float]) -> float: ...
    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Update every parameter that has a gradient; return the closure's loss, if any."""
        group_rules = [self._group_rule(i, group) for i, group in enumerate(self.param_groups)]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for index, (rule, group) in enumerate(zip(group_rules, self.param_groups, strict=True)):
            group["step"] = group.get("step", 0) + 1
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError(f"{rule.name} does not support sparse gradient.")
                if _engine.is_sharded(p):
                    self._step_sharded(rule, p, group["step"] - 1)
                    continue
                stored = self.state[p]
                state = {**(stored or rule.init(p.detach())), "step": group["step"] - 1}
                x, new = self._update(index, rule, p, state)
                p.copy_(x)
                merged = {**state, **new}
                del merged["step"]
                stored.update(merged)
        return loss

    def _step_sharded(self, rule, p, count):
        """The eager step of a sharded parameter (a DTensor): the rule's ``step_shard`` on this
        process's rows, after ``count`` steps of its group (see ``_engine.step_whole``)."""
        state = {**self._rule_state(rule, p), "step": count}
        g = _engine.rule_tensor(p.grad, rule, like=p)
        x, new = _engine.step_whole(rule, p, g, state)
        _engine.write(p, x, rule)
        self._store_state(p, {k: v for k, v in {**state, **new}.items() if k != "step"})

    def _compiled(self, index, rule, p, state, *decisions):
        """``rule.update`` compiled, with the group's learning rate as a tensor input."""
        if getattr(self, "_compiled_update", None) is None:
            self._compiled_update = _torch_internals.compile(_matrix_update)
        # cast: a compiled step is not differentiable, so the engine exists.
        return self._compiled_update(cast(_engine.Engine, self._engine).prepare(index, rule),
                                     p.detach(), p.grad,
                                     {k: v for k, v in state.items() if k != "step"}, *decisions)


class Shampoo(_PerGroupCount, _NamedOptimizer):
    """Shampoo as ``pytorch_optimizer.Shampoo`` (4.1.0): its arguments, defaults, state keys,
    step count per param group (``group["step"]``) and numbers."""

    rule_class = rules.Shampoo
    _compile_doc = ("``compile=True`` compiles the rule's ``update`` with :func:`torch.compile`: "
                    "the matrix products and decompositions stay the library's calls, the "
                    "elementwise work between them is fused.")

    def _update(self, index, rule, p, state):
        if not self.compile:
            return rule.step(p.detach(), p.grad, state)
        refresh = (state["step"] + 1) % rule.preconditioning_compute_steps == 0
        return self._compiled(index, rule, p, state, refresh)


class SOAP(_PerGroupCount, _NamedOptimizer):
    """SOAP as ``pytorch_optimizer.SOAP`` (4.1.0): its arguments, defaults, state keys, step
    count per param group (``group["step"]``) and numbers. The first step of each parameter,
    which computes its bases by an eigen decomposition, runs eagerly also with
    ``compile=True``."""

    rule_class = rules.SOAP
    _compile_doc = ("``compile=True`` compiles the rule's ``update`` with :func:`torch.compile`: "
                    "the matrix products and decompositions stay the library's calls, the "
                    "elementwise work between them is fused.")

    def _update(self, index, rule, p, state):
        count = state["step"]
        if not self.compile or state["Q"] is None:
            return rule.step(p.detach(), p.grad, state)
        refresh = count % state["precondition_frequency"] == 0
        step_size = torch.as_tensor(rule.step_size(count)).to(torch.float64)
        return self._compiled(index, rule, p, state, step_size, refresh)


class Prodigy(_NamedOptimizer):
    """Prodigy as ``prodigyopt.Prodigy`` (1.1.2): its arguments, defaults, state keys and
    numbers; ``d`` and its companions ``d_max``, ``d_numerator``, ``d_denom``, ``d_hat`` and
    the count ``k`` live in every param group, as there.

    A step runs the rule's three phases over all parameters: accumulate on each, estimate the
    one ``d`` from the sums, apply to each. As in prodigyopt, ``betas``, ``beta3``,
    ``decouple``, ``use_bias_correction``, ``growth_rate``, ``d_coef`` and ``fsdp_in_use``
    are read from the first param group; ``lr``, ``eps``, ``weight_decay``, ``d0``,
    ``safeguard_warmup`` and ``slice_p`` per group, and the groups' learning rates must be
    equal or 0. With ``fsdp_in_use`` (or a parameter flattened by FSDP) the two sums are
    added over the processes of ``torch.distributed`` (in float64, where prodigyopt adds in
    float32 on the GPU). ``compile=True`` is refused: the phases read the sums as numbers.
    """

    rule_class = rules.Prodigy
    _runs_on = "in three phases over all parameters"
    _refuses_compile = "each step reads two sums over all parameters as numbers between its passes"
    _PER_GROUP = ("lr", "eps", "weight_decay", "d0", "safeguard_warmup", "slice_p")

    def __init__(self, params: ParamsT, *args: Any, **kwargs: Any) -> None:
        super().__init__(params, *args, **kwargs)
        if not 0.0 < self.defaults["lr"]:
            raise ValueError(f"Invalid learning rate: {self.defaults['lr']}")

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        d0 = self.defaults["d0"]
        super().add_param_group(
            {"d": d0, "d_max": d0, "d_numerator": 0.0, "k": 0, **param_group}
        )

    def _phase_rules(self):
        """Each group's rule: the first group's, with the group's own per-group values."""
        first = self._group_rule(0, self.param_groups[0])
        group_rules = [first]
        for index, group in enumerate(self.param_groups[1:], start=1):
            own = self._group_rule(index, group)
            group_rules.append(first.replace(**{k: getattr(own, k) for k in self._PER_GROUP}))
        return group_rules

    @overload
    def step(self, closure: None = None) -> None: ...
    @overload
    def step(self, closure: Callable[[], float]) -> float: ...
    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One Prodigy step over every parameter that has a gradient; the closure's loss."""
        group_rules = self._phase_rules()
        lr = max(group["lr"] for group in self.param_groups)
        if any(group["lr"] not in (lr, 0.0) for group in self.param_groups):
            raise RuntimeError(
                "Setting different lr values in different parameter groups is only supported "
                "for values of 0"
            )
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        first, rule = self.param_groups[0], group_rules[0]
        beta3 = rule.beta3 if rule.beta3 is not None else rule.betas[1] ** 0.5
        d, k = first["d"], first["k"]
        dlr = rule.replace(lr=lr).scale(d, k)
        fsdp = rule.fsdp_in_use
        work, increment, denominator = [], 0.0, 0.0
        for group, group_rule in zip(self.param_groups, group_rules, strict=True):
            for p in group["params"]:
                if p.grad is None:
                    continue
                fsdp = fsdp or hasattr(p, "_fsdp_flattened")
                g = group_rule.gradient(p, p.grad)
                state = self.state[p]
                if not state:
                    fresh = group_rule.init(p.detach())
                    state.update({key: fresh[key] for key in fresh if key not in first})
                new, part, total = group_rule.accumulate(p.detach(), g, state, d, dlr)
                state.update(new)
                increment += part
                denominator += total
                work.append((group_rule, p, g, state))
        if denominator == 0 and not fsdp:
            return loss
        numerator = first["d_numerator"] * beta3 + increment
        if fsdp:
            sums = torch.tensor([increment, denominator], dtype=torch.float64,
                                device=work[0][1].device if work else None)
            torch.distributed.all_reduce(sums, op=torch.distributed.ReduceOp.SUM)
            numerator = first["d_numerator"] * beta3 + sums[0].item()
            denominator = sums[1].item()
        d_new, d_max, d_hat = group_rules[-1].estimate(d, first["d_max"], numerator, denominator)
        for group in self.param_groups:
            group.update(d_numerator=numerator, d_denom=denominator, d=d_new, d_max=d_max,
                         d_hat=d_hat)
        for group_rule, p, g, state in work:
            x, new = group_rule.apply(p.detach(), g, state, d_new, dlr)
            p.copy_(x)
            state.update(new)
        for group in self.param_groups:
            group["k"] += 1
        return loss
