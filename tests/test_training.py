"""Tests for adalearn.training.fit against hand-written loops and hand-counted calls."""

import math
import sys

import numpy as np
import pytest
import torch

from adalearn import data, training


def linear_model(w, b, dtype=torch.float64):
    model = torch.nn.Linear(2, 1, dtype=dtype)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([w], dtype=dtype))
        model.bias.copy_(torch.tensor([b], dtype=dtype))
    return model


def hand_written_sgd(X, y, w, b, lr, epochs, batch_size):
    """Mini-batch gradient descent on the mean squared error, gradient derived by hand.

    For L = mean((X w + b - y)^2) over a batch of size B: dL/dw = 2/B X^T r, dL/db = 2/B sum(r),
    with residual r = X w + b - y.
    """
    w, b = np.array(w, dtype=np.float64), float(b)
    losses = []
    for _ in range(epochs):
        for start in range(0, len(X), batch_size):
            Xb, yb = X[start : start + batch_size], y[start : start + batch_size]
            r = Xb @ w + b - yb
            losses.append(np.mean(r**2))
            w = w - lr * (2 / len(Xb)) * (Xb.T @ r)
            b = b - lr * (2 / len(Xb)) * r.sum()
    return np.array(losses), w, b


@pytest.fixture
def linear_data():
    X, y = data.linear_regression(n=1000, seed=0)
    return X.double(), y.double()


def test_fit_with_sgd_equals_the_hand_written_loop(linear_data):
    X, y = linear_data
    w0, b0, lr, epochs, batch_size = (0.3, -0.7), 0.2, 0.05, 3, 64
    model = linear_model(w0, b0)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    history = training.fit(model, optimizer, (X, y), epochs, batch_size, torch.nn.MSELoss())

    losses, w, b = hand_written_sgd(X.numpy(), y[:, 0].numpy(), w0, b0, lr, epochs, batch_size)
    np.testing.assert_allclose(history.iteration, losses, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.weight.detach().numpy()[0], w, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.bias.item(), b, rtol=0, atol=1e-12)


def test_fit_in_float32_matches_the_hand_written_loop(linear_data):
    X, y = linear_data
    model = linear_model((0.0, 0.0), 0.0, dtype=torch.float32)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    history = training.fit(model, optimizer, (X.float(), y.float()), 2, 100, torch.nn.MSELoss())

    losses, w, _ = hand_written_sgd(X.numpy(), y[:, 0].numpy(), (0.0, 0.0), 0.0, 0.1, 2, 100)
    np.testing.assert_allclose(history.iteration, losses, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.weight.detach().numpy()[0], w, rtol=0, atol=1e-6)


def test_fit_learns_the_plane():
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    training.fit(model, optimizer, data.linear_regression(), 20, 64, torch.nn.MSELoss())
    np.testing.assert_allclose(model.weight.detach().numpy()[0], [0.5, 0.8], atol=1e-3)
    # The noise is uniform on [0, 0.01): its mean is the intercept.
    assert model.bias.item() == pytest.approx(0.005, abs=1e-3)


@pytest.mark.parametrize(
    ("n", "batch_size", "epochs"),
    [(1000, 64, 3), (10, 3, 2), (10, 10, 4), (10, 50, 2), (7, 1, 1)],
)
def test_iteration_count_and_epoch_means(n, batch_size, epochs):
    X, y = data.linear_regression(n=n)
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    history = training.fit(model, optimizer, (X, y), epochs, batch_size, torch.nn.MSELoss())

    batches = math.ceil(n / batch_size)
    assert history.iteration.shape == (epochs * batches,)
    assert history.epoch.shape == (epochs,)
    assert history.batches_per_epoch == batches
    for k in range(epochs):
        chunk = history.iteration[k * batches : (k + 1) * batches]
        assert history.epoch[k] == pytest.approx(sum(chunk) / batches, rel=1e-12)
    assert history.validation is None
    assert history.train_metric is None and history.validation_metric is None


