"""Tests for adalearn.data: seeded, reproducible datasets that leave torch's global RNG alone."""

import math
import sys

import numpy as np
import pytest
import torch

from adalearn import data


@pytest.fixture
def global_rng_untouched():
    """Fail the test when it changed torch's global random state."""
    before = torch.get_rng_state()
    yield
    assert torch.equal(torch.get_rng_state(), before), "torch's global RNG state changed"


# --- linear_regression ------------------------------------------------------------------------


def test_linear_regression_reproduces_the_published_first_sample():
    # The fitting lab printed these after seeding torch with 0.
    X, y = data.linear_regression(seed=0)
    assert X[0].tolist() == pytest.approx([-1.1258398, -1.1523602], abs=1e-7)
    assert y[0].tolist() == pytest.approx([-1.4770346], abs=1e-7)


def test_linear_regression_shapes_and_dtype():
    samples = data.linear_regression(n=7)
    assert isinstance(samples, data.Samples)
    assert samples.X.shape == (7, 2) and samples.y.shape == (7, 1)
    assert samples.X.dtype == samples.y.dtype == torch.float32


def test_linear_regression_draws_like_a_manually_seeded_torch():
    X, y = data.linear_regression(n=50, w=(-2.0, 3.0), noise=0.5, seed=11)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        X_ref = torch.randn(50, 2)
        u_ref = torch.rand(50)
    assert torch.equal(X, X_ref)
    expected = X_ref.double() @ torch.tensor([-2.0, 3.0], dtype=torch.float64) + 0.5 * u_ref
    torch.testing.assert_close(y[:, 0].double(), expected, rtol=0, atol=1e-5)


def test_linear_regression_noise_is_uniform_in_zero_to_scale():
    X, y = data.linear_regression(n=2000, w=(0.5, 0.8), noise=0.01)
    residual = y[:, 0].double() - (0.5 * X[:, 0].double() + 0.8 * X[:, 1].double())
    assert residual.min() > -1e-6 and residual.max() < 0.01 + 1e-6
    # A uniform [0, 0.01) sample of 2000 has mean 0.005 within a few 1e-4.
    assert abs(residual.mean().item() - 0.005) < 5e-4


def test_linear_regression_without_noise_is_exactly_the_plane():
    X, y = data.linear_regression(n=100, w=(0.25, -4.0), noise=0)
    np.testing.assert_allclose(
        y[:, 0].numpy(), 0.25 * X[:, 0].numpy() - 4.0 * X[:, 1].numpy(), rtol=0, atol=1e-6
    )


def test_linear_regression_accepts_weights_as_tensor_or_array():
    from_tensor = data.linear_regression(n=5, w=torch.tensor([1.0, 2.0]))
    from_array = data.linear_regression(n=5, w=np.array([1.0, 2.0]))
    assert torch.equal(from_tensor.y, from_array.y)


def test_linear_regression_is_reproducible_and_seed_dependent(global_rng_untouched):
    a = data.linear_regression(n=20, seed=3)
    b = data.linear_regression(n=20, seed=3)
    c = data.linear_regression(n=20, seed=4)
    assert torch.equal(a.X, b.X) and torch.equal(a.y, b.y)
    assert not torch.equal(a.X, c.X)


def test_linear_regression_ignores_the_global_seed():
    torch.manual_seed(123)
    a = data.linear_regression(n=20)
    torch.manual_seed(456)
    b = data.linear_regression(n=20)
    assert torch.equal(a.X, b.X)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": 0}, ValueError, "n=0"),
        ({"n": -5}, ValueError, "n=-5"),
        ({"n": 2.5}, TypeError, "n=2.5"),
        ({"n": True}, TypeError, "n=True"),
        ({"noise": -0.1}, ValueError, "noise=-0.1"),
        ({"noise": float("nan")}, ValueError, "noise=nan"),
        ({"noise": "0.1"}, TypeError, "noise='0.1'"),
        ({"w": (1.0,)}, ValueError, r"w=\(1.0,\)"),
        ({"w": (1.0, 2.0, 3.0)}, ValueError, "length 2"),
        ({"w": 0.5}, TypeError, "w=0.5"),
        ({"w": ("a", "b")}, TypeError, "w="),
        ({"w": (1.0, float("inf"))}, ValueError, "finite"),
        ({"seed": -1}, ValueError, "seed=-1"),
        ({"seed": 1.0}, TypeError, "seed=1.0"),
    ],
)
def test_linear_regression_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        data.linear_regression(**kwargs)


# --- two_layer_net ----------------------------------------------------------------------------


def test_two_layer_net_is_reproducible(global_rng_untouched):
    a = data.two_layer_net(seed=5)
    b = data.two_layer_net(seed=5)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    pa, pb = list(a.model.parameters()), list(b.model.parameters())
    assert len(pa) == len(pb) == 4
    assert all(torch.equal(p, q) for p, q in zip(pa, pb, strict=True))


