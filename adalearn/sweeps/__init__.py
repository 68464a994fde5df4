"""Sweeps too long for a page: run once by a script, stored with the package, re-checked by tests.

A chapter may need more runs than a page can execute in its budget (widths × learning rates ×
seeds, say). Such a sweep is a module of this package that defines

- ``CONFIGS``: a list of dicts of JSON values, one per run, each holding the seeds it uses;
- ``run(config)``: the numbers of one run, as a dict of JSON values (numbers, strings, lists),
  a function of ``config`` alone.

``python -m adalearn.sweeps.<name>`` runs every configuration, one thread per run, and writes
``<name>.json`` next to the module: each configuration with its result and run time, the
command, the versions of Python, torch and numpy, and torch's CPU capability. The chapter plots
that file (:func:`load`); the tests run a sample of the configurations again (:func:`rerun`)
and require the stored numbers exactly. Floats are written with Python's shortest round-trip
representation, so that a stored number reads back as the very float the run produced.

Example, a sweep module ``adalearn/sweeps/example.py``::

    CONFIGS = [{"lr": lr, "seed": seed} for lr in (0.01, 0.1) for seed in range(3)]

    def run(config):
        ...train with config["lr"] under config["seed"]...
        return {"loss": final_loss}

    if __name__ == "__main__":
        from adalearn import sweeps
        sweeps.main("example")
"""

from __future__ import annotations

import argparse
import importlib
import importlib.resources
import json
import math
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["Record", "differences", "load", "main", "names", "rerun"]


@dataclass(frozen=True, eq=False)
class Record:
    """A stored sweep.

    Attributes
    ----------
    name : str
        The sweep's module name in :mod:`adalearn.sweeps`.
    configs : list of dict
        Each run's configuration, in the order of the module's ``CONFIGS``.
    results : list of dict
        Each run's numbers, as its ``run`` returned them.
    seconds : list of float
        Each run's wall-clock time when the sweep was stored.
    command : str
        The command that wrote the file.
    environment : dict
        Versions (Python, torch, numpy, adalearn), torch's CPU capability, threads, the date.
    """

    name: str
    configs: list[dict[str, Any]]
    results: list[dict[str, Any]]
    seconds: list[float]
    command: str
    environment: dict[str, Any]

    def __len__(self) -> int:
        return len(self.configs)

    def select(self, **values: Any) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """The ``(config, result)`` pairs whose configuration has all of ``values``."""
        return [
            (config, result)
            for config, result in zip(self.configs, self.results, strict=True)
            if all(config.get(key) == value for key, value in values.items())
        ]

    def sample(self, count: int = 2) -> list[int]:
        """Indices of ``count`` runs to check again: the quickest ones, for distinct configs."""
        order = sorted(range(len(self)), key=lambda i: (self.seconds[i], i))
        return sorted(order[:count])


def _path(name):
    return Path(str(importlib.resources.files(__name__) / f"{name}.json"))


def names() -> list[str]:
    """The sweeps stored with the package, by module name."""
    folder = Path(str(importlib.resources.files(__name__)))
    return sorted(path.stem for path in folder.glob("*.json"))


def load(name: str) -> Record:
    """The stored :class:`Record` of sweep ``name``."""
    path = _path(name)
    if not path.is_file():
        raise ValueError(
            f"`name` must be a stored sweep, one of {names()}. Received: name={name!r}; "
            f"run `python -m adalearn.sweeps.{name}` to store it"
        )
    stored = json.loads(path.read_text(encoding="utf-8"))
    runs = stored["runs"]
    return Record(
        name=name,
        configs=[entry["config"] for entry in runs],
        results=[entry["result"] for entry in runs],
        seconds=[entry["seconds"] for entry in runs],
        command=stored["command"],
        environment=stored["environment"],
    )


def _module(name):
    return importlib.import_module(f"{__name__}.{name}")


def _plain(value):
    """``value`` with numpy and torch numbers and arrays turned into Python ones, for JSON."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars, torch tensors
        return _plain(value.tolist())
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"a sweep result must be finite to be stored. Received: {value!r}")
        return value
    raise TypeError(
        f"a sweep result must hold numbers, strings and lists. Received: {type(value).__name__}"
    )


def _run_one(name, config):
    """One run of sweep ``name`` in one thread; its result as JSON values and its seconds."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        start = time.perf_counter()
        result = _plain(_module(name).run(config))
        return result, time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)


def rerun(name: str, index: int) -> dict[str, Any]:
    """Run configuration ``index`` of stored sweep ``name`` again; returns its result."""
    record = load(name)
    return _run_one(name, record.configs[index])[0]


def differences(stored: Any, fresh: Any, where: str = "result") -> list[str]:
    """Where two results differ, as a list of ``"path: stored != fresh"`` lines (exact compare)."""
    if isinstance(stored, dict) and isinstance(fresh, dict):
        lines = [f"{where}.{key}: missing" for key in stored.keys() ^ fresh.keys()]
        for key in stored.keys() & fresh.keys():
            lines += differences(stored[key], fresh[key], f"{where}.{key}")
        return lines
    if isinstance(stored, list) and isinstance(fresh, list):
        if len(stored) != len(fresh):
            return [f"{where}: {len(stored)} values != {len(fresh)} values"]
        lines = []
        for i, (a, b) in enumerate(zip(stored, fresh, strict=True)):
            lines += differences(a, b, f"{where}[{i}]")
        return lines
    if type(stored) is not type(fresh) or stored != fresh:
        return [f"{where}: {stored!r} != {fresh!r}"]
    return []


def environment() -> dict[str, Any]:
    """What a stored number depends on besides its configuration."""
    import numpy
    import torch

    import adalearn

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "adalearn": adalearn.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.machine(),
        "threads_per_run": 1,
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


def _progress(total, name):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=name, unit="run")


def main(name: str, argv: Sequence[str] | None = None) -> int:
    """Run sweep ``name`` and store it: the command line of ``python -m adalearn.sweeps.<name>``."""
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}.{name}",
                                     description=f"Run the {name} sweep and store its results.")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs in parallel, each in its own process and one thread")
    parser.add_argument("--output", type=Path, default=_path(name),
                        help="where to write the results (default: next to the module)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be a positive integer. Received: --jobs={args.jobs}")
    configs = [_plain(config) for config in _module(name).CONFIGS]
    bar = _progress(len(configs), name)
    start = time.perf_counter()
    if args.jobs == 1:
        outcomes = []
        for config in configs:
            outcomes.append(_run_one(name, config))
            if bar is not None:
                bar.update()
    else:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        with context.Pool(args.jobs) as pool:
            pending = [pool.apply_async(_run_one, (name, config)) for config in configs]
            outcomes = []
            for job in pending:
                outcomes.append(job.get())
                if bar is not None:
                    bar.update()
    if bar is not None:
        bar.close()
    stored: dict[str, Any] = {
        "sweep": name,
        "command": f"python -m {__name__}.{name}"
        + (f" --jobs {args.jobs}" if args.jobs > 1 else ""),
        "environment": {**environment(), "seconds": round(time.perf_counter() - start, 1)},
        "runs": [
            {"config": config, "result": result, "seconds": round(seconds, 3)}
            for config, (result, seconds) in zip(configs, outcomes, strict=True)
        ],
    }
    args.output.write_text(json.dumps(stored, indent=1) + "\n", encoding="utf-8")
    print(f"{len(configs)} runs of {name} in {stored['environment']['seconds']} s -> {args.output}",
          file=sys.stderr)
    return 0
