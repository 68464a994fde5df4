"""The fast path behind :class:`adalearn.optim.RuleOptimizer`: batches, blocks, compiled updates.

:mod:`adalearn.optim` states what a step is: for each parameter, ``x, state = rule.step(x, g,
state)``, written back into the parameter and ``optimizer.state`` (its reference step). This
module runs the same arithmetic faster and is tested against it bit for bit; it never imports
:mod:`adalearn.optim`, which hands it the per-parameter state and the reference step.

What makes a step slow is not the arithmetic. A rule call costs a dozen tensor operations,
about 40 µs with the Python around them however small the tensor, and on a large tensor each
operation makes a fresh temporary of many megabytes. So, for a rule whose ``elementwise``
attribute is true (each coordinate's update depends on that coordinate alone):

- parameters below ``_SMALL`` elements run together, as one flat array (:class:`_Batch`);
- eager, a rule that writes its step in place (``step_in_place``, see
  :class:`adalearn.rules.Rule`) runs it on each batch and on each larger parameter whole
  (:meth:`Engine._step_in_place`; so does a rule that is not elementwise, such as
  Adafactor): like torch.optim's, its operations make no temporary the size of a parameter
  but the few torch.optim makes, and each uses every thread;
- eager, for any other rule, a batch holds at most one block of elements, and a larger
  parameter is updated in blocks (:meth:`Engine._step_blocked`), so that the temporaries stay
  in cache and come from the allocator's free lists. A block is ``_BATCH`` elements per thread
  of torch (:func:`_block`): torch splits an operation into pieces of at least ``_BATCH``
  elements (its grain size) over its threads, so each thread works on a cache-sized piece and
  the step uses every core;
- with ``compile=True`` the update is compiled into one in-place pass (:func:`_update_each`),
  a batch takes every small parameter of its group, and larger parameters go up to
  ``_PER_CALL`` per compiled call (:class:`_Together`).

Every element sees the operations of the whole-parameter rule, so eager results are the
reference step's to the last bit. Zero-dimensional tensors in the state of a larger parameter
(NAdam's ``mu_product``) are scalars like the step count: one value for a group, passed to the
rule once. A rule whose state holds anything else besides tensors shaped like the parameter
(numbers, factored moments, nested dicts) runs parameter by parameter: eager through its
``step_in_place`` if it has one and the reference step otherwise, with ``compile=True`` as its
pure step compiled (:meth:`Engine._step_functional`).

The engine computes on what a parameter holds (:func:`rule_tensor`): the local shard of a
DTensor (FSDP2's ``fully_shard``, ``distribute_module``), on which an elementwise rule does
to each element what it does on the whole tensor, so a sharded step communicates nothing and
gives the unsharded step's bits; and the real view of a complex parameter, as torch.optim
steps it. The optimizer's state keeps torch.optim's form: DTensors placed as their parameter,
complex tensors for a complex one (:func:`stored_tensor`). A rule that mixes coordinates gets
a sharded matrix whole where it needs it (:func:`step_whole`). Some parameters take the
reference step one by one whatever the plan (:meth:`Engine._alone`): sparse gradients,
bfloat16 and float16 parameters (whose bits depend on where an element sits in its tensor)
and complex parameters that torch.optim steps in complex arithmetic.

The private torch internals of the compiled path live in :mod:`adalearn._torch_internals`;
where this torch lacks one, ``compile=True`` runs this engine eagerly (:func:`can_compile`).
"""

from __future__ import annotations

import operator
import sys
import warnings

import numpy as np
import torch

from adalearn import _torch_internals, rules

_SMALL = 1 << 15
# Eager blocks and batches, per thread: with the rule's half-dozen temporaries, 32768 float32
# elements (128 KB a tensor) stay within a 2 MB L2 cache. Measured on one step of ten
# 1M-element tensors on one thread, the eager step to torch's for-loop (SGD with momentum,
# Adam): 1.5x and 0.9x at 32768, 2.4x and 1.2x at 262144, on a Xeon with 2 MB of L2 per core.
# 32768 is also torch's grain size (at::internal::GRAIN_SIZE): an operation on fewer elements
# runs on one thread.
_BATCH = 1 << 15
_PER_CALL = 16


def _block():
    """Elements of an eager block or batch: ``_BATCH`` for each of torch's threads."""
    return _BATCH * torch.get_num_threads()


