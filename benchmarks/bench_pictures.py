"""How light the players and explorers are and how fast they answer, against the budgets.

- Player page weight for the classroom comparison's five optimizers on the cubic function,
  150 steps: budgets 300 KB (2-D) and 500 KB (3-D); for scale, matplotlib's ``to_jshtml`` of
  a 60-frame 2-D contour animation.
- Explorer and basin-map weight and build time (runs, background, HTML) for settings the book
  uses: the lab's five optimizers on the cubic function (chapter 12), RMSprop and AdaDelta for
  500 steps (chapter 6), four Adam variants (chapter 7), a 10⁴-start basin map of Himmelblau's
  function with 13 learning rates. A page must stay within 1.5 MB with its figures.
- Slider response in headless Chromium (Playwright): for 60 input events per slider, the
  time from setting the value and dispatching ``input`` to the end of the layout it causes,
  with ``performance.now()``, one animation frame between events. Budget: 16 ms median.
- Playground update latency (rerun five optimizers × 200 steps and redraw): budget 50 ms
  median over at least 30 updates. Every update moves the start point, so all five rerun;
  a learning-rate slider reruns only its optimizer, measured apart.
"""

import statistics
import time

import numpy as np

from adalearn import animation, functions, plotting, rules, trajectory, widgets
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


def explorer_figures():
    """The figures to weigh and to time: (name, figure), in the book's settings."""
    sphere, cubic = functions.get("sphere"), functions.get("cubic")
    adams = {"Adam": rules.Adam(lr=0.2, betas=(0.9, 0.99)),
             "Adam (AMSGrad)": rules.Adam(lr=0.2, betas=(0.9, 0.99), amsgrad=True),
             "Adamax": rules.Adamax(lr=0.2, betas=(0.9, 0.99)),
             "AdamW": rules.AdamW(lr=0.2, betas=(0.9, 0.99), weight_decay=0.5)}
    return [
        ("explorer: lab's five on the cubic, 150 steps",
         lambda: animation.explore(cubic, widgets.default_rules(), steps=150)),
        ("explorer: RMSprop and AdaDelta, 500 steps",
         lambda: animation.explore(sphere, {
             "RMSprop": rules.RMSprop(lr=0.1, alpha=0.9, eps=0, eps_root=1e-7),
             "AdaDelta": rules.Adadelta()}, steps=500)),
        ("explorer: four Adam variants, 60 steps",
         lambda: animation.explore(sphere, adams, steps=60)),
        ("basins: Himmelblau, GD, 10⁴ starts × 13 lr",
         lambda: animation.basins(functions.get("himmelblau"), rules.SGD(lr=0.01))),
    ]


def explorers():
    rows, pages = [], {}
    for name, build in explorer_figures():
        start = time.perf_counter()
        figure = build()
        page = figure.to_html()
        seconds = time.perf_counter() - start
        runs = getattr(figure, "runs", None) or figure.classes.size
        kb = len(page.encode()) / 1024
        rows.append([name, str(runs), f"{kb:.0f}", f"{figure.seconds:.2f}", f"{seconds:.2f}"])
        pages[name] = figure.to_html(full_page=True)
    table("Explorer and basin-map weight (page budget 1.5 MB with everything else on it)",
          ["figure", "runs", "KB", "runs s", "build s"], rows)
    return pages


SLIDER_LATENCY = """async ([control, events]) => {
    const el = document.querySelectorAll(control)[0], root = el.closest("div[id]");
    const low = +el.min, high = +el.max, times = [];
    for (let i = 0; i < events; i++) {
        const t0 = performance.now();
        el.value = String(low + (i * 7) % (high - low + 1));
        el.dispatchEvent(new Event("input", {bubbles: true}));
        root.getBoundingClientRect();
        document.body.offsetHeight;
        times.push(performance.now() - t0);
        await new Promise(done => requestAnimationFrame(() => done()));
    }
    return times;
}"""


def slider_latency(pages):
    import shutil
    import tempfile
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    from tests._browser import CHROMIUM_ARGS, NON_LOCAL

    fn, runs = seed_lab_runs()
    pages = dict(pages)
    pages["player: lab's five on the cubic, 150 steps"] = animation.compare(fn, runs).to_html(
        full_page=True)
    sliders = [
        ("explorer: lab's five on the cubic, 150 steps", ".adl-lr", "one learning rate"),
        ("explorer: lab's five on the cubic, 150 steps", ".adl-knob-input", "β, β₁ (two rules)"),
        ("explorer: RMSprop and AdaDelta, 500 steps", ".adl-knob-input", "α, ρ (two rules)"),
        ("explorer: four Adam variants, 60 steps", ".adl-knob-input", "β, β₁ (four rules)"),
        ("basins: Himmelblau, GD, 10⁴ starts × 13 lr", ".adl-lr", "learning rate"),
        ("player: lab's five on the cubic, 150 steps", ".adl-slider", "step"),
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"),
                                             args=CHROMIUM_ARGS, headless=True)
        for name, control, what in sliders:
            path = Path(tmp) / f"{len(rows)}.html"
            path.write_text(pages[name], encoding="utf-8")
            page = browser.new_page()
            page.route(NON_LOCAL, lambda route: route.abort())
            page.goto(path.as_uri())
            page.wait_for_function("[...document.querySelectorAll('[data-state]')]"
                                   ".every(e => e.getAttribute('data-state') === 'ready')")
            page.wait_for_timeout(200)
            times = page.evaluate(SLIDER_LATENCY, [control, 60])
            page.close()
            median = statistics.median(times)
            rows.append([name, what, f"{median:.2f}", f"{np.percentile(times, 90):.2f}",
                         f"{max(times):.2f}", "16", "yes" if median <= 16 else "NO"])
        browser.close()
    table("Slider response in headless Chromium: input event to layout, 60 events each",
          ["figure", "slider", "median ms", "p90 ms", "max ms", "budget ms", "within"], rows)


def main():
    players()
    pages = explorers()
    slider_latency(pages)
    playground_latency()


if __name__ == "__main__":
    main()
