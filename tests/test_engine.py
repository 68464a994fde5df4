"""The engine (adalearn._engine) against the reference step of adalearn.optim, bit for bit.

The reference step is what a step means: ``x, state = rule.step(x, g, state)`` on each
parameter, written back. The engine runs the same arithmetic on batches of small parameters,
on large ones in blocks and, with ``compile=True``, in compiled code. Here a
``ReferenceOptimizer`` (the same optimizer with its engine taken out) is the independent run.
"""

import copy
from dataclasses import dataclass

import pytest
import torch
from _cases import RULES
from _models import data, flat, loss, mlp

from adalearn import _engine, _torch_internals, optim, rules
from adalearn.rules import Rule


class ReferenceOptimizer(optim.RuleOptimizer):
    """RuleOptimizer with its engine taken out: every parameter through reference_step."""

    def _start(self):
        super()._start()
        self._engine = None


def model(dtype=torch.float64, seed=0):
    """Parameters of every size the engine treats apart, in two param groups.

    Small ones (batched), two large ones (in blocks, when eager) and a strided one.
    """
    generator = torch.Generator().manual_seed(seed)
    shapes = [(8, 5), (8,), (3, 8), (3,), (200, 200), (600, 500), (7,)]
    params = [torch.nn.Parameter(torch.randn(s, generator=generator, dtype=dtype) / 4)
              for s in shapes]
    strided = torch.randn((40, 2), generator=generator, dtype=dtype)[:, 0]
    params.append(torch.nn.Parameter(strided))
    return params


def gradients(params, step, dtype):
    """A deterministic, non-trivial gradient per parameter and step; some steps miss one."""
    generator = torch.Generator().manual_seed(1000 + step)
    for i, p in enumerate(params):
        if i == 3 and step % 3 == 1:
            p.grad = None  # a bias without a gradient this step
            continue
        p.grad = torch.randn(p.shape, generator=generator, dtype=dtype) + 0.1 * p.detach()


def run(cls, rule, steps=12, dtype=torch.float64, compile=False, **extra):
    params = model(dtype)
    groups = [{"params": params[:5]}, {"params": params[5:]}]
    if "lr" in rule.hyperparameters():
        groups[1]["lr"] = rule.lr * 2
    optimizer = cls(groups, rule, compile=compile, **extra)
    scheduler = None
    if "lr" in rule.hyperparameters():
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.5)
    closure_params = params

    def closure():
        # Heun's second gradient: the same deterministic field, at the moved point.
        generator = torch.Generator().manual_seed(7)
        for p in closure_params:
            p.grad = torch.randn(p.shape, generator=generator, dtype=dtype) + 0.3 * p.detach()
        return torch.zeros(())

    for step in range(steps):
        gradients(params, step, dtype)
        optimizer.step(closure if rule.evaluations > 1 else None)
        if scheduler is not None:
            scheduler.step()
    return torch.cat([p.detach().flatten() for p in params]), optimizer


@dataclass(frozen=True, eq=False)
class SignMomentum(Rule):
    """A reader's elementwise rule: the sign of a momentum buffer."""

    lr: float = 1e-2
    beta: float = 0.9
    elementwise = True

    def init(self, x):
        return {"step": 0, "buf": torch.zeros_like(x)}

    def step(self, x, g, state, grad_fn=None):
        buf = self.beta * state["buf"] + (1 - self.beta) * g
        return x - self.lr * buf.sign(), {"step": state["step"] + 1, "buf": buf}


@dataclass(frozen=True, eq=False)
class NormalizedSGD(Rule):
    """A reader's rule that mixes coordinates: the gradient divided by its norm."""

    lr: float = 1e-2

    def init(self, x):
        return {}

    def step(self, x, g, state, grad_fn=None):
        return x - self.lr * g / g.norm(), state


@dataclass(frozen=True, eq=False)
class CountingSGD(Rule):
    """A reader's rule whose state holds a number and a nested dict, not only tensors."""

    lr: float = 1e-2
    elementwise = True

    def init(self, x):
        return {"count": 0, "memory": {"last": torch.zeros_like(x), "seen": 0}}

    def step(self, x, g, state, grad_fn=None):
        count = state["count"] + 1
        last = state["memory"]["last"]
        d = g + 0.5 * last
        return x - self.lr / count * d, {"count": count,
                                         "memory": {"last": g.clone(), "seen": count}}