class Recorder(torch.nn.Module):
    """Scales its input by one weight and remembers which samples it saw."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.seen = []

    def forward(self, x):
        if self.training:
            self.seen.append(x[:, 0].long().tolist())
        return x * self.scale


def visits(n, epochs, batch_size, **kwargs):
    """The sample indices each epoch of fit visits, in order."""
    X = torch.arange(n, dtype=torch.float32).unsqueeze(1)
    model = Recorder()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    training.fit(model, optimizer, (X, X.clone()), epochs, batch_size, torch.nn.MSELoss(), **kwargs)
    per_batch = model.seen
    per_epoch = len(per_batch) // epochs
    return [sum(per_batch[k * per_epoch : (k + 1) * per_epoch], []) for k in range(epochs)]


def test_without_shuffle_batches_follow_the_data_order():
    X = torch.arange(10, dtype=torch.float32).unsqueeze(1)
    model = Recorder()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    training.fit(model, optimizer, (X, X), 2, 4, torch.nn.MSELoss())
    assert model.seen == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] * 2


def test_shuffle_visits_every_sample_once_per_epoch_in_a_new_order():
    before = torch.get_rng_state()
    epochs = visits(30, 3, 7, shuffle=True, seed=4)
    assert torch.equal(torch.get_rng_state(), before), "shuffling used the global RNG"
    for order in epochs:
        assert sorted(order) == list(range(30))
    assert epochs[0] != list(range(30))
    assert epochs[0] != epochs[1] != epochs[2]


def test_shuffle_is_seeded():
    assert visits(30, 2, 8, shuffle=True, seed=1) == visits(30, 2, 8, shuffle=True, seed=1)
    assert visits(30, 2, 8, shuffle=True, seed=1) != visits(30, 2, 8, shuffle=True, seed=2)


class TwoEvaluationSGD(torch.optim.Optimizer):
    """Gradient descent that, like Heun's method, evaluates the loss twice per step."""

    requires_closure = True

    def __init__(self, params, lr):
        super().__init__(params, {"lr": lr})
        self.first_values = []

    @torch.no_grad()
    def step(self, closure=None):
        if closure is None:
            raise RuntimeError("TwoEvaluationSGD needs a closure")
        first = closure()
        self.first_values.append(first.item())
        for group in self.param_groups:
            for p in group["params"]:
                p.sub_(group["lr"] * p.grad)
        closure()
        return first


def test_closure_optimizer_runs_its_closure_twice_per_iteration(linear_data):
    X, y = linear_data
    model = linear_model((0.0, 0.0), 0.0)
    optimizer = TwoEvaluationSGD(model.parameters(), lr=0.05)
    calls = []
    original = optimizer.step

    def counting_step(closure=None):
        def counted():
            calls.append(1)
            return closure()

        return original(counted)

    optimizer.step = counting_step
    history = training.fit(model, optimizer, (X, y), 2, 64, torch.nn.MSELoss())

    iterations = 2 * math.ceil(1000 / 64)
    assert len(calls) == 2 * iterations
    np.testing.assert_array_equal(history.iteration, optimizer.first_values)
    # Each step is a plain gradient step taken with the gradient of the first evaluation.
    losses, w, b = hand_written_sgd(X.numpy(), y[:, 0].numpy(), (0.0, 0.0), 0.0, 0.05, 2, 64)
    np.testing.assert_allclose(history.iteration, losses, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.weight.detach().numpy()[0], w, rtol=0, atol=1e-12)


def hand_written_heun(X, y, w, b, lr, epochs, batch_size):
    """Heun's method on each mini-batch's mean squared error, both gradients by hand."""
    theta = np.array([*w, b], dtype=np.float64)
    Xa = np.column_stack([X, np.ones(len(X))])
    losses = []
    for _ in range(epochs):
        for start in range(0, len(X), batch_size):
            Xb, yb = Xa[start : start + batch_size], y[start : start + batch_size]

            def grad(t, Xb=Xb, yb=yb):
                return (2 / len(Xb)) * (Xb.T @ (Xb @ t - yb))

            losses.append(np.mean((Xb @ theta - yb) ** 2))
            g = grad(theta)
            theta = theta - lr / 2 * (g + grad(theta - lr * g))
    return np.array(losses), theta


