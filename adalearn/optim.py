"""torch.optim optimizers that run the rules of :mod:`adalearn.rules` on tensors.

``SGD, Adagrad, RMSprop, Adadelta, Adam, AdamW, Adamax`` take torch.optim's constructor
arguments, defaults and state keys and give its numbers, so they drop into any training loop::

    optimizer = adalearn.optim.Adam(model.parameters(), lr=1e-3)
    for x, y in batches:
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()

They are real :class:`torch.optim.Optimizer` subclasses: hyperparameters live in
``param_groups`` (so ``torch.optim.lr_scheduler`` works), per-parameter state in ``self.state``,
and ``state_dict()`` loads into the torch.optim namesake and back. Each also accepts the
rule's extra keyword arguments, such as ``eps_root``.

:class:`Heun` evaluates the gradient twice per step and so needs ``step(closure)``.
:class:`SoftBatch` wraps any optimizer and steps it once every ``every`` calls with the mean
gradient. :class:`RuleOptimizer` turns any rule, your own too, into an optimizer.
"""

from __future__ import annotations

import inspect

import torch

from adalearn import rules

__all__ = [
    "RuleOptimizer",
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adadelta",
    "Adam",
    "AdamW",
    "Adamax",
    "Heun",
    "SoftBatch",
]


def _step_dtype():
    """The dtype torch.optim stores its step counts in."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


class RuleOptimizer(torch.optim.Optimizer):
    """A torch optimizer that applies an :class:`adalearn.rules.Rule` to every parameter.

    The rule's hyperparameters become the defaults of ``param_groups``; a group may override
    any of them (``[{"params": ..., "lr": 0.1}, ...]``) and schedulers may change them between
    steps. Each parameter's state is the rule's state dict, stored in ``self.state[p]`` with
    ``"step"`` kept as a tensor like torch.optim does.

    Rules that evaluate the gradient twice (``rule.evaluations == 2``, such as Heun) need
    ``step(closure)``: the closure is called again at the point ``rule.predict`` gives, for all
    parameters at once. After such a step ``p.grad`` holds the gradient at that point.

    Example, with a rule written by the reader::

        optimizer = RuleOptimizer(model.parameters(), SignSGD(lr=1e-3))
    """

    def __init__(self, params, rule: rules.Rule):
        if not isinstance(rule, rules.Rule):
            raise TypeError(f"rule must be an adalearn rule, got {rule!r}")
        self.rule = rule
        super().__init__(params, rule.hyperparameters())

    @property
    def requires_closure(self) -> bool:
        """True when ``step`` must be given a closure."""
        return self.rule.evaluations > 1

    def __setstate__(self, state):
        super().__setstate__(state)
        # A state_dict from torch.optim lacks the rule's extra hyperparameters (eps_root, ...).
        for group in self.param_groups:
            for name, default in self.rule.hyperparameters().items():
                group.setdefault(name, default)

    def _group_rules(self):
        """One rule per param group, built (and so checked) before any parameter changes."""
        names = self.rule.hyperparameters().keys()
        return [self.rule.replace(**{k: group[k] for k in names}) for group in self.param_groups]

    @torch.no_grad()
    def step(self, closure=None):
        """Update every parameter that has a gradient; return the closure's loss, if any."""
        group_rules = self._group_rules()
        if self.requires_closure and closure is None:
            raise TypeError(
                f"{type(self).__name__}.step needs a closure that clears the gradients, "
                "recomputes the loss, calls backward() and returns the loss: the rule "
                f"evaluates the gradient {self.rule.evaluations} times per step"
            )
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        work = [
            (rule, p, self._rule_state(rule, p))
            for rule, group in zip(group_rules, self.param_groups, strict=True)
            for p in group["params"]
            if p.grad is not None
        ]
        grads = [p.grad.clone() if self.requires_closure else p.grad for _, p, _ in work]
        ahead = self._gradients_ahead(work, grads, closure) if self.requires_closure else None
        for i, (rule, p, state) in enumerate(work):
            grad_fn = None if ahead is None else (lambda _x, g=ahead[i]: g)
            x, new_state = rule.step(p.detach(), grads[i], state, grad_fn=grad_fn)
            p.copy_(x)
            if new_state:
                self._store_state(p, new_state)
        return loss

    def _rule_state(self, rule, p):
        """The rule's view of ``self.state[p]``: step counts as Python numbers."""
        stored = self.state.get(p)
        if not stored:
            return rule.init(p.detach())
        return {k: v.item() if k == "step" else v for k, v in stored.items()}

    def _store_state(self, p, new_state):
        state = self.state[p]
        for key, value in new_state.items():
            if key == "step":
                value = torch.tensor(float(value), dtype=_step_dtype())
            state[key] = value

    def _gradients_ahead(self, work, grads, closure):
        """Gradients at the points where the rules look ahead, all parameters moved at once."""
        here = [p.detach().clone() for _, p, _ in work]
        for (rule, p, state), g in zip(work, grads, strict=True):
            p.copy_(rule.predict(p.detach(), g, state))
        with torch.enable_grad():
            closure()
        ahead = [torch.zeros_like(p) if p.grad is None else p.grad.clone() for _, p, _ in work]
        for (_, p, _), x in zip(work, here, strict=True):
            p.copy_(x)
        return ahead