def can_compile():
    """True when this torch has the internals ``compile=True`` needs.

    Otherwise the optimizer runs the eager engine, and this warns once, naming what is
    missing (see :mod:`adalearn._torch_internals`).
    """
    absent = _torch_internals.missing()
    if absent:
        warnings.warn(
            f"compile=True runs the eager engine: torch {torch.__version__} lacks "
            f"{', '.join(absent)}, which the compiled step needs (torch 2.13 and 2.14 have "
            "them all)",
            stacklevel=3,
        )
    return not absent


_LOW_PRECISION = (torch.bfloat16, torch.float16)


# --------------------------------------------------------------------------------------------
# What a rule computes on. A sharded parameter (a DTensor, as FSDP2 and distribute_module make
# them) is stepped through its local shard, where an elementwise rule does to each element
# what it does on the whole tensor; a complex one, for an elementwise rule, through its real
# view (torch.view_as_real), as torch.optim steps it.


def _dtensor_class():
    """torch's DTensor class, or None while no DTensor can exist (its module is not loaded)."""
    module = sys.modules.get("torch.distributed.tensor")
    return None if module is None else module.DTensor


def is_sharded(t):
    """True for a DTensor."""
    cls = _dtensor_class()
    return cls is not None and isinstance(t, cls)


def _local(t):
    return t.to_local() if is_sharded(t) else t


def _storage(p):
    """Where a parameter's (local) values live, to notice a parameter given new storage."""
    if type(p) is torch.nn.Parameter or type(p) is torch.Tensor:  # at every step: quick
        return p.data_ptr()
    return _local(p).data_ptr()


def rule_tensor(t, rule, like=None):
    """The tensor ``rule`` computes on in place of ``t``: the local shard of a DTensor (placed
    as ``like``, the parameter, when ``t`` is its gradient) and, for an elementwise rule, the
    real view of a complex tensor. A rule that mixes coordinates sees complex tensors as they
    are (and raises torch's error); one that needs a sharded matrix whole gets it gathered
    (see :func:`step_whole`).
    """
    if is_sharded(t):
        if like is not None and t.placements != like.placements:
            t = t.redistribute(like.device_mesh, like.placements)
        t = t.to_local()
    if t.is_complex() and rule.elementwise:
        t = torch.view_as_real(t)
    return t


def initial_state(rule, x, whole=False):
    """The rule's state before the first step of parameter ``x`` (detached), as the rule sees
    it: for the whole tensor gathered (``whole``), for this process's rows of a sharded one
    where the rule says how (``init_shard``), and otherwise for :func:`rule_tensor`.
    """
    if whole:
        return rule.init(x.full_tensor())
    if is_sharded(x) and hasattr(rule, "init_shard"):
        return rule.init_shard(x.to_local(), _Rows(x))
    return rule.init(rule_tensor(x, rule))


def stored_tensor(value, p):
    """A rule's state tensor ``value`` in the form the optimizer keeps it for parameter ``p``.

    A real tensor shaped like the real view of a complex ``p`` becomes complex again, and one
    shaped like a sharded ``p``'s local shard becomes a DTensor placed as ``p``. Other values
    (step counts, which torch.optim keeps as plain tensors, and the DTensors of
    :func:`step_whole`) are kept as they are.
    """
    if not isinstance(value, torch.Tensor) or value.dim() == 0 or is_sharded(value):
        return value
    local = _local(p)
    if p.is_complex() and not value.is_complex() and value.shape == (*local.shape, 2):
        value = torch.view_as_complex(value)
    if is_sharded(p) and value.shape == local.shape:
        from torch.distributed.tensor import DTensor

        return DTensor.from_local(value, p.device_mesh, p.placements, run_check=False,
                                  shape=p.shape, stride=p.stride())
    return value


def write(p, x, rule):
    """Write a rule's new ``x`` into parameter ``p`` (its local shard, its real view)."""
    target = p if not (is_sharded(p) or p.is_complex()) else rule_tensor(p.detach(), rule)
    target.copy_(x)


