"""The Player maps iterates to the right pixels, stays self-contained, and writes GIFs."""

import inspect
import json
import re

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from adalearn import animation, functions, plotting, rules, trajectory
from adalearn.animation import gif


@pytest.fixture(scope="module")
def sphere_runs():
    fn = functions.get("sphere")
    return fn, {
        "SGD": trajectory.run(rules.SGD(lr=0.1), fn, (3.0, 4.0), 12),
        # Diverges along x2 (|1 - 2·0.7·2| > 1) after a few steps.
        "GD, lr 0.7": trajectory.run(rules.SGD(lr=0.7), fn, (3.0, 4.0), 20),
        "Adam": trajectory.run(rules.Adam(lr=0.3), fn, (-4.0, 2.0), 8),
    }


@pytest.fixture(scope="module")
def player_2d(sphere_runs):
    fn, runs = sphere_runs
    return animation.compare(fn, runs, dpi=60, density=1)


def test_2d_pixels_are_the_linear_map_of_the_window_onto_the_axes_box(sphere_runs, player_2d):
    fn, runs = sphere_runs
    (x1_lo, x1_hi), (x2_lo, x2_hi) = fn.bounds
    left, top, width, height = player_2d.clip
    for run, traj in zip(player_2d.runs, runs.values(), strict=True):
        xs = traj.xs[: int(traj.stopped) + 1]
        expected = np.column_stack([
            left + (xs[:, 0] - x1_lo) / (x1_hi - x1_lo) * width,
            top + (x2_hi - xs[:, 1]) / (x2_hi - x2_lo) * height,
        ])
        np.testing.assert_allclose(run["pixels"], expected, atol=1e-6)
        np.testing.assert_array_equal(run["values"], traj.values[: int(traj.stopped) + 1])


def test_runs_of_different_lengths_and_a_diverged_run(sphere_runs, player_2d):
    _, runs = sphere_runs
    assert player_2d.steps == max(int(t.stopped) for t in runs.values())
    stops = {run["label"]: (run["stopped"], run["diverged"]) for run in player_2d.runs}
    assert stops["SGD"] == (12, False) and stops["Adam"] == (8, False)
    k, diverged = stops["GD, lr 0.7"]
    assert diverged and k == int(runs["GD, lr 0.7"].stopped) < 20
    # Its cross is on the window's lower edge x2 = -5 (first step: x2 from 4 to -7.2).
    (cross,) = [run["exit"] for run in player_2d.runs if run["diverged"]]
    left, top, width, height = player_2d.clip
    assert cross[1] == pytest.approx(top + height)


def test_html_is_self_contained_with_fresh_ids_and_the_paths_data(player_2d):
    first, second = player_2d.to_html(), player_2d._repr_html_()
    for page in (first, second):
        assert "<script src" not in page and "http://" not in page.replace(
            'xmlns="http://www.w3.org/2000/svg"', "")
        assert "https://" not in page
        assert 'src="data:image/' in page
    ids = re.findall(r'id="(adl-[0-9a-f]+)"', first)
    assert ids and set(ids).isdisjoint(re.findall(r'id="(adl-[0-9a-f]+)"', second))
    data = json.loads(re.search(r'class="adl-data">(.*?)</script>', first).group(1))
    assert data["steps"] == player_2d.steps
    for run, drawn in zip(data["runs"], player_2d.runs, strict=True):
        # Stored as differences from the previous point, in tenths of a pixel.
        stored = np.cumsum(np.array(run["p"], dtype=float).reshape(-1, 2), axis=0)
        np.testing.assert_array_equal(stored, np.round(drawn["pixels"] * 10))
        assert run["stop"] == drawn["stopped"]
    page = player_2d.to_html(full_page=True)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_3d_pixels_match_matplotlibs_own_projection_of_the_path():
    fn = functions.get("cubic")
    traj = trajectory.run(rules.Adam(lr=0.1, betas=(0.9, 0.99)), fn, fn.start, 30)
    player = animation.compare(fn, {"Adam": traj}, view="3d", dpi=50, density=1, elev=25,
                               azim=-50)
    # The reference: the same axes drawn by matplotlib with the path as a Line3D.
    fig = Figure(figsize=(6.4, 5.0), dpi=50)
    canvas = FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.0, right=0.94, bottom=0.02, top=0.98)
    ax = fig.add_subplot(projection="3d")
    plotting.surface(ax, fn, elev=25, azim=-50)
    (line,) = ax.plot(traj.xs[:, 0], traj.xs[:, 1], traj.values)
    canvas.draw()
    display = ax.transData.transform(line.get_xydata())
    left, top, full_height = player._offset
    expected = np.column_stack([display[:, 0] - left, full_height - display[:, 1] - top])
    np.testing.assert_allclose(player.runs[0]["pixels"], expected, atol=1e-6)