class _NamedOptimizer(RuleOptimizer):
    """An optimizer whose constructor is its rule's: ``Adam(params, lr=..., betas=...)``."""

    rule_class: type[rules.Rule]

    def __init__(self, params, *args, **kwargs):
        super().__init__(params, self.rule_class(*args, **kwargs))

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        rule_signature = inspect.signature(cls.rule_class)
        params = inspect.Parameter("params", inspect.Parameter.POSITIONAL_OR_KEYWORD)
        cls.__signature__ = rule_signature.replace(
            parameters=[params, *rule_signature.parameters.values()], return_annotation=None
        )
        cls.__doc__ = (
            f"torch.optim-compatible {cls.rule_class.__name__}, running "
            f":class:`adalearn.rules.{cls.rule_class.__name__}` on every parameter.\n\n"
            f"The update, the conventions and the references are the rule's:\n\n"
            f"{inspect.getdoc(cls.rule_class)}"
        )


class SGD(_NamedOptimizer):
    rule_class = rules.SGD


class Adagrad(_NamedOptimizer):
    rule_class = rules.Adagrad


class RMSprop(_NamedOptimizer):
    rule_class = rules.RMSprop


class Adadelta(_NamedOptimizer):
    rule_class = rules.Adadelta


class Adam(_NamedOptimizer):
    rule_class = rules.Adam


class AdamW(_NamedOptimizer):
    rule_class = rules.AdamW


class Adamax(_NamedOptimizer):
    rule_class = rules.Adamax


class Heun(_NamedOptimizer):
    rule_class = rules.Heun


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

    def __init__(self, optimizer: torch.optim.Optimizer, every: int):
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {optimizer!r}")
        if getattr(optimizer, "requires_closure", False):
            raise ValueError(
                f"SoftBatch accumulates single gradients; {type(optimizer).__name__} "
                "evaluates several per step"
            )
        rules.SoftBatch(rules.SGD(), every)  # the one place `every` is checked
        self.optimizer = optimizer
        self.every = every
        self.count = 0
        super().__init__(optimizer.param_groups, optimizer.defaults)

    @torch.no_grad()
    def step(self, closure=None):
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

    def state_dict(self):
        state = super().state_dict()
        state["count"] = self.count
        state["optimizer"] = self.optimizer.state_dict()
        return state

    def load_state_dict(self, state_dict):
        self.optimizer.load_state_dict(state_dict["optimizer"])
        super().load_state_dict(state_dict)
        self.count = state_dict["count"]
        # Loading built new group dicts; share the wrapped optimizer's again.
        self.param_groups = self.optimizer.param_groups

