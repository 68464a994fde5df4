"""Shampoo and SOAP: one step on ten 512×512 matrices, against pytorch-optimizer's own.

The contenders are ``pytorch_optimizer.Shampoo`` / ``SOAP`` (4.1.0), which adalearn's equal,
and adalearn.optim eager and with ``compile=True``, each with its defaults and its own
parameters and gradients (float32). As in ``bench_optim``: one thread, interleaved rounds (a
round steps every contender once, in turn), each ratio the median over rounds of the step
time over pytorch-optimizer's in the same round. The warm-up covers the first steps (SOAP's
eigen decompositions, the compilations) and, for SOAP, its first refresh of the bases
(every tenth step), so that both compiled variants exist before timing; the rounds then
include SOAP's next refresh. The compile time is what ``compile=True`` adds to the warm-up.
"""

import gc
import statistics
import time

import pytorch_optimizer
import torch

from adalearn import optim
from benchmarks import table, timed_step

COUNT, SIZE = 10, 512
WORKLOAD = f"ten {SIZE}×{SIZE} matrices"
WARMUP = {"Shampoo": 2, "SOAP": 11}
ROUNDS = {"Shampoo": 7, "SOAP": 10}


def matrices(seed=0):
    generator = torch.Generator().manual_seed(seed)
    params = []
    for _ in range(COUNT):
        p = torch.nn.Parameter(torch.randn(SIZE, SIZE, generator=generator) / SIZE**0.5)
        p.grad = torch.randn(p.shape, generator=generator) * 1e-2
        params.append(p)
    return params


def measure(name):
    """Median step time and median ratio to pytorch-optimizer's, per contender."""
    makers = {
        "pytorch-optimizer": getattr(pytorch_optimizer, name),
        "adalearn eager": getattr(optim, name),
        "adalearn compile=True": lambda p: getattr(optim, name)(p, compile=True),
    }
    optimizers = {label: make(matrices()) for label, make in makers.items()}
    warmup = {label: 0.0 for label in optimizers}
    for _ in range(WARMUP[name]):
        for label, optimizer in optimizers.items():
            warmup[label] += timed_step(optimizer)
    times = {label: [] for label in optimizers}
    for _ in range(ROUNDS[name]):
        for label, optimizer in optimizers.items():
            times[label].append(timed_step(optimizer))
    baseline = times["pytorch-optimizer"]
    result = {
        label: (
            statistics.median(samples),
            statistics.median(t / b for t, b in zip(samples, baseline, strict=True)),
        )
        for label, samples in times.items()
    }
    compile_seconds = warmup["adalearn compile=True"] - warmup["adalearn eager"]
    del optimizers
    gc.collect()
    return result, compile_seconds


def main():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows, compiling = [], []
        start = time.perf_counter()
        for name in ("Shampoo", "SOAP"):
            result, compile_seconds = measure(name)
            for label, (seconds, ratio) in result.items():
                rows.append([f"{name:7} {label}", f"{1000 * seconds:.0f}", f"{ratio:.2f}"])
            compiling.append([name, f"{compile_seconds:.1f}"])
        table(f"Shampoo and SOAP, one step on {WORKLOAD}, float32, defaults, 1 thread: median of "
              f"interleaved rounds ({time.perf_counter() - start:.0f} s in all)",
              ["optimizer / implementation", "ms", "× pytorch-optimizer"], rows)
        table("adalearn compile=True: the compilations in the warm-up",
              ["optimizer", "compile s"], compiling)
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
