"""The optimizers after Adam against their references: torch.optim, lion-pytorch, schedulefree.

NAdam, RAdam, Adafactor and Muon are checked against torch.optim, Lion against
``lion_pytorch.Lion`` (0.2.5) and AdamWScheduleFree against
``schedulefree.AdamWScheduleFreeReference`` (1.4.1): bit for bit in float32 and float64, with
two param groups and a learning-rate schedule; on numpy against the same references in float64;
compiled; across ``state_dict`` round trips; and on bad input.
"""

import contextlib
import io
import re

import numpy as np
import pytest
import schedulefree
import torch
from _cases import BY_NAME, configurations, invalid_rows, suite
from _models import data, flat, loss, mlp, train, wide_mlp

from adalearn import optim, rules

STEPS = 50
INFOS = suite("after_adam")
ELEMENTWISE = [info for info in INFOS if info.elementwise]
CASES = configurations(INFOS)
# Those whose reference is torch.optim's namesake.
TORCH = [info for info in INFOS if info.reference is getattr(torch.optim, info.name, None)]
EACH = pytest.mark.parametrize("info", INFOS, ids=repr)
DTYPES = pytest.mark.parametrize("dtype", [torch.float64, torch.float32],
                                 ids=["float64", "float32"])


def matrices(dtype=torch.float64, seed=0, widths=(8,)):
    """A tanh network without biases: only matrices, for Muon."""
    generator = torch.Generator().manual_seed(seed)
    sizes = [5, *widths, 3]
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=False):
        layers += [torch.nn.Linear(fan_in, fan_out, bias=False), torch.nn.Tanh()]
    model = torch.nn.Sequential(*layers[:-1]).to(dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=dtype) / p.shape[-1] ** 0.5)
    return model


def model_for(name, dtype, wide=False):
    if name == "Muon":
        return matrices(dtype, widths=(200, 190) if wide else (8,))
    return wide_mlp(dtype, widths=(600, 600)) if wide else mlp(dtype)


def build(make, info, model, kwargs, setup="both"):
    """The optimizer (in train mode, for schedule-free) and, for ``setup="both"``, a schedule."""
    layers = [m for m in model if isinstance(m, torch.nn.Linear)]
    if setup == "both":
        lr = kwargs.get("lr", info.default_lr)
        params = [
            {"params": [p for layer in layers[:-1] for p in layer.parameters()]},
            {"params": list(layers[-1].parameters()), "lr": 3 * lr},
        ]
    else:
        params = model.parameters()
    optimizer = make(params, **kwargs)
    if hasattr(optimizer, "train") and "train_mode" in optimizer.param_groups[0]:
        with contextlib.redirect_stdout(io.StringIO()):  # the reference prints the switch
            optimizer.train()
    scheduler = None
    if setup == "both":
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=15, gamma=0.5)
    return optimizer, scheduler


def evaluation_point(optimizer):
    """The parameters after ``eval()``, for a schedule-free optimizer (then back to train)."""
    with contextlib.redirect_stdout(io.StringIO()):
        optimizer.eval()
        params = torch.cat([p.detach().flatten() for g in optimizer.param_groups
                            for p in g["params"]])
        optimizer.train()
    return params


def run(make, info, kwargs, dtype, setup="both", steps=STEPS, wide=False):
    model = model_for(info.name, dtype, wide)
    optimizer, scheduler = build(make, info, model, kwargs, setup)
    trained = train(model, optimizer, *data(dtype), steps, scheduler)
    if hasattr(optimizer, "eval"):  # schedule-free (a RuleOptimizer of its rule has no modes)
        return trained, evaluation_point(optimizer)
    return trained, None


def via_rule_optimizer(info):
    return lambda params, **kwargs: optim.RuleOptimizer(params, info.rule(**kwargs))


# --------------------------------------------------------------------------------------------
# Bit for bit against the reference implementations.


