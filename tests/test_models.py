"""The book's small networks and its character data, against torch's own modules and the text."""

import inspect
import textwrap

import pytest
import torch

from adalearn import data, models


def test_python_source_windows_spell_the_modules_source():
    chars = data.python_source(context=16, modules=("textwrap", "heapq"), validation=0.2)
    text = inspect.getsource(textwrap) + inspect.getsource(__import__("heapq"))
    assert chars.alphabet == "".join(sorted(set(text)))
    decode = "".join
    first, second = chars.train[0], chars.train[1]
    assert decode(chars.alphabet[i] for i in first) == text[:17]
    assert decode(chars.alphabet[i] for i in second) == text[16:33]
    cut = int(len(text) * 0.8)
    assert decode(chars.alphabet[i] for i in chars.validation[0]) == text[cut : cut + 17]
    assert chars.train.shape == ((cut - 1) // 16, 17)


def test_python_source_rejects_bad_arguments():
    with pytest.raises(ValueError, match="validation"):
        data.python_source(validation=1.0)
    with pytest.raises(TypeError, match="modules"):
        data.python_source(modules="textwrap")


TRANSFORMERS = {
    "sp": lambda: models.CharTransformer(20, context=8, width=16, heads=2, blocks=2, seed=3),
    "mup": lambda: models.CharTransformerMuP(20, context=8, width=32, heads=2, blocks=2,
                                             base_width=8, seed=3),
}


@pytest.mark.parametrize("make", TRANSFORMERS.values(), ids=TRANSFORMERS.keys())
def test_char_transformer_is_causal_seeded_and_leaves_the_global_generator_alone(make):
    before = torch.get_rng_state()
    a = make()
    assert torch.equal(torch.get_rng_state(), before)
    b = make()
    tokens = torch.randint(20, (4, 8), generator=torch.Generator().manual_seed(0))
    logits = a(tokens)
    assert logits.shape == (4, 8, 20)
    assert torch.equal(logits, b(tokens))
    changed = tokens.clone()
    changed[:, 5:] = (changed[:, 5:] + 1) % 20
    other = a(changed)
    # A prediction sees only the characters before it: the first five stay as they were.
    torch.testing.assert_close(other[:, :5], logits[:, :5], rtol=0, atol=1e-6)
    assert not torch.allclose(other[:, 5:], logits[:, 5:])
    with pytest.raises(ValueError, match="at most 8"):
        a(torch.zeros(1, 9, dtype=torch.int64))


def test_char_transformer_rejects_bad_shapes():
    with pytest.raises(ValueError, match="divisible"):
        models.CharTransformer(10, width=30, heads=4)
    model = models.CharTransformer(10, context=4, width=8, heads=2)
    with pytest.raises(ValueError, match="at most 4"):
        model(torch.zeros(1, 5, dtype=torch.int64))


def test_mlp_is_torch_default_initialisation_under_the_seed():
    torch.manual_seed(7)
    layers = torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)
    expected = torch.nn.Sequential(*layers)
    model = models.mlp([64, 32, 10], seed=7)
    for p, q in zip(model.parameters(), expected.parameters(), strict=True):
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match="two widths"):
        models.mlp([5])


def test_matrix_parameters_takes_the_hidden_matrices_and_leaves_the_rest():
    model = models.CharTransformer(30, context=8, width=16, heads=2, blocks=1)
    matrices, others = models.matrix_parameters(model)
    ids = {id(p) for p in model.parameters()}
    assert {id(p) for p in matrices} | {id(p) for p in others} == ids
    assert len(matrices) + len(others) == len(ids)
    layer = model.blocks.layers[0]
    hidden = [layer.self_attn.in_proj_weight, layer.self_attn.out_proj.weight,
              layer.linear1.weight, layer.linear2.weight]
    assert [id(p) for p in matrices] == [id(p) for p in hidden]
    assert all(id(p) not in {id(q) for q in matrices}
               for p in (model.token.weight, model.position.weight, model.head.weight))