def test_fit_drives_adalearn_heun_through_its_closure(linear_data):
    from adalearn import optim

    X, y = linear_data
    model = linear_model((0.3, -0.2), 0.1)
    optimizer = optim.Heun(model.parameters(), lr=0.2)
    history = training.fit(model, optimizer, (X, y), 2, 128, torch.nn.MSELoss())

    losses, theta = hand_written_heun(X.numpy(), y[:, 0].numpy(), (0.3, -0.2), 0.1, 0.2, 2, 128)
    np.testing.assert_allclose(history.iteration, losses, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.weight.detach().numpy()[0], theta[:2], rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.bias.item(), theta[2], rtol=0, atol=1e-12)


def test_closure_flag_with_torch_sgd_changes_nothing(linear_data):
    X, y = linear_data
    histories, weights = [], []
    for closure in (False, True):
        model = linear_model((0.1, 0.2), 0.3)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        history = training.fit(
            model, optimizer, (X, y), 2, 100, torch.nn.MSELoss(), closure=closure
        )
        histories.append(history.iteration)
        weights.append(model.weight.detach().clone())
    np.testing.assert_array_equal(histories[0], histories[1])
    assert torch.equal(weights[0], weights[1])


class SilentStepSGD(torch.optim.SGD):
    """torch's SGD whose step evaluates the closure but returns nothing."""

    def step(self, closure=None):
        with torch.enable_grad():
            closure()
        super().step()


def test_closure_loss_falls_back_to_the_first_evaluation(linear_data):
    X, y = linear_data
    model = linear_model((0.0, 0.0), 0.0)
    optimizer = SilentStepSGD(model.parameters(), lr=0.05)
    history = training.fit(model, optimizer, (X, y), 1, 64, torch.nn.MSELoss(), closure=True)
    losses, _, _ = hand_written_sgd(X.numpy(), y[:, 0].numpy(), (0.0, 0.0), 0.0, 0.05, 1, 64)
    np.testing.assert_allclose(history.iteration, losses, rtol=0, atol=1e-12)


def test_validation_loss_and_metric_are_recorded_per_epoch():
    X_train, y_train, X_val, y_val = data.digits()
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(32, 10)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss = torch.nn.CrossEntropyLoss()

    def accuracy(logits, labels):
        return (logits.argmax(dim=1) == labels).float().mean()

    history = training.fit(
        model,
        optimizer,
        (X_train, y_train),
        epochs=4,
        batch_size=128,
        loss=loss,
        validation=(X_val, y_val),
        metric=accuracy,
    )
    assert history.validation.shape == history.epoch.shape == (4,)
    assert history.train_metric.shape == history.validation_metric.shape == (4,)
    assert model.training, "fit must leave the model in the mode it received it in"

    # The last entries describe the trained model in eval mode (dropout off).
    model.eval()
    with torch.no_grad():
        val_logits, train_logits = model(X_val), model(X_train)
        val_loss = torch.nn.functional.cross_entropy(val_logits, y_val).item()
        val_acc = (val_logits.argmax(1) == y_val).double().mean().item()
        train_acc = (train_logits.argmax(1) == y_train).double().mean().item()
    assert history.validation[-1] == pytest.approx(val_loss, rel=1e-6)
    assert history.validation_metric[-1] == pytest.approx(val_acc, abs=1e-6)
    assert history.train_metric[-1] == pytest.approx(train_acc, abs=1e-6)
    assert history.validation[-1] < history.validation[0]
    assert history.validation_metric[-1] > 0.8


def test_metric_without_validation_is_measured_on_training_data_only(linear_data):
    X, y = linear_data
    model = linear_model((0.0, 0.0), 0.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)

    def mean_abs_error(prediction, target):
        return (prediction - target).abs().mean()

    history = training.fit(
        model, optimizer, (X, y), 2, 64, torch.nn.MSELoss(), metric=mean_abs_error
    )
    assert history.validation is None and history.validation_metric is None
    with torch.no_grad():
        expected = (model(X) - y).abs().mean().item()
    assert history.train_metric[-1] == pytest.approx(expected, rel=1e-12)


def test_eval_mode_is_restored():
    model = torch.nn.Linear(2, 1).eval()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    training.fit(model, optimizer, data.linear_regression(n=10), 1, 5, torch.nn.MSELoss())
    assert not model.training


