"""The plot helpers draw exactly the trajectories' data, mark divergence, return their artists."""

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from adalearn import functions, plotting, rules, trajectory
from adalearn.trajectory import Trajectory


def axes(view="2d"):
    fig = Figure(figsize=(4, 3))
    FigureCanvasAgg(fig)
    return fig.add_subplot(projection="3d" if view == "3d" else None)


def sphere_gd(lr, steps):
    """Gradient descent on 0.2·x1² + 2·x2² from (3, 4): x_k = (1 − 2·lr·w)^k · x0 exactly."""
    fn = functions.get("sphere")
    return fn, trajectory.run(rules.SGD(lr=lr), fn, (3.0, 4.0), steps)


def closed_form(lr, steps):
    k = np.arange(steps + 1)[:, None]
    return np.array([3.0, 4.0]) * (1 - 2 * lr * np.array([0.2, 2.0])) ** k


def hand_trajectory(xs, stopped, fn):
    """A Trajectory built from hand-written iterates (NaN after ``stopped``)."""
    xs = np.array(xs, dtype=float)
    xs[stopped + 1 :] = np.nan
    values = np.where(np.isnan(xs[:, 0]), np.nan, 0.2 * xs[:, 0] ** 2 + 2 * xs[:, 1] ** 2)
    steps = len(xs) - 1
    return Trajectory(xs=xs, values=values, stopped=np.array(stopped),
                      diverged=np.array(stopped < steps), rule=rules.SGD(lr=0.1), fn=fn,
                      steps=steps, grad_evals=steps)


# --- colours ---------------------------------------------------------------------------------


def test_book_colours_are_fixed_okabe_ito_per_optimizer():
    palette = plotting.colors(["SGD", "Momentum", "Adagrad", "RMSprop", "Adam", "Nesterov"])
    assert palette == {
        "SGD": "#000000", "Momentum": "#E69F00", "Adagrad": "#56B4E9",
        "RMSprop": "#009E73", "Adam": "#D55E00", "Nesterov": "#CC79A7",
    }
    # The same optimizer keeps its colour in any company and any order, and by first word.
    assert plotting.colors(["Adam (lr=0.1)", "GD"]) == {"Adam (lr=0.1)": "#D55E00",
                                                        "GD": "#000000"}


def test_colours_are_distinct_within_a_figure_and_deterministic_for_unknown_names():
    names = ["Adam", "Adam lr=0.01", "Lion", "Sophia", "Adam lr=1"]
    first = plotting.colors(names)
    assert first == plotting.colors(names)
    assert len(set(first.values())) == len(names)
    assert first["Adam"] == "#D55E00"
    assert first["Lion"] not in plotting.colors(["SGD", "Momentum", "Adam"]).values()
    with pytest.raises(TypeError, match="strings"):
        plotting.colors([3])


# --- path ------------------------------------------------------------------------------------


def test_path_draws_exactly_the_iterates_with_start_and_end_markers():
    fn, traj = sphere_gd(lr=0.1, steps=30)
    np.testing.assert_allclose(traj.xs, closed_form(0.1, 30), rtol=1e-12)
    ax = axes()
    drawn = plotting.path(ax, traj)
    (line,) = drawn["lines"]
    np.testing.assert_allclose(line.get_xydata(), closed_form(0.1, 30), rtol=1e-12)
    assert line.get_label() == "SGD"
    assert line.get_color() == "#000000"
    np.testing.assert_array_equal(drawn["start"].get_xydata(), [[3.0, 4.0]])
    np.testing.assert_allclose(drawn["end"].get_xydata(), closed_form(0.1, 30)[-1:])
    assert drawn["diverged"] is None


