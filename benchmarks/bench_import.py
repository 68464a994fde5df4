"""How long ``import adalearn`` takes next to ``import numpy``, and what it loads.

Each import runs in a fresh interpreter, several times; the table gives the median wall time
of the import statement alone (the interpreter's own start-up excluded) and whether torch or
matplotlib came with it. ``import adalearn`` must load neither: they come with the submodules
that need them.
"""

import statistics
import subprocess
import sys

from benchmarks import table

REPEATS = 7
PROBE = """
import sys, time
start = time.perf_counter()
import {module}
seconds = time.perf_counter() - start
print(seconds, "torch" in sys.modules, "matplotlib" in sys.modules)
"""
MODULES = ["numpy", "adalearn", "adalearn.rules", "adalearn.trajectory", "adalearn.optim"]


def measure(module):
    samples, loaded = [], None
    for _ in range(REPEATS):
        output = subprocess.run([sys.executable, "-c", PROBE.format(module=module)],
                                capture_output=True, text=True, check=True).stdout.split()
        samples.append(float(output[0]))
        loaded = output[1:]
    return statistics.median(samples), loaded


def main():
    rows = []
    for module in MODULES:
        seconds, (torch, matplotlib) = measure(module)
        rows.append([f"import {module}", f"{1000 * seconds:.0f}", torch, matplotlib])
    table(f"Import time in a fresh interpreter, median of {REPEATS}",
          ["statement", "ms", "loads torch", "loads matplotlib"], rows)


if __name__ == "__main__":
    main()
