"""The batched trajectory engine against one torch optimizer per start, and a vectorized sweep.

- 10,000 starts × 300 steps of Adam (lr 0.01) on Rosenbrock through ``trajectory.run``
  (numpy, float64, one vectorized run; median of 5 runs, since the first touches fresh memory
  for its 10,000 paths) against the seed lab's way: for each start a tensor
  with ``requires_grad``, a ``torch.optim.Adam`` and a Python loop of forward, backward, step.
  That loop is timed on a random subsample of the starts and reported per start; its iterates
  are checked against the batched run's. Budget: at least 100× faster per start.
- A hyperparameter sweep: heavy-ball momentum with 50 learning rates × 50 momenta on the
  quadratic of condition number 100, 300 steps, as one run.
"""

import statistics
import time

import numpy as np
import torch

from adalearn import functions, rules, trajectory
from benchmarks import table

STARTS, STEPS, LR = 10_000, 300, 0.01
SUBSAMPLE = 20
REPEATS = 5
BUDGET = 100


def starts(fn, count, seed=0):
    (x1_min, x1_max), (x2_min, x2_max) = fn.bounds
    generator = np.random.default_rng(seed)
    return np.column_stack([generator.uniform(x1_min, x1_max, count),
                            generator.uniform(x2_min, x2_max, count)])


def seed_lab_run(fn, start):
    """One start, the way the seed lab runs it: a torch optimizer and a Python loop."""
    x = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([x], lr=LR)
    path = [x.detach().clone()]
    for _ in range(STEPS):
        optimizer.zero_grad()
        fn(x).backward()
        optimizer.step()
        path.append(x.detach().clone())
    return torch.stack(path).numpy()


def engine():
    fn = functions.get("rosenbrock")
    x0 = starts(fn, STARTS)
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        batched = trajectory.run(rules.Adam(lr=LR), fn, x0, STEPS)
        times.append(time.perf_counter() - start)
    batched_seconds = statistics.median(times)

    sample = np.random.default_rng(1).choice(STARTS, SUBSAMPLE, replace=False)
    start = time.perf_counter()
    paths = [seed_lab_run(fn, x0[i]) for i in sample]
    loop_seconds = time.perf_counter() - start
    error = max(np.abs(path - batched.xs[:, i]).max() for path, i in zip(paths, sample,
                                                                          strict=True))

    per_batched = batched_seconds / STARTS
    per_loop = loop_seconds / SUBSAMPLE
    speedup = per_loop / per_batched
    table(f"Adam on Rosenbrock, {STARTS} starts × {STEPS} steps: per start",
          ["method", "total s", "per start ms", "speed-up", "budget", "within"],
          [["trajectory.run (one batched numpy run)", f"{batched_seconds:.2f}",
            f"{1000 * per_batched:.4f}", f"{speedup:.0f}×", f"{BUDGET}×",
            "yes" if speedup >= BUDGET else "NO"],
           [f"torch.optim.Adam per start ({SUBSAMPLE} of them)", f"{loop_seconds:.2f}",
            f"{1000 * per_loop:.2f}", "1×", "-", "-"],
           ["largest difference between the two, all iterates", f"{error:.1e}", "-", "-",
            "-", "-"]])


def sweep():
    fn = functions.get("quadratic", condition=100)
    lrs = np.geomspace(1e-3, 0.04, 50)[:, None, None]
    momenta = np.linspace(0.0, 0.99, 50)[None, :, None]
    start = time.perf_counter()
    traj = trajectory.run(rules.SGD(lr=lrs, momentum=momenta), fn, fn.start, STEPS)
    seconds = time.perf_counter() - start
    runs = int(np.prod(traj.batch_shape))
    table(f"Sweep: heavy ball on the quadratic (κ = 100), 50 lr × 50 momenta, {STEPS} steps",
          ["runs", "one run s", "per run µs", "diverged"],
          [[runs, f"{seconds:.3f}", f"{1e6 * seconds / runs:.1f}",
            int(traj.diverged.sum())]])


def main():
    engine()
    sweep()


if __name__ == "__main__":
    main()
