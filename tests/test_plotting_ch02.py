"""plotting.against_bound: a measurement and its bound, drawn in one colour."""

import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from adalearn import plotting


def _axes():
    return Figure().add_subplot()


def test_draws_the_measurement_solid_and_the_bound_dashed_in_one_colour():
    ax = _axes()
    t = np.arange(1, 6)
    drawn = plotting.against_bound(ax, t, 1.0 / t**2, 1.0 / t, label="GD", color="#D55E00")
    measured, bound = drawn["measured"], drawn["bound"]
    np.testing.assert_array_equal(measured.get_xdata(), t)
    np.testing.assert_array_equal(measured.get_ydata(), 1.0 / t**2)
    np.testing.assert_array_equal(bound.get_ydata(), 1.0 / t)
    assert to_hex(measured.get_color()) == to_hex(bound.get_color()) == "#d55e00"
    assert measured.get_linestyle() == "-" and bound.get_linestyle() == "--"
    assert measured.get_label() == "GD" and bound.get_label() == "GD: bound"
    assert ax.get_yscale() == "log"
    assert list(ax.get_lines()) == [measured, bound]


def test_without_a_colour_the_pair_takes_the_next_colour_of_the_cycle():
    ax = _axes()
    first = plotting.against_bound(ax, [1, 2], [1, 2], [2, 3], label="a")
    second = plotting.against_bound(ax, [1, 2], [1, 2], [2, 3], label="b", bound_label="theory")
    assert first["measured"].get_color() == first["bound"].get_color()
    assert second["measured"].get_color() == second["bound"].get_color()
    assert first["measured"].get_color() != second["measured"].get_color()
    assert second["bound"].get_label() == "theory"


def test_values_a_log_axis_cannot_show_become_gaps():
    ax = _axes()
    drawn = plotting.against_bound(ax, [1, 2, 3, 4], [1.0, 0.0, -1.0, np.inf], [1, 1, 1, 1],
                                   label="m")
    y = drawn["measured"].get_ydata()
    assert y[0] == 1.0 and np.isnan(y[1:]).all()


def test_on_a_linear_axis_zeros_and_negative_values_stay():
    ax = _axes()
    drawn = plotting.against_bound(ax, [1, 2, 3], [0.0, -1.0, np.nan], [0, 0, 0], label="m",
                                   log=False, points=True)
    y = drawn["measured"].get_ydata()
    assert y[0] == 0.0 and y[1] == -1.0 and np.isnan(y[2])
    assert drawn["measured"].get_linestyle() == "None" and drawn["measured"].get_marker() == "o"
    assert ax.get_yscale() == "linear"


def test_a_curve_of_another_length_is_refused_in_the_package_style():
    with pytest.raises(ValueError, match=r"`bound` must have the shape of `x`\. Received"):
        plotting.against_bound(_axes(), [1, 2, 3], [1, 2, 3], [1, 2], label="m")
