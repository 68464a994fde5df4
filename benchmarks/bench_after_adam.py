"""The optimizers after Adam: one step on CPU in float32, against torch.optim's own, and memory.

NAdam and RAdam run on the workloads of ``bench_optim`` (10M parameters in 10 tensors, 2M in
400); Adafactor and Muon, which act on whole matrices, on ten 1000×1000 matrices. The
contenders are torch.optim's default (its for-loop on CPU), adalearn.optim eager and with
``compile=True``; each has its own parameters and gradients. As in ``bench_optim``: one
thread, interleaved rounds, each ratio the median over rounds of the step time over torch.optim
default's in the same round. Budgets: eager ≤ 2.0×, compiled ≤ 1.0×.

Memory: the bytes of optimizer state (every tensor in ``optimizer.state``) after one step, for
Adafactor and Adam on the same ten matrices, adalearn's and torch.optim's.
"""

import gc
import statistics

import torch

from adalearn import optim
from benchmarks import table, timed_step
from benchmarks.bench_optim import COMPILED_BUDGET, EAGER_BUDGET, WARMUP, parameters

VECTORS = {"10M in 10 tensors": (10_000_000, 10), "2M in 400 tensors": (2_000_000, 400)}
MATRICES = {"ten 1000×1000 matrices": (10, 1000)}
WORKLOADS = [("NAdam", w) for w in VECTORS] + [("RAdam", w) for w in VECTORS]
WORKLOADS += [("Adafactor", w) for w in MATRICES] + [("Muon", w) for w in MATRICES]
ROUNDS = {"NAdam": 15, "RAdam": 15, "Adafactor": 11, "Muon": 9}


def matrices(count, size, seed=0):
    """``count`` float32 matrices of ``size`` × ``size``, with gradients."""
    generator = torch.Generator().manual_seed(seed)
    params = []
    for _ in range(count):
        p = torch.nn.Parameter(torch.randn(size, size, generator=generator) / size**0.5)
        p.grad = torch.randn(p.shape, generator=generator) * 1e-2
        params.append(p)
    return params


def workload(name):
    if name in VECTORS:
        return parameters(*VECTORS[name])
    return matrices(*MATRICES[name])


def measure(name, work):
    """Median step time and median ratio to torch.optim default, per contender."""
    makers = {
        "torch.optim default": lambda p: getattr(torch.optim, name)(p),
        "adalearn eager": lambda p: getattr(optim, name)(p),
        "adalearn compile=True": lambda p: getattr(optim, name)(p, compile=True),
    }
    optimizers = {label: make(workload(work)) for label, make in makers.items()}
    compile_seconds = timed_step(optimizers["adalearn compile=True"])
    for _ in range(WARMUP):
        for optimizer in optimizers.values():
            optimizer.step()
    times = {label: [] for label in optimizers}
    for _ in range(ROUNDS[name]):
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
    del optimizers
    gc.collect()
    return result, compile_seconds


def state_bytes(optimizer):
    return sum(
        value.numel() * value.element_size()
        for state in optimizer.state.values()
        for value in state.values()
        if isinstance(value, torch.Tensor)
    )


def memory():
    """Bytes of state after one step: Adafactor's factored moments against Adam's two."""
    work = next(iter(MATRICES))
    params = workload(work)
    weights = sum(p.numel() * p.element_size() for p in params)
    rows = []
    for label, make in (
        ("adalearn Adafactor", optim.Adafactor),
        ("torch.optim Adafactor", torch.optim.Adafactor),
        ("adalearn Adam", optim.Adam),
        ("torch.optim Adam", torch.optim.Adam),
    ):
        optimizer = make(workload(work))
        optimizer.step()
        size = state_bytes(optimizer)
        rows.append([label, f"{size:,}", f"{size / weights:.4f}"])
        del optimizer
        gc.collect()
    table(f"Optimizer state after one step, {work}, float32 ({weights:,} bytes of weights)",
          ["optimizer", "state bytes", "× weights"], rows)


def main():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows, summary = [], []
        for name, work in WORKLOADS:
            result, compile_seconds = measure(name, work)
            for label, (seconds, ratio) in result.items():
                budget = {"adalearn eager": EAGER_BUDGET,
                          "adalearn compile=True": COMPILED_BUDGET}.get(label)
                within = "-" if budget is None else ("yes" if ratio <= budget else "NO")
                rows.append([f"{name:9} {work:22} {label}", f"{1000 * seconds:.1f}",
                             f"{ratio:.2f}", "-" if budget is None else f"{budget:.1f}", within])
            summary.append([name, work, f"{compile_seconds:.1f}"])
        table("Optimizers after Adam, one step, float32, 1 thread: median of interleaved rounds",
              ["optimizer / workload / implementation", "ms", "× default", "budget", "within"],
              rows)
        table("adalearn compile=True: the first step (compiling)",
              ["optimizer", "workload", "compile s"], summary)
        memory()
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
