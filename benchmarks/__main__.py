"""Run the benchmarks: ``python -m benchmarks [name ...]`` (all ``bench_*.py`` by default).

Several benchmarks run one after another, each in a fresh interpreter, so that none measures
the memory and threads another one left behind (the optimizer step allocates gigabytes).
"""

import importlib
import pkgutil
import subprocess
import sys

import benchmarks


def available():
    return sorted(
        info.name.removeprefix("bench_")
        for info in pkgutil.iter_modules(benchmarks.__path__)
        if info.name.startswith("bench_")
    )


def main(argv):
    names = argv or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(available())}")
    if len(names) == 1:
        importlib.import_module(f"benchmarks.bench_{names[0]}").main()
        return
    for name in names:
        sys.stdout.flush()
        if subprocess.run([sys.executable, "-m", "benchmarks", name], check=False).returncode:
            sys.exit(f"benchmark {name} failed")


if __name__ == "__main__":
    main(sys.argv[1:])