class _Rows(rules.Shards):
    """This process's part of a sharded parameter, and how to reach the whole of it.

    Built from the parameter (a DTensor; FSDP2 shards rows, Shard(0), but any placement
    works): ``gather`` all-gathers a tensor that holds this process's part of something shaped
    like the parameter, ``local`` takes this process's part of a whole one without
    communicating (each process has the same whole).
    """

    def __init__(self, p):
        super().__init__(p.shape)
        self.mesh, self.placements = p.device_mesh, p.placements

    def gather(self, t):
        from torch.distributed.tensor import DTensor

        return DTensor.from_local(t, self.mesh, self.placements, run_check=False,
                                  shape=self.shape,
                                  stride=_contiguous_stride(self.shape)).full_tensor()

    def local(self, t):
        from torch.distributed.tensor import distribute_tensor

        return distribute_tensor(t, self.mesh, self.placements, src_data_rank=None).to_local()

    def replicated(self, t):
        from torch.distributed.tensor import DTensor, Replicate

        return DTensor.from_local(t, self.mesh, [Replicate()] * self.mesh.ndim, run_check=False)


def _contiguous_stride(shape):
    stride, strides = 1, []
    for size in reversed(shape):
        strides.append(stride)
        stride *= size
    return tuple(reversed(strides))


def step_whole(rule, p, g, state, grad_fn=None):
    """One step of a rule that mixes coordinates, on a sharded parameter ``p``.

    A rule with ``step_shard`` (Muon, Shampoo, SOAP) runs on this process's rows of ``p``, of
    the gradient ``g`` and of ``state`` and gathers only what it needs whole. Any other
    (Adafactor, a reader's rule) is given the whole parameter and gradient, gathered, with
    ``state`` already whole; each process computes the same step and keeps its rows. Returns
    the new rows of ``p`` and the new state, whose tensors are DTensors: sharded as ``p``
    when they are its rows, replicated when every process holds them whole.

    Communication per step, for a matrix of A x B elements sharded over P processes: with
    ``step_shard``, what it gathers (Muon: one all-gather of its direction in bfloat16, of
    which each process receives (P - 1) / P of the 2AB bytes; Shampoo and SOAP: one
    all-gather of the gradient in the parameter's dtype); otherwise one all-gather each of
    the parameter, the gradient and every state tensor sharded like the parameter
    (Adafactor: two, as its factored moments are replicated). Taking a process's part of the
    result communicates nothing. Every process computes the whole step, the same on each.
    """
    from torch.distributed.tensor import DTensor, Replicate

    rows = _Rows(p)
    x = p.detach().to_local()
    if hasattr(rule, "step_shard"):
        return rule.step_shard(x, g, state, rows)
    x_new, new = rule.step(rows.gather(x), rows.gather(g), state, grad_fn=grad_fn)
    replicated = [Replicate()] * p.device_mesh.ndim
    for key, value in new.items():
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            if value.shape == p.shape:
                new[key] = DTensor.from_local(rows.local(value), p.device_mesh, p.placements,
                                              run_check=False, shape=p.shape, stride=p.stride())
            else:
                new[key] = DTensor.from_local(value, p.device_mesh, replicated, run_check=False)
    return rows.local(x_new), new


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
        # A scalar of the state (see _scalar) is returned, not written: every block of a
        # parameter must read the value from before the step, and compiled code does not
        # reliably write a zero-dimensional float64 input in place.
        old = state.get(key)
        if key != "step" and old is not None and not _scalar(old, x):
            old.copy_(value)
        else:
            created[key] = value
    return created


def _write_each(rule, xs, gs, states, aheads):
    """:func:`_update_each`, eager, through the rule's ``step_in_place`` where every state
    tensor exists (see :class:`adalearn.rules.Rule`)."""
    return [
        rule.step_in_place(x, g, state)
        if ahead is None and _complete(state)
        else _update_in_place(rule, x, g, state, ahead)
        for x, g, state, ahead in zip(xs, gs, states, aheads, strict=True)
    ]


def _complete(state):
    """True when every entry of a state exists (momentum's buffer is None before a step)."""
    return all(v is not None for v in state.values())


def _has_step_in_place(rule):
    """True when the rule's ``step_in_place`` is its ``step``'s: defined by the class that
    defines ``step``, or by a subclass of it. A subclass that overrides ``step`` alone (a
    reader's variant of Adam) must not run its parent's ``step_in_place``."""
    mro = type(rule).__mro__
    if getattr(rule, "step_in_place", None) is None:
        return False
    owner = {name: next(cls for cls in mro if name in vars(cls))
             for name in ("step", "step_in_place")}
    return issubclass(owner["step_in_place"], owner["step"])


def _number(value):
    """True for a number, or None (an option left unset, such as Adafactor's first eps)."""
    return value is None or isinstance(value, (bool, int, float))


