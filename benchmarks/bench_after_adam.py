"""The optimizers after Adam: one step on CPU in float32, against torch.optim's own, and memory.

NAdam and RAdam run on the workloads of ``bench_optim`` (10M parameters in 10 tensors, 2M in
400); Adafactor and Muon, which act on whole matrices, on ten 1000×1000 matrices. The
contenders are torch.optim's default (its for-loop on CPU), adalearn.optim eager and with
``compile=True``; each has its own parameters and gradients. As in ``bench_optim``: at one
thread and at every thread of the machine, interleaved rounds, each ratio the median over
rounds of the step time over torch.optim default's in the same round and at the same thread
count. Budgets: eager ≤ 1.5×, compiled ≤ 1.0×.

Memory: the bytes of optimizer state (every tensor in ``optimizer.state``) after one step, for
Adafactor and Adam on the same ten matrices, adalearn's and torch.optim's.
"""

import gc
import statistics

import torch

from adalearn import optim
from benchmarks import interleaved, ratio, table, thread_counts
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


def measure(name, work, counts):
    """Per thread count and contender: median step time and median ratio to torch's default;
    and what compiling adds to the warm-up at one thread."""
    makers = {
        "torch.optim default": lambda: getattr(torch.optim, name)(workload(work)),
        "adalearn eager": lambda: getattr(optim, name)(workload(work)),
        "adalearn compile=True": lambda: getattr(optim, name)(workload(work), compile=True),
    }
    times, warm = interleaved(makers, ROUNDS[name], WARMUP, counts)
    result = {
        key: (statistics.median(samples), ratio(times, key, (key[0], "torch.optim default")))
        for key, samples in times.items()
    }
    gc.collect()
    return result, warm[1, "adalearn compile=True"] - warm[1, "adalearn eager"]


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
    counts = thread_counts()
    rows, summary = [], []
    for name, work in WORKLOADS:
        result, compile_seconds = measure(name, work, counts)
        for label in ("torch.optim default", "adalearn eager", "adalearn compile=True"):
            budget = {"adalearn eager": EAGER_BUDGET,
                      "adalearn compile=True": COMPILED_BUDGET}.get(label)
            row = [f"{name:9} {work:22} {label}"]
            for n in counts:
                seconds, by_default = result[n, label]
                within = "-" if budget is None else ("yes" if by_default <= budget else "NO")
                row += [f"{1000 * seconds:.1f}", f"{by_default:.2f}", within]
            rows.append(row)
        summary.append([name, work, f"{compile_seconds:.1f}"])
    header = ["optimizer / workload / implementation"]
    for n in counts:
        header += [f"ms {n} thread{'s' if n > 1 else ''}", "× default", "within"]
    table(f"Optimizers after Adam, one step, float32, at {' and '.join(map(str, counts))} "
          f"threads: median of interleaved rounds (budgets: eager ≤ {EAGER_BUDGET}×, compiled "
          f"≤ {COMPILED_BUDGET}× default)", header, rows)
    table("adalearn compile=True: what compiling adds to the warm-up, at 1 thread",
          ["optimizer", "workload", "compile s"], summary)
    memory()


if __name__ == "__main__":
    main()
