"""Tuning trials of chapter 20's benchmark on the transformer network.

Every optimizer of :mod:`adalearn.sweeps.benchmark` meets each learning rate of its grid with
each schedule, and each trial runs with the tuning seeds; each run records its final loss on
the validation split, and nothing on the test split. Stored by
``python -m adalearn.sweeps.benchmark_transformer_tuning``.
"""

from adalearn.sweeps.benchmark import run, tuning_configs

__all__ = ["CONFIGS", "run"]

CONFIGS = tuning_configs("transformer")

if __name__ == "__main__":
    from adalearn import sweeps

    raise SystemExit(sweeps.main("benchmark_transformer_tuning"))