def _update_each(rule, xs, gs, states, aheads):
    """:func:`_update_in_place` on each parameter of a list: one compiled call for them all."""
    return [
        _update_in_place(rule, x, g, state, ahead)
        for x, g, state, ahead in zip(xs, gs, states, aheads, strict=True)
    ]


def _pure_step(rule, x, g, state, ahead):
    """The rule's own step, out of place: what compiled code runs for any state layout."""
    grad_fn = None if ahead is None else (lambda _x: ahead)
    return rule.step(x, g, state, grad_fn=grad_fn)


def _scalar(value, p):
    """True for a scalar of a parameter's state besides its step count: a zero-dimensional
    tensor beside a larger ``p``, such as NAdam's ``mu_product``. Like the step count it is
    one value for a whole group, passed to the rule once and stored back for each parameter.
    """
    return isinstance(value, torch.Tensor) and value.dim() == 0 and p.dim() > 0


def _regular(state, p):
    """True when a state holds a step count, scalars and tensors shaped like ``p`` (or None).

    Other entries, such as a factored moment (Adafactor's ``row_var``), have no slice for a
    piece of ``p``.
    """
    return all(
        isinstance(value, (int, float)) if key == "step"
        else value is None or _scalar(value, p)
        or (isinstance(value, torch.Tensor) and value.shape == p.shape)
        for key, value in state.items()
    )


def _signature(state, p):
    """A state's layout for planning: which buffers exist, and the step count and scalars."""
    return tuple(
        (k, v if k == "step" else (v.item(), v.dtype) if _scalar(v, p) else v is None)
        for k, v in state.items()
    )


