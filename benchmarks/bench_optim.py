"""One optimizer step on CPU in float32: adalearn.optim against torch.optim's implementations.

Workloads: 10M parameters in 10 tensors (large layers) and 2M parameters in 400 tensors (many
small layers). For every elementwise namesake of torch.optim (Adam, AdamW, SGD with momentum
0.9, RMSprop, Adagrad, Adadelta, Adamax, Rprop, ASGD), each with its defaults, the
contenders are torch.optim's default (the for-loop on CPU), ``fused=True`` where torch fuses
the step on CPU (Adam, AdamW, SGD, Adagrad), and adalearn.optim eager (the readable rules as
they are) and with ``compile=True``. Every contender has its own parameters and gradients.

Each contender is timed at one thread and at every thread of the machine, side by side: a
round steps every contender once at each thread count, in turn, so that the load of a shared
machine falls alike on all of them; a ratio is the median over rounds of a contender's time
over torch.optim default's (or fused's) in the same round and at the same thread count.
Budgets: eager ≤ 1.5× torch.optim default, compiled ≤ 1.0× torch's fused step (≤ 1.0× the
default where torch has none). The compile time is what ``compile=True`` adds to the warm-up
at one thread, over the eager warm-up (torch.compile's on-disk cache makes later runs faster).

``python -m benchmarks.bench_optim Adam SGD`` times some optimizers only.
"""

import gc
import statistics
import sys

import torch

from adalearn import optim
from benchmarks import interleaved, ratio, table, thread_counts

WORKLOADS = {"10M in 10 tensors": (10_000_000, 10), "2M in 400 tensors": (2_000_000, 400)}
OPTIMIZERS = {
    "Adam": {},
    "AdamW": {},
    "SGD": {"lr": 1e-3, "momentum": 0.9},
    "RMSprop": {},
    "Adagrad": {},
    "Adadelta": {},
    "Adamax": {},
    "Rprop": {},
    "ASGD": {},
}
FUSED = {"Adam", "AdamW", "SGD", "Adagrad"}  # torch.optim's fused CPU kernels
ROUNDS = 15
WARMUP = 3
EAGER_BUDGET, COMPILED_BUDGET = 1.5, 1.0
DEFAULT, FUSED_LABEL = "torch.optim default", "torch.optim fused"
EAGER, COMPILED = "adalearn eager", "adalearn compile=True"


def parameters(total, tensors, seed=0):
    """``tensors`` float32 parameters of ``total`` elements in all, with gradients."""
    generator = torch.Generator().manual_seed(seed)
    params = []
    for _ in range(tensors):
        p = torch.nn.Parameter(torch.randn(total // tensors, generator=generator))
        p.grad = torch.randn(p.shape, generator=generator) * 1e-2
        params.append(p)
    return params


def makers(name, total, tensors):
    kwargs = OPTIMIZERS[name]
    made = {DEFAULT: lambda: getattr(torch.optim, name)(parameters(total, tensors), **kwargs)}
    if name in FUSED:
        made[FUSED_LABEL] = lambda: getattr(torch.optim, name)(
            parameters(total, tensors), fused=True, **kwargs)
    made[EAGER] = lambda: getattr(optim, name)(parameters(total, tensors), **kwargs)
    made[COMPILED] = lambda: getattr(optim, name)(
        parameters(total, tensors), compile=True, **kwargs)
    return made


def rows_of(name, times, counts):
    """One row per contender: at each thread count its ms, × default, × fused, within."""
    fused = name in FUSED
    rows = []
    for label in (DEFAULT, FUSED_LABEL, EAGER, COMPILED):
        if (counts[0], label) not in times:
            continue
        row = [f"{name:8} {label}"]
        for n in counts:
            ms = 1000 * statistics.median(times[n, label])
            by_default = ratio(times, (n, label), (n, DEFAULT))
            by_fused = ratio(times, (n, label), (n, FUSED_LABEL)) if fused else None
            if label == EAGER:
                within = "yes" if by_default <= EAGER_BUDGET else "NO"
            elif label == COMPILED:
                within = "yes" if (by_fused if fused else by_default) <= COMPILED_BUDGET else "NO"
            else:
                within = "-"
            row += [f"{ms:.1f}", f"{by_default:.2f}",
                    "-" if by_fused is None else f"{by_fused:.2f}", within]
        rows.append(row)
    return rows


def main(names=None):
    counts = thread_counts()
    summary = []
    for workload, (total, tensors) in WORKLOADS.items():
        rows = []
        for name in names or OPTIMIZERS:
            times, warm = interleaved(makers(name, total, tensors), ROUNDS, WARMUP, counts)
            rows += rows_of(name, times, counts)
            summary.append([workload, name, f"{warm[1, COMPILED] - warm[1, EAGER]:.1f}"])
            del times
            gc.collect()
        header = ["optimizer / implementation"]
        for n in counts:
            unit = "thread" if n == 1 else "threads"
            header += [f"ms {n} {unit}", "× default", "× fused", "within"]
        table(f"Optimizer step, {workload}, float32, at {' and '.join(map(str, counts))} "
              f"threads: median of {ROUNDS} interleaved rounds (budgets: eager ≤ "
              f"{EAGER_BUDGET}× default, compiled ≤ {COMPILED_BUDGET}× fused)", header, rows)
    table("adalearn compile=True: what compiling adds to the warm-up, at 1 thread",
          ["workload", "optimizer", "compile s"], summary)


if __name__ == "__main__":
    main(sys.argv[1:])
