"""Figures that move in any browser, kernel or not: players, explorers and basin maps.

Three kinds of figure, each a self-contained piece of HTML (its image, styles, data and a small
script; nothing loaded from anywhere) that plays in the static book, JupyterLab, Colab, VS Code
or a saved ``.html`` file:

- :func:`compare` returns a :class:`Player`: finished trajectories moving together over a
  landscape, with play/pause and a step slider.
- :func:`explore` returns an :class:`Explorer`: the rules run over a whole grid of
  hyperparameters (a log-spaced learning rate per rule, momentum or β₁, β₂, α or ρ, a few
  start points and functions) at build time, in one batched :func:`adalearn.trajectory.run`
  per rule and function; the page stores every run, quantised to the picture's pixels, and
  its sliders show the run of the chosen values at once. Python stays the one implementation
  of the math; the browser only looks runs up.
- :func:`basins` returns a :class:`Basins` map: thousands of starts coloured by the minimum
  each reaches, or by divergence, with a learning-rate slider.

Each takes the test function first, as :func:`adalearn.plotting.compare` does, and accepts it by
name (``"cubic"``) as well. The landscape (contours, or the surface seen from a fixed camera) is
drawn once by matplotlib into one small image; the paths are a vector overlay whose points were
mapped to the image's pixels in Python, so the browser only draws lines::

    from adalearn import animation, functions, rules, trajectory

    fn = functions.get("cubic")
    runs = {name: trajectory.run(rule, fn, fn.start, steps=150) for name, rule in {
        "SGD": rules.SGD(lr=0.01), "Adam": rules.Adam(lr=0.1, betas=(0.9, 0.99))}.items()}
    animation.compare(fn, runs, view="3d")        # last line of a cell: the player shows
    animation.explore("cubic", {"Adam": rules.Adam(lr=0.1, betas=(0.9, 0.99))})

Every figure draws a run the way :data:`adalearn.plotting.RUN_STYLE` describes, and says what
:func:`adalearn.plotting.run_status` says about it. It works for readers who do not see it:
its accessible name says what it shows (``description=``, by default the function, the
optimizers and their hyperparameters), a live readout says the runs shown after each change,
and its controls work from the keyboard and tell their values in words. ``Player.save_gif``
writes an animation as a GIF for slides and posts. The sliders' hyperparameters and grids are
those of :mod:`adalearn.knobs`.

One module per figure (``player``, ``explorer``, ``basins``, and ``gif`` for the GIF painter);
the browser code is the package data in ``assets/`` (``.js``, ``.css`` and ``.html``).
"""

from adalearn.animation.basins import Basins, basins
from adalearn.animation.explorer import Explorer, explore
from adalearn.animation.player import Player, compare

__all__ = ["Basins", "Explorer", "Player", "basins", "compare", "explore"]