@pytest.mark.parametrize(("info", "kwargs"), CASES)
@DTYPES
def test_equals_its_reference_bit_for_bit(info, kwargs, dtype):
    setup = "plain" if not kwargs else "both"
    ours = run(info.optimizer, info, kwargs, dtype, setup)
    theirs = run(info.reference, info, kwargs, dtype, setup)
    start = flat(model_for(info.name, dtype))
    assert not torch.equal(theirs[0], start), "the reference did not move"
    assert torch.equal(ours[0], theirs[0]), (ours[0] - theirs[0]).abs().max().item()
    if theirs[1] is not None:  # schedule-free: the evaluation point too, which is elsewhere
        assert not torch.equal(theirs[1], theirs[0])
        assert torch.equal(ours[1], theirs[1]), (ours[1] - theirs[1]).abs().max().item()


@EACH
@DTYPES
def test_a_rule_optimizer_of_the_rule_is_the_same_optimizer(info, dtype):
    kwargs = info.configs[1]
    ours = run(via_rule_optimizer(info), info, kwargs, dtype)
    theirs = run(info.reference, info, kwargs, dtype)
    assert torch.equal(ours[0], theirs[0]), (ours[0] - theirs[0]).abs().max().item()


@EACH
@DTYPES
def test_large_parameters_equal_the_reference_bit_for_bit(info, dtype):
    """600×600 layers (Muon: 200×190): updated in blocks, or as one parameter where not."""
    kwargs = {**info.configs[2], "lr": info.configs[2]["lr"] / 10}
    ours = run(info.optimizer, info, kwargs, dtype, steps=20, wide=True)
    theirs = run(info.reference, info, kwargs, dtype, steps=20, wide=True)
    assert torch.isfinite(theirs[0]).all()
    assert not torch.equal(theirs[0], flat(model_for(info.name, dtype, wide=True)))
    assert torch.equal(ours[0], theirs[0]), (ours[0] - theirs[0]).abs().max().item()


def test_state_keys_shapes_and_dtypes_are_the_references():
    for info in INFOS:
        name = info.name
        states = []
        for make in (info.optimizer, info.reference):
            model = model_for(name, torch.float64)
            optimizer, _ = build(make, info, model, {}, setup="plain")
            train(model, optimizer, *data(), 3)
            states.append([optimizer.state[p] for p in model.parameters()])
        for ours, theirs in zip(*states, strict=True):
            if name == "AdamWScheduleFree":
                # The reference keeps the step count, weight sum and largest lr per group, and
                # y besides the parameter, which holds it in train mode.
                theirs = {k: v for k, v in theirs.items() if k != "y"}
                assert set(ours) == set(theirs) | {"step", "weight_sum", "lr_max"}
                for key in theirs:
                    assert torch.equal(ours[key], theirs[key]), key
                continue
            assert list(ours) == list(theirs), name
            for key, value in theirs.items():
                assert ours[key].shape == value.shape, (name, key)
                assert ours[key].dtype == value.dtype, (name, key)
                assert torch.equal(ours[key], value), (name, key)


# --------------------------------------------------------------------------------------------
# On numpy: the same rules, against the references in float64.

COEFFICIENTS = np.linspace(0.1, 2.0, 40)


def numpy_grad(x):
    """The gradient of the convex f(x) = Σ c·x² + x⁴/4, by hand."""
    return 2 * COEFFICIENTS * x + x**3


def torch_objective(p):
    return (torch.from_numpy(COEFFICIENTS) * p**2 + p**4 / 4).sum()


def reference_run(info, kwargs, x0, steps):
    p = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))
    optimizer = info.reference([p], **kwargs)
    if "train_mode" in optimizer.param_groups[0]:  # schedule-free
        with contextlib.redirect_stdout(io.StringIO()):
            optimizer.train()
    for _ in range(steps):
        optimizer.zero_grad()
        torch_objective(p).backward()
        optimizer.step()
    return p.detach().numpy()


@contextlib.contextmanager
def default_dtype(dtype):
    saved = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(saved)


# The elementwise rules after Adam, and torch.optim's Rprop and ASGD.
SWEEPS = configurations(ELEMENTWISE, select=range(3)) + configurations(
    [info for info in suite("more_namesakes") if info.elementwise and info.configs])