def test_3d_points_off_the_surface_window_are_left_out():
    fn = functions.get("sphere")
    traj = trajectory.run(rules.SGD(lr=0.7), fn, (3.0, 4.0), 10)
    player = animation.compare(fn, {"GD": traj}, view="3d", dpi=40, density=1)
    pixels = player.runs[0]["pixels"]
    xs = traj.xs[: int(traj.stopped) + 1]
    inside = np.all(np.abs(xs) <= 5, axis=1)
    assert np.all(np.isfinite(pixels[inside])) and np.all(np.isnan(pixels[~inside]))


def test_save_gif_writes_one_frame_per_shown_step(player_2d, tmp_path):
    path = tmp_path / "paths.gif"
    assert player_2d.frame_steps(every=5) == [0, 5, 10, 12]
    written = player_2d.save_gif(path, every=5, fps=10)
    with Image.open(path) as gif:
        assert gif.n_frames == written == 4
        assert gif.size[0] == round(player_2d.width)


def test_gif_frames_show_the_paths_growing(player_2d):
    frames = gif.Frames(player_2d)
    first, last = np.asarray(frames.frame(0)), np.asarray(frames.frame(player_2d.steps))
    sgd = np.array([0, 0, 0])
    # SGD is drawn in black: its pixels are many more once its whole path is drawn.
    assert np.sum(np.all(last == sgd, axis=-1)) > np.sum(np.all(first == sgd, axis=-1)) + 20


def test_player_input_checks(sphere_runs):
    fn, runs = sphere_runs
    with pytest.raises(TypeError, match="non-empty dict"):
        animation.compare(fn, [])
    with pytest.raises(ValueError, match="view"):
        animation.compare(fn, runs, view="side")
    with pytest.raises(ValueError, match="fps"):
        animation.compare(fn, runs, fps=0)
    with pytest.raises(ValueError, match="image_format"):
        animation.compare(fn, runs, image_format="webp")
    with pytest.raises(ValueError, match="every"):
        animation.compare(fn, runs, dpi=30).frame_steps(every=0)


def test_every_figure_takes_the_function_first():
    # The order of plotting.compare, the still figure, for the three moving ones and their
    # classes alike.
    firsts = {figure.__name__: list(inspect.signature(figure).parameters)[:2]
              for figure in (plotting.compare, animation.compare, animation.Player,
                             animation.explore, animation.Explorer, animation.basins,
                             animation.Basins)}
    assert firsts == {"compare": ["fn", "trajectories"], "Player": ["fn", "trajectories"],
                      "explore": ["fn", "rules"], "Explorer": ["fn", "rules"],
                      "basins": ["fn", "rule"], "Basins": ["fn", "rule"]}


def test_a_start_point_has_one_name_in_the_whole_api():
    # "start" where one point is meant, "starts" where a batch of them may be.
    from adalearn import knobs, training, widgets

    names = {}
    for module in (trajectory, plotting, animation, knobs, widgets, training, functions):
        for name in getattr(module, "__all__", dir(module)):
            member = getattr(module, name)
            if callable(member) and not name.startswith("_"):
                try:
                    parameters = inspect.signature(member).parameters
                except (TypeError, ValueError):
                    continue
                for parameter in parameters:
                    if parameter in ("x0", "start", "starts", "start_point", "initial"):
                        names[f"{module.__name__}.{name}"] = parameter
    assert {names["adalearn.trajectory.run"], names["adalearn.animation.Explorer"]} == {"starts"}
    assert names["adalearn.widgets.playground"] == names["adalearn.training.optimizer_path"] == (
        "start")
    assert set(names.values()) == {"start", "starts"}, names


def test_a_function_may_be_given_by_name(sphere_runs, player_2d):
    fn, runs = sphere_runs
    by_name = animation.compare("Sphere", runs, dpi=60, density=1)
    assert type(by_name.fn) is type(fn) and by_name.fn.bounds == fn.bounds
    for run, named in zip(player_2d.runs, by_name.runs, strict=True):
        np.testing.assert_array_equal(run["pixels"], named["pixels"])
    explorer = animation.explore(["sphere", functions.get("cubic")], {"GD": rules.SGD(lr=0.1)},
                                 steps=5, dpi=30, density=1)
    assert [f.name for f in explorer.functions] == ["sphere", "cubic"]
    assert animation.basins("himmelblau", rules.SGD(lr=0.01), lr=[0.01], resolution=4,
                            steps=5, dpi=30, density=1).fn.name == "himmelblau"
    with pytest.raises(ValueError, match=r"^`fn` must be a test function or one of the names "
                       r"sphere, cubic, .* Received: fn='spere'$"):
        animation.compare("spere", runs)
    with pytest.raises(TypeError, match=r"^`fn` must be a test function .* Received: fn=3$"):
        animation.Player(3, runs)
    # The old order, trajectories first, names the argument that is wrong.
    with pytest.raises(TypeError, match=r"^`fn` must be a test function .* Received: fn=\{"):
        animation.Player(runs, fn)
