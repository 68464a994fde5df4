"""A new user's first mistakes get an answer that names the argument and the fix, or just work.

Each test makes the mistake as a reader of the book would make it.
"""

import subprocess
import sys
import textwrap
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from adalearn import functions, optim, rules, trajectory

SPHERE = functions.get("sphere")


def test_a_torch_learning_rate_on_the_numpy_path_says_to_use_numpy():
    rule = rules.Adam(lr=torch.logspace(-3, -1, 5)[:, None])
    with pytest.raises(TypeError, match=r"`lr` must be a number or a numpy array.*lr\.numpy\(\)"):
        trajectory.run(rule, SPHERE, SPHERE.start, steps=10)


def test_a_torch_beta_inside_a_pair_is_named_with_its_index():
    rule = rules.Adam(betas=(torch.tensor(0.9), 0.999))
    with pytest.raises(TypeError, match=r"`betas\[0\]` must be a number or a numpy array"):
        trajectory.run(rule, SPHERE, SPHERE.start, steps=10)


def built_in_rules():
    """Every built-in rule that builds from its defaults and steps on a point of the plane."""
    found = []
    for name in rules.__all__:
        cls = getattr(rules, name)
        if isinstance(cls, type) and issubclass(cls, rules.Rule) and cls is not rules.Rule:
            try:
                found.append(cls())
            except TypeError:  # SoftBatch needs the rule it averages for
                continue
    return found


@pytest.mark.parametrize("rule", built_in_rules(), ids=lambda rule: type(rule).__name__)
def test_a_torch_gradient_with_a_numpy_point_says_to_convert_one(rule):
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    state = rule.init(x)
    with pytest.raises(TypeError, match=r"`g` must be the same kind of array as x.*g\.numpy\(\)"):
        rule.step(x, torch.ones(2, 2, dtype=torch.float64), state)


def test_a_torch_hyperparameter_in_a_numpy_step_is_named():
    rule = rules.SGD(lr=torch.tensor(0.1), momentum=0.9)
    x = np.array([1.0, 2.0])
    with pytest.raises(TypeError, match=r"`lr` must be a number or a numpy array when Momentum"):
        rule.step(x, x, rule.init(x))


@pytest.mark.parametrize(
    "build",
    [
        lambda params, lr: optim.Adam(params, lr=lr),
        lambda params, lr: optim.RuleOptimizer(params, rules.Adam(lr=lr)),
        lambda params, lr: optim.Adam([{"params": params, "lr": lr}], lr=1e-3),
    ],
    ids=["optim.Adam", "RuleOptimizer", "param group"],
)
def test_a_numpy_array_learning_rate_in_an_optimizer_fails_when_it_is_built(build):
    params = [torch.nn.Parameter(torch.ones(3))]
    with pytest.raises(TypeError, match=r"`lr` must be a number or a one-element tensor.*float"):
        build(params, np.array([0.1, 0.2]))


def test_a_zero_dimensional_numpy_learning_rate_steps_as_its_float():
    start = torch.tensor([1.0, -2.0, 3.0])
    ours = torch.nn.Parameter(start.clone())
    reference = torch.nn.Parameter(start.clone())
    mine = optim.Adam([ours], lr=np.array(0.1))
    theirs = torch.optim.Adam([reference], lr=0.1)
    for _ in range(3):
        for p, optimizer in ((ours, mine), (reference, theirs)):
            p.grad = p.detach() ** 3
            optimizer.step()
    torch.testing.assert_close(ours.detach(), reference.detach())


def test_the_rule_class_instead_of_a_rule_says_to_build_one():
    with pytest.raises(TypeError, match=r"`rule` must be a rule built from its class.*Adam\(\)"):
        trajectory.run(rules.Adam, SPHERE, SPHERE.start, steps=10)


def test_arguments_in_the_wrong_order_name_the_rule_argument():
    with pytest.raises(TypeError, match=r"`rule` must be an update rule.*lacks init, step"):
        trajectory.run(SPHERE, rules.Adam(), SPHERE.start, steps=10)


def test_a_function_by_name_runs_as_the_function_itself():
    rule = rules.Adam(lr=0.05)
    fn = functions.get("rosenbrock")
    by_name = trajectory.run(rule, "Rosenbrock", fn.start, steps=40)
    by_object = trajectory.run(rule, fn, fn.start, steps=40)
    np.testing.assert_array_equal(by_name.xs, by_object.xs)
    assert by_name.fn == fn
    with pytest.raises(ValueError, match=r"`name` must be one of .*rosenbrock"):
        trajectory.run(rule, "rosenbrok", fn.start, steps=40)


