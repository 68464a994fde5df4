"""Performance measurements of adalearn, printed as tables (``python -m benchmarks``).

Each ``bench_<name>.py`` module defines ``main()``, which measures and prints its table. They
are measurements against stated budgets, not pass/fail tests.
"""

import os
import platform
import sys


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