# --- progress bar -----------------------------------------------------------------------------


def quick_fit(**kwargs):
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    return training.fit(
        model, optimizer, data.linear_regression(n=20), 3, 5, torch.nn.MSELoss(), **kwargs
    )


def test_no_progress_bar_under_pytest(capsys):
    quick_fit()
    assert capsys.readouterr().err == ""


def test_progress_bar_on_request(capsys):
    pytest.importorskip("tqdm")
    quick_fit(progress=True)
    assert "3/3" in capsys.readouterr().err


def test_progress_without_tqdm_runs_silently(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    history = quick_fit(progress=True)
    assert history.epoch.shape == (3,)
    assert capsys.readouterr().err == ""


class FakeStream:
    def __init__(self, tty):
        self.tty = tty

    def isatty(self):
        return self.tty


@pytest.mark.parametrize(
    ("env", "tty", "expected"),
    [
        ({}, True, True),
        ({}, False, False),
        ({"PYTEST_CURRENT_TEST": "t"}, True, False),
        ({"CI": "true"}, True, False),
    ],
)
def test_interactive_detection(monkeypatch, env, tty, expected):
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    monkeypatch.delenv("CI", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys, "stderr", FakeStream(tty))
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert training._interactive() is expected


def test_a_running_kernel_counts_as_interactive(monkeypatch):
    class Shell:
        kernel = object()

    class FakeIPython:
        @staticmethod
        def get_ipython():
            return Shell()

    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(sys, "stderr", FakeStream(False))
    monkeypatch.setitem(sys.modules, "IPython", FakeIPython)
    assert training._interactive() is True


# --- bad input --------------------------------------------------------------------------------

X_OK, Y_OK = data.linear_regression(n=10)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"epochs": 0}, ValueError, "epochs=0"),
        ({"epochs": 2.0}, TypeError, "epochs=2.0"),
        ({"epochs": True}, TypeError, "epochs=True"),
        ({"batch_size": -4}, ValueError, "batch_size=-4"),
        ({"batch_size": "8"}, TypeError, "batch_size='8'"),
        ({"data": (X_OK, Y_OK[:9])}, ValueError, r"X.shape=\(10, 2\), y.shape=\(9, 1\)"),
        ({"data": (X_OK,)}, TypeError, "pair of tensors"),
        ({"data": (X_OK.numpy(), Y_OK.numpy())}, TypeError, "ndarray"),
        ({"data": (X_OK[:0], Y_OK[:0])}, ValueError, "must hold at least one sample"),
        ({"loss": "mse"}, TypeError, "loss='mse'"),
        ({"metric": 3}, TypeError, "metric=3"),
        ({"validation": (X_OK, Y_OK[:3])}, ValueError, "validation"),
        ({"seed": 0.5}, TypeError, "seed=0.5"),
        ({"loss": torch.nn.MSELoss(reduction="none")}, ValueError, r"shape \(5, 1\)"),
    ],
)
def test_fit_rejects_bad_arguments(kwargs, error, match):
    model = torch.nn.Linear(2, 1)
    arguments = {
        "model": model,
        "optimizer": torch.optim.SGD(model.parameters(), lr=0.01),
        "data": (X_OK, Y_OK),
        "epochs": 1,
        "batch_size": 5,
        "loss": torch.nn.MSELoss(),
    }
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        training.fit(**arguments)


def test_optimizer_that_needs_a_closure_fails_clearly_without_one():
    model = linear_model((0.0, 0.0), 0.0)

    class Strict(TwoEvaluationSGD):
        requires_closure = False

    optimizer = Strict(model.parameters(), lr=0.1)
    with pytest.raises(RuntimeError, match="needs a closure"):
        training.fit(model, optimizer, (X_OK.double(), Y_OK.double()), 1, 5, torch.nn.MSELoss())


def test_half_mse_gradient_is_the_mean_residual_times_the_inputs():
    X, y = data.linear_regression(n=50, seed=3)
    model = training.linear_model(seed=1, dtype=torch.float64)
    loss = training.half_mse(model(X.double()), y.double())
    loss.backward()
    Xn, yn = X.double().numpy(), y.double().numpy()
    w, b = model.weight.detach().numpy().T, model.bias.item()
    residual = Xn @ w + b - yn
    np.testing.assert_allclose(loss.item(), 0.5 * np.mean(residual**2), rtol=1e-14)
    np.testing.assert_allclose(model.weight.grad.numpy().T, Xn.T @ residual / 50, rtol=1e-12)
    np.testing.assert_allclose(model.bias.grad.item(), residual.mean(), rtol=1e-12)