def test_two_layer_net_depends_on_the_seed():
    a = data.two_layer_net(seed=0)
    b = data.two_layer_net(seed=1)
    assert not torch.equal(a.x, b.x)
    assert not torch.equal(a.model[0].weight, b.model[0].weight)


def test_two_layer_net_equals_the_manually_seeded_script():
    net = data.two_layer_net(N=8, D_in=30, H=6, D_out=3, seed=2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2)
        x = torch.randn(8, 30)
        y = torch.randn(8, 3)
        model = torch.nn.Sequential(torch.nn.Linear(30, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    assert torch.equal(net.x, x) and torch.equal(net.y, y)
    for p, q in zip(net.model.parameters(), model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_two_layer_net_structure_shapes_and_loss():
    net = data.two_layer_net(N=4, D_in=10, H=5, D_out=2, dtype=torch.float64)
    assert net.x.shape == (4, 10) and net.y.shape == (4, 2)
    assert net.x.dtype == net.y.dtype == torch.float64
    assert [type(m) for m in net.model] == [torch.nn.Linear, torch.nn.ReLU, torch.nn.Linear]
    assert net.model[0].weight.shape == (5, 10) and net.model[2].weight.shape == (2, 5)
    assert all(p.dtype == torch.float64 for p in net.model.parameters())
    prediction = net.model(net.x)
    assert prediction.shape == (4, 2)
    summed = ((prediction - net.y) ** 2).sum()
    torch.testing.assert_close(net.loss_fn(prediction, net.y), summed)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"N": 0}, ValueError, "N=0"),
        ({"D_in": 1.5}, TypeError, "D_in=1.5"),
        ({"H": -1}, ValueError, "H=-1"),
        ({"D_out": "10"}, TypeError, "D_out='10'"),
        ({"seed": -3}, ValueError, "seed=-3"),
        ({"dtype": torch.int64}, TypeError, "dtype=torch.int64"),
        ({"dtype": "float32"}, TypeError, "dtype='float32'"),
    ],
)
def test_two_layer_net_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        data.two_layer_net(**kwargs)


# --- digits -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference_digits():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    images, labels = sklearn_datasets.load_digits(return_X_y=True)
    return images, labels


def test_digits_shapes_dtypes_and_range(reference_digits):
    images, _ = reference_digits
    split = data.digits()
    assert isinstance(split, data.Split)
    X_train, y_train, X_val, y_val = split
    n = len(images)
    assert X_val.shape == (math.ceil(0.25 * n), 64)
    assert X_train.shape == (n - X_val.shape[0], 64)
    assert y_train.shape == (X_train.shape[0],) and y_val.shape == (X_val.shape[0],)
    assert X_train.dtype == X_val.dtype == torch.float32
    assert y_train.dtype == y_val.dtype == torch.int64
    both = torch.cat([X_train, X_val])
    assert both.min() == 0.0 and both.max() == 1.0


def test_digits_split_is_a_partition_of_the_dataset(reference_digits):
    images, labels = reference_digits
    X_train, y_train, X_val, y_val = data.digits(test_size=0.3, seed=1)
    # Rows with their label appended, sorted: equal multisets mean every sample went to exactly
    # one side, even if some images occur twice in the dataset.
    ours = np.concatenate(
        [
            np.column_stack([X_train.numpy() * 16, y_train.numpy()]),
            np.column_stack([X_val.numpy() * 16, y_val.numpy()]),
        ]
    )
    theirs = np.column_stack([images, labels])
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(_sorted_rows(ours), _sorted_rows(theirs))


def _sorted_rows(a):
    return a[np.lexsort(a.T[::-1])]


def test_digits_split_is_stratified(reference_digits):
    _, labels = reference_digits
    _, y_train, _, y_val = data.digits(test_size=0.25)
    total = np.bincount(labels, minlength=10)
    val = np.bincount(y_val.numpy(), minlength=10)
    train = np.bincount(y_train.numpy(), minlength=10)
    np.testing.assert_array_equal(train + val, total)
    assert np.all(np.abs(val - 0.25 * total) <= 1)


def test_digits_is_reproducible_and_seed_dependent():
    a = data.digits(seed=0)
    b = data.digits(seed=0)
    c = data.digits(seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    assert not torch.equal(a.y_val, c.y_val)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"test_size": 0}, ValueError, "test_size=0"),
        ({"test_size": 1.0}, ValueError, "test_size=1.0"),
        ({"test_size": -0.2}, ValueError, "test_size=-0.2"),
        ({"test_size": "0.2"}, TypeError, "test_size='0.2'"),
        ({"seed": -1}, ValueError, "seed=-1"),
    ],
)
def test_digits_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        data.digits(**kwargs)


def test_digits_without_scikit_learn_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        data.digits()
