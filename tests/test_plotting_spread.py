"""plotting.spread draws the mean of runs and a band of one standard deviation around it."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from adalearn import plotting  # noqa: E402


def band_limits(band):
    vertices = band.get_paths()[0].vertices
    return vertices[:, 1].min(), vertices[:, 1].max()


def test_spread_draws_the_mean_and_one_standard_deviation():
    runs = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, 9.0]])
    ax = Figure().subplots()
    drawn = plotting.spread(ax, runs, label="Adam")
    np.testing.assert_allclose(drawn["mean"].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(drawn["mean"].get_ydata(), [2.0, 3.0, 6.0])
    low, high = band_limits(drawn["band"])
    std_last = np.std([3.0, 9.0], ddof=1)
    assert low == pytest.approx(2.0 - np.sqrt(2.0))
    assert high == pytest.approx(6.0 + std_last)
    assert ax.get_legend_handles_labels()[1] == ["Adam"]


def test_spread_smooths_with_a_trailing_window():
    runs = np.array([[0.0, 2.0, 4.0, 6.0]])
    ax = Figure().subplots()
    drawn = plotting.spread(ax, runs, label="one", smooth=2, x=[10, 20, 30, 40])
    np.testing.assert_allclose(drawn["mean"].get_ydata(), [0.0, 1.0, 3.0, 5.0])
    np.testing.assert_allclose(drawn["mean"].get_xdata(), [10, 20, 30, 40])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"runs": np.ones(3)}, "shape"),
        ({"runs": np.ones((2, 3)), "smooth": 0}, "smooth"),
        ({"runs": np.ones((2, 3)), "x": [1, 2]}, "one value per point"),
    ],
)
def test_spread_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plotting.spread(Figure().subplots(), label="x", **kwargs)
