"""One optimizer step on CPU in float32: adalearn.optim against torch.optim's implementations.

Workloads: 10M parameters in 10 tensors (large layers) and 2M parameters in 400 tensors (many
small layers). For Adam, SGD with momentum 0.9, RMSprop and Adagrad, each with its defaults,
the contenders are torch.optim's default (the for-loop on CPU), ``foreach=True`` and
``fused=True`` (where torch has it), and adalearn.optim eager (the readable rules as they are)
and with ``compile=True``. Every contender has its own parameters and gradients.

The step runs on one thread (``torch.set_num_threads(1)``) for every contender: with two
cores shared with other work, a multi-threaded kernel waits at each barrier for a descheduled
thread, and those waits, not the kernels, would decide the ratios.

Runs are interleaved: a round steps every contender once, in turn; a contender's ratio is the
median over rounds of its time over torch.optim default's time in the same round. Budgets:
eager ≤ 2.0× and compiled ≤ 1.0× torch.optim default, after warm-up. The compile time is the
first step of the compiled optimizer (torch.compile's on-disk cache makes later runs faster).
"""

import gc
import statistics
import time

import torch

from adalearn import optim
from benchmarks import table

WORKLOADS = {"10M in 10 tensors": (10_000_000, 10), "2M in 400 tensors": (2_000_000, 400)}
OPTIMIZERS = {
    "Adam": {},
    "SGD": {"lr": 1e-3, "momentum": 0.9},
    "RMSprop": {},
    "Adagrad": {},
}
FUSED = {"Adam", "SGD", "Adagrad"}  # torch.optim's fused CPU kernels
ROUNDS = 15
WARMUP = 3
EAGER_BUDGET, COMPILED_BUDGET = 2.0, 1.0


def parameters(total, tensors, seed=0):
    """``tensors`` float32 parameters of ``total`` elements in all, with gradients."""
    generator = torch.Generator().manual_seed(seed)
    params = []
    for _ in range(tensors):
        p = torch.nn.Parameter(torch.randn(total // tensors, generator=generator))
        p.grad = torch.randn(p.shape, generator=generator) * 1e-2
        params.append(p)
    return params


def contenders(name, total, tensors):
    kwargs = OPTIMIZERS[name]
    makers = {
        "torch.optim default": lambda p: getattr(torch.optim, name)(p, **kwargs),
        "torch.optim foreach": lambda p: getattr(torch.optim, name)(p, foreach=True, **kwargs),
    }
    if name in FUSED:
        makers["torch.optim fused"] = lambda p: getattr(torch.optim, name)(
            p, fused=True, **kwargs
        )
    makers["adalearn eager"] = lambda p: getattr(optim, name)(p, **kwargs)
    makers["adalearn compile=True"] = lambda p: getattr(optim, name)(p, compile=True, **kwargs)
    return {label: make(parameters(total, tensors)) for label, make in makers.items()}


def timed_step(optimizer):
    start = time.perf_counter()
    optimizer.step()
    return time.perf_counter() - start


def measure(name, total, tensors):
    """Median step time and median ratio to torch.optim default, per contender."""
    optimizers = contenders(name, total, tensors)
    compile_seconds = timed_step(optimizers["adalearn compile=True"])
    for _ in range(WARMUP):
        for optimizer in optimizers.values():
            optimizer.step()
    times = {label: [] for label in optimizers}
    for _ in range(ROUNDS):
        for label, optimizer in optimizers.items():
            times[label].append(timed_step(optimizer))
    baseline = times["torch.optim default"]
    result = {
        label: (
            statistics.median(samples),
            statistics.median(t / b for t, b in zip(samples, baseline, strict=True)),
        )
        for label, samples in times.items()
    }
    if "torch.optim fused" in times:
        result["compiled/fused"] = statistics.median(
            c / f
            for c, f in zip(times["adalearn compile=True"], times["torch.optim fused"], strict=True)
        )
    del optimizers
    gc.collect()
    return result, compile_seconds


def main():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        measure_all()
    finally:
        torch.set_num_threads(threads)


def measure_all():
    summary = []
    for workload, (total, tensors) in WORKLOADS.items():
        rows = []
        for name in OPTIMIZERS:
            result, compile_seconds = measure(name, total, tensors)
            for label, value in result.items():
                if label == "compiled/fused":
                    continue
                ms, ratio = value
                budget = {"adalearn eager": EAGER_BUDGET,
                          "adalearn compile=True": COMPILED_BUDGET}.get(label)
                within = "-" if budget is None else ("yes" if ratio <= budget else "NO")
                rows.append([f"{name:8} {label}", f"{1000 * ms:.1f}", f"{ratio:.2f}",
                             "-" if budget is None else f"{budget:.1f}", within])
            fused = result.get("compiled/fused")
            summary.append([workload, name, f"{compile_seconds:.1f}",
                            "-" if fused is None else f"{fused:.2f}"])
        table(f"Optimizer step, {workload}, float32, 1 thread: median of {ROUNDS} "
              "interleaved rounds", ["optimizer / implementation", "ms", "× default",
                                     "budget", "within"], rows)
    table("adalearn compile=True: first step (compile) and step time against torch's fused",
          ["workload", "optimizer", "compile s", "× fused"], summary)


if __name__ == "__main__":
    main()
