"""Performance measurements of adalearn, printed as tables (``python -m benchmarks``).

Each ``bench_<name>.py`` module defines ``main()``, which measures and prints its table. They
are measurements against stated budgets, not pass/fail tests.
"""

import os
import platform
import statistics
import sys
import time


def machine():
    """One line describing where the numbers were measured."""
    import matplotlib
    import numpy

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores; Python {sys.version.split()[0]}, numpy "
        f"{numpy.__version__}, matplotlib {matplotlib.__version__}"
    )


def table(title, header, rows):
    """Print a plain-text table: a title, the machine line, aligned columns."""
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}\n{machine()}")
    for i, row in enumerate(cells):
        print("  ".join(c.ljust(w) if j == 0 else c.rjust(w)
                        for j, (c, w) in enumerate(zip(row, widths, strict=True))))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def thread_counts():
    """The thread counts an optimizer step is timed at: one, and every core this process has."""
    return sorted({1, len(os.sched_getaffinity(0))})


def timed_step(optimizer):
    start = time.perf_counter()
    optimizer.step()
    return time.perf_counter() - start


def interleaved(makers, rounds, warmup, counts):
    """Step times of optimizers timed side by side: ``{(threads, label): [seconds, ...]}``.

    ``makers`` maps a label to a function that makes the optimizer (with its own parameters
    and gradients); each label gets one optimizer per thread count, which only ever steps at
    that count. After ``warmup`` untimed rounds, a round steps every optimizer once at each
    count in turn, so that the load of a shared machine falls alike on every contender and
    count. Also returns each optimizer's warm-up in seconds (its compilation, if any).
    """
    import torch

    before = torch.get_num_threads()
    optimizers = {(n, label): make() for n in counts for label, make in makers.items()}
    warm, times = {}, {}
    try:
        for round_ in range(warmup + rounds):
            for (n, label), optimizer in optimizers.items():
                torch.set_num_threads(n)
                seconds = timed_step(optimizer)
                if round_ < warmup:
                    warm[n, label] = warm.get((n, label), 0.0) + seconds
                else:
                    times.setdefault((n, label), []).append(seconds)
    finally:
        torch.set_num_threads(before)
    return times, warm


def ratio(times, key, baseline):
    """The median over rounds of ``key``'s step time over ``baseline``'s in the same round."""
    return statistics.median(
        t / b for t, b in zip(times[key], times[baseline], strict=True))
