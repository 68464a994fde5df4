"""plotting.lr_sweep: what it draws for a learning-rate sweep over several seeds."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from adalearn import plotting


def _axes():
    return Figure().add_subplot()


def test_lr_sweep_draws_median_band_and_markers():
    ax = _axes()
    lrs = np.array([1e-3, 1e-2, 1e-1, 1.0])
    results = np.array([[4.0, 5.0, 9.0], [1.0, 2.0, 3.0], [0.5, 0.7, 0.6], [np.inf, 1.0, 2.0]])
    drawn = plotting.lr_sweep(ax, lrs, results, label="Adam", marked=1, best=2)

    # The diverged learning rate (an infinite seed) is left out of the line.
    x, y = drawn["center"].get_data()
    np.testing.assert_array_equal(x, lrs[:3])
    np.testing.assert_array_equal(y, [5.0, 2.0, 0.6])
    assert drawn["center"].get_label() == "Adam"
    assert drawn["center"].get_color() == plotting.colors(["Adam"])["Adam"]

    # The band spans the worst and the best seed at each drawn learning rate.
    vertices = drawn["band"].get_paths()[0].vertices
    for lr, low, high in zip(lrs[:3], results[:3].min(axis=1), results[:3].max(axis=1),
                             strict=True):
        at = vertices[np.isclose(vertices[:, 0], lr), 1]
        assert np.isclose(at.min(), low) and np.isclose(at.max(), high)

    np.testing.assert_array_equal(np.ravel(drawn["marked"].get_data()), [1e-2, 2.0])
    np.testing.assert_array_equal(np.ravel(drawn["best"].get_data()), [1e-1, 0.6])
    assert drawn["marked"].get_marker() == "o" and drawn["best"].get_marker() == "*"
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "learning rate"


def test_lr_sweep_mean_linear_axis_and_no_markers():
    ax = _axes()
    drawn = plotting.lr_sweep(ax, [0.1, 1.0], [[90.0, 94.0], [80.0, 100.0]], label="SGD",
                              center="mean", log=False, color="#123456")
    np.testing.assert_array_equal(drawn["center"].get_ydata(), [92.0, 90.0])
    assert drawn["center"].get_color() == "#123456"
    assert drawn["marked"] is None and drawn["best"] is None
    assert ax.get_yscale() == "linear"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"results": [[1.0], [2.0], [3.0]]}, "`results` must have shape"),
        ({"center": "mode"}, "`center` must be 'median' or 'mean'"),
    ],
)
def test_lr_sweep_errors(kwargs, message):
    arguments = {"lrs": [0.1, 1.0], "results": [[1.0], [2.0]], "label": "SGD", **kwargs}
    with pytest.raises(ValueError, match=message):
        plotting.lr_sweep(_axes(), **arguments)
