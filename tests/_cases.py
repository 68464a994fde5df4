"""The table of rule cases: one ``RuleInfo`` per optimizer, read by every property test.

As torch's ``OptimizerInfo`` does for torch.optim, a row says what a rule is (its numpy/torch
rule class and its ``adalearn.optim`` class), what it is checked against (torch.optim's
namesake, or the published package whose optimizer it reproduces), in which configurations,
which inputs it must refuse and in which words, and how it is stepped. A new rule is one new
row here; the test modules parametrize over ``RULES``. torch's own configurations and error
inputs for its namesakes stay in torch's database (tests/test_optim_db.py).
"""

import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field

import lion_pytorch
import numpy as np
import prodigyopt
import pytest
import pytorch_optimizer
import schedulefree
import torch

from adalearn import optim, rules

# What torch.optim's namesake does with an input adalearn refuses: SAME raises the very error
# and message, ACCEPTS takes it (adalearn is stricter on purpose), OTHER fails in its own words,
# NONE means torch.optim has no such optimizer.
SAME, ACCEPTS, OTHER, NONE = "same", "accepts", "other", "none"


@dataclass(frozen=True)
class Invalid:
    """Keyword arguments that must be refused with ``error`` and ``message``.

    ``message=None``: in the reference's own words, taken from the reference at test time.
    ``rule`` and ``optimizer`` say which constructors are checked (arguments such as tensors
    and torch's implementation flags exist for the optimizer only). ``torch_does`` is set for
    torch.optim's namesakes and Heun.
    """

    kwargs: dict
    error: type[Exception] = ValueError
    message: str | None = None
    torch_does: str | None = None
    rule: bool = True
    optimizer: bool = True

    @property
    def id(self):
        return "-".join(self.kwargs) or "no-args"


@dataclass(frozen=True)
class RuleInfo:
    """One optimizer's cases.

    suite: the module whose problem runs ``configs`` against ``reference``: "namesakes"
        (tests/test_optim.py), "after_adam", "more_namesakes", "matrix" (Shampoo, SOAP),
        "prodigy", or "sparse" (torch's database only).
    configs: parity configurations, the defaults first where the suite runs them.
    default_lr: the constructor's default learning rate, for a second param group at 3×.
    elementwise: the rule acts on each coordinate alone, so that the engine may batch and
        block its parameters (``Rule.elementwise``).
    evaluations: gradients per step (Heun's is 2); ``closure``: ``step`` must be given one.
    numpy: labelled rule configurations for the numpy/torch rule properties (tests/test_rules.py).
    engine: labelled rule configurations for the engine against the reference step.
    compiled: the configuration run with ``compile=True`` (None: compile is refused or untested).
    low_precision: a configuration for bfloat16 and float16 (epsilons float16 can hold).
    distributed: a configuration for FSDP2, distribute_module and DDP.
    layout: for torch.optim's namesakes, arguments that change what torch.optim stores in a
        param group (its flags and options), for tests/test_state_dict_layout.py.
    """

    name: str
    rule: type
    optimizer: type
    reference: Callable[..., torch.optim.Optimizer] | None
    suite: str
    default_lr: float | None
    configs: tuple[dict, ...] = ()
    invalid: tuple[Invalid, ...] = ()
    elementwise: bool = True
    evaluations: int = 1
    closure: bool = False
    numpy: dict[str, dict] = field(default_factory=dict)
    engine: dict[str, dict] = field(default_factory=dict)
    compiled: dict | None = None
    low_precision: dict | None = None
    distributed: dict | None = None
    layout: dict | None = None

    def __repr__(self):
        return self.name


def _quiet(make):
    """prodigyopt prints a line when built with decoupled weight decay."""

    def build(*args, **kwargs):
        with contextlib.redirect_stdout(io.StringIO()):
            return make(*args, **kwargs)

    return build


def _namesake(name, *invalid, **fields):
    return RuleInfo(name, getattr(rules, name), getattr(optim, name), getattr(torch.optim, name),
                    invalid=invalid, **fields)


# Shorthands for rows of refused inputs: _row spells every field, _same is an input torch.optim's
# namesake refuses in the very same words, _own one the rule and the optimizer refuse in theirs.
def _row(kwargs, error, message, torch_does=None, **where):
    return Invalid(kwargs, error, message, torch_does, **where)