class Engine:
    """Runs one optimizer's steps: plans which parameters go together, and runs the plan.

    ``state`` is the optimizer's per-parameter state (``optimizer.state``), into which the
    engine writes, as the reference step does. ``reference_step(rule, p, g, g_ahead)`` is the
    optimizer's step of one parameter; ``rule_state(rule, p)`` is the rule's view of
    ``state[p]`` (the step count as a number, tensors as :func:`rule_tensor` shows them, the
    rule's initial state when empty) and ``store_state(p, new_state)`` stores a rule's state
    back (the step count as a tensor, tensors as :func:`stored_tensor` keeps them).
    ``as_real(rule)`` says whether the step of a complex parameter is the rule's step on its
    real view; where it is not, the reference step takes it.
    """

    def __init__(self, state, reference_step, rule_state, store_state, *, compile,
                 as_real=lambda rule: True):
        self.state = state
        self.reference_step = reference_step
        self.rule_state = rule_state
        self.store_state = store_state
        self.as_real = as_real
        self.compile = compile
        self._lr = {}
        self._prepared = {}
        # Compiled code per number of torch's threads: inductor writes a kernel for the count
        # it compiles at (parallel loops only above one thread), and dynamo does not guard it.
        self._compiled, self._compiled_pure = {}, {}
        self.reset(state)

    def reset(self, state):
        """Forget every plan, for a new ``state`` (after ``load_state_dict``)."""
        self.state = state
        # The last plan of the step (see _plan) and its groups.
        self._plan_key, self._plan_cache = None, ([], [])
        # The last step's parameters that go alone whatever their gradient (see _alone), and
        # whether the others need a view (see rule_tensor).
        self._kinds_key, self._kinds = None, ([], False)

    def prepare(self, index, rule):
        """The rule of param group ``index`` as the engine runs it.

        With ``compile=True`` a learning rate given as a number becomes a tensor input of the
        compiled code, so that a scheduler does not recompile it; ``rule`` must then be the same
        object while the group's values stay the same.
        """
        if not self.compile or not isinstance(getattr(rule, "lr", None), (int, float)):
            return rule
        cached = self._prepared.get(index)
        if cached is not None and cached[0] is rule:
            return cached[1]
        lr = self._lr.setdefault(index, torch.zeros((), dtype=torch.float64))
        lr.fill_(rule.lr)
        prepared = rule.replace(lr=lr)
        self._prepared[index] = (rule, prepared)
        return prepared

    def step(self, group_rules, work, grads, ahead):
        """Update the parameters of ``work``, a list of (param group index, parameter).

        ``grads[i]`` is the gradient of ``work[i]``; ``ahead`` is None or, for rules that
        look ahead, the gradients at their look-ahead points.
        """
        group_rules = [self.prepare(i, rule) for i, rule in enumerate(group_rules)]
        update = self._compiled_update() if self.compile else _update_each
        # Sparse gradients, low-precision parameters and a few others take the reference
        # step one parameter at a time: see _alone.
        ids = tuple(id(p) for _, p in work)
        always, viewed = self._parameter_kinds(group_rules, work, ids)
        alone = always + [i for i, g in enumerate(grads) if g.is_sparse and i not in always]
        if alone:
            for i in alone:
                index, p = work[i]
                self.reference_step(group_rules[index], p, grads[i],
                                    None if ahead is None else ahead[i])
            done = set(alone)
            rest = [i for i in range(len(work)) if i not in done]
            work, grads = [work[i] for i in rest], [grads[i] for i in rest]
            ahead = None if ahead is None else [ahead[i] for i in rest]
            ids = tuple(ids[i] for i in rest)
        block = _block()
        plan = self._plan(group_rules, work, ids, block)
        elementwise, in_place = self._plan_key[:2]
        if viewed:
            grads = [rule_tensor(g, group_rules[index], like=p)
                     for (index, p), g in zip(work, grads, strict=True)]
            if ahead is not None:
                ahead = [rule_tensor(g, group_rules[index], like=p)
                         for (index, p), g in zip(work, ahead, strict=True)]
        for entry in plan:
            if isinstance(entry, _Group):
                entry.run(_write_each if in_place[entry.group] else update,
                          group_rules[entry.group], grads, ahead)
                continue
            index, p = work[entry]
            rule = group_rules[index]
            x = rule_tensor(p, rule)
            g_ahead = None if ahead is None else ahead[entry]
            if in_place[index] and g_ahead is None:
                self._step_in_place(rule, p, grads[entry])
            elif not _regular(self.rule_state(rule, p), x):
                if self.compile:
                    self._step_functional(rule, p, grads[entry], g_ahead)
                else:
                    self._reference(rule, p, grads[entry], g_ahead)
            elif elementwise[index] and x.numel() > block:
                self._step_blocked(rule, p, grads[entry], g_ahead, block)
            else:
                self._reference(rule, p, grads[entry], g_ahead)

    def _parameter_kinds(self, group_rules, work, ids):
        """The indices into ``work`` of the parameters that go alone whatever their gradient,
        and whether any other is sharded or complex (and so computed on through a view).
        Kept while the parameters and what the rules say of them stay the same.
        """
        key = (tuple((rule.elementwise, self.as_real(rule)) for rule in group_rules), ids)
        if key != self._kinds_key:
            always = [i for i, (index, p) in enumerate(work) if self._alone(group_rules[index], p)]
            viewed = any(is_sharded(p) or p.is_complex() for _, p in work)
            self._kinds_key, self._kinds = key, (always, viewed)
        return self._kinds

    def _alone(self, rule, p):
        """True for a parameter that takes the reference step on its own, whatever the plan.

        So does every parameter with a sparse gradient (only some rule steps take one). And
        a sharded parameter of a non-elementwise rule (the reference step gathers what the
        rule needs whole), a complex parameter that is not stepped through its real view, and
        a bfloat16 or float16 parameter: torch's kernels round the vectorised body and the
        scalar tail of a low-precision tensor differently, so an element's bits depend on
        where it sits, and only the whole parameter, as torch.optim steps it, gives its bits.
        Compiled code would not round where eager code does either (it computes in float32
        and rounds what it stores): one compiled bfloat16 Adam step was measured 3.5 units in
        the last place from torch.optim's default step, torch's own ``fused=True`` 3. With
        compile=True these parameters therefore take the eager step too, and keep
        torch.optim's bits.
        """
        return (
            (is_sharded(p) and not rule.elementwise)
            or p.dtype in _LOW_PRECISION
            or (p.is_complex() and rule.elementwise and not self.as_real(rule))
        )

    def _reference(self, rule, p, g, g_ahead):
        """The reference step, given a gradient already in the rule's view (see rule_tensor)."""
        self.reference_step(rule, p, g, g_ahead, viewed=True)

    def _plan(self, group_rules, work, ids, block):
        """How this step's parameters are updated: a list of groups and indices into ``work``.

        Parameters are grouped by param group, dtype, device and state layout (step count
        included). Small parameters of an elementwise rule run together as a :class:`_Batch`.
        With ``compile=True`` the others run as :class:`_Together`, up to _PER_CALL per call;
        eager, they go one by one, as do parameters whose state is not tensors alone, and an
        eager batch holds at most ``block`` elements (see :func:`_block`). ``ids`` are the
        parameters' ids. The plan is kept while the same parameters have gradients, the block
        is the same and every group's state is still the optimizer's.
        """
        hyperparameters = [rule.hyperparameters().values() for rule in group_rules]
        elementwise = tuple(
            rule.elementwise
            and all(np.ndim(v) == 0 for v in values if not isinstance(v, tuple))
            for rule, values in zip(group_rules, hyperparameters, strict=True)
        )
        # Eager, a rule with step_in_place writes its step (see rules.Rule) when its
        # hyperparameters are numbers.
        in_place = tuple(
            not self.compile and _has_step_in_place(rule)
            and all(_number(v) for value in values
                    for v in (value if isinstance(value, tuple) else (value,)))
            for rule, values in zip(group_rules, hyperparameters, strict=True)
        )
        key = (elementwise, in_place, ids, block)
        if self._plan_key == key and all(group.valid() for group in self._plan_cache[1]):
            return self._plan_cache[0]
        limit = None if self.compile else block
        members, open_members = [], {}
        for i, (index, p) in enumerate(work):
            x = rule_tensor(p, group_rules[index])
            small = x.numel() < _SMALL and elementwise[index]
            if not (small or self.compile):
                members.append(i)
                continue
            state = self.rule_state(group_rules[index], p)
            if not _regular(state, x):
                members.append(i)
                continue
            signature = (
                index,
                p.dtype,  # the parameter's: complex parameters batch only with their like
                x.device,
                is_sharded(p),
                _signature(state, x),
                small,
            )
            entry = open_members.get(signature)
            if entry is None or (small and limit and entry[1] + x.numel() > limit):
                entry = open_members[signature] = [[], 0, small]
                members.append(entry)
            entry[0].append(i)
            entry[1] += x.numel()
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
        threads = torch.get_num_threads()
        if threads not in self._compiled:
            self._compiled[threads] = _torch_internals.compile(_update_each)
        return self._compiled[threads]

    def _step_functional(self, rule, p, g, g_ahead):
        """The compiled step of a rule whose state holds numbers or nested dicts.

        Such a state cannot be written in place, so the rule's pure step is compiled as it is
        and its results are stored as the reference step stores them.
        """
        threads = torch.get_num_threads()
        if threads not in self._compiled_pure:
            self._compiled_pure[threads] = _torch_internals.compile(_pure_step)
        state = self.rule_state(rule, p)
        if isinstance(state.get("step"), (int, float)):  # a tensor: a new count must not recompile
            state = {**state, "step": _step_input(state["step"])}
        x, new_state = self._compiled_pure[threads](rule, rule_tensor(p.detach(), rule), g,
                                                    state, g_ahead)
        rule_tensor(p.detach(), rule).copy_(x)
        self.store_state(p, new_state)

    def _step_in_place(self, rule, p, g):
        """The eager step of a parameter through the rule's ``step_in_place``, whole.

        Its operations write into the parameter and the state, as torch.optim's do, so it
        needs no blocks: a block's temporaries would save no pass over memory.
        """
        state = self.rule_state(rule, p)
        if not _complete(state):
            return self._reference(rule, p, g, None)  # a first step that creates a buffer
        created = rule.step_in_place(rule_tensor(p.detach(), rule), g, state)
        self.store_state(p, {**state, **created})

    def _step_blocked(self, rule, p, g, g_ahead, block):
        """The eager step of a large parameter, ``block`` elements at a time, in place.

        The rule's temporaries are then the size of a block: they stay in cache and come from
        the allocator's free lists, where whole-parameter temporaries would be fresh pages.
        Each element sees the same operations, so the result is the same to the last bit.
        """
        state = self.rule_state(rule, p)
        tensors = [rule_tensor(p, rule), g, *([] if g_ahead is None else [g_ahead])]
        tensors += [v for k, v in state.items() if k != "step"]
        if any(v is None or not v.is_contiguous() for v in tensors):
            return self._reference(rule, p, g, g_ahead)  # first steps, or unusual layouts
        x, g = rule_tensor(p.detach(), rule).view(-1), g.view(-1)
        ahead = None if g_ahead is None else g_ahead.view(-1)
        buffers = {k: v if k == "step" or _scalar(v, x) else v.view(-1)
                   for k, v in state.items()}
        created = {}
        for start in range(0, x.numel(), block):
            piece = slice(start, start + block)
            created = _update_in_place(
                rule,
                x[piece],
                g[piece],
                {k: v if k == "step" or _scalar(v, x) else v[piece]
                 for k, v in buffers.items()},
                None if ahead is None else ahead[piece],
            )
        self.store_state(p, {**state, **created})