# The table's engine configurations, and a soft batch of Adam.
BUILT_IN = {
    **{label: info.rule(**kwargs) for info in RULES for label, kwargs in info.engine.items()},
    "SoftBatch": rules.SoftBatch(rules.Adam(lr=0.01), every=3),
    "NAdam": rules.NAdam(lr=0.01),  # elementwise, without step_in_place: in blocks
}
# The rules that write their step in place (rules.Rule.step_in_place).
IN_PLACE = [name for name, rule in BUILT_IN.items() if hasattr(rule, "step_in_place")]
READERS = {
    "SignMomentum": SignMomentum(lr=0.01),
    "NormalizedSGD": NormalizedSGD(lr=0.01),
    "CountingSGD": CountingSGD(lr=0.01),
}


@pytest.mark.parametrize("name", [*BUILT_IN, *READERS])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_the_eager_engine_is_the_reference_step_bit_for_bit(name, dtype):
    rule = {**BUILT_IN, **READERS}[name]
    ours, optimizer = run(optim.RuleOptimizer, rule, dtype=dtype)
    reference, reference_optimizer = run(ReferenceOptimizer, rule, dtype=dtype)
    assert not torch.equal(reference, torch.cat([p.detach().flatten() for p in model(dtype)]))
    assert torch.equal(ours, reference), (ours - reference).abs().max().item()
    ours_state = optimizer.state_dict()["state"]
    for index, entry in reference_optimizer.state_dict()["state"].items():
        assert ours_state[index].keys() == entry.keys()
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(ours_state[index][key], value), (index, key)


def test_the_engine_batches_and_blocks_what_is_elementwise(monkeypatch):
    """The runs above go through the engine's paths, not around them."""
    blocked = []
    original = _engine.Engine._step_blocked
    monkeypatch.setattr(_engine.Engine, "_step_blocked",
                        lambda self, rule, p, *a: blocked.append(p.shape) or original(
                            self, rule, p, *a))
    _, optimizer = run(optim.RuleOptimizer, rules.NAdam(lr=0.01), steps=3)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    small = [p for p in params if p.numel() < _engine._SMALL]
    # Batched: each small parameter's state is a view into its batch's flat buffer.
    assert all(optimizer.state[p]["exp_avg"]._base is not None for p in small[:3])
    large = {p.shape for p in params if p.numel() > _engine._block() and p.is_contiguous()}
    assert torch.Size([600, 500]) in large and set(blocked) == large
    blocked.clear()
    _, optimizer = run(optim.RuleOptimizer, NormalizedSGD(lr=0.01), steps=3)
    assert not blocked


@pytest.mark.parametrize("name", IN_PLACE)
def test_rules_with_step_in_place_write_it_whole_and_batched(monkeypatch, name):
    """Eager, such a rule runs ``step_in_place`` on its batches and on each larger parameter
    whole, not in blocks; with a Tensor learning rate it runs in blocks again."""
    rule = BUILT_IN[name]
    written, blocked = [], []
    original = type(rule).step_in_place
    monkeypatch.setattr(type(rule), "step_in_place",
                        lambda self, x, *a: written.append(x.shape) or original(self, x, *a))
    original_blocked = _engine.Engine._step_blocked
    monkeypatch.setattr(_engine.Engine, "_step_blocked",
                        lambda self, rule, p, *a: blocked.append(p.shape) or original_blocked(
                            self, rule, p, *a))
    _, optimizer = run(optim.RuleOptimizer, rule, steps=3)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    large = {p.shape for p in params if p.numel() >= _engine._SMALL}
    assert large <= set(written) and not blocked
    shapes = {p.shape for p in params}
    assert any(shape not in shapes for shape in written)  # a flat batch of small parameters
    written.clear()
    run(optim.RuleOptimizer, rule.replace(lr=torch.tensor(rule.lr)), steps=3)
    assert not written and torch.Size([600, 500]) in blocked


