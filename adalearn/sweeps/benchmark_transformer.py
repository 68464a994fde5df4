"""Test runs of chapter 20's benchmark on the transformer network.

Each optimizer's trial of lowest mean validation loss in the stored tuning sweep
(``benchmark_transformer_tuning``, :func:`adalearn.sweeps.benchmark.chosen`) runs again with
each of the fresh test seeds, evaluated on the test split as it trains. Stored by
``python -m adalearn.sweeps.benchmark_transformer`` after the tuning sweep.
"""

from adalearn.sweeps.benchmark import chosen_configs, run

__all__ = ["CONFIGS", "run"]

CONFIGS = chosen_configs("transformer")

if __name__ == "__main__":
    from adalearn import sweeps

    raise SystemExit(sweeps.main("benchmark_transformer"))
