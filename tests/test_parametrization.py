"""μP relative to a base width, against the ``mup`` package and torch's own attention.

``mup`` (Yang et al.'s reference implementation) sets μP up in its own way: the readout is a
``MuReadout``, ``set_base_shapes`` rescales torch's initialisation, ``MuAdam`` splits the
parameters into groups. Built from the same seed, the network and the groups it gives must be
the ones adalearn gives.
"""

import math

import pytest
import torch

mup = pytest.importorskip("mup")

from adalearn import models, parametrization  # noqa: E402

VOCABULARY, CONTEXT, HEADS, BASE = 30, 8, 4, 32


def _with_mup_readout(model, name="head"):
    """``model`` with its readout ``Linear`` replaced by a ``mup.MuReadout`` of equal weights."""
    linear = getattr(model, name)
    readout = mup.MuReadout(linear.in_features, linear.out_features)
    with torch.no_grad():
        readout.weight.copy_(linear.weight)
        readout.bias.copy_(linear.bias)
    setattr(model, name, readout)
    return model


def _mup_transformer(width, seed):
    """The standard-parametrization transformer set up by ``mup`` relative to width ``BASE``."""
    base = _with_mup_readout(models.CharTransformer(VOCABULARY, CONTEXT, BASE, HEADS))
    twin = _with_mup_readout(models.CharTransformer(VOCABULARY, CONTEXT, width, HEADS, seed=seed))
    return mup.set_base_shapes(twin, base)