def test_a_diverged_run_is_cut_at_its_last_iterate_and_crossed_where_it_leaves():
    # GD on the sphere diverges along x2 once |1 - 2·lr·w2| > 1, that is lr > 1/w2 = 0.5.
    fn, traj = sphere_gd(lr=0.7, steps=40)
    k = int(traj.stopped)
    assert traj.diverged and k < 40
    ax = axes()
    drawn = plotting.path(ax, traj, label="GD")
    (line,) = drawn["lines"]
    np.testing.assert_allclose(line.get_xydata(), closed_form(0.7, 40)[: k + 1], rtol=1e-12)
    assert "diverged at step" in line.get_label() and str(k + 1) in line.get_label()
    assert drawn["end"] is None
    # x2 is multiplied by 1 - 2·0.7·2 = -1.8 each step: 4, -7.2, 12.96, ... The run leaves the
    # window [-5, 5]^2 on its first step, from x_0 = (3, 4) to x_1 = (3·0.72, -7.2), and never
    # comes back: the cross is where that step crosses x2 = -5, at the fraction 9 / 11.2 of it.
    x0, x1 = np.array([3.0, 4.0]), np.array([3 * 0.72, 4 * -1.8])
    t = 9 / 11.2
    np.testing.assert_allclose(drawn["diverged"].get_xydata(), [x0 + t * (x1 - x0)])
    assert drawn["diverged"].get_marker() == "X"


def test_window_exit_by_hand():
    bounds = ((-5.0, 5.0), (-5.0, 5.0))
    np.testing.assert_allclose(plotting.window_exit([[0, 0], [0, 10]], bounds), [0, 5])
    np.testing.assert_allclose(plotting.window_exit([[1, 1], [2, 2]], bounds), [2, 2])
    # Leaves through the corner side that comes first: x1 = 5 at t = 0.5 before x2 = 5 at 0.8.
    np.testing.assert_allclose(plotting.window_exit([[0, 0], [10, 6.25]], bounds), [5, 3.125])
    # Leaves, comes back, leaves for good: the last crossing counts.
    xs = [[0, 0], [0, 8], [0, 1], [-20, 1]]
    np.testing.assert_allclose(plotting.window_exit(xs, bounds), [-5, 1])


def test_hand_made_diverged_trajectory_and_batches():
    fn = functions.get("sphere")
    traj = hand_trajectory([[0, 0], [0, 2], [0, 10], [0, 50]], stopped=2, fn=fn)
    drawn = plotting.path(axes(), traj, label="x")
    np.testing.assert_array_equal(drawn["lines"][0].get_xydata(), [[0, 0], [0, 2], [0, 10]])
    np.testing.assert_allclose(drawn["diverged"].get_xydata(), [[0, 5]])

    batch = trajectory.run(rules.SGD(lr=np.array([[0.1], [0.7]])), fn, (3.0, 4.0), 20)
    drawn = plotting.path(axes(), batch, label="GD")
    assert len(drawn["lines"]) == 2
    np.testing.assert_allclose(drawn["lines"][0].get_xydata(), closed_form(0.1, 20))
    k = int(batch.stopped[1])
    np.testing.assert_allclose(drawn["lines"][1].get_xydata(), closed_form(0.7, 20)[: k + 1])
    assert drawn["end"].get_xydata().shape == (1, 2)
    assert drawn["diverged"].get_xydata().shape == (1, 2)


def test_path_in_3d_lies_on_the_surface():
    fn, traj = sphere_gd(lr=0.1, steps=15)
    ax = axes("3d")
    plotting.surface(ax, fn, resolution=10)
    drawn = plotting.path(ax, traj)
    xs, ys, zs = drawn["lines"][0].get_data_3d()
    expected = closed_form(0.1, 15)
    np.testing.assert_allclose(np.column_stack([xs, ys]), expected, rtol=1e-12)
    np.testing.assert_allclose(zs, 0.2 * expected[:, 0] ** 2 + 2 * expected[:, 1] ** 2)
    ax.figure.canvas.draw()


def test_path_rejects_what_is_not_a_trajectory():
    with pytest.raises(TypeError, match="Trajectory"):
        plotting.path(axes(), np.zeros((3, 2)))


# --- landscapes ------------------------------------------------------------------------------


def test_contour_levels_are_geometric_around_the_minimum_and_minima_starred():
    fn = functions.get("rosenbrock")
    drawn = plotting.contour(axes(), fn, levels=12, resolution=50)
    levels = drawn["fill"].levels
    gaps = levels - fn.minima[0].value
    ratios = gaps[1:] / gaps[:-1]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)
    assert ratios[0] > 1.5
    np.testing.assert_array_equal(drawn["minima"].get_xydata(), [fn.minima[0].x])