def test_linear_model_starts_at_seeded_normal_weights_and_zero_bias():
    torch.manual_seed(4)
    expected = torch.randn(1, 2)
    before = torch.get_rng_state()
    model = training.linear_model(seed=4)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(model.weight.detach(), expected)
    assert model.bias.item() == 0.0 and model.weight.dtype == torch.float32


def test_least_squares_floor_equals_numpy_lstsq():
    X, y = data.linear_regression(seed=0)
    design = np.column_stack([X.double().numpy(), np.ones(len(X))])
    target = y.double().numpy().ravel()
    solution = np.linalg.lstsq(design, target, rcond=None)[0]
    expected = 0.5 * np.mean((design @ solution - target) ** 2)
    assert training.least_squares_floor(X, y) == pytest.approx(expected, rel=1e-10)
    with pytest.raises(ValueError, match="same first dimension"):
        training.least_squares_floor(X, y[:-1])


def test_accuracy_counts_the_rows_whose_argmax_is_the_label():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 5.0], [4.0, 0.0, 1.0]])
    assert training.accuracy(logits, torch.tensor([0, 1, 1, 2])).item() == 0.5


def test_optimizer_path_of_gradient_descent_is_the_closed_form():
    from adalearn import functions

    sphere = functions.get("sphere")  # 0.2 x1^2 + 2 x2^2
    lr, steps, x0 = 0.1, 20, np.array([-5.0, 2.0])
    points = training.optimizer_path(lambda p: torch.optim.SGD(p, lr=lr), sphere, x0, steps)
    k = np.arange(steps + 1)[:, None]
    expected = x0 * (1 - lr * np.array([0.4, 4.0])) ** k
    np.testing.assert_allclose(points, expected, rtol=1e-12, atol=1e-300)
    with pytest.raises(ValueError, match="steps"):
        training.optimizer_path(lambda p: torch.optim.SGD(p, lr=lr), sphere, x0, 0)


def test_fit_evaluates_a_schedule_free_optimizer_at_its_evaluation_point():
    import schedulefree

    X, y = data.linear_regression(n=128, seed=1)
    model = training.linear_model(seed=2)
    reference = training.linear_model(seed=2)
    optimizer = schedulefree.AdamWScheduleFreeReference(model.parameters(), lr=0.05)
    by_hand = schedulefree.AdamWScheduleFreeReference(reference.parameters(), lr=0.05)
    history = training.fit(model, optimizer, (X, y), epochs=3, batch_size=32,
                           loss=training.half_mse, validation=(X, y), progress=False)
    expected = []
    for _ in range(3):
        by_hand.train()
        for start in range(0, 128, 32):
            by_hand.zero_grad()
            training.half_mse(reference(X[start : start + 32]), y[start : start + 32]).backward()
            by_hand.step()
        by_hand.eval()
        with torch.no_grad():
            expected.append(training.half_mse(reference(X), y).item())
    np.testing.assert_allclose(history.validation, expected, rtol=1e-6)
    assert torch.equal(model.weight, reference.weight)  # left at the evaluation point


def one_at_a_time(model, loss, X, y):
    """Per-sample gradients by a loop of ordinary backward passes, the reference."""
    rows = []
    for i in range(len(X)):
        model.zero_grad()
        loss(model(X[i : i + 1]), y[i : i + 1]).backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    model.zero_grad()
    return torch.stack(rows)


def test_per_example_gradients_equal_a_loop_of_backward_passes():
    from adalearn import models

    split = data.digits()
    X, y = split.X_train[:40].double(), split.y_train[:40]
    net = models.mlp([64, 16, 10], seed=3).double()
    expected = one_at_a_time(net, torch.nn.CrossEntropyLoss(), X, y)
    rows = training.per_example_gradients(net, torch.nn.CrossEntropyLoss(), X, y, chunk_size=7)
    assert rows.shape == (40, sum(p.numel() for p in net.parameters()))
    torch.testing.assert_close(rows, expected, rtol=1e-10, atol=1e-12)
    assert all(p.grad is None for p in net.parameters())


