"""``compile=True``: the compiled in-place update against torch.optim and the eager path."""

import io

import pytest
import torch
from _cases import BY_NAME, suite
from _models import data, flat, loss, mlp, wide_mlp

from adalearn import optim, rules

pytestmark = pytest.mark.slow  # every optimizer compiles its rule first: seconds each

STEPS = 30

# torch.optim's namesakes in their compiled configuration, each run with two param groups (the
# second at three times the learning rate) and a learning-rate schedule.
INFOS = [info for info in suite("namesakes") if info.compiled is not None]


def build(cls, model, kwargs, **extra):
    layers = [m for m in model if isinstance(m, torch.nn.Linear)]
    first = [p for m in layers[:-1] for p in m.parameters()]
    lr = kwargs.get("lr", BY_NAME[cls.__name__].default_lr)
    groups = [{"params": first}, {"params": list(layers[-1].parameters()), "lr": lr * 3}]
    optimizer = cls(groups, **kwargs, **extra)
    return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)


def run(model, optimizer, scheduler, steps=STEPS):
    x, y = data(model[0].weight.dtype)
    for _ in range(steps):
        optimizer.zero_grad()
        loss(model, x, y).backward()
        optimizer.step()
        scheduler.step()
    return flat(model)


@pytest.mark.parametrize("info", INFOS, ids=repr)
def test_compiled_optimizer_matches_torch_optim(info):
    # Small layers in one batch; one large layer; two large layers of different shapes, which
    # compiled code updates in one call (at a tenth of the learning rate: SGD's diverges).
    config = info.compiled
    slower = {**config, "lr": config["lr"] / 10} if "lr" in config else {}
    for make_model, kwargs in (
        (mlp, config),
        (wide_mlp, config),
        (lambda: wide_mlp(widths=(200, 200, 190)), slower or config),
    ):
        model = make_model()
        ours = run(model, *build(info.optimizer, model, kwargs, compile=True))
        model = make_model()
        reference = run(model, *build(info.reference, model, kwargs))
        assert not torch.equal(reference, flat(make_model())), "the reference did not move"
        torch.testing.assert_close(ours, reference, rtol=0, atol=1e-10)


def _trained_by(make, model, steps=STEPS):
    optimizer, scheduler = make(model)
    return run(model, optimizer, scheduler, steps)


def test_compiled_adam_in_float32_matches_torch_optim():
    kwargs = {"lr": 0.01, "eps": 1e-6}
    ours = _trained_by(
        lambda m: build(optim.Adam, m, kwargs, compile=True), mlp(torch.float32)
    )
    reference = _trained_by(lambda m: build(torch.optim.Adam, m, kwargs), mlp(torch.float32))
    assert (ours - reference).abs().max() <= 1e-5 * reference.abs().max()


def test_compiled_heun_matches_the_eager_one():
    x, y = data()
    results = []
    for compiled in (True, False):
        model = mlp()
        optimizer = optim.Heun(model.parameters(), lr=0.05, compile=compiled)

        def closure(model=model, optimizer=optimizer):
            optimizer.zero_grad()
            value = loss(model, x, y)
            value.backward()
            return value

        for _ in range(STEPS):
            optimizer.step(closure)
        results.append(flat(model))
    assert not torch.equal(results[1], flat(mlp()))
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=1e-12)


def test_compiled_state_dict_resumes_bit_for_bit_and_loads_into_torch_optim():
    kwargs = BY_NAME["Adam"].compiled

    def fresh():
        model = wide_mlp()
        return model, *build(optim.Adam, model, kwargs, compile=True)

    model, optimizer, scheduler = fresh()
    straight = run(model, optimizer, scheduler, 2 * STEPS)

    model, optimizer, scheduler = fresh()
    run(model, optimizer, scheduler)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict()}, buffer)

    def load():
        # Loaded afresh for each use: like torch.optim, the compiled update writes into the
        # state tensors it was given.
        buffer.seek(0)
        return torch.load(buffer)

    model, optimizer, scheduler = fresh()
    saved = load()
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    assert torch.equal(run(model, optimizer, scheduler), straight)

    model = wide_mlp()
    saved = load()
    model.load_state_dict(saved["model"])
    theirs, scheduler = build(torch.optim.Adam, model, kwargs)
    theirs.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    torch.testing.assert_close(run(model, theirs, scheduler), straight, rtol=0, atol=1e-12)


