"""Test runs of chapter 20's benchmark on the digits network.

Each optimizer's trial of lowest mean validation loss in the stored tuning sweep
(``benchmark_digits_tuning``, :func:`adalearn.sweeps.benchmark.chosen`) runs again with
each of the fresh test seeds, evaluated on the test split as it trains. Stored by
``python -m adalearn.sweeps.benchmark_digits`` after the tuning sweep.
"""

from adalearn.sweeps.benchmark import chosen_configs, run

__all__ = ["CONFIGS", "run"]

CONFIGS = chosen_configs("digits")

if __name__ == "__main__":
    from adalearn import sweeps

    raise SystemExit(sweeps.main("benchmark_digits"))
