"""Runs on each of the processes that tests/test_distributed.py starts: the checks themselves.

Each process builds the same model from the same seed and takes the same inputs, so that
the gradient FSDP2 averages over the processes is the one-process gradient to the last bit.
A check trains a sharded (or replicated) copy with an adalearn optimizer and a plain copy
with the reference optimizer, and records how far the whole parameters are apart.
"""

import contextlib
import io
import json
import math
import os
import sys
import time
import traceback

import torch
import torch.distributed as dist
from _cases import BY_NAME, RULES
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import (
    DTensor,
    Replicate,
    Shard,
    distribute_module,
    distribute_tensor,
    init_device_mesh,
)
from torch.nn.parallel import DistributedDataParallel

from adalearn import optim

STEPS = 3
# Every adalearn optimizer with a reference (torch.optim's namesake or the published package),
# in the table's distributed configuration.
CONFIGS = {info.name: info.distributed for info in RULES if info.distributed is not None}
# The reference of a distribute_module run is handed the sharded model's gradients once per
# step; LBFGS evaluates its closure several times per step, at points of its own.
SKIPPED = {("distribute_module", "LBFGS")}
# torch's own DTensor optimizer test compares the whole parameters at these tolerances; the
# compiled step is held to them.
TOLERANCE = {"atol": 1e-5, "rtol": 1.3e-6}


def reference(name):
    return BY_NAME[name].reference


def model(name, seed=0):
    """Layers the engine treats apart once sharded over two processes: 9, 7301 and 3 rows
    (uneven shards), local shards of 32,859 elements (stepped in blocks) and small ones
    (batched).
    Muon gets matrices only. Shampoo and SOAP get 31 hidden rows instead of 7301: their
    preconditioners are square in each dimension, and they gather each matrix whole anyway.
    """
    torch.manual_seed(seed)
    bias = name != "Muon"
    hidden = 31 if name in ("Shampoo", "SOAP") else 7301
    return torch.nn.Sequential(
        torch.nn.Linear(6, 9, bias=bias), torch.nn.Tanh(),
        torch.nn.Linear(9, hidden, bias=bias), torch.nn.Tanh(),
        torch.nn.Linear(hidden, 3, bias=bias),
    )


def batch(step):
    generator = torch.Generator().manual_seed(100 + step)
    return torch.randn(16, 6, generator=generator), torch.randn(16, 3, generator=generator)


def start(optimizer):
    if "train_mode" in optimizer.param_groups[0]:  # schedule-free: train mode, quietly
        with contextlib.redirect_stdout(io.StringIO()):
            optimizer.train()
    return optimizer


def train(net, optimizer, steps=STEPS, inputs=None):
    """Steps taken with a closure, as LBFGS needs one (the others call it once)."""
    for step in range(steps):
        x, y = batch(step) if inputs is None else inputs(step)

        def closure(x=x, y=y):
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(net(x), y)
            loss.backward()
            return loss

        optimizer.step(closure)
    return whole(net)


def whole(net):
    return torch.cat([
        (p.full_tensor() if isinstance(p, DTensor) else p).detach().flatten()
        for p in net.parameters()
    ])


def plain_run(name, kwargs):
    net = model(name)
    return train(net, start(reference(name)(net.parameters(), **kwargs)))


def compare(name, ours, theirs, exact):
    """Equal bit for bit (``exact``) or to torch's tolerance, after the reference moved."""
    moved = not torch.equal(theirs, whole(model(name)))
    ok = torch.equal(ours, theirs) if exact else torch.allclose(ours, theirs, **TOLERANCE)
    return {"ok": bool(ok and moved), "max_difference": (ours - theirs).abs().max().item(),
            "moved": bool(moved)}


def fsdp2(name, mesh, compile):
    kwargs = CONFIGS[name]
    net = model(name)
    for layer in net:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer, mesh=mesh)
    fully_shard(net, mesh=mesh)
    assert isinstance(net[2].weight, DTensor)
    ours = train(net, start(getattr(optim, name)(net.parameters(), compile=compile, **kwargs)))
    return compare(name, ours, plain_run(name, kwargs), exact=not compile)


def _shard(module_name, module, mesh):
    """torch's own DTensor optimizer test's sharding: every parameter of a Linear on Shard(0)."""
    if isinstance(module, torch.nn.Linear):
        for param_name, param in module.named_parameters():
            sharded = torch.nn.Parameter(distribute_tensor(param, mesh, [Shard(0)]))
            sharded.register_hook(lambda grad: grad.redistribute(placements=[Shard(0)]))
            module.register_parameter(param_name, sharded)


