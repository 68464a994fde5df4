"""Small networks for the book's training experiments, seeded and CPU-sized.

- :class:`CharTransformer`: a decoder-only transformer that predicts the next character;
- :class:`CharTransformerMuP`: the same network in μP relative to a base width, for
  hyperparameters that carry over from a narrow network to a wide one;
- :func:`mlp`: a fully connected ReLU network, for scikit-learn's digits.

Each takes a ``seed`` and draws its initial weights from torch's default initialisation under
that seed, leaving torch's global random state as it was, so the same seed gives the same
network wherever it is built.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from adalearn._array import torch_missing

try:
    import torch
except ModuleNotFoundError as error:
    raise torch_missing(__name__, error) from error

from adalearn import parametrization
from adalearn.data import _check_positive_int, _check_seed

__all__ = ["CharTransformer", "CharTransformerMuP", "matrix_parameters", "mlp"]


class CharTransformer(torch.nn.Module):
    """A decoder-only transformer over characters: embeddings, pre-norm blocks, a linear head.

    Each block is causal self-attention followed by a two-layer MLP of width ``4 * width``,
    each with a residual connection and a LayerNorm in front (the GPT-2 arrangement); no
    dropout. The forward pass maps token ids of shape ``(batch, length)``, ``length ≤
    context``, to logits of shape ``(batch, length, vocabulary)``.

    Parameters
    ----------
    vocabulary : int
        Number of distinct tokens.
    context : int, default 32
        The longest sequence the position embedding covers.
    width : int, default 32
        The embedding width, divisible by ``heads``.
    heads : int, default 4
        Attention heads per block.
    blocks : int, default 1
        Number of transformer blocks.
    seed : int, default 0
        Seed of the initial weights.
    """

    mask: torch.Tensor

    def __init__(
        self,
        vocabulary: int,
        context: int = 32,
        width: int = 32,
        heads: int = 4,
        blocks: int = 1,
        seed: int = 0,
    ) -> None:
        super().__init__()
        vocabulary = _check_positive_int("vocabulary", vocabulary)
        self.context = _check_positive_int("context", context)
        width = _check_positive_int("width", width)
        heads = _check_positive_int("heads", heads)
        blocks = _check_positive_int("blocks", blocks)
        if width % heads:
            raise ValueError(
                f"`width` must be divisible by `heads`. Received: width={width}, heads={heads}"
            )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_check_seed(seed))
            self.token = torch.nn.Embedding(vocabulary, width)
            self.position = torch.nn.Embedding(self.context, width)
            layer = torch.nn.TransformerEncoderLayer(
                width, heads, 4 * width, dropout=0.0, batch_first=True, norm_first=True
            )
            self.blocks = torch.nn.TransformerEncoder(layer, blocks, enable_nested_tensor=False)
            self.norm = torch.nn.LayerNorm(width)
            self.head = torch.nn.Linear(width, vocabulary)
        mask = torch.nn.Transformer.generate_square_subsequent_mask(self.context)
        self.register_buffer("mask", mask, persistent=False)

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        length = tokens.shape[-1]
        if length > self.context:
            raise ValueError(
                f"`tokens` must be at most {self.context} long. Received: length={length}"
            )
        return self.token(tokens) + self.position.weight[:length]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self._embed(tokens)
        length = h.shape[-2]
        h = self.blocks(h, mask=self.mask[:length, :length], is_causal=True)
        return self.head(self.norm(h))


class CharTransformerMuP(CharTransformer):
    r""":class:`CharTransformer` in μP relative to a base width: what μP changes in the network.

    Three things differ from :class:`CharTransformer`, and all three are the identity at
    ``width == base_width``, where the two networks are the same (same weights under the
    same seed, same outputs):

    - attention logits are scaled by :math:`\sqrt{d_0}/d` instead of :math:`1/\sqrt d`, for
      heads of width :math:`d` = ``width // heads`` and :math:`d_0` = ``base_width // heads``:
      once training has made queries and keys correlated, their dot product grows like
      :math:`d`, not :math:`\sqrt d`;
    - the readout multiplies its input by ``base_width / width`` (μP's output multiplier);
    - the readout's weights and every bias keep the scale they have at the base width
      (:func:`adalearn.parametrization.mup_init_`).

    Train it with :func:`adalearn.parametrization.mup_param_groups` and
    :meth:`base_shapes`, which give the hidden weights the learning rate
    :math:`\eta \cdot` ``base_width / width``. Parameters, parameter names and forward pass
    are :class:`CharTransformer`'s, with one more parameter:

    Parameters
    ----------
    base_width : int, default 32
        The width at which the hyperparameters are tuned, divisible by ``heads``.
    """

    def __init__(
        self,
        vocabulary: int,
        context: int = 32,
        width: int = 32,
        heads: int = 4,
        blocks: int = 1,
        base_width: int = 32,
        seed: int = 0,
    ) -> None:
        super().__init__(vocabulary, context, width, heads, blocks, seed)
        self.base_width = _check_positive_int("base_width", base_width)
        if base_width % heads:
            raise ValueError(
                "`base_width` must be divisible by `heads`. "
                f"Received: base_width={base_width}, heads={heads}"
            )
        self.attention_scale = math.sqrt(base_width // heads) / (width // heads)
        self.readout_multiplier = base_width / width
        parametrization.mup_init_(self, self.base_shapes())

    def base_shapes(self) -> dict[str, torch.Size]:
        """The shapes of the parameters, by name, of the same network at ``base_width``."""
        attention = self.blocks.layers[0].self_attn
        with torch.device("meta"):
            base = CharTransformer(
                self.head.out_features, self.context, self.base_width, attention.num_heads,
                len(self.blocks.layers),
            )
        return {name: p.shape for name, p in base.named_parameters()}

    def _attention(self, attention: torch.nn.MultiheadAttention, x: torch.Tensor) -> torch.Tensor:
        q, k, v = torch.nn.functional.linear(
            x, attention.in_proj_weight, attention.in_proj_bias
        ).chunk(3, dim=-1)
        # (..., length, width) -> (..., heads, length, head width)
        q, k, v = (t.unflatten(-1, (attention.num_heads, -1)).transpose(-3, -2) for t in (q, k, v))
        out = torch.nn.functional.scaled_dot_product_attention(
            q, k, v, is_causal=True, scale=self.attention_scale
        )
        return attention.out_proj(out.transpose(-3, -2).flatten(-2))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self._embed(tokens)
        for layer in self.blocks.layers:  # torch's pre-norm block, with μP's attention scale
            h = h + self._attention(layer.self_attn, layer.norm1(h))
            h = h + layer.linear2(layer.activation(layer.linear1(layer.norm2(h))))
        return self.head(self.norm(h) * self.readout_multiplier)


def mlp(sizes: Sequence[int], seed: int = 0) -> torch.nn.Sequential:
    """A ReLU network ``Linear(sizes[0], sizes[1]) → ReLU → … → Linear(sizes[-2], sizes[-1])``.

    Parameters
    ----------
    sizes : sequence of int
        The widths, inputs first, outputs last; at least two.
    seed : int, default 0
        Seed of torch's default initialisation of the layers.
    """
    sizes = [_check_positive_int("sizes[i]", size) for size in sizes]
    if len(sizes) < 2:
        raise ValueError(f"`sizes` must hold at least two widths. Received: sizes={sizes!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_check_seed(seed))
        layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=False):
            layers += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
        return torch.nn.Sequential(*layers[:-1])


def matrix_parameters(
    model: torch.nn.Module,
) -> tuple[list[torch.nn.Parameter], list[torch.nn.Parameter]]:
    """Split ``model``'s parameters into hidden weight matrices and the rest.

    Matrix optimizers such as Muon are meant for the 2-D weights of hidden layers; embeddings,
    the output layer (the last ``Linear``), biases and norms go to an elementwise optimizer.
    Returns ``(matrices, others)``, two lists covering every parameter once.
    """
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    excluded = {id(linears[-1].weight)} if linears else set()
    for module in model.modules():
        if isinstance(module, torch.nn.Embedding):
            excluded.add(id(module.weight))
    matrices: list[torch.nn.Parameter] = []
    others: list[torch.nn.Parameter] = []
    for p in model.parameters():
        (matrices if p.ndim == 2 and id(p) not in excluded else others).append(p)
    return matrices, others
