"""Every private torch setting and internal that :mod:`adalearn._engine` relies on, in one place.

The engine's compiled step (``compile=True``) depends on parts of torch that are not public
API: settings of dynamo, of FX's symbolic shapes and of inductor, inductor's ``compile_fx``,
a rewrite of the FX graph, and a copy of a function's code object. They can change in any
torch release. Here each is named (:data:`NEEDS`), checked at once (:func:`missing`) and used
only through :func:`compile`, which applies the settings with the config modules' ``patch``
context managers for the duration of each call, never by assigning them. When one is missing,
:class:`adalearn.optim.RuleOptimizer` runs the eager engine and warns once, naming it.

The eager engine's multi-tensor copies (``torch._foreach_copy_`` and its kin) are private too;
:func:`copy_all` and :func:`fill_all` fall back to one copy per tensor where they are missing.
"""

from __future__ import annotations

import importlib
import types

import torch

# Variants torch.compile keeps per optimizer (see compile): a copy of the code gets its own.
RECOMPILE_LIMIT = 32

# (module, attribute): what compile() uses.
NEEDS = (
    ("torch._dynamo.config", "specialize_float"),
    ("torch._dynamo.config", "automatic_dynamic_shapes"),
    ("torch._dynamo.config", "recompile_limit"),
    ("torch._dynamo.config", "patch"),
    ("torch.fx.experimental._config", "use_duck_shape"),
    ("torch.fx.experimental._config", "patch"),
    ("torch._inductor.config", "emulate_precision_casts"),
    ("torch._inductor.config", "patch"),
    ("torch._inductor.compile_fx", "compile_fx"),
)


def missing(needs=None):
    """The private torch internals that ``compile=True`` needs and this torch lacks, by name."""
    absent = []
    for module, name in NEEDS if needs is None else needs:
        try:
            found = hasattr(importlib.import_module(module), name)
        except ImportError:
            found = False
        if not found:
            absent.append(f"{module}.{name}")
    return absent


def compile(function):
    """``function`` compiled by :func:`torch.compile`, with its own cache of compiled variants.

    torch.compile keeps the variants compiled for a function (one per dtype, per set of
    hyperparameter constants, per number of parameters in a call, ...) on its code object, at
    most ``torch._dynamo.config.recompile_limit`` of them, and runs it uncompiled past that.
    A copy of the code gives each optimizer a budget of its own, of :data:`RECOMPILE_LIMIT`.

    Each call runs with these settings, read only when compiling. Hyperparameters other than
    the learning rate stay constants of the compiled code, also when a new state layout
    recompiles it (dynamo would then make every float an input: loaded again for every 16
    elements, with ``beta ** t`` recomputed there). Every parameter gets a length of its own,
    so that chunks of parameters with other sizes reuse the code. Values cast to a lower
    precision (Muon's bfloat16) are rounded where eager code rounds them.
    """
    code = function.__code__.replace()
    copy = types.FunctionType(code, function.__globals__, function.__name__)
    compiled = torch.compile(copy, backend=_inductor_with_scalars, dynamic=True, fullgraph=True)
    from torch._dynamo import config as dynamo
    from torch._inductor import config as inductor
    from torch.fx.experimental import _config as shapes

    # Made once: a patch restores what it found on each exit, so it can be entered again.
    settings = (
        dynamo.patch(specialize_float=True, automatic_dynamic_shapes=False,
                     recompile_limit=RECOMPILE_LIMIT),
        shapes.patch(use_duck_shape=False),
        inductor.patch(emulate_precision_casts=True),
    )

    def call(*args):
        with settings[0], settings[1], settings[2]:
            return compiled(*args)

    return call


def _inductor_with_scalars(graph_module, example_inputs):
    """torch.compile's default compiler, told to compute each scalar of the update once.

    A rule computes step-dependent numbers, such as Adam's ``1 - beta1 ** t``, on the
    zero-dimensional step tensor. Inductor would inline them into the loop over the
    parameter and, because its C++ keeps ``errno`` semantics, call ``pow`` again for every
    16 elements. Returning them as extra outputs of the FX graph makes it store each one once,
    before the loop.
    """
    from torch._inductor.compile_fx import compile_fx

    def scalar(node):
        value = node.meta.get("example_value")
        return isinstance(value, torch.Tensor) and value.dim() == 0

    output = next(node for node in graph_module.graph.nodes if node.op == "output")
    results = tuple(output.args[0])
    scalars = [
        node
        for node in graph_module.graph.nodes
        if node.op == "call_function"
        and scalar(node)
        and node not in results
        and any(not scalar(user) for user in node.users if user.op != "output")
    ]
    output.args = ((*results, *scalars),)
    graph_module.recompile()
    compiled = compile_fx(graph_module, example_inputs)
    count = len(results)
    return lambda *args: compiled(*args)[:count]


def copy_all(targets, sources):
    """Copy each of ``sources`` into the tensor of ``targets`` beside it."""
    if hasattr(torch, "_foreach_copy_"):
        torch._foreach_copy_(targets, sources)
    else:
        for target, source in zip(targets, sources, strict=True):
            target.copy_(source)


def fill_all(tensors, value):
    """Set every element of each of ``tensors`` to the number ``value``."""
    if hasattr(torch, "_foreach_zero_") and hasattr(torch, "_foreach_add_"):
        torch._foreach_zero_(tensors)
        torch._foreach_add_(tensors, value)
    else:
        for tensor in tensors:
            tensor.fill_(value)