class _Group:
    """Parameters of one param group with one step count, updated by one call of the update.

    A group owns the state entries it puts into the optimizer's state and stays valid while
    they are still there and every parameter still has the storage it had (see
    :meth:`valid`); otherwise the engine plans again. Step counts, and the state's other
    scalars, are one value for the group and advance in place: each parameter's is a
    zero-dimensional view into one tensor of the group's (see :func:`_one_storage`), so that
    one operation sets them all.
    """

    def __init__(self, engine, rule, group, indices, work):
        self.engine, self.group, self.indices = engine, group, indices
        self.params = [work[i][1] for i in indices]
        # What the update computes on: the parameters, or their local shards and real views.
        self.tensors = [rule_tensor(p.detach(), rule) for p in self.params]
        # What valid() checks: each owned state entry (its param, the param's state dict, key
        # and the object this group put there), and each parameter's data pointer.
        self.owned = ([], [], [], [])
        self.storage = ([], [])
        states = [engine.rule_state(rule, p) for p in self.params]
        self.step, self.steps = None, None
        if "step" in states[0]:
            self.step = states[0]["step"]
            for p in self.params:  # a tensor of the optimizer's own making, for each parameter
                engine.store_state(p, {"step": self.step})
            self.steps = _one_storage([engine.state[p]["step"] for p in self.params])
            self._own("step", self.steps[1])
        # The other scalars (see _scalar): one value for the group, which the update reads,
        # and a tensor of each parameter's own in its state, written after each step.
        self.scalars, self.scalar_tensors = {}, {}
        for key, value in states[0].items():
            if key != "step" and _scalar(value, self.tensors[0]):
                self.scalars[key] = value.clone()
                self.scalar_tensors[key] = _one_storage([value.clone() for _ in self.params])
                self._own(key, self.scalar_tensors[key][1])
        self._take(states)

    def _take(self, states):
        """Take the parameters' current states (besides the step count) into the group."""
        raise NotImplementedError

    def _own(self, key, values):
        state = self.engine.state
        for p, value in zip(self.params, values, strict=True):
            if key == "step" and isinstance(value, torch.Tensor):
                state[p]["step"] = value  # already the optimizer's form
            else:
                self.engine.store_state(p, {key: value})
            for entries, entry in zip(self.owned, (p, state[p], key, state[p][key]),
                                      strict=True):
                entries.append(entry)

    def _keep_storage(self, p):
        self.storage[0].append(p)
        self.storage[1].append(_storage(p))

    def valid(self):
        """True while the group's state entries and parameter storage are as it left them."""
        params, dicts, keys, values = self.owned
        return (
            list(map(_storage, self.storage[0])) == self.storage[1]
            and all(map(operator.is_, map(self.engine.state.get, params), dicts))
            and all(map(operator.is_, map(dict.get, dicts, keys), values))
        )

    def _step_inputs(self):
        if self.step is None:
            return dict(self.scalars)
        step = _step_input(self.step) if self.engine.compile else self.step
        return {"step": step, **self.scalars}

    def _set_scalar(self, key, value):
        flat, tensors = self.scalar_tensors[key]
        self.scalars[key] = value.to(tensors[0].dtype)
        if flat is None:
            _torch_internals.copy_all(tensors, [self.scalars[key]] * len(tensors))
        else:
            flat.copy_(self.scalars[key])

    def _advance(self, step):
        self.step = step.item() if isinstance(step, torch.Tensor) else step
        flat, steps = self.steps
        if flat is None:
            _torch_internals.fill_all(steps, float(self.step))
        else:
            flat.fill_(float(self.step))