def _same(kwargs, message, error=ValueError):
    return Invalid(kwargs, error, message, SAME)


def _own(kwargs, message, error=ValueError):
    return Invalid(kwargs, error, message)


# Parity configurations of the rows that run one of them again with compile=True.
_NADAM = (
    {},
    {"lr": 0.01, "momentum_decay": 0.01, "weight_decay": 0.1},
    {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
    {"lr": 1e-3, "betas": (0.8, 0.99), "eps": 1e-6, "maximize": True},
)
_RADAM = (
    {},
    {"lr": 0.01, "weight_decay": 0.1},
    {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
    {"lr": 1e-3, "betas": (0.8, 0.9), "eps": 1e-6, "maximize": True},
)
_ADAFACTOR = (
    {},
    {"lr": 0.05, "weight_decay": 0.1, "d": 2.0},
    {"lr": 0.02, "beta2_decay": -0.5, "eps": (1e-30, 1e-2)},
    {"lr": 1e-3, "maximize": True},
)
_MUON = (
    {},
    {"lr": 0.02, "nesterov": False, "weight_decay": 0.01},
    {"lr": 0.01, "momentum": 0.9, "ns_steps": 3, "adjust_lr_fn": "match_rms_adamw"},
    {"lr": 0.01, "ns_coefficients": (2.0, -1.5, 0.5), "eps": 1e-5, "adjust_lr_fn": "original"},
)
_LION = (
    {},
    {"lr": 1e-3, "weight_decay": 0.1},
    {"lr": 1e-3, "weight_decay": 0.5, "decoupled_weight_decay": True, "betas": (0.95, 0.98)},
    {"lr": 3e-3, "betas": (0.0, 1.0)},
)
_SCHEDULE_FREE = (
    {},
    {"lr": 0.01, "weight_decay": 0.1, "warmup_steps": 10},
    {"lr": 0.01, "weight_decay": 0.1, "decay_at_z": True, "r": 0.5, "weight_lr_power": 1.0},
    {"lr": 0.005, "betas": (0.8, 0.99), "eps": 1e-6, "warmup_steps": 3},
)
_RPROP = ({}, {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.2)},
          {"lr": 1e-3, "maximize": True})
_ASGD = ({"lr": 0.05, "lambd": 0.01, "t0": 5.0},
         {"lr": 0.02, "alpha": 0.5, "t0": 0.0, "weight_decay": 0.1})


def _after_adam(name, reference, configs, *invalid, **fields):
    return RuleInfo(name, getattr(rules, name), getattr(optim, name), reference, "after_adam",
                    configs=configs, compiled=configs[2], invalid=invalid, **fields)


RULES = [
    # torch.optim's namesakes up to Adam: tests/test_optim.py runs each configuration plain,
    # plain, with two param groups and with a StepLR schedule, in that order.
    _namesake(
        "SGD",
        _same({"lr": -1.0}, "Invalid learning rate: -1.0"),
        _row({"lr": float("nan")}, ValueError, "Invalid learning rate: nan", ACCEPTS),
        _row({"lr": float("inf")}, ValueError, "Invalid learning rate: inf", ACCEPTS),
        _row({"lr": "0.1"}, TypeError,
             "`lr` must be a real number or an array of them. Received: lr='0.1'", OTHER),
        _row({"lr": None}, TypeError,
             "`lr` must be a real number or an array of them. Received: lr=None", OTHER),
        _same({"momentum": -0.1}, "Invalid momentum value: -0.1"),
        _same({"weight_decay": -1e-4}, "Invalid weight_decay value: -0.0001"),
        _same({"nesterov": True}, "Nesterov momentum requires a momentum and zero dampening"),
        _same({"nesterov": True, "momentum": 0.9, "dampening": 0.1},
              "Nesterov momentum requires a momentum and zero dampening"),
        _row({"dampening": 1.5}, ValueError, "Invalid dampening value: 1.5", ACCEPTS),
        _row({"nesterov": "yes", "momentum": 0.9}, TypeError,
             "`nesterov` must be True or False. Received: nesterov='yes'", ACCEPTS),
        _same({"betas": (0.9, 0.99)}, "unexpected keyword argument 'betas'", TypeError),
        _row({"lr": torch.tensor([0.1, 0.1])}, ValueError, "Tensor lr must be 1-element", SAME,
             rule=False),
        _row({"capturable": False}, TypeError, "unexpected keyword argument 'capturable'", SAME,
             rule=False),
        suite="namesakes", default_lr=1e-3,
        layout={"momentum": 0.9, "nesterov": True, "foreach": True, "maximize": True},
        configs=(
            {"lr": 0.1},
            {"lr": 0.05, "momentum": 0.9, "nesterov": True},
            {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 1e-2},
            {"lr": 0.1, "momentum": 0.5, "maximize": False},
        ),
        numpy={
            "SGD": {"lr": 0.05},
            "Momentum": {"lr": 0.02, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01},
            "Nesterov": {"lr": 0.02, "momentum": 0.9, "nesterov": True},
        },
        engine={
            "SGD": {"lr": 0.05},
            "Momentum": {"lr": 0.02, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01},
            "Nesterov": {"lr": 0.02, "momentum": 0.9, "nesterov": True},
        },
        compiled={"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 1e-2},
        low_precision={"lr": 0.01, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01},
        distributed={"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01},
    ),
    _namesake(
        "Adagrad",
        _same({"lr_decay": -1.0}, "Invalid lr_decay value: -1.0"),
        _same({"initial_accumulator_value": -1.0},
              "Invalid initial_accumulator_value value: -1.0"),
        _same({"eps": -1e-10}, "Invalid epsilon value: -1e-10"),
        _row({"eps_root": -1e-7}, ValueError, "Invalid eps_root value: -1e-07", OTHER),
        _row({"foreach": "yes"}, TypeError,
             "`foreach` must be one of (None, False, True). Received: foreach='yes'", ACCEPTS,
             rule=False),
        suite="namesakes", default_lr=1e-2,
        layout={"foreach": False, "fused": False, "eps": 1e-6},
        configs=(
            {},
            {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1},
            {"lr": 0.05, "weight_decay": 0.1, "eps": 1e-6},
            {"lr": 0.1},
        ),
        numpy={
            "Adagrad": {"lr": 0.3, "lr_decay": 0.01, "initial_accumulator_value": 0.1},
            "Adagrad-eps-root": {"lr": 0.5, "eps": 0, "eps_root": 1e-7},
        },
        engine={"Adagrad": {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}},
        compiled={"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1},
        low_precision={"lr": 0.01, "eps": 1e-3},
        distributed={"lr": 0.05, "lr_decay": 0.01},
    ),
    _namesake(
        "RMSprop",
        _same({"alpha": -0.5}, "Invalid alpha value: -0.5"),
        _same({"momentum": -1.0}, "Invalid momentum value: -1.0"),
        _same({"eps": -1.0}, "Invalid epsilon value: -1.0"),
        _row({"centered": 1}, TypeError, "`centered` must be True or False. Received: centered=1",
             ACCEPTS),
        suite="namesakes", default_lr=1e-2,
        layout={"centered": True, "foreach": True, "capturable": False},
        configs=(
            {},
            {"lr": 1e-3, "centered": True, "momentum": 0.9},
            {"lr": 1e-3, "alpha": 0.9, "weight_decay": 0.1, "momentum": 0.5},
            {"lr": 1e-3, "centered": True},
        ),
        numpy={
            "RMSprop": {"lr": 0.01, "weight_decay": 0.1},
            "RMSprop-centered": {"lr": 0.01, "centered": True, "momentum": 0.5, "eps_root": 1e-6},
        },
        engine={"RMSprop": {"lr": 0.01, "centered": True, "momentum": 0.5, "eps_root": 1e-6}},
        compiled={"lr": 1e-3, "centered": True, "momentum": 0.9, "weight_decay": 0.1},
        low_precision={"lr": 0.01, "momentum": 0.5, "centered": True, "eps": 1e-3},
        distributed={"lr": 0.01, "centered": True, "momentum": 0.5},
    ),
    _namesake(
        "Adadelta",
        _same({"rho": 1.5}, "Invalid rho value: 1.5"),
        _same({"rho": -0.1}, "Invalid rho value: -0.1"),
        _same({"lr": -1.0}, "Invalid learning rate: -1.0"),
        suite="namesakes", default_lr=1.0,
        layout={"foreach": True, "maximize": True},
        configs=({}, {"rho": 0.95, "eps": 1e-5}, {"lr": 0.5, "weight_decay": 0.1}, {"lr": 2.0}),
        numpy={"Adadelta": {"lr": 1.0, "rho": 0.95}},
        engine={"Adadelta": {"rho": 0.95, "weight_decay": 0.1}},
        compiled={"rho": 0.95, "eps": 1e-5, "weight_decay": 0.1},
        low_precision={"eps": 1e-3, "weight_decay": 0.01},
        distributed={"weight_decay": 0.1},
    ),
    _namesake(
        "Adam",
        _same({"betas": (1.0, 0.999)}, "Invalid beta parameter at index 0: 1.0"),
        _same({"betas": (0.9, -0.1)}, "Invalid beta parameter at index 1: -0.1"),
        _row({"betas": (0.9,)}, TypeError,
             "`betas` must be a pair (beta1, beta2). Received: betas=(0.9,)", OTHER),
        _same({"eps": -1e-8}, "Invalid epsilon value: -1e-08"),
        _same({"weight_decay": -0.1}, "Invalid weight_decay value: -0.1"),
        _row({"amsgrad": "no"}, TypeError,
             "`amsgrad` must be True or False. Received: amsgrad='no'", ACCEPTS),
        _row({"lr": np.array([0.1, -0.1])}, ValueError, "Invalid learning rate: [ 0.1 -0.1]",
             OTHER),
        _row({"lr": np.array([])}, ValueError,
             "`lr` must not be empty. Received: lr=array([], dtype=float64)", OTHER),
        _row({"lr": 1e-3j}, TypeError, "`lr` must be real. Received: lr=0.001j", OTHER),
        _row({"lr": torch.tensor(1e-3), "foreach": True}, ValueError,
             "lr as a Tensor is not supported for capturable=False and foreach=True", SAME,
             rule=False),
        _row({"betas": (0.9, torch.tensor(0.99))}, ValueError,
             "betas must be either both floats or both Tensors", SAME, rule=False),
        _row({"capturable": True}, NotImplementedError,
             "`capturable` must be False: adalearn.optim does not capture its steps in CUDA "
             "graphs. Received: capturable=True", ACCEPTS, rule=False),
        _row({"fused": True, "differentiable": True}, RuntimeError,
             "`fused` does not support `differentiable`", SAME, rule=False),
        suite="namesakes", default_lr=1e-3,
        layout={"amsgrad": True, "foreach": False, "decoupled_weight_decay": True},
        configs=(
            {},
            {"lr": 0.01, "amsgrad": True},
            {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1},
            {"lr": 0.01, "eps": 1e-6},
        ),
        numpy={
            "Adam": {"lr": 0.05, "betas": (0.9, 0.99), "eps_root": 1e-7, "eps": 0},
            "Adam-amsgrad": {"lr": 0.05, "amsgrad": True, "weight_decay": 0.1},
            "Maximize": {"lr": 0.05, "maximize": True},
        },
        engine={"Adam": {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}},
        compiled={"lr": 0.01, "betas": (0.8, 0.99), "amsgrad": True, "weight_decay": 0.1},
        low_precision={"lr": 0.01, "weight_decay": 0.1, "amsgrad": True, "eps": 1e-3},
        distributed={"lr": 0.01, "amsgrad": True, "weight_decay": 0.1},
    ),
    _namesake(
        "AdamW",
        _same({"betas": (0.9, 1.0)}, "Invalid beta parameter at index 1: 1.0"),
        _same({"decoupled_weight_decay": False},
              "unexpected keyword argument 'decoupled_weight_decay'", TypeError),
        _row({"fused": True, "foreach": True}, RuntimeError,
             "`fused` and `foreach` cannot be `True` together.", SAME, rule=False),
        suite="namesakes", default_lr=1e-3,
        layout={"amsgrad": True, "foreach": True, "fused": None},
        configs=(
            {},
            {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1},
            {"lr": 0.005, "betas": (0.8, 0.99)},
            {"lr": 0.01, "weight_decay": 0.5},
        ),
        numpy={"AdamW": {"lr": 0.05, "betas": (0.9, 0.99), "weight_decay": 0.1}},
        engine={"AdamW": {"lr": 0.01, "betas": (0.8, 0.99)}},
        compiled={"lr": 0.01, "weight_decay": 0.5},
        low_precision={"lr": 0.01, "eps": 1e-3},
        distributed={"lr": 0.01},
    ),
    _namesake(
        "Adamax",
        _same({"betas": (-0.1, 0.9)}, "Invalid beta parameter at index 0: -0.1"),
        _same({"lr": -2e-3}, "Invalid learning rate: -0.002"),
        suite="namesakes", default_lr=2e-3,
        layout={"foreach": False, "maximize": True},
        configs=(
            {},
            {"lr": 0.01, "weight_decay": 0.1},
            {"lr": 0.005, "betas": (0.8, 0.99), "eps": 1e-4},
            {"lr": 0.02},
        ),
        numpy={"Adamax": {"lr": 0.05, "weight_decay": 0.01}},
        engine={"Adamax": {"lr": 0.01, "maximize": True}},
        compiled={"lr": 0.01, "weight_decay": 0.1},
        low_precision={"lr": 0.01, "eps": 1e-3},
        distributed={"lr": 0.01},
    ),
    RuleInfo(
        "Heun", rules.Heun, optim.Heun, None, "namesakes", default_lr=None, evaluations=2,
        closure=True, configs=({"lr": 0.05},),
        invalid=(
            _row({"lr": -0.1}, ValueError, "Invalid learning rate: -0.1", NONE),
            _row({}, TypeError, "missing 1 required positional argument: 'lr'", NONE),
        ),
        numpy={"Heun": {"lr": 0.05}},
        engine={"Heun": {"lr": 0.05}},
    ),
    RuleInfo("SparseAdam", rules.SparseAdam, optim.SparseAdam, torch.optim.SparseAdam, "sparse",
             default_lr=1e-3,
             layout={"maximize": True, "lr": 0.01}),
    # After Adam: against torch.optim, lion-pytorch 0.2.5 and schedulefree 1.4.1.
    _after_adam(
        "NAdam", torch.optim.NAdam, _NADAM,
        _own({"lr": -1.0}, "Invalid learning rate: -1.0"),
        _own({"eps": -1e-8}, "Invalid epsilon value: -1e-08"),
        _own({"betas": (1.0, 0.999)}, "Invalid beta parameter at index 0: 1.0"),
        _own({"betas": (0.9, 1.5)}, "Invalid beta parameter at index 1: 1.5"),
        _own({"weight_decay": -0.1}, "Invalid weight_decay value: -0.1"),
        _own({"momentum_decay": -0.1}, "Invalid momentum_decay value: -0.1"),
        _own({"decoupled_weight_decay": "yes"}, "decoupled_weight_decay", TypeError),
        default_lr=2e-3,
        layout={"decoupled_weight_decay": True, "foreach": True},
        low_precision={"lr": 0.01, "eps": 1e-3},
        distributed={"lr": 0.01, "decoupled_weight_decay": True, "weight_decay": 0.1},
    ),
    _after_adam(
        "RAdam", torch.optim.RAdam, _RADAM,
        _own({"lr": -1e-3}, "Invalid learning rate: -0.001"),
        _own({"eps": -1.0}, "Invalid epsilon value: -1.0"),
        _own({"betas": (-0.1, 0.999)}, "Invalid beta parameter at index 0: -0.1"),
        _own({"betas": (0.9, 1.0)}, "Invalid beta parameter at index 1: 1.0"),
        _own({"weight_decay": -1.0}, "Invalid weight_decay value: -1.0"),
        default_lr=1e-3,
        layout={"decoupled_weight_decay": True, "foreach": False},
        low_precision={"lr": 0.01, "eps": 1e-3},
        distributed={"lr": 0.01},
    ),
    _after_adam(
        "Adafactor", torch.optim.Adafactor, _ADAFACTOR,
        _own({"lr": -1.0}, "Learning rate should be >= 0 but is: -1.0"),
        _own({"beta2_decay": 0.5}, "beta2_decay should be <= 0 but is: 0.5"),
        _own({"eps": (-1.0, 1e-3)}, "epsilon1 should be >= 0 but is: -1.0"),
        _own({"eps": (None, -1e-3)}, "epsilon2 should be >= 0 but is: -0.001"),
        _own({"d": 0.5}, "Clipping threshold d should be >= 1 but is: 0.5"),
        _own({"weight_decay": -1.0}, "weight_decay should be >= 0 but is: -1.0"),
        _own({"eps": 1e-3}, "`eps` must be a pair (eps1, eps2)", TypeError),
        default_lr=1e-2, elementwise=False,
        layout={"foreach": True, "maximize": True},
        low_precision={"lr": 0.01},
        distributed={"lr": 0.01},
    ),
    _after_adam(
        "Muon", torch.optim.Muon, _MUON,
        _own({"lr": -1.0}, "Learning rate should be >= 0 but is: -1.0"),
        _own({"momentum": -0.1}, "momentum should be >= 0 but is: -0.1"),
        _own({"weight_decay": -0.1}, "weight decay should be >= 0 but is: -0.1"),
        _own({"adjust_lr_fn": "arbitrary"},
             "Adjust learning rate function arbitrary is not supported"),
        _own({"ns_steps": 100},
             "Number of steps must be less than 100 for computational efficiency"),
        _own({"ns_coefficients": (3.0, -4.0)}, "Coefficients must be a tuple of exactly 3 values"),
        _own({"ns_steps": 2.5}, "`ns_steps` must be a non-negative integer", TypeError),
        _own({"eps": -1e-7}, "Invalid epsilon value: -1e-07"),
        default_lr=1e-3, elementwise=False,
        layout={"nesterov": False, "adjust_lr_fn": "match_rms_adamw"},
        distributed={"lr": 0.02},
    ),
    _after_adam(
        "Lion", lion_pytorch.Lion, _LION,
        _own({"lr": -1e-4}, "Invalid learning rate: -0.0001"),
        _own({"betas": (1.5, 0.99)}, "Invalid beta parameter at index 0: 1.5"),
        _own({"betas": (0.9, -0.1)}, "Invalid beta parameter at index 1: -0.1"),
        _own({"weight_decay": -1.0}, "Invalid weight_decay value: -1.0"),
        _own({"lr": 0.0, "weight_decay": 0.1, "decoupled_weight_decay": True},
             "`init_lr` must be positive for decoupled weight decay"),
        default_lr=1e-4,
        distributed={"lr": 1e-3, "weight_decay": 0.1},
    ),
    _after_adam(
        "AdamWScheduleFree", schedulefree.AdamWScheduleFreeReference, _SCHEDULE_FREE,
        _own({"lr": -1.0}, "Invalid learning rate: -1.0"),
        _own({"betas": (0.9, 1.0)}, "Invalid beta parameter at index 1: 1.0"),
        _own({"eps": -1.0}, "Invalid epsilon value: -1.0"),
        _own({"weight_decay": -1.0}, "Invalid weight_decay value: -1.0"),
        _own({"warmup_steps": -1}, "`warmup_steps` must be"),
        _own({"warmup_steps": 2.5}, "`warmup_steps` must be", TypeError),
        _own({"r": float("nan")}, "Invalid r value: nan"),
        default_lr=2.5e-3,
        distributed={"lr": 0.01, "warmup_steps": 2},
    ),
    # torch.optim's namesakes that torch's database configures (tests/test_optim_db.py); their
    # own suite adds numpy, large layers, compiled runs and state_dict.
    RuleInfo(
        "Rprop", rules.Rprop, optim.Rprop, torch.optim.Rprop, "more_namesakes", default_lr=1e-2,
        layout={"lr": 0.05, "etas": (0.3, 1.5), "foreach": True, "maximize": True},
        configs=_RPROP, compiled=_RPROP[1],
        invalid=(
            _row({"etas": (1.0, 0.5)}, ValueError, "Invalid eta values: 1.0, 0.5", rule=False),
            _row({"etas": (0.5, 1.0)}, ValueError, "Invalid eta values: 0.5, 1.0", rule=False),
            _row({"step_sizes": (1.0, 0.5)}, ValueError, "Invalid step_sizes values: 1.0, 0.5",
                 rule=False),
            _row({"step_sizes": (-1.0, 0.5)}, ValueError,
                 "Invalid step_sizes values: -1.0, 0.5", rule=False),
        ),
        low_precision={"lr": 0.01, "etas": (0.4, 1.3)},
        distributed={"lr": 0.01},
    ),
    RuleInfo(
        "ASGD", rules.ASGD, optim.ASGD, torch.optim.ASGD, "more_namesakes", default_lr=1e-2,
        layout={"lr": 0.05, "lambd": 0.01, "t0": 1.0, "weight_decay": 0.1, "foreach": False,
                "maximize": True},
        configs=_ASGD, compiled=_ASGD[0],
        invalid=(
            _row({"lambd": -1.0}, ValueError, "Invalid lambd value: -1.0", rule=False),
            _row({"t0": float("nan")}, ValueError, "Invalid t0 value: nan", rule=False),
        ),
        low_precision={"lr": 0.01, "lambd": 0.01, "t0": 2.0, "weight_decay": 0.01},
        distributed={"lr": 0.01, "t0": 1},
    ),
    RuleInfo(
        "LBFGS", rules.LBFGS, optim.LBFGS, torch.optim.LBFGS, "more_namesakes", default_lr=1.0,
        layout={"lr": 0.5, "max_iter": 4, "history_size": 3,
                "line_search_fn": "strong_wolfe"},
        elementwise=False, closure=True,
        invalid=(
            _row({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0", optimizer=False),
            _row({"max_iter": 0}, ValueError,
                 "`max_iter` must be at least 1. Received: max_iter=0", optimizer=False),
            _row({"history_size": 2.5}, TypeError, "`history_size` must be an integer",
                 optimizer=False),
            _row({"line_search_fn": "armijo"}, ValueError,
                 "`line_search_fn` must be None or 'strong_wolfe'. Received: "
                 "line_search_fn='armijo'", optimizer=False),
            _row({"tolerance_grad": -1.0}, ValueError, "Invalid tolerance_grad value: -1.0",
                 optimizer=False),
        ),
        low_precision={"lr": 0.1, "max_iter": 4, "history_size": 3},
        distributed={"lr": 0.5, "max_iter": 3, "line_search_fn": "strong_wolfe"},
    ),
    # Matrix preconditioners: against pytorch-optimizer 4.1.0, whose messages the first rows
    # take (message None); the last ones it accepts silently and the rule refuses.
    RuleInfo(
        "Shampoo", rules.Shampoo, optim.Shampoo, pytorch_optimizer.Shampoo, "matrix",
        default_lr=1e-3, elementwise=False,
        configs=(
            {},
            {"lr": 3e-3, "momentum": 0.5, "weight_decay": 0.1},
            {"lr": 3e-3, "weight_decay": 0.1, "weight_decouple": True,
             "preconditioning_compute_steps": 3},
            {"lr": 1e-3, "momentum": 0.3, "weight_decay": 0.1, "weight_decouple": True,
             "fixed_decay": True, "matrix_eps": 1e-4, "maximize": True},
        ),
        invalid=(
            Invalid({"lr": -1.0}),
            Invalid({"momentum": 1.0}),
            Invalid({"momentum": -0.1}),
            Invalid({"weight_decay": -1.0}),
            Invalid({"preconditioning_compute_steps": 0}),
            Invalid({"matrix_eps": -1.0}),
            _row({"weight_decouple": "yes"}, TypeError,
                 "`weight_decouple` must be True or False. Received: weight_decouple='yes'",
                 optimizer=False),
        ),
        compiled={"lr": 1e-2},
        distributed={"lr": 1e-2, "momentum": 0.5},
    ),
    RuleInfo(
        "SOAP", rules.SOAP, optim.SOAP, pytorch_optimizer.SOAP, "matrix", default_lr=3e-3,
        elementwise=False,
        configs=(
            {},
            {"lr": 1e-2, "betas": (0.9, 0.99), "shampoo_beta": 0.9, "precondition_frequency": 4,
             "precondition_1d": True},
            {"lr": 1e-2, "max_precondition_dim": 8, "normalize_gradient": True,
             "correct_bias": False, "weight_decay": 0.0, "maximize": True},
            {"lr": 1e-2, "merge_dims": True, "max_precondition_dim": 16, "eps": 1e-6},
            {"lr": 1e-2, "merge_dims": True, "max_precondition_dim": 16,
             "data_format": "channels_last", "precondition_frequency": 3},
        ),
        invalid=(
            Invalid({"lr": -1.0}),
            Invalid({"betas": (1.0, 0.95)}),
            Invalid({"betas": (0.9, -0.1)}),
            Invalid({"shampoo_beta": -0.5}),
            Invalid({"weight_decay": -1.0}),
            Invalid({"precondition_frequency": 0}),
            Invalid({"max_precondition_dim": 0}),
            Invalid({"eps": -1.0}),
            _row({"data_format": "NHWC"}, ValueError,
                 "`data_format` must be 'channels_first' or 'channels_last'. Received: "
                 "data_format='NHWC'", optimizer=False),
            _row({"precondition_frequency": 2.5}, TypeError,
                 "`precondition_frequency` must be an integer. Received: "
                 "precondition_frequency=2.5", optimizer=False),
        ),
        compiled={"lr": 1e-2, "precondition_frequency": 3},
        distributed={"lr": 1e-2, "precondition_frequency": 2},
    ),
    # Prodigy: against prodigyopt 1.1.2, in its words where it refuses an input.
    RuleInfo(
        "Prodigy", rules.Prodigy, optim.Prodigy, _quiet(prodigyopt.Prodigy), "prodigy",
        default_lr=1.0, elementwise=False,
        configs=(
            {},
            {"weight_decay": 0.1, "use_bias_correction": True},
            {"weight_decay": 0.1, "decouple": False, "growth_rate": 1.3, "d_coef": 2.0,
             "slice_p": 2},
            {"betas": (0.0, 0.99), "beta3": 0.9, "safeguard_warmup": True, "d0": 1e-4},
            {"lr": 0.5, "eps": 1e-6, "betas": (0.8, 0.95)},
        ),
        invalid=(
            Invalid({"d0": 0.0}, rule=False),
            Invalid({"d0": -1e-6}, rule=False),
            Invalid({"lr": 0.0}, rule=False),
            Invalid({"lr": -1.0}, rule=False),
            Invalid({"eps": 0.0}, rule=False),
            Invalid({"betas": (1.0, 0.999)}, rule=False),
            Invalid({"betas": (0.9, -0.5)}, rule=False),
            _row({"slice_p": 0}, ValueError, "`slice_p` must be at least 1. Received: slice_p=0",
                 optimizer=False),
            _row({"growth_rate": 0.0}, ValueError, "Invalid growth_rate value: 0.0",
                 optimizer=False),
            _row({"weight_decay": -0.1}, ValueError, "Invalid weight_decay value: -0.1",
                 optimizer=False),
            _row({"beta3": 1.5}, ValueError, "Invalid beta3 value: 1.5", optimizer=False),
            _row({"decouple": "no"}, TypeError,
                 "`decouple` must be True or False. Received: decouple='no'", optimizer=False),
        ),
    ),
]
BY_NAME = {info.name: info for info in RULES}


def suite(name):
    """The rows whose parity configurations the named suite runs."""
    return [info for info in RULES if info.suite == name]


def configurations(infos, select=None):
    """(info, kwargs) for each parity configuration of ``infos``, as ids "Name-index"."""
    return [pytest.param(info, kwargs, id=f"{info.name}-{index}")
            for info in infos for index, kwargs in enumerate(info.configs)
            if select is None or index in select]


def invalid_rows(infos, keep=lambda row: True):
    """(info, row) for each refused input of ``infos`` that ``keep`` selects."""
    return [pytest.param(info, row, id=f"{info.name}-{row.id}")
            for info in infos for row in info.invalid if keep(row)]
