"""Run the benchmarks: ``python -m benchmarks [name ...]`` (all ``bench_*.py`` by default)."""

import importlib
import pkgutil
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
    for name in names:
        importlib.import_module(f"benchmarks.bench_{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