class _Batch(_Group):
    """Small parameters run as one flat array: one rule call for many small layers.

    The batch keeps flat buffers of its total size: ``x`` and ``g`` for the parameters and
    their gradients, and one per state entry, of which the optimizer's ``state[p]`` holds views
    (so the state keeps torch.optim's per-parameter layout and ``state_dict`` is unchanged). A
    step copies the gradients in and runs the update on the flat tensors. The parameters are
    copied in and back around the update, or, when ``adopt`` is true, become views into ``x``
    themselves (``p.data``), so that nothing is copied.
    """

    def __init__(self, engine, rule, group, indices, work, adopt):
        self.adopt = adopt
        super().__init__(engine, rule, group, indices, work)

    def _take(self, states):
        self.x = torch.cat([x.reshape(-1) for x in self.tensors])
        self.g = torch.empty_like(self.x)
        self.x_views, self.g_views = self._views(self.x), self._views(self.g)
        # Only plain parameters become views: a sharded one's storage is FSDP's.
        self.adopt = self.adopt and all(type(x) is type(p.detach()) and x.dtype == p.dtype
                                        for p, x in zip(self.params, self.tensors, strict=True))
        for p, view in zip(self.params, self.x_views, strict=True):
            if self.adopt:
                p.data = view
            self._keep_storage(p)
        self.flat = {}
        for key, value in states[0].items():
            if key == "step" or key in self.scalars:
                continue
            if value is None:
                self.flat[key] = None
            else:
                self._bind(key, torch.cat([state[key].reshape(-1) for state in states]))

    def _views(self, flat):
        views, offset = [], 0
        for x in self.tensors:
            views.append(flat[offset : offset + x.numel()].view(x.shape))
            offset += x.numel()
        return views

    def _bind(self, key, flat):
        """Make ``flat`` the batch's ``key`` buffer and its slices the parameters' state."""
        self.flat[key] = flat
        self._own(key, self._views(flat))

    def run(self, update, rule, grads, ahead):
        if not self.adopt:
            _torch_internals.copy_all(self.x_views, self.tensors)
        _torch_internals.copy_all(self.g_views, [grads[i] for i in self.indices])
        g_ahead = None if ahead is None else _cat(ahead[i] for i in self.indices)
        inputs = {**self.flat, **self._step_inputs()}
        (created,) = update(rule, [self.x], [self.g], [inputs], [g_ahead])
        if not self.adopt:
            _torch_internals.copy_all(self.tensors, self.x_views)
        for key, value in created.items():
            if key == "step":
                self._advance(value)
            elif key in self.scalars:
                self._set_scalar(key, value)
            elif value is not None:  # a buffer the first step creates, such as momentum's
                self._bind(key, value)