def _distributed(name, mesh):
    return distribute_module(
        model(name), mesh, _shard,
        lambda module, inputs, mesh: distribute_tensor(inputs[0], mesh, [Replicate()]),
        lambda module, outputs, mesh: outputs.redistribute(placements=[Replicate()]).to_local(),
    )


def distributed_module(name, mesh, compile):
    """distribute_module with Shard(0), as torch's own DTensor optimizer test shards a model.

    Its forward pass rounds otherwise than one process's, so the reference is given the same
    gradients: at each step the whole gradients of the sharded model, on a plain copy.
    """
    kwargs = CONFIGS[name]
    net, plain = _distributed(name, mesh), model(name)
    ours = start(getattr(optim, name)(net.parameters(), compile=compile, **kwargs))
    theirs = start(reference(name)(plain.parameters(), **kwargs))
    for step in range(STEPS):
        x, y = batch(step)
        ours.zero_grad()
        torch.nn.functional.mse_loss(net(x), y).backward()
        for p, q in zip(net.parameters(), plain.parameters(), strict=True):
            q.grad = p.grad.full_tensor()
        ours.step()
        theirs.step()
    assert all(isinstance(p, DTensor) for p in net.parameters())
    return compare(name, whole(net), whole(plain), exact=not compile)


def gathered(name, mesh):
    """What one FSDP2 step of a rule that mixes coordinates gathers: (dtype, numbers) per call.

    Muon should gather each matrix's direction once, in bfloat16; Adafactor each matrix's
    parameter and gradient.
    """
    from adalearn import _engine

    net = model(name)
    fully_shard(net, mesh=mesh)
    optimizer = getattr(optim, name)(net.parameters(), **CONFIGS[name])
    calls, gather = [], _engine._Rows.gather

    def counting(self, t):
        calls.append([str(t.dtype), math.prod(self.shape)])
        return gather(self, t)

    x, y = batch(0)
    torch.nn.functional.mse_loss(net(x), y).backward()
    _engine._Rows.gather = counting
    try:
        optimizer.step()
    finally:
        _engine._Rows.gather = gather
    return {"ok": True, "moved": True, "calls": calls,
            "sizes": [p.numel() for p in net.parameters()]}


def ddp(name, compile):
    kwargs = CONFIGS[name]
    net = DistributedDataParallel(model(name))
    rank = dist.get_rank()

    def half(step):  # each process its half of the batch: DDP averages the two gradients
        x, y = batch(step)
        return x[rank * 8:(rank + 1) * 8], y[rank * 8:(rank + 1) * 8]

    ours = train(net, start(getattr(optim, name)(net.parameters(), compile=compile, **kwargs)),
                 inputs=half)
    net = DistributedDataParallel(model(name))
    theirs = train(net, start(reference(name)(net.parameters(), **kwargs)), inputs=half)
    return compare(name, ours, theirs, exact=not compile)


def main(rank, world, port, names, compile, out):
    torch.set_num_threads(1)
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    mesh = init_device_mesh("cpu", (world,))
    results = {}
    for name in names:
        for kind in ("fsdp2", "distribute_module", "ddp"):
            if (kind, name) in SKIPPED:
                continue
            began = time.perf_counter()
            try:
                if kind == "fsdp2":
                    result = fsdp2(name, mesh, compile)
                elif kind == "distribute_module":
                    result = distributed_module(name, mesh, compile)
                else:
                    result = ddp(name, compile)
            except Exception:
                result = {"ok": False, "error": traceback.format_exc(limit=6)}
            result["seconds"] = round(time.perf_counter() - began, 2)
            results[f"{kind}-{name}"] = result
    if not compile:
        for name in ("Muon", "Adafactor"):
            if name in names:
                results[f"gathered-{name}"] = gathered(name, mesh)
    dist.barrier()
    dist.destroy_process_group()
    with open(os.path.join(out, f"rank{rank}.json"), "w") as file:
        json.dump(results, file)


if __name__ == "__main__":  # rank, port, names, "compile" or "eager", folder for the results
    main(int(sys.argv[1]), 2, int(sys.argv[2]), sys.argv[3].split(","),
         sys.argv[4] == "compile", sys.argv[5])
