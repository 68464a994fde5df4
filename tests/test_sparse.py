"""Sparse gradients (``nn.Embedding(sparse=True)``), against torch.optim on the same seeded run.

SGD and Adagrad take them, as torch.optim's do, and give its numbers bit for bit for every
configuration of torch's optimizer database that torch runs with a sparse gradient; SparseAdam
takes only them. LBFGS makes a sparse gradient dense, as torch.optim's does. Every other
optimizer refuses a sparse gradient with torch.optim's message before anything moves.
"""

import pytest
import torch

from adalearn import optim

common_optimizers = pytest.importorskip(
    "torch.testing._internal.common_optimizers", reason="torch's optim_db needs expecttest"
)
INFOS = {info.name: info for info in common_optimizers.optim_db if info.name in optim.__all__}
SPARSE = [name for name, info in INFOS.items()
          if info.supports_sparse or info.only_supports_sparse_grads]
# torch.optim.LBFGS, whose step takes a closure, makes a sparse gradient dense.
DENSIFIED = [name for name, info in INFOS.items() if info.step_requires_closure]
DENSE_ONLY = [name for name in INFOS if name not in SPARSE + DENSIFIED]
STEPS = 8
# Each step's batch of token ids, with repeats (a sparse gradient then holds an index twice).
BATCHES = torch.tensor([[1, 4, 4, 7], [0, 9, 2, 2], [7, 7, 7, 3], [3, 1, 8, 5]])


def model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Embedding(10, 6, sparse=True), torch.nn.Linear(6, 2))


def run(cls, kwargs, steps=STEPS, **extra):
    """Steps on an embedding table and, for optimizers that also take dense gradients, the
    dense layer after it. Returns the parameters, or the error the first step raised."""
    net = model()
    sparse_only = INFOS[cls.__name__].only_supports_sparse_grads
    params = net[0].parameters() if sparse_only else net.parameters()
    optimizer = cls(params, **kwargs, **extra)
    for step in range(steps):
        optimizer.zero_grad()
        out = net(BATCHES[step % len(BATCHES)])
        (out - 1).pow(2).sum().backward()
        assert net[0].weight.grad.is_sparse
        try:
            optimizer.step()
        except RuntimeError as error:
            return error
    return torch.cat([p.detach().flatten() for p in net.parameters()])


CASES = [
    pytest.param(name, index, id=f"{name}-{index}-{config.desc}")
    for name in SPARSE
    for index, config in enumerate(INFOS[name].optim_inputs_func(device="cpu"))
]


def kwargs_of(name, index):
    return INFOS[name].optim_inputs_func(device="cpu")[index].kwargs


@pytest.mark.parametrize(("name", "index"), CASES)
def test_sparse_gradients_step_as_torch_optim_bit_for_bit(name, index):
    theirs = run(INFOS[name].optim_cls, kwargs_of(name, index))
    ours = run(getattr(optim, name), kwargs_of(name, index))
    if isinstance(theirs, Exception):  # Adagrad's weight decay: refused, in torch's words
        assert isinstance(ours, type(theirs)) and str(ours) == str(theirs)
        return
    assert not torch.equal(theirs, torch.cat([p.detach().flatten()
                                              for p in model().parameters()]))
    assert torch.equal(ours, theirs), (ours - theirs).abs().max().item()


@pytest.mark.slow
@pytest.mark.parametrize("name", SPARSE)
def test_compiled_optimizers_take_sparse_gradients_too(name):
    """The dense layer compiles; the embedding table takes torch's sparse step."""
    ours = run(getattr(optim, name), kwargs_of(name, 0), compile=True)
    theirs = run(INFOS[name].optim_cls, kwargs_of(name, 0))
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", DENSE_ONLY)
def test_the_others_refuse_sparse_gradients_with_torchs_message(name):
    kwargs = {"lr": 0.01} if name != "Adadelta" else {}
    messages = []
    for cls in (INFOS[name].optim_cls, getattr(optim, name)):
        net = model()
        params = [net[0].weight] if name == "Muon" else list(net.parameters())
        before = [p.detach().clone() for p in params]
        optimizer = cls(params, **kwargs)
        net(BATCHES[0]).sum().backward()
        with pytest.raises(RuntimeError) as error:
            optimizer.step()
        messages.append(str(error.value))
        assert all(torch.equal(p.detach(), b) for p, b in zip(params, before, strict=True))
    assert messages[0] == messages[1] and "sparse gradients" in messages[0]


@pytest.mark.parametrize(("name", "index"), [
    pytest.param(name, index, id=f"{name}-{index}-{config.desc}")
    for name in DENSIFIED
    for index, config in enumerate(INFOS[name].optim_inputs_func(device="cpu"))
])
def test_a_sparse_gradient_is_made_dense_where_torch_optim_does(name, index):
    results = []
    for cls in (INFOS[name].optim_cls, getattr(optim, name)):
        net = model()
        optimizer = cls(net.parameters(), **kwargs_of(name, index))
        for step in range(3):
            def closure(batch=BATCHES[step], net=net, optimizer=optimizer):
                optimizer.zero_grad()
                value = (net(batch) - 1).pow(2).sum()
                value.backward()
                assert net[0].weight.grad.is_sparse
                return value

            optimizer.step(closure)
        results.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
    assert not torch.equal(results[0], torch.cat([p.detach().flatten()
                                                  for p in model().parameters()]))
    assert torch.equal(*results), (results[0] - results[1]).abs().max().item()


def test_sparse_adam_refuses_dense_gradients_with_torchs_message():
    messages = []
    for cls in (torch.optim.SparseAdam, optim.SparseAdam):
        p = torch.nn.Parameter(torch.ones(3))
        p.grad = torch.ones(3)
        with pytest.raises(RuntimeError) as error:
            cls([p]).step()
        messages.append(str(error.value))
    assert messages[0] == messages[1] == (
        "SparseAdam does not support dense gradients, please consider Adam instead")


@pytest.mark.parametrize("name", ["Lion", "AdamWScheduleFree", "Heun"])
def test_optimizers_without_a_namesake_refuse_sparse_gradients_too(name):
    net = model()
    optimizer = getattr(optim, name)(net.parameters(), lr=0.01)
    if name == "AdamWScheduleFree":
        optimizer.param_groups[0]["train_mode"] = True
    net(BATCHES[0]).sum().backward()
    with pytest.raises(RuntimeError, match=f"{name} does not support sparse gradients"):
        optimizer.step(lambda: net(BATCHES[0]).sum())