# Options of the rules with step_in_place, beyond the engine configurations of tests/_cases.py.
IN_PLACE_OPTIONS = [
    rules.SGD(lr=0.1, maximize=True),
    rules.SGD(lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.1, maximize=True),
    rules.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
    rules.Adagrad(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=0.1),
    rules.Adagrad(lr=0.1, eps_root=1e-6, maximize=True),
    rules.RMSprop(lr=0.01),
    rules.RMSprop(lr=0.01, centered=True, momentum=0.5, eps_root=1e-6, weight_decay=0.1),
    rules.RMSprop(lr=0.01, momentum=0.9, maximize=True),
    rules.RMSprop(lr=0.01, centered=True, alpha=0.9),
    rules.Adam(lr=0.01),
    rules.Adam(lr=0.01, amsgrad=True, weight_decay=0.1, eps_root=1e-6),
    rules.Adam(lr=0.01, betas=(0.8, 0.99), maximize=True),
    rules.AdamW(lr=0.01, amsgrad=True, weight_decay=0.5),
    rules.AdamW(lr=0.01, weight_decay=0.0),
    rules.Adadelta(),
    rules.Adadelta(lr=0.5, rho=0.95, eps=1e-5, weight_decay=0.1, maximize=True),
    rules.Adamax(lr=0.01),
    rules.Adamax(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, maximize=True),
    rules.ASGD(lr=0.01, t0=2),
    rules.ASGD(lr=0.01, lambd=0.1, alpha=0.5, weight_decay=0.1, maximize=True),
    rules.Adafactor(),
    rules.Adafactor(lr=0.05, beta2_decay=-0.5, eps=(1e-6, 1e-2), d=1.5, weight_decay=0.0,
                    maximize=True),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("rule", IN_PLACE_OPTIONS, ids=repr)
def test_step_in_place_is_the_step_bit_for_bit(rule, dtype):
    """``step_in_place`` writes into ``x`` and the state the bits that ``step`` returns."""
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(1000, generator=generator, dtype=dtype)
    gs = [torch.randn(1000, generator=generator, dtype=dtype) for _ in range(5)]
    if isinstance(rule, rules.Adafactor) and not rule.maximize:  # factored moments: a matrix
        x, gs = x.view(25, 40), [g.view(25, 40) for g in gs]
    start = x
    x, state = rule.step(x, gs[0], rule.init(x))  # the first step creates momentum's buffer
    ours, ours_state = x.clone(), {k: v.clone() if torch.is_tensor(v) else v
                                   for k, v in state.items()}
    for g in gs[1:]:
        x, state = rule.step(x, g, state)
        ours_state.update(rule.step_in_place(ours, g, ours_state))
    assert not torch.equal(x, start)
    assert torch.equal(ours, x), (ours - x).abs().max().item()
    assert ours_state.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(torch.as_tensor(ours_state[key]), torch.as_tensor(value)), key


@dataclass(frozen=True, eq=False)
class LateCountAdam(rules.Adam):
    """A reader's variant of Adam that overrides ``step`` only: a counter one step late."""

    def step(self, x, g, state, grad_fn=None):
        x, new = super().step(x, g, {**state, "step": state["step"] + 1})
        return x, {**new, "step": new["step"] - 1}


def test_a_subclass_that_overrides_step_runs_its_step_not_its_parents_step_in_place():
    rule = LateCountAdam(lr=0.01)
    ours, _ = run(optim.RuleOptimizer, rule, dtype=torch.float32)
    reference, _ = run(ReferenceOptimizer, rule, dtype=torch.float32)
    adam, _ = run(ReferenceOptimizer, rules.Adam(lr=0.01), dtype=torch.float32)
    assert not torch.equal(reference, adam)
    assert torch.equal(ours, reference), (ours - reference).abs().max().item()


def test_step_in_place_refuses_an_array_hyperparameter():
    x = torch.zeros(3)
    rule = rules.Adam(betas=(torch.tensor(0.9), 0.999))
    with pytest.raises(TypeError, match=r"Adam.step_in_place takes numbers .* `betas`"):
        rule.step_in_place(x, torch.ones(3), rule.init(x))


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("name", ["NAdam", "Heun", "Adam", "Momentum", "Adagrad", "RMSprop"])
def test_blocks_spread_over_threads_keep_the_one_thread_bits(monkeypatch, name, threads):
    """With more threads the blocks and batches grow (``_BATCH`` per thread), so the parameters
    are cut elsewhere and each operation is split over the threads: the bits stay those of the
    reference step on one thread. (Rules with ``step_in_place`` take no blocks.)"""
    rule = BUILT_IN[name]
    reference, _ = run(ReferenceOptimizer, rule, dtype=torch.float32)
    blocked = []
    original = _engine.Engine._step_blocked
    monkeypatch.setattr(_engine.Engine, "_step_blocked",
                        lambda self, rule, p, *a: blocked.append((p.shape, a[-1])) or original(
                            self, rule, p, *a))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        ours, _ = run(optim.RuleOptimizer, rule, dtype=torch.float32)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(ours, reference), (ours - reference).abs().max().item()
    if name in IN_PLACE:
        assert not blocked
        return
    assert {block for _, block in blocked} == {_engine._BATCH * threads}
    assert {shape for shape, _ in blocked} == {torch.Size([600, 500])}


def test_a_rule_that_mixes_coordinates_must_not_say_it_is_elementwise():
    """The attribute matters: batched, a normalised step uses the norm of the whole batch."""

    @dataclass(frozen=True, eq=False)
    class WronglyElementwise(NormalizedSGD):
        elementwise = True

    ours, _ = run(optim.RuleOptimizer, WronglyElementwise(lr=0.01))
    reference, _ = run(ReferenceOptimizer, WronglyElementwise(lr=0.01))
    assert not torch.allclose(ours, reference)
    honest, _ = run(optim.RuleOptimizer, NormalizedSGD(lr=0.01))
    assert torch.equal(honest, reference)


def test_elementwise_is_a_class_attribute_of_every_rule():
    assert rules.Rule.elementwise is False
    for rule in BUILT_IN.values():
        assert rule.elementwise is (not isinstance(rule, rules.SoftBatch))
    # Every optimizer but the wrappers of other rules and optimizers has a row in the table.
    wrappers = {"RuleOptimizer", "SoftBatch", "Combined"}
    assert sorted(info.name for info in RULES) == sorted(set(optim.__all__) - wrappers)
    for info in RULES:  # and the table's word for it, and for how many gradients a step takes
        assert info.rule.elementwise is info.elementwise, info.name
        assert info.rule.evaluations == info.evaluations, info.name
    assert "elementwise" not in rules.Adam().hyperparameters()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["Momentum", "Adam", "Heun", "SoftBatch", "SignMomentum",
                                  "NormalizedSGD", "CountingSGD"])