def test_something_else_as_the_function_lists_the_names():
    with pytest.raises(TypeError, match=r"`fn` must be a test function.*sphere"):
        trajectory.run(rules.Adam(), np.sin, SPHERE.start, steps=10)


def test_a_flat_array_of_learning_rates_suggests_the_trailing_axis():
    lr = np.logspace(-3, -1, 5)
    with pytest.raises(ValueError, match=r"`lr` of shape \(5,\).*lr\[:, None\], of shape \(5, 1\)"):
        trajectory.run(rules.Adam(lr=lr), SPHERE, SPHERE.start, steps=10)
    # The suggestion works: one run per learning rate, each as it runs alone.
    sweep = trajectory.run(rules.Adam(lr=lr[:, None]), SPHERE, SPHERE.start, steps=10)
    assert sweep.batch_shape == (5,)
    for index, value in enumerate(lr):
        alone = trajectory.run(rules.Adam(lr=value), SPHERE, SPHERE.start, steps=10)
        np.testing.assert_array_equal(sweep.xs[:, index], alone.xs)


@dataclass(frozen=True, eq=False)
class OnlyX(rules.Rule):
    """A reader's gradient descent that forgets to return the state."""

    lr: float = 0.1

    def init(self, x):
        return {}

    def step(self, x, g, state, grad_fn=None):
        return x - self.lr * g


@dataclass(frozen=True, eq=False)
class NoState(rules.Rule):
    """A reader's gradient descent whose init returns nothing."""

    lr: float = 0.1

    def init(self, x):
        pass

    def step(self, x, g, state, grad_fn=None):
        return x - self.lr * g, state


def test_a_step_that_returns_only_x_names_the_rule_and_the_contract():
    with pytest.raises(TypeError, match=r"`OnlyX\.step` must return the pair \(x, state\)"):
        trajectory.run(OnlyX(), SPHERE, SPHERE.start, steps=10)


def test_an_init_that_returns_no_dict_names_the_rule_and_the_contract():
    with pytest.raises(TypeError, match=r"`NoState\.init` must return the state as a dict"):
        trajectory.run(NoState(), SPHERE, SPHERE.start, steps=10)


def documented_rule():
    """The reader's rule that the docstring of adalearn.rules shows, defined from it."""
    source = textwrap.dedent(rules.__doc__.rsplit("::\n", 1)[1])
    assert "@dataclass(frozen=True, eq=False)" in source, source
    namespace = {}
    exec(source, namespace)
    return namespace["SignSGD"]


def test_the_documented_rule_with_an_array_lr_hashes_compares_and_runs():
    lr = np.array([[0.01], [0.02]])
    rule = documented_rule()(lr=lr)
    assert {rule: 1}[rule] == 1
    assert rule == rule and rule != documented_rule()(lr=lr)
    traj = trajectory.run(rule, SPHERE, SPHERE.start, steps=5)
    # Sign descent on the sphere moves each coordinate towards 0 by lr per step until it
    # crosses; the start is far enough from 0 that 5 steps do not cross.
    k = np.arange(6)[:, None, None]
    expected = SPHERE.start - k * lr[None] * np.sign(SPHERE.start)
    np.testing.assert_allclose(traj.xs, expected, rtol=0, atol=1e-12)


def test_a_rule_declared_with_eq_true_still_runs_in_the_package():
    @dataclass(frozen=True)
    class ValueEqual(rules.Rule):
        lr: float = 0.1

        def init(self, x):
            return {}

        def step(self, x, g, state, grad_fn=None):
            return x - self.lr * g, state

    lr = np.array([[0.1], [0.2]])
    with pytest.raises(TypeError, match="unhashable"):
        hash(ValueEqual(lr=lr))
    traj = trajectory.run(ValueEqual(lr=lr), SPHERE, SPHERE.start, steps=3)
    plain = trajectory.run(rules.SGD(lr=lr), SPHERE, SPHERE.start, steps=3)
    np.testing.assert_array_equal(traj.xs, plain.xs)


@pytest.mark.parametrize("module", ["optim", "data", "training", "models"])
def test_a_torch_module_without_torch_says_what_to_install(module):
    # None in sys.modules makes `import torch` fail as on a machine without torch.
    code = f"import sys; sys.modules['torch'] = None\nfrom adalearn import {module}"
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert ran.returncode == 1
    last = ran.stderr.strip().splitlines()[-1]
    assert last == (
        f"ModuleNotFoundError: adalearn.{module} needs torch: pip install 'adalearn[torch]' "
        "(or install torch as pytorch.org describes for your machine)"
    )