@pytest.mark.parametrize(("info", "kwargs"), SWEEPS)
def test_numpy_runs_equal_the_reference_in_float64(info, kwargs):
    """A sweep over three learning rates as one batched numpy run, each row against the
    reference (torch.optim, lion-pytorch or schedulefree)."""
    x0 = np.linspace(-2.0, 3.0, COEFFICIENTS.size)
    lr = kwargs.get("lr", info.default_lr)
    lrs = np.array([[lr], [lr / 3], [3 * lr]])
    rule = info.rule(**{**kwargs, "lr": lrs})
    assert rule.elementwise
    x = np.broadcast_to(x0, rule.broadcast_shape(x0.shape)).copy()
    state = rule.init(x)
    for _ in range(STEPS):
        x, state = rule.step(x, numpy_grad(x), state)
    # torch.optim keeps NAdam's product of momentum coefficients, and ASGD's eta and mu, in
    # its default dtype.
    with default_dtype(torch.float64):
        for row, value in zip(x, lrs[:, 0], strict=True):
            reference = reference_run(info, {**kwargs, "lr": value}, x0, STEPS)
            np.testing.assert_allclose(row, reference, rtol=0, atol=1e-12)
            assert np.abs(reference - x0).max() > 1e-3


def test_adafactor_on_numpy_matrices_and_vectors_equals_torch_in_float64():
    generator = np.random.default_rng(0)
    for shape in [(8, 5), (3, 4, 6), (7,)]:
        c = generator.uniform(0.1, 2.0, shape)
        x0 = generator.standard_normal(shape)
        rule = rules.Adafactor(lr=0.05, weight_decay=0.1)
        x, state = x0.copy(), rule.init(x0)
        for _ in range(STEPS):
            x, state = rule.step(x, 2 * c * x + x**3, state)
        p = torch.nn.Parameter(torch.tensor(x0))
        reference = torch.optim.Adafactor([p], lr=0.05, weight_decay=0.1)
        for _ in range(STEPS):
            reference.zero_grad()
            (torch.from_numpy(c) * p**2 + p**4 / 4).sum().backward()
            reference.step()
        assert set(state) == set(reference.state[p])
        np.testing.assert_allclose(x, p.detach().numpy(), rtol=0, atol=1e-12)


def singular_value_map(g, coefficients, steps):
    """What Newton–Schulz does, from the SVD: U p^k(Σ / ‖G‖_F) Vᵀ with the quintic p."""
    u, s, vt = np.linalg.svd(g, full_matrices=False)
    a, b, c = coefficients
    s = s / np.linalg.norm(g)
    for _ in range(steps):
        s = a * s + b * s**3 + c * s**5
    return u @ np.diag(s) @ vt, s


@pytest.mark.parametrize("shape", [(7, 4), (4, 7), (6, 6)])
def test_newton_schulz_acts_on_the_singular_values(shape):
    g = np.random.default_rng(1).standard_normal(shape)
    coefficients = (3.4445, -4.7750, 2.0315)
    expected, s = singular_value_map(g, coefficients, 5)
    np.testing.assert_allclose(rules.newton_schulz(g, coefficients, 5), expected, atol=1e-12)
    assert 0.6 < s.min() and s.max() < 1.25  # near 1, not at 1
    # The classical cubic iteration converges to the orthogonal factor U Vᵀ.
    u, _, vt = np.linalg.svd(g, full_matrices=False)
    np.testing.assert_allclose(rules.newton_schulz(g, (1.5, -0.5, 0.0), 60), u @ vt, atol=1e-12)


def test_muon_on_numpy_is_its_formula_and_torch_agrees_to_bfloat16():
    generator = np.random.default_rng(2)
    w, g = generator.standard_normal((6, 3)), generator.standard_normal((6, 3))
    rule = rules.Muon(lr=0.02, weight_decay=0.1, momentum=0.9)
    w1, state = rule.step(w, g, rule.init(w))
    buffer = 0.1 * g
    direction = 0.1 * g + 0.9 * buffer  # Nesterov: lerp(g, buffer, momentum)
    orthogonal, _ = singular_value_map(direction, rule.ns_coefficients, rule.ns_steps)
    expected = w * (1 - 0.02 * 0.1) - 0.02 * np.sqrt(6 / 3) * orthogonal
    np.testing.assert_allclose(state["momentum_buffer"], buffer, atol=1e-15)
    np.testing.assert_allclose(w1, expected, atol=1e-12)
    in_bfloat16, _ = rule.step(torch.tensor(w), torch.tensor(g), rule.init(torch.tensor(w)))
    step = np.abs(w1 - w * (1 - 0.02 * 0.1)).max()
    assert np.abs(in_bfloat16.numpy() - w1).max() < 5e-2 * step  # 8 bits, five iterations