def test_per_example_gradients_of_the_transformer_are_those_of_one_window():
    from adalearn import models

    chars = data.python_source(context=8, modules=["textwrap"])
    net = models.CharTransformer(len(chars.alphabet), context=8, width=16, heads=2, seed=1)

    def next_character(logits, targets):
        return torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())

    X, y = chars.train[:6, :-1], chars.train[:6, 1:]
    expected = one_at_a_time(net, next_character, X, y)
    torch.testing.assert_close(training.per_example_gradients(net, next_character, X, y),
                               expected, rtol=1e-4, atol=1e-6)


def test_gradient_noise_of_a_linear_fit_is_its_closed_form():
    # For half the squared error of y ≈ a·x the gradient of sample i is a_i (a_i·x - y_i).
    X, y = data.linear_regression(n=300, seed=4)
    model = torch.nn.Linear(2, 1, dtype=torch.float64)
    rows = training.per_example_gradients(model, training.half_mse, X.double(), y.double())
    A = np.c_[X.double().numpy(), np.ones(300)]
    x = np.r_[model.weight.detach().numpy().ravel(), model.bias.item()]
    per_sample = A * (A @ x - y.double().numpy().ravel())[:, None]  # (w1, w2, b) order
    G = per_sample.mean(axis=0)
    noise = training.gradient_noise(rows)
    np.testing.assert_allclose(noise.squared_norm, G @ G, rtol=1e-12)
    np.testing.assert_allclose(noise.trace, np.trace(np.cov(per_sample.T, bias=True)), rtol=1e-12)
    np.testing.assert_allclose(noise.scale, noise.trace / (G @ G), rtol=1e-12)


def test_the_two_batch_estimates_are_unbiased():
    # A population of 50 gradients in 5 dimensions; batches drawn with replacement.
    rng = np.random.default_rng(0)
    population = rng.normal(size=(50, 5)) + np.array([0.5, 0.0, -0.3, 0.2, 0.0])
    G = population.mean(axis=0)
    trace = ((population - G) ** 2).sum(axis=1).mean()
    small, big, draws = 3, 20, 200_000

    def squared_norms(size):
        batches = population[rng.integers(50, size=(draws, size))].mean(axis=1)
        return (batches**2).sum(axis=1)

    estimate = training.gradient_noise_estimate(squared_norms(small), squared_norms(big),
                                                small, big)
    for values, exact in ((estimate.squared_norm, G @ G), (estimate.trace, trace)):
        standard_error = values.std() / np.sqrt(draws)
        assert abs(values.mean() - exact) < 4 * standard_error
        assert standard_error < 0.02 * exact  # the comparison has the power to see a bias
    # The plain squared norm of the small batch is biased by tr Σ / b; the estimate is not.
    assert squared_norms(small).mean() > G @ G + 0.8 * trace / small


def test_the_two_batch_estimate_of_one_measurement_is_a_pair_of_floats():
    estimate = training.gradient_noise_estimate(2.0, 1.25, 4, 16)
    # E|G_b|^2 = |G|^2 + tr/b at b = 4 and 16 with |G|^2 = 1 and tr = 4.
    assert estimate == (1.0, 4.0) and isinstance(estimate.squared_norm, float)
    assert estimate.scale == 4.0


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((1.0, 0.5, 8, 8), ValueError, "`small` must be less than `big`. Received: small=8"),
        ((1.0, 0.5, 0, 8), ValueError, "`small` must be at least 1"),
        ((1.0, 0.5, 2, 8.0), TypeError, "`big` must be an integer"),
    ],
)
def test_gradient_noise_estimate_rejects_bad_batch_sizes(args, error, match):
    with pytest.raises(error, match=match):
        training.gradient_noise_estimate(*args)


def test_gradient_noise_rejects_what_is_not_a_matrix_of_gradients():
    with pytest.raises(ValueError, match="one gradient per row"):
        training.gradient_noise(torch.zeros(5))
