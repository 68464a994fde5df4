"""How light the players are and how fast the playground redraws, against the budgets.

- Player page weight for the seed lab's five optimizers on the cubic function, 150 steps:
  budgets 300 KB (2-D) and 500 KB (3-D); for scale, matplotlib's ``to_jshtml`` of a 60-frame
  2-D contour animation.
- Playground update latency (rerun five optimizers × 200 steps and redraw): budget 50 ms
  median over at least 30 updates. Every update moves the start point, so all five rerun;
  a learning-rate slider reruns only its optimizer, measured apart.
"""

import statistics
import time

import numpy as np

from adalearn import animation, functions, plotting, trajectory, widgets
from benchmarks import table

STEPS = 150
BUDGET_KB = {"2d": 300, "3d": 500}
UPDATES = 40


def seed_lab_runs(steps=STEPS):
    fn = functions.get("cubic")
    return fn, {name: trajectory.run(rule, fn, fn.start, steps)
                for name, rule in widgets.default_rules().items()}


def jshtml_reference(fn, runs, frames=60):
    """matplotlib's own HTML animation of the same comparison: every frame a full image."""
    from matplotlib.animation import FuncAnimation

    fig, ax = plotting.figure(figsize=(6.0, 4.8), dpi=100)
    plotting.contour(ax, fn)
    lines = {name: ax.plot([], [], color=c, linewidth=1.8)[0]
             for name, c in plotting.colors(runs).items()}
    shown = np.linspace(0, STEPS, frames).astype(int)

    def draw(i):
        for name, traj in runs.items():
            k = min(shown[i], int(traj.stopped))
            lines[name].set_data(traj.xs[: k + 1, 0], traj.xs[: k + 1, 1])
        return list(lines.values())

    return FuncAnimation(fig, draw, frames=frames, interval=70, blit=False).to_jshtml()


def players():
    fn, runs = seed_lab_runs()
    rows = []
    for view in ("2d", "3d"):
        start = time.perf_counter()
        player = animation.compare(fn, runs, view=view)
        page = player.to_html()
        seconds = time.perf_counter() - start
        kb = len(page.encode()) / 1024
        rows.append([f"Player {view.upper()} ({player._image_mime.split('/')[1]} background)",
                     f"{kb:.0f}", f"{BUDGET_KB[view]}", "yes" if kb <= BUDGET_KB[view] else "NO",
                     f"{seconds:.2f}"])
    start = time.perf_counter()
    reference = jshtml_reference(fn, runs)
    seconds = time.perf_counter() - start
    rows.append(["matplotlib to_jshtml, 60 frames (2D)", f"{len(reference.encode()) / 1024:.0f}",
                 "-", "-", f"{seconds:.2f}"])
    table(f"Player page weight: five optimizers on the cubic function, {STEPS} steps",
          ["animation", "KB", "budget KB", "within", "build s"], rows)


def playground_latency():
    pg = widgets.playground("cubic", steps=200)
    x1 = pg.controls["x1"]
    starts = np.linspace(1.5, 2.5, UPDATES)
    totals, runs_only = [], []
    for x in starts:
        # Setting the slider calls the update, as a reader's drag does.
        start = time.perf_counter()
        x1.value = float(x)
        totals.append(time.perf_counter() - start)
    fn = functions.get("cubic")
    for x in starts:
        start = time.perf_counter()
        for rule in pg.rules.values():
            trajectory.run(rule, fn, (float(x), 3.0), 200)
        runs_only.append(time.perf_counter() - start)
    lr = pg.controls[("lr", "Adam")]
    one = []
    for value in np.geomspace(0.02, 0.2, UPDATES):
        start = time.perf_counter()
        lr.value = float(value)
        one.append(time.perf_counter() - start)
    redraw = []
    for _ in range(UPDATES):
        start = time.perf_counter()
        pg._redraw()
        redraw.append(time.perf_counter() - start)

    def ms(samples):
        return f"{1000 * statistics.median(samples):.1f}"

    median = 1000 * statistics.median(totals)
    table(f"Playground update: 5 optimizers × 200 steps, median of {UPDATES}",
          ["part", "median ms", "budget ms", "within"],
          [["whole update (rerun all five, redraw, encode)", ms(totals), "50",
            "yes" if median <= 50 else "NO"],
           ["  five trajectory.run calls", ms(runs_only), "-", "-"],
           ["one learning-rate slider (reruns one optimizer)", ms(one), "-", "-"],
           ["  redraw paths on cached landscape + JPEG", ms(redraw), "-", "-"]])


def main():
    players()
    playground_latency()


if __name__ == "__main__":
    main()