# --------------------------------------------------------------------------------------------
# Schedule-free: two points, train() and eval().


def test_schedule_free_switches_between_its_two_points_as_the_reference_does():
    results = []
    info = BY_NAME["AdamWScheduleFree"]
    for make in (optim.AdamWScheduleFree, schedulefree.AdamWScheduleFreeReference):
        model = mlp()
        optimizer, _ = build(make, info, model, info.configs[1], setup="plain")
        x, y = data()
        points = [train(model, optimizer, x, y, 20)]
        with contextlib.redirect_stdout(io.StringIO()):
            optimizer.eval()
            points.append(flat(model))
            with torch.no_grad():
                points.append(loss(model, x, y).reshape(1))
            optimizer.eval()  # a second eval() changes nothing
            points.append(flat(model))
            optimizer.train()
            points.append(flat(model))
        points.append(train(model, optimizer, x, y, 10))
        results.append(points)
    ours, theirs = results
    assert not torch.equal(theirs[0], theirs[1])
    assert torch.equal(theirs[0], theirs[4]), "train() brings y back"
    for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert torch.equal(a, b), index


def test_schedule_free_starts_in_eval_mode_and_will_not_step_there():
    model = mlp()
    optimizer = optim.AdamWScheduleFree(model.parameters())
    reference = schedulefree.AdamWScheduleFreeReference(mlp().parameters())
    assert optimizer.param_groups[0]["train_mode"] is reference.param_groups[0]["train_mode"]
    loss(model, *data()).backward()
    before = flat(model)
    with pytest.raises(RuntimeError, match=r"`train_mode` must be True.*optimizer.train\(\)"):
        optimizer.step()
    assert torch.equal(flat(model), before) and not optimizer.state
    optimizer.add_param_group({"params": [torch.nn.Parameter(torch.zeros(2))]})
    assert optimizer.param_groups[1]["train_mode"] is False


def test_schedule_free_rule_exposes_both_points():
    rule = rules.AdamWScheduleFree(lr=0.1)
    x = np.array([1.0, -2.0])
    state = rule.init(x)
    for _ in range(5):
        x, state = rule.step(x, 2 * x, state)
    np.testing.assert_array_equal(rule.training_point(state), x)
    average = rule.evaluation_point(state)
    assert average is state["x"] and not np.array_equal(average, x)
    # With r = 0 and no warmup the average is the mean of z_1..z_t: c_t = 1/t.
    assert state["weight_sum"] == pytest.approx(5 * 0.1**2)


# --------------------------------------------------------------------------------------------
# Compiled.


@pytest.mark.slow
@EACH
def test_compiled_optimizer_matches_the_reference(info):
    kwargs = info.compiled
    for wide in (False, True):
        steps = 30
        slower = {**kwargs, "lr": kwargs["lr"] / 10} if wide else kwargs
        model = model_for(info.name, torch.float64, wide)
        optimizer, scheduler = build(
            lambda params, **kw: info.optimizer(params, compile=True, **kw), info, model, slower
        )
        ours = train(model, optimizer, *data(), steps, scheduler)
        theirs = run(info.reference, info, slower, torch.float64, steps=steps, wide=wide)
        assert not torch.equal(theirs[0], flat(model_for(info.name, torch.float64, wide)))
        torch.testing.assert_close(ours, theirs[0], rtol=0, atol=1e-10)
        if theirs[1] is not None:
            torch.testing.assert_close(evaluation_point(optimizer), theirs[1], rtol=0,
                                       atol=1e-10)


# --------------------------------------------------------------------------------------------
# state_dict.


def saved(optimizer, scheduler):
    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
               buffer)
    buffer.seek(0)
    return torch.load(buffer)