def test_contour_levels_go_below_the_minimum_of_an_unbounded_function():
    fn = functions.get("cubic")
    drawn = plotting.contour(axes(), fn, resolution=60)
    levels = drawn["fill"].levels
    assert np.all(np.diff(levels) > 0)
    x = np.linspace(-3, 3, 60)
    grid = np.stack(np.meshgrid(x, x), axis=-1)
    values = grid[..., 0] ** 2 + grid[..., 1] ** 2 + grid[..., 1] ** 3 + grid[..., 0] * grid[..., 1]
    np.testing.assert_allclose([levels[0], levels[-1]], [values.min(), values.max()])
    assert np.sum(levels < 0) >= 2 and np.sum(levels > 0) >= 2


def test_contour_input_checks():
    fn = functions.get("sphere")
    with pytest.raises(ValueError, match="spacing"):
        plotting.contour(axes(), fn, spacing="cubic")
    with pytest.raises(ValueError, match="levels"):
        plotting.contour(axes(), fn, levels=[3, 2, 1])
    with pytest.raises(ValueError, match="resolution"):
        plotting.contour(axes(), fn, resolution=1)
    with pytest.raises(TypeError, match="3-D"):
        plotting.surface(axes(), fn)


# --- losses ----------------------------------------------------------------------------------


class _History:
    iteration = [4.0, 3.0, 2.5, 2.0, 1.0, 0.5]
    epoch = [3.0, 1.0]


def test_losses_draws_both_curves_on_one_iteration_axis():
    ax = axes()
    drawn = plotting.losses(ax, _History(), log=True, label="Adam")
    np.testing.assert_array_equal(drawn["iteration"].get_xydata(),
                                  [[1, 4.0], [2, 3.0], [3, 2.5], [4, 2.0], [5, 1.0], [6, 0.5]])
    # Three iterations per epoch: epochs end at iterations 3 and 6.
    np.testing.assert_array_equal(drawn["epoch"].get_xydata(), [[3, 3.0], [6, 1.0]])
    assert ax.get_yscale() == "log"
    assert drawn["epoch"].get_label().startswith("Adam")
    same = plotting.losses(axes(), {"iteration": _History.iteration, "epoch": _History.epoch})
    np.testing.assert_array_equal(same["epoch"].get_xydata(), [[3, 3.0], [6, 1.0]])


def test_losses_input_checks():
    with pytest.raises(TypeError, match="iteration"):
        plotting.losses(axes(), [1, 2, 3])
    with pytest.raises(ValueError, match="'iteration' and 'epoch'"):
        plotting.losses(axes(), {"loss": [1]})


# --- compare ---------------------------------------------------------------------------------


@pytest.mark.parametrize("view", ["2d", "3d"])
def test_compare_labels_every_optimizer_in_its_colour(view):
    fn = functions.get("cubic")
    runs = {
        "SGD": trajectory.run(rules.SGD(lr=0.01), fn, fn.start, 40),
        "Momentum": trajectory.run(rules.SGD(lr=0.01, momentum=0.9), fn, fn.start, 40),
        "Adam": trajectory.run(rules.Adam(lr=0.1, betas=(0.9, 0.99)), fn, fn.start, 40),
    }
    fig = plotting.compare(fn, runs, view=view)
    ax = fig.axes[0]
    paths = {line.get_label().split(" (")[0]: line for line in ax.lines
             if not line.get_label().startswith("_") and line.get_label() != "minimum"}
    assert set(paths) == set(runs)
    for name, line in paths.items():
        assert line.get_color() == plotting.colors([name])[name]
        k = int(runs[name].stopped)
        data = line.get_data_3d() if view == "3d" else line.get_data()
        np.testing.assert_allclose(np.column_stack(data[:2]), runs[name].xs[: k + 1])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(text.startswith("Momentum (diverged at step") for text in legend)
    assert fig._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_input_checks():
    fn = functions.get("sphere")
    with pytest.raises(TypeError, match="non-empty dict"):
        plotting.compare(fn, {})
    with pytest.raises(ValueError, match="view"):
        plotting.compare(fn, {"a": sphere_gd(0.1, 3)[1]}, view="4d")
    with pytest.raises(ValueError, match="3-D"):
        plotting.compare(fn, {"a": sphere_gd(0.1, 3)[1]}, view="3d", ax=axes())
