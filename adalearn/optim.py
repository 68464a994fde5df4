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
import types

import numpy as np
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


# Rules whose update acts on each coordinate alone, so running them on the concatenation of
# several parameters gives each parameter its own update. (A reader's rule may not: one that
# normalises by a norm of x would mix its parameters; it always runs parameter by parameter.)
_ELEMENTWISE = (
    rules.SGD,
    rules.Adagrad,
    rules.RMSprop,
    rules.Adadelta,
    rules.Adam,
    rules.AdamW,
    rules.Adamax,
    rules.Heun,
)

# A rule call costs a dozen tensor operations, about 40 µs with the Python around them however
# small the tensor. Parameters below _SMALL elements therefore run together, in flat buffers
# (see _Batch). Eager batches hold at most _BATCH elements (a megabyte in float32), so that
# the rule's temporaries stay in cache and come from the allocator's free lists; for the same
# reason an eager step on a larger parameter runs in blocks of _BATCH elements. A compiled
# update makes no temporaries, so its batch takes every small parameter of the group.
_SMALL = 1 << 15
_BATCH = 1 << 18
_PER_CALL = 8
_RECOMPILE_LIMIT = 32


def _plain(value):
    """True for a hyperparameter made of Python scalars (which can be compared and cached)."""
    if isinstance(value, tuple):
        return all(map(_plain, value))
    return value is None or isinstance(value, (bool, int, float, str))


def _update_in_place(rule, x, g, state, ahead):
    """One step of ``rule`` written back into ``x`` and ``state``, in eager and compiled code.

    ``x``, ``g`` and the state's arrays are tensors of one shape; ``ahead`` is the gradient at the
    rule's look-ahead point (Heun) or None. Returns the state entries that have no tensor to be
    written into: the step count and buffers created by this step.
    """
    grad_fn = None if ahead is None else (lambda _x: ahead)
    x_new, new = rule.step(x, g, state, grad_fn=grad_fn)
    x.copy_(x_new)
    created = {}
    for key, value in new.items():
        if key != "step" and state.get(key) is not None:
            state[key].copy_(value)
        else:
            created[key] = value
    return created


def _update_each(rule, xs, gs, states, aheads):
    """:func:`_update_in_place` on each parameter of a list: one compiled call for them all."""
    return [
        _update_in_place(rule, x, g, state, ahead)
        for x, g, state, ahead in zip(xs, gs, states, aheads, strict=True)
    ]