def test_the_compiled_engine_is_the_reference_step_to_its_tolerance(name):
    """Compiled code fuses the same formulas; float64 keeps the results within 1e-12."""
    rule = {**BUILT_IN, **READERS}[name]
    ours, optimizer = run(optim.RuleOptimizer, rule, compile=True)
    reference, _ = run(ReferenceOptimizer, rule)
    assert not torch.equal(reference, torch.cat([p.detach().flatten() for p in model()]))
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-12)


def _adam_run(make, steps=5):
    x, y = data()
    model = mlp()
    optimizer = make(model.parameters())
    for _ in range(steps):
        optimizer.zero_grad()
        loss(model, x, y).backward()
        optimizer.step()
    return flat(model), optimizer


def test_compile_falls_back_to_eager_naming_what_torch_lacks(monkeypatch):
    monkeypatch.setattr(_torch_internals, "NEEDS",
                        (*_torch_internals.NEEDS, ("torch._dynamo.config", "no_such_option")))
    with pytest.warns(UserWarning, match=r"torch\._dynamo\.config\.no_such_option") as record:
        ours, optimizer = _adam_run(lambda p: optim.Adam(p, lr=0.01, compile=True))
    ours_warnings = [w for w in record if "compile=True" in str(w.message)]
    assert len(ours_warnings) == 1
    assert "compile=True runs the eager engine" in str(ours_warnings[0].message)
    assert optimizer.compile is False and not optimizer._engine._compiled
    theirs, _ = _adam_run(lambda p: torch.optim.Adam(p, lr=0.01))
    assert torch.equal(ours, theirs)


def test_compile_falls_back_when_a_torch_module_is_missing(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch.fx.experimental._config", None)
    with pytest.warns(UserWarning, match=r"torch\.fx\.experimental\._config\.use_duck_shape"):
        optimizer = optim.SGD([torch.nn.Parameter(torch.zeros(3))], lr=0.1, compile=True)
    assert optimizer.compile is False


def _private_torch_uses(path):
    """Attribute chains ``torch._...`` and imports from ``torch._...`` in a source file."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not (
            node.attr.startswith("__")
        ):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id == "torch":
                found.append(ast.unparse(node))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("torch._"):
            found.append(node.module)
    return found


def test_private_torch_internals_live_in_one_module():
    from pathlib import Path

    package = Path(_engine.__file__).parent
    assert _private_torch_uses(package / "_torch_internals.py")  # the check sees them there
    for name in ("_engine.py", "optim.py", "rules.py", "_array.py"):
        assert _private_torch_uses(package / name) == [], name


def test_a_loaded_state_dict_replaces_the_engines_plans():
    """After load_state_dict the engine runs on the loaded state, not on its old buffers."""
    x, y = data()

    def train(net, optimizer, steps=5):
        for _ in range(steps):
            optimizer.zero_grad()
            loss(net, x, y).backward()
            optimizer.step()

    ours, theirs = mlp(), mlp()
    optimizer = optim.Adam(ours.parameters(), lr=0.01)
    train(ours, optimizer)  # plans and batches exist now
    reference = torch.optim.Adam(theirs.parameters(), lr=0.01)
    train(theirs, reference, 9)
    saved = copy.deepcopy(reference.state_dict())
    ours.load_state_dict(theirs.state_dict())
    optimizer.load_state_dict(saved)
    train(ours, optimizer)
    train(theirs, reference)
    assert torch.equal(flat(ours), flat(theirs))