def resumed(make_ours, make_theirs, info, kwargs, dtype, steps=20):
    """Train ``steps`` with ``make_ours``; load its state into ``make_theirs``; train on."""
    model = model_for(info.name, dtype)
    optimizer, scheduler = build(make_ours, info, model, kwargs)
    train(model, optimizer, *data(dtype), steps, scheduler)
    checkpoint = saved(optimizer, scheduler)
    optimizer, scheduler = build(make_theirs, info, model, kwargs)
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    return train(model, optimizer, *data(dtype), steps, scheduler)


@EACH
@DTYPES
def test_state_dict_resumes_bit_for_bit(info, dtype):
    kwargs = info.configs[2]
    make = info.optimizer
    straight = run(make, info, kwargs, dtype, steps=40)[0]
    again = resumed(make, make, info, kwargs, dtype)
    if info.name == "NAdam" and dtype == torch.float64:
        # torch.optim's own quirk, kept: loading casts mu_product (float32) to the parameter's
        # float64, so that a resumed NAdam is torch's resumed NAdam, not its straight run.
        theirs = resumed(info.reference, info.reference, info, kwargs, dtype)
        assert torch.equal(again, theirs)
        torch.testing.assert_close(again, straight, rtol=0, atol=1e-12)
        return
    assert torch.equal(again, straight), (again - straight).abs().max().item()


@pytest.mark.parametrize("info", TORCH, ids=repr)
@DTYPES
def test_state_dict_crosses_to_and_from_torch_optim(info, dtype):
    kwargs = info.configs[2]
    ours, theirs = info.optimizer, info.reference
    reference = resumed(theirs, theirs, info, kwargs, dtype)
    assert torch.equal(resumed(theirs, ours, info, kwargs, dtype), reference)
    assert torch.equal(resumed(ours, theirs, info, kwargs, dtype), reference)


# --------------------------------------------------------------------------------------------
# Bad input.

@pytest.mark.parametrize(("info", "row"), invalid_rows(INFOS))
def test_bad_hyperparameters_are_rejected_by_rule_and_optimizer(info, row):
    with pytest.raises(row.error, match=re.escape(row.message)):
        info.rule(**row.kwargs)
    params = list(model_for(info.name, torch.float64).parameters())
    with pytest.raises(row.error, match=re.escape(row.message)):
        info.optimizer(params, **row.kwargs)


@pytest.mark.parametrize(("info", "row"), invalid_rows(TORCH, lambda row: row.error is ValueError))
def test_the_message_is_torchs_where_torch_rejects_the_input(info, row):
    """torch.optim rejects these too, when built or at its first step, in the same words."""
    model = model_for(info.name, torch.float64)
    try:
        optimizer = info.reference(model.parameters(), **row.kwargs)
        loss(model, *data()).backward()
        optimizer.step()
    except ValueError as theirs:
        assert str(theirs) == row.message
    else:
        pytest.skip(f"torch.optim.{info.name} takes {row.kwargs}")


def test_muon_takes_matrices_only_as_torch_does():
    params = list(mlp().parameters())
    with pytest.raises(ValueError) as theirs:
        torch.optim.Muon(params)
    with pytest.raises(ValueError) as ours:
        optim.Muon(params)
    assert str(ours.value) == str(theirs.value)
    assert "Muon only supports 2D parameters" in str(ours.value)
    with pytest.raises(ValueError, match="Muon only supports 2D parameters"):
        rules.Muon().init(np.zeros(3))
    with pytest.raises(ValueError, match="Param gradient must be a 2D matrix"):
        rules.Muon().step(np.zeros(3), np.zeros(3), {"momentum_buffer": np.zeros(3)})


@pytest.mark.parametrize("info", [info for info in TORCH if not info.elementwise], ids=repr)
def test_complex_parameters_fail_at_the_step_as_in_torch(info):
    name = info.name
    for cls in (info.reference, info.optimizer):
        p = torch.nn.Parameter(torch.ones(3, 2, dtype=torch.complex128))
        p.grad = torch.ones_like(p)
        optimizer = cls([p])
        with pytest.raises(RuntimeError, match=f"{name} does not support complex parameters"):
            optimizer.step()
        assert torch.equal(p.detach(), torch.ones(3, 2, dtype=torch.complex128))