class RuleOptimizer(torch.optim.Optimizer):
    """A torch optimizer that applies an :class:`adalearn.rules.Rule` to every parameter.

    The rule's hyperparameters become the defaults of ``param_groups``; a group may override
    any of them (``[{"params": ..., "lr": 0.1}, ...]``) and schedulers may change them between
    steps. Each parameter's state is the rule's state dict, stored in ``self.state[p]`` with
    ``"step"`` kept as a tensor like torch.optim does.

    Rules that evaluate the gradient twice (``rule.evaluations == 2``, such as Heun) need
    ``step(closure)``: the closure is called again at the point ``rule.predict`` gives, for all
    parameters at once. After such a step ``p.grad`` holds the gradient at that point.

    With ``compile=True`` the rule is compiled by :func:`torch.compile` into one in-place update
    per step: the same formulas, fused into a single pass over the parameter, its gradient and
    its state, with one call for up to eight large parameters. The first steps compile
    (seconds); the learning rate and the step count enter as tensors, so neither a scheduler
    nor a new step recompiles, while a change of another hyperparameter does.

    The built-in rules act on each coordinate alone, so parameters of fewer than 32768
    elements run together: one rule call on flat buffers of the batch, into which their state
    tensors are views. Eager, the batch copies the parameters in and back around the call, and
    a larger parameter is updated in blocks of 262144 elements, so that the rule's temporaries
    stay in cache. Either way every element sees the operations of the whole-parameter rule.
    With ``compile=True`` the small parameters of a group instead become views into one flat
    buffer (``p.data``; each stays the same ``Parameter`` with its shape and values), so that
    only the gradients are copied. A parameter later given new storage (``p.data = ...``,
    ``model.to(...)``) is taken into a new buffer at the next step.

    Example, with a rule written by the reader::

        optimizer = RuleOptimizer(model.parameters(), SignSGD(lr=1e-3))
    """

    def __init__(self, params, rule: rules.Rule, *, compile: bool = False):
        if not isinstance(rule, rules.Rule):
            raise TypeError(f"rule must be an adalearn rule, got {rule!r}")
        if not isinstance(compile, bool):
            raise TypeError(f"compile must be True or False, got {compile!r}")
        self.rule = rule
        self.compile = compile
        self._lr = {}
        self._compiled = None
        super().__init__(params, rule.hyperparameters())
        self._clear_caches()

    def _clear_caches(self):
        # Per group: the hyperparameter values last seen and the rule built (and checked) from
        # them. The last plan of the step (see _plan) and its batches.
        self._rules = {}
        self._plan_key, self._plan_cache = None, ([], [])

    @property
    def requires_closure(self) -> bool:
        """True when ``step`` must be given a closure."""
        return self.rule.evaluations > 1

    def __setstate__(self, state):
        super().__setstate__(state)
        self._clear_caches()
        # A state_dict from torch.optim lacks the rule's extra hyperparameters (eps_root, ...).
        for group in self.param_groups:
            for name, default in self.rule.hyperparameters().items():
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
        if self.compile and isinstance(values.get("lr"), (int, float)):
            # A tensor learning rate is an input of the compiled code, not a constant in it.
            lr = self._lr.setdefault(index, torch.zeros((), dtype=torch.float64))
            lr.fill_(values["lr"])
            rule = rule.replace(lr=lr)
        if plain:
            self._rules[index] = (key, rule)
        return rule

    @torch.no_grad()
    def step(self, closure=None):
        """Update every parameter that has a gradient; return the closure's loss, if any."""
        group_rules = [self._group_rule(i, group) for i, group in enumerate(self.param_groups)]
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
            (index, p)
            for index, group in enumerate(self.param_groups)
            for p in group["params"]
            if p.grad is not None
        ]
        if self.requires_closure:
            states = [self._rule_state(group_rules[i], p) for i, p in work]
            grads = [p.grad.clone() for _, p in work]
            ahead = self._gradients_ahead(group_rules, work, states, grads, closure)
        else:
            grads, ahead = [p.grad for _, p in work], None
        update = self._compiled_update() if self.compile else _update_each
        plan = self._plan(group_rules, work)
        elementwise = self._plan_key[0]
        for entry in plan:
            if isinstance(entry, _Group):
                entry.run(update, group_rules[entry.group], grads, ahead)
                continue
            index, p = work[entry]
            rule = group_rules[index]
            g_ahead = None if ahead is None else ahead[entry]
            if elementwise[index] and p.numel() > _BATCH:
                self._step_blocked(rule, p, grads[entry], g_ahead)
            else:
                self._step_one(rule, p, grads[entry], g_ahead)
        return loss

    def _plan(self, group_rules, work):
        """How this step's parameters are updated: a list of groups and indices into ``work``.

        Parameters are grouped by param group, dtype, device and state layout (step count
        included). Small parameters of an elementwise rule run together as a :class:`_Batch`.
        With ``compile=True`` the others run as :class:`_Together`, up to _PER_CALL per call;
        eager, they go one by one. The plan is kept while the same parameters have gradients
        and every group's state is still the optimizer's.
        """
        elementwise = tuple(
            type(rule) in _ELEMENTWISE
            and all(np.ndim(v) == 0 for v in rule.hyperparameters().values()
                    if not isinstance(v, tuple))
            for rule in group_rules
        )
        key = (elementwise, tuple(id(p) for _, p in work))
        if self._plan_key == key and all(group.valid() for group in self._plan_cache[1]):
            return self._plan_cache[0]
        limit = None if self.compile else _BATCH
        members, open_members = [], {}
        for i, (index, p) in enumerate(work):
            small = p.numel() < _SMALL and elementwise[index]
            if not (small or self.compile):
                members.append(i)
                continue
            state = self._rule_state(group_rules[index], p)
            signature = (
                index,
                p.dtype,
                p.device,
                tuple((k, v if k == "step" else v is None) for k, v in state.items()),
                small,
            )
            entry = open_members.get(signature)
            if entry is None or (small and limit and entry[1] + p.numel() > limit):
                entry = open_members[signature] = [[], 0, small]
                members.append(entry)
            entry[0].append(i)
            entry[1] += p.numel()
        plan = []
        for entry in members:
            if not isinstance(entry, list):
                plan.append(entry)
                continue
            indices, _, small = entry
            index = work[indices[0]][0]
            rule = group_rules[index]
            if small and len(indices) == 1 and not self.compile:
                plan.append(indices[0])
            elif small:
                plan.append(_Batch(self, rule, index, indices, work, adopt=self.compile))
            else:
                # Chunks of equal length, so that one compilation serves them all.
                size = -(-len(indices) // -(-len(indices) // _PER_CALL))
                for start in range(0, len(indices), size):
                    chunk = indices[start : start + size]
                    plan.append(_Together(self, rule, index, chunk, work, elementwise[index]))
        groups = [entry for entry in plan if isinstance(entry, _Group)]
        self._plan_key, self._plan_cache = key, (plan, groups)
        return plan

    def _compiled_update(self):
        if self._compiled is None:
            self._compiled = _compile(_update_each)
        return self._compiled

    def _step_one(self, rule, p, g, g_ahead):
        """The eager step of one parameter: the rule's own out-of-place arithmetic."""
        grad_fn = None if g_ahead is None else (lambda _x: g_ahead)
        x, new_state = rule.step(p.detach(), g, self._rule_state(rule, p), grad_fn=grad_fn)
        p.copy_(x)
        if new_state:
            self._store_state(p, new_state)

    def _step_blocked(self, rule, p, g, g_ahead):
        """The eager step of a large parameter, _BATCH elements at a time, written in place.

        The rule's temporaries are then the size of a block: they stay in cache and come from
        the allocator's free lists, where whole-parameter temporaries would be fresh pages.
        Each element sees the same operations, so the result is the same to the last bit.
        """
        state = self._rule_state(rule, p)
        tensors = [p, g, *([] if g_ahead is None else [g_ahead])]
        tensors += [v for k, v in state.items() if k != "step"]
        if any(v is None or not v.is_contiguous() for v in tensors):
            return self._step_one(rule, p, g, g_ahead)  # first steps, or unusual layouts
        x, g = p.detach().view(-1), g.view(-1)
        ahead = None if g_ahead is None else g_ahead.view(-1)
        buffers = {k: v if k == "step" else v.view(-1) for k, v in state.items()}
        for start in range(0, x.numel(), _BATCH):
            block = slice(start, start + _BATCH)
            created = _update_in_place(
                rule,
                x[block],
                g[block],
                {k: v if k == "step" else v[block] for k, v in buffers.items()},
                None if ahead is None else ahead[block],
            )
        self._store_state(p, {**state, **created})

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

    def _gradients_ahead(self, group_rules, work, states, grads, closure):
        """Gradients at the points where the rules look ahead, all parameters moved at once."""
        here = [p.detach().clone() for _, p in work]
        for (index, p), state, g in zip(work, states, grads, strict=True):
            p.copy_(group_rules[index].predict(p.detach(), g, state))
        with torch.enable_grad():
            closure()
        ahead = [torch.zeros_like(p) if p.grad is None else p.grad.clone() for _, p in work]
        for (_, p), x in zip(work, here, strict=True):
            p.copy_(x)
        return ahead


class _Group:
    """Parameters of one param group with one step count, updated by one call of the update.

    A group owns the state entries it puts into ``optimizer.state`` and stays valid while
    they are still there and every parameter still has the storage it had (see
    :meth:`valid`); otherwise the optimizer plans again. Step counts advance in place.
    """

    def __init__(self, optimizer, rule, group, indices, work):
        self.optimizer, self.group, self.indices = optimizer, group, indices
        self.params = [work[i][1] for i in indices]
        self.owned = []  # (param, its state dict, key, the object this group put there)
        self.storage = []  # (param, the data pointer it must keep)
        states = [optimizer._rule_state(rule, p) for p in self.params]
        self.step, self.steps = None, []
        if "step" in states[0]:
            self.step = states[0]["step"]
            self.steps = [torch.tensor(float(self.step), dtype=_step_dtype()) for _ in self.params]
            self._own("step", self.steps)
        self._take(states)

    def _take(self, states):
        """Take the parameters' current states (besides the step count) into the group."""
        raise NotImplementedError

    def _own(self, key, values):
        state = self.optimizer.state
        for p, value in zip(self.params, values, strict=True):
            state[p][key] = value
            self.owned.append((p, state[p], key, value))

    def valid(self):
        """True while the group's state entries and parameter storage are as it left them."""
        state = self.optimizer.state
        return all(p.data_ptr() == pointer for p, pointer in self.storage) and all(
            state.get(p) is d and d.get(k) is v for p, d, k, v in self.owned
        )

    def _step_inputs(self):
        if self.step is None:
            return {}
        return {"step": _step_input(self.step) if self.optimizer.compile else self.step}

    def _advance(self, step):
        self.step = step.item() if isinstance(step, torch.Tensor) else step
        torch._foreach_zero_(self.steps)
        torch._foreach_add_(self.steps, float(self.step))


class _Batch(_Group):
    """Small parameters run as one flat array: one rule call for many small layers.

    The batch keeps flat buffers of its total size: ``x`` and ``g`` for the parameters and
    their gradients, and one per state entry, of which ``optimizer.state[p]`` holds views (so
    the state keeps torch.optim's per-parameter layout and ``state_dict`` is unchanged). A step
    copies the gradients in and runs the update on the flat tensors. The parameters are copied
    in and back around the update, or, when ``adopt`` is true, become views into ``x``
    themselves (``p.data``), so that nothing is copied.
    """

    def __init__(self, optimizer, rule, group, indices, work, adopt):
        self.adopt = adopt
        super().__init__(optimizer, rule, group, indices, work)

    def _take(self, states):
        self.x = torch.cat([p.detach().reshape(-1) for p in self.params])
        self.g = torch.empty_like(self.x)
        self.x_views, self.g_views = self._views(self.x), self._views(self.g)
        if self.adopt:
            for p, view in zip(self.params, self.x_views, strict=True):
                p.data = view
                self.storage.append((p, view.data_ptr()))
        self.flat = {}
        for key, value in states[0].items():
            if key == "step":
                continue
            if value is None:
                self.flat[key] = None
            else:
                self._bind(key, torch.cat([state[key].reshape(-1) for state in states]))

    def _views(self, flat):
        views, offset = [], 0
        for p in self.params:
            views.append(flat[offset : offset + p.numel()].view(p.shape))
            offset += p.numel()
        return views

    def _bind(self, key, flat):
        """Make ``flat`` the batch's ``key`` buffer and its slices the parameters' state."""
        self.flat[key] = flat
        self._own(key, self._views(flat))

    def run(self, update, rule, grads, ahead):
        if not self.adopt:
            torch._foreach_copy_(self.x_views, self.params)
        torch._foreach_copy_(self.g_views, [grads[i] for i in self.indices])
        g_ahead = None if ahead is None else _cat(ahead[i] for i in self.indices)
        inputs = {**self.flat, **self._step_inputs()}
        (created,) = update(rule, [self.x], [self.g], [inputs], [g_ahead])
        if not self.adopt:
            torch._foreach_copy_(self.params, self.x_views)
        for key, value in created.items():
            if key == "step":
                self._advance(value)
            elif value is not None:  # a buffer the first step creates, such as momentum's
                self._bind(key, value)


class _Together(_Group):
    """Parameters that compiled code updates each on its own, in one call.

    With ``flatten`` (an elementwise rule), each parameter, gradient and state tensor enters
    as a flat view of itself, so that layers of any shape share the compiled code.
    """

    def __init__(self, optimizer, rule, group, indices, work, flatten):
        self.flatten = flatten
        super().__init__(optimizer, rule, group, indices, work)

    def _take(self, states):
        self.shapes = []  # per parameter: how its tensors enter the update
        self.xs, self.inputs = [], []
        for p, state in zip(self.params, states, strict=True):
            tensors = [p, *(v for k, v in state.items() if k != "step" and v is not None)]
            flat = self.flatten and all(t.is_contiguous() for t in tensors)
            self.shapes.append(_flat if flat else _as_is)
            self.xs.append(self.shapes[-1](p.detach()))
            self.storage.append((p, p.data_ptr()))
            self.inputs.append({})
        for key in states[0]:
            if key != "step":
                self._bind(key, [state[key] for state in states])

    def _bind(self, key, values):
        """Make ``values`` the parameters' ``key`` state and the update's inputs."""
        if values[0] is not None:
            self._own(key, values)
        for shape, inputs, value in zip(self.shapes, self.inputs, values, strict=True):
            inputs[key] = None if value is None else shape(value)

    def run(self, update, rule, grads, ahead):
        gs = [shape(grads[i]) for shape, i in zip(self.shapes, self.indices, strict=True)]
        aheads = [
            None if ahead is None else shape(ahead[i])
            for shape, i in zip(self.shapes, self.indices, strict=True)
        ]
        step = self._step_inputs()
        created = update(rule, self.xs, gs, [{**inputs, **step} for inputs in self.inputs],
                         aheads)
        for key, value in created[0].items():
            if key == "step":
                self._advance(value)
            elif value is not None:  # buffers the first step creates, such as momentum's
                self._bind(key, [new[key].view_as(p) for new, p in
                                 zip(created, self.params, strict=True)])


def _flat(tensor):
    return tensor.reshape(-1)


def _as_is(tensor):
    return tensor


def _step_input(step):
    """The step count as compiled code takes it: a tensor, so a new count does not recompile."""
    return torch.tensor(float(step), dtype=torch.float64)


def _compile(function):
    """``function`` compiled by :func:`torch.compile`, with its own cache of compiled variants.

    torch.compile keeps the variants compiled for a function (one per dtype, per set of
    hyperparameter constants, per number of parameters in a call, ...) on its code object, at
    most ``torch._dynamo.config.recompile_limit`` of them, and runs it uncompiled past that.
    A copy of the code gives each optimizer a budget of its own, of _RECOMPILE_LIMIT.
    """
    code = function.__code__.replace()
    copy = types.FunctionType(code, function.__globals__, function.__name__)
    compiled = torch.compile(copy, backend=_inductor_with_scalars, dynamic=True, fullgraph=True)
    config, shapes = torch._dynamo.config, torch.fx.experimental._config

    def call(*args):
        # Hyperparameters other than the learning rate must stay constants of the compiled
        # code, also when a new state layout recompiles it (dynamo would then make every
        # float an input). As inputs they are loaded again for every 16 elements, and
        # beta ** t recomputed there. Every parameter gets a length of its own, so that
        # chunks of parameters with other sizes reuse the code. Read only when compiling.
        saved = (config.specialize_float, config.automatic_dynamic_shapes,
                 config.recompile_limit, shapes.use_duck_shape)
        config.specialize_float, config.automatic_dynamic_shapes = True, False
        config.recompile_limit, shapes.use_duck_shape = _RECOMPILE_LIMIT, False
        try:
            return compiled(*args)
        finally:
            (config.specialize_float, config.automatic_dynamic_shapes,
             config.recompile_limit, shapes.use_duck_shape) = saved

    return call


def _inductor_with_scalars(graph_module, example_inputs):
    """torch.compile's default compiler, told to compute each scalar of the update once.

    A rule computes step-dependent numbers, such as Adam's ``1 - beta1 ** t``, on the
    zero-dimensional step tensor. Inductor would inline them into the loop over the
    parameter and, because its C++ keeps ``errno`` semantics, call ``pow`` again for every
    16 elements. Returning them as extra outputs makes it store each one once, before the loop.
    """
    from torch._inductor.compile_fx import compile_fx

    def scalar(node):
        value = node.meta.get("example_value")
        return isinstance(value, torch.Tensor) and value.dim() == 0

    output = next(node for node in graph_module.graph.nodes if node.op == "output")
    results = tuple(output.args[0])
    scalars = [
        node
        for node in graph_module.graph.nodes
        if node.op == "call_function"
        and scalar(node)
        and node not in results
        and any(not scalar(user) for user in node.users if user.op != "output")
    ]
    output.args = ((*results, *scalars),)
    graph_module.recompile()
    compiled = compile_fx(graph_module, example_inputs)
    count = len(results)
    return lambda *args: compiled(*args)[:count]


def _cat(tensors):
    """The tensors flattened and concatenated (one flat view when there is only one)."""
    tensors = list(tensors)
    if len(tensors) == 1 and tensors[0].is_contiguous():
        return tensors[0].view(-1)
    return torch.cat([t.reshape(-1) for t in tensors])


class _NamedOptimizer(RuleOptimizer):
    """An optimizer whose constructor is its rule's: ``Adam(params, lr=..., betas=...)``."""

    rule_class: type[rules.Rule]

    def __init__(self, params, *args, compile=False, **kwargs):
        super().__init__(params, self.rule_class(*args, **kwargs), compile=compile)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        rule_signature = inspect.signature(cls.rule_class)
        params = inspect.Parameter("params", inspect.Parameter.POSITIONAL_OR_KEYWORD)
        compile_ = inspect.Parameter("compile", inspect.Parameter.KEYWORD_ONLY, default=False)
        cls.__signature__ = rule_signature.replace(
            parameters=[params, *rule_signature.parameters.values(), compile_],
            return_annotation=None,
        )
        cls.__doc__ = (
            f"torch.optim-compatible {cls.rule_class.__name__}, running "
            f":class:`adalearn.rules.{cls.rule_class.__name__}` on every parameter.\n\n"
            f"``compile=True`` compiles the rule into one in-place update per step (see "
            f":class:`RuleOptimizer`).\n\n"
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