def test_a_learning_rate_schedule_does_not_recompile():
    from torch._dynamo.utils import counters

    model = wide_mlp()
    optimizer, scheduler = build(optim.Adam, model, {"lr": 0.01}, compile=True)
    run(model, optimizer, scheduler, 2)  # compiles: the first step, then the next ones
    graphs = counters["stats"]["unique_graphs"]
    run(model, optimizer, scheduler, 25)  # the learning rate halves twice
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.01 / 4)
    assert counters["stats"]["unique_graphs"] == graphs


def test_a_new_thread_count_compiles_anew_and_keeps_the_numbers():
    """Inductor writes parallel loops only when it compiles above one thread, and dynamo does
    not guard the thread count: the step compiled at one thread would stay on one core."""
    from torch._dynamo.utils import counters

    kwargs = {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1}
    model = wide_mlp()
    optimizer, scheduler = build(optim.Adam, model, kwargs, compile=True)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        run(model, optimizer, scheduler, 3)
        graphs = counters["stats"]["unique_graphs"]
        torch.set_num_threads(2)
        run(model, optimizer, scheduler, 3)
        assert counters["stats"]["unique_graphs"] > graphs
        graphs = counters["stats"]["unique_graphs"]
        ours = run(model, optimizer, scheduler, 4)
        assert counters["stats"]["unique_graphs"] == graphs
    finally:
        torch.set_num_threads(before)
    model = wide_mlp()
    reference = run(model, *build(torch.optim.Adam, model, kwargs), steps=10)
    assert not torch.equal(reference, flat(wide_mlp())), "the reference did not move"
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-10)


def test_compile_must_be_a_flag():
    with pytest.raises(TypeError, match="`compile` must be True or False. Received: compile='yes'"):
        optim.Adam(mlp().parameters(), compile="yes")


@pytest.mark.parametrize(("soft_batch", "compile"), [
    pytest.param("optimizer", True, id="SoftBatch-of-an-optimizer-compiled"),
    pytest.param("rule", False, id="eager"),
    pytest.param("rule", True, id="compiled"),
])
def test_a_soft_batch_equals_the_large_batch_eager_and_compiled(soft_batch, compile):
    """k steps of batch b equal one step of batch k*b, with the soft batch around a compiled
    optimizer or a rule in a RuleOptimizer. rules.SoftBatch keeps a count and the inner rule's
    state dict: compiled, it crashed."""
    every, small = 2, 16
    x, y = data()
    model, reference = mlp(), mlp()
    if soft_batch == "rule":
        rule = rules.SoftBatch(rules.Adam(lr=1e-2), every=every)
        soft = optim.RuleOptimizer(model.parameters(), rule, compile=compile)
    else:
        inner = optim.Adam(model.parameters(), lr=1e-2, compile=compile)
        soft = optim.SoftBatch(inner, every=every)
    large = torch.optim.Adam(reference.parameters(), lr=1e-2)
    for _ in range(4):
        for i in range(every):
            soft.zero_grad()
            loss(model, x[i * small : (i + 1) * small], y[i * small : (i + 1) * small]).backward()
            soft.step()
        large.zero_grad()
        loss(reference, x[: every * small], y[: every * small]).backward()
        large.step()
    p = next(model.parameters())
    if soft_batch == "rule":
        assert soft.state[p]["count"] == 0 and soft.state[p]["inner"]["step"] == 4
    else:
        assert inner.state[p]["step"].item() == 4
    torch.testing.assert_close(flat(model), flat(reference), rtol=0, atol=1e-12)
