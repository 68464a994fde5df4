"""Shampoo and SOAP: one step on ten 512×512 matrices, against pytorch-optimizer's own.

The contenders are ``pytorch_optimizer.Shampoo`` / ``SOAP`` (4.1.0), which adalearn's equal,
and adalearn.optim eager and with ``compile=True``, each with its defaults and its own
parameters and gradients (float32). As in ``bench_optim``: at one thread and at every thread
of the machine, interleaved rounds (a round steps every contender once at each thread count,
in turn), each ratio the median over rounds of the step time over pytorch-optimizer's in the
same round and at the same thread count. The warm-up covers the first steps (SOAP's
eigen decompositions, the compilations) and, for SOAP, its first refresh of the bases
(every tenth step), so that both compiled variants exist before timing; the rounds then
include SOAP's next refresh. The compile time is what ``compile=True`` adds to the warm-up
at one thread.
"""

import gc
import statistics
import time

import pytorch_optimizer
import torch

from adalearn import optim
from benchmarks import interleaved, ratio, table, thread_counts

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


def measure(name, counts):
    """Per thread count and contender: median step time and median ratio to
    pytorch-optimizer's; and what compiling adds to the warm-up at one thread."""
    makers = {
        "pytorch-optimizer": lambda: getattr(pytorch_optimizer, name)(matrices()),
        "adalearn eager": lambda: getattr(optim, name)(matrices()),
        "adalearn compile=True": lambda: getattr(optim, name)(matrices(), compile=True),
    }
    times, warm = interleaved(makers, ROUNDS[name], WARMUP[name], counts)
    result = {
        key: (statistics.median(samples), ratio(times, key, (key[0], "pytorch-optimizer")))
        for key, samples in times.items()
    }
    gc.collect()
    return result, warm[1, "adalearn compile=True"] - warm[1, "adalearn eager"]


def main():
    counts = thread_counts()
    rows, compiling = [], []
    start = time.perf_counter()
    for name in ("Shampoo", "SOAP"):
        result, compile_seconds = measure(name, counts)
        for label in ("pytorch-optimizer", "adalearn eager", "adalearn compile=True"):
            row = [f"{name:7} {label}"]
            for n in counts:
                seconds, by_reference = result[n, label]
                row += [f"{1000 * seconds:.0f}", f"{by_reference:.2f}"]
            rows.append(row)
        compiling.append([name, f"{compile_seconds:.1f}"])
    header = ["optimizer / implementation"]
    for n in counts:
        header += [f"ms {n} thread{'s' if n > 1 else ''}", "× pytorch-optimizer"]
    table(f"Shampoo and SOAP, one step on {WORKLOAD}, float32, defaults, at "
          f"{' and '.join(map(str, counts))} threads: median of interleaved rounds "
          f"({time.perf_counter() - start:.0f} s in all)", header, rows)
    table("adalearn compile=True: what compiling adds to the warm-up, at 1 thread",
          ["optimizer", "compile s"], compiling)


if __name__ == "__main__":
    main()