def _per_parameter(model, groups):
    """Each parameter's ``(lr, weight_decay)`` by name, from an optimizer's groups."""
    by_id = {id(p): (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}
    assert len(by_id) == len(list(model.parameters()))
    return {name: by_id[id(p)] for name, p in model.named_parameters()}


@pytest.mark.parametrize("width", [16, 32, 64, 256])
def test_mup_param_groups_equal_mups_muadam(width):
    ours = models.CharTransformerMuP(VOCABULARY, CONTEXT, width, HEADS, base_width=BASE, seed=1)
    groups = parametrization.mup_param_groups(ours, ours.base_shapes(), lr=3e-3, weight_decay=0.1)
    twin = _mup_transformer(width, seed=1)
    theirs = mup.MuAdam(twin.parameters(), lr=3e-3, weight_decay=0.1)
    assert _per_parameter(ours, groups) == _per_parameter(twin, theirs.param_groups)
    hidden = ours.blocks.layers[0].linear2.weight
    assert _per_parameter(ours, groups)["blocks.layers.0.linear2.weight"] == pytest.approx(
        (3e-3 * BASE / width, 0.1 * width / BASE)
    )
    assert hidden.shape == (width, 4 * width)


@pytest.mark.parametrize("width", [16, 64, 256])
def test_mup_initialisation_and_readout_equal_mups(width):
    ours = models.CharTransformerMuP(VOCABULARY, CONTEXT, width, HEADS, base_width=BASE, seed=2)
    twin = _mup_transformer(width, seed=2)
    theirs = dict(twin.named_parameters())
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p, theirs[name], rtol=1e-6, atol=0, msg=name)
    # The scales themselves: torch draws these uniformly within 1/√fan-in, μP keeps the base's.
    for name in ("head.weight", "head.bias", "blocks.layers.0.linear1.bias"):
        largest = dict(ours.named_parameters())[name].abs().max()
        assert 0.8 / math.sqrt(BASE) < largest <= (1 + 1e-6) / math.sqrt(BASE)
    # MuReadout divides its input by the width multiplier; ours multiplies by base / width.
    # Attention is not mup's: give the twin ours to compare the rest of the forward pass.
    same_attention = models.CharTransformerMuP(VOCABULARY, CONTEXT, width, HEADS,
                                               base_width=width, seed=2)
    same_attention.attention_scale = ours.attention_scale
    twin_forward = _with_mup_readout(same_attention)
    base = _with_mup_readout(models.CharTransformer(VOCABULARY, CONTEXT, BASE, HEADS))
    mup.set_base_shapes(twin_forward, base)
    tokens = torch.randint(VOCABULARY, (3, CONTEXT), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(ours(tokens), twin_forward(tokens), rtol=1e-5, atol=1e-6)


def test_mup_on_a_ReLU_network_equals_mups():
    width = 96
    ours = models.mlp([64, width, width, 10], seed=4)
    base = models.mlp([64, BASE, BASE, 10])
    parametrization.mup_init_(ours, base)
    groups = parametrization.mup_param_groups(ours, base, lr=0.01)
    twin = _with_mup_readout(models.mlp([64, width, width, 10], seed=4), "4")
    mup.set_base_shapes(twin, _with_mup_readout(models.mlp([64, BASE, BASE, 10]), "4"))
    theirs = mup.MuAdam(twin.parameters(), lr=0.01)
    assert _per_parameter(ours, groups) == _per_parameter(twin, theirs.param_groups)
    for (name, p), q in zip(ours.named_parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=0, msg=name)
    roles = parametrization.roles(ours, base)
    assert [roles[f"{i}.weight"].kind for i in (0, 2, 4)] == ["input", "hidden", "output"]
    assert roles["2.weight"].fan_in == roles["4.weight"].fan_in == width / BASE


@pytest.mark.parametrize("width", [32, 128])
def test_mup_attention_is_torchs_with_logits_scaled_by_sqrt_d0_over_d(width):
    ours = models.CharTransformerMuP(VOCABULARY, CONTEXT, width, HEADS, base_width=BASE, seed=5)
    # torch's layer divides q·k by √d; scaling the queries by √d · √d0 / d gives μP's √d0 / d.
    d, d0 = width // HEADS, BASE // HEADS
    reference = models.CharTransformer(VOCABULARY, CONTEXT, width, HEADS, seed=5)
    reference.load_state_dict(ours.state_dict())
    attention = reference.blocks.layers[0].self_attn
    with torch.no_grad():
        attention.in_proj_weight[:width] *= math.sqrt(d) * math.sqrt(d0) / d
        attention.in_proj_bias[:width] *= math.sqrt(d) * math.sqrt(d0) / d
        reference.head.weight *= BASE / width  # W (h · base/width) + b, the bias unscaled
    tokens = torch.randint(VOCABULARY, (3, CONTEXT), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(ours(tokens), reference(tokens), rtol=1e-5, atol=1e-5)


def test_at_the_base_width_mup_is_the_standard_parametrization():
    ours = models.CharTransformerMuP(VOCABULARY, CONTEXT, 64, HEADS, base_width=64, seed=6)
    standard = models.CharTransformer(VOCABULARY, CONTEXT, 64, HEADS, seed=6)
    for p, q in zip(ours.parameters(), standard.parameters(), strict=True):
        assert torch.equal(p, q)
    tokens = torch.randint(VOCABULARY, (3, CONTEXT), generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(ours(tokens), standard(tokens), rtol=1e-5, atol=1e-6)
    groups = parametrization.mup_param_groups(ours, ours.base_shapes(), lr=0.01)
    assert all(g["lr"] == 0.01 for g in groups)


def test_groups_drive_torch_adam():
    model = models.CharTransformerMuP(VOCABULARY, CONTEXT, 64, HEADS, base_width=BASE)
    optimizer = torch.optim.Adam(parametrization.mup_param_groups(model, model.base_shapes(), 0.01))
    tokens = torch.randint(VOCABULARY, (2, CONTEXT + 1), generator=torch.Generator().manual_seed(3))
    loss = torch.nn.functional.cross_entropy(model(tokens[:, :-1]).flatten(0, 1),
                                             tokens[:, 1:].flatten())
    loss.backward()
    before = model.blocks.layers[0].linear1.weight.detach().clone()
    optimizer.step()
    # Adam's first step is lr · sign(g) (up to eps): lr / m for a hidden weight, m = 2 here.
    moved = (model.blocks.layers[0].linear1.weight - before).abs()
    torch.testing.assert_close(moved[moved > 0].max(), torch.tensor(0.005), rtol=1e-3, atol=0)


def test_bad_arguments_are_named():
    model = models.mlp([4, 8, 2])
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        parametrization.mup_param_groups(model, model, lr=-1)
    with pytest.raises(ValueError, match="Invalid weight_decay value: -0.1"):
        parametrization.mup_param_groups(model, model, lr=0.1, weight_decay=-0.1)
    with pytest.raises(ValueError, match="`base` must have the parameters of `model`"):
        parametrization.roles(model, models.mlp([4, 8, 8, 2]))
    with pytest.raises(TypeError, match="`base` must be a torch.nn.Module"):
        parametrization.roles(model, [(4, 8)])
    with pytest.raises(ValueError, match="`base_width` must be divisible by `heads`"):
        models.CharTransformerMuP(10, width=32, heads=4, base_width=30)