class _Together(_Group):
    """Parameters that compiled code updates each on its own, in one call.

    With ``flatten`` (an elementwise rule), each parameter, gradient and state tensor enters
    as a flat view of itself, so that layers of any shape share the compiled code.
    """

    def __init__(self, engine, rule, group, indices, work, flatten):
        self.flatten = flatten
        super().__init__(engine, rule, group, indices, work)

    def _take(self, states):
        self.shapes = []  # per parameter: how its tensors enter the update
        self.xs, self.inputs = [], []
        for p, x, state in zip(self.params, self.tensors, states, strict=True):
            tensors = [x, *(v for k, v in state.items() if k != "step" and v is not None)]
            flat = self.flatten and all(t.is_contiguous() for t in tensors)
            self.shapes.append(_flat if flat else _as_is)
            self.xs.append(self.shapes[-1](x))
            self._keep_storage(p)
            self.inputs.append({})
        for key in states[0]:
            if key != "step" and key not in self.scalars:
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
            elif key in self.scalars:
                self._set_scalar(key, value)
            elif value is not None:  # buffers the first step creates, such as momentum's
                self._bind(key, [new[key].view_as(x) for new, x in
                                 zip(created, self.tensors, strict=True)])


def _one_storage(tensors):
    """Zero-dimensional tensors of one dtype and device copied into one tensor: ``(flat,
    views)``, where ``views[i]`` is a zero-dimensional view of ``flat[i]`` equal to
    ``tensors[i]``. Other values are kept as they are: ``(None, tensors)``.
    """
    first = tensors[0]
    if not all(isinstance(t, torch.Tensor) and t.dim() == 0 and t.dtype == first.dtype
               and t.device == first.device and not is_sharded(t) for t in tensors):
        return None, tensors
    flat = torch.stack(tensors)
    return flat, list(flat.unbind())


def _flat(tensor):
    return tensor.reshape(-1)


def _as_is(tensor):
    return tensor


def _step_input(step):
    """The step count as compiled code takes it: a tensor, so a new count does not recompile."""
    return torch.tensor(float(step), dtype=torch.float64)


def _cat(tensors):
    """The tensors flattened and concatenated (one flat view when there is only one)."""
    tensors = list(tensors)
    if len(tensors) == 1 and tensors[0].is_contiguous():
        return tensors[0].view(-1)
    return torch.cat([t.reshape(-1) for t in tensors])
