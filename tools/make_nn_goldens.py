#!/usr/bin/env python3
"""Golden values for tinydiff's nn layers, computed by PyTorch, for tests/nn/test_layers_golden.cpp.

Each case builds one PyTorch layer with a fixed seed, runs it on a fixed input, and
backpropagates a fixed upstream gradient g (a random tensor of the output's shape, i.e. the
scalar loss L = sum(output * g)). It records, in float32, under the prefix "<case>.":

    <case>.input[.N]          the input(s); int64 ids for the embedding, float32 otherwise
    <case>.mask               key padding mask (B, Lk), float32, 1 = keep (tinydiff's convention;
                              PyTorch is given the opposite, True = ignore)
    <case>.param.<name>       every parameter, under its PyTorch name
    <case>.output             the layer's output
    <case>.grad_output        g
    <case>.grad.input[.N]     dL/d input (float inputs only)
    <case>.grad.param.<name>  dL/d parameter

Parameters PyTorch initialises to constants (norm weights 1 and biases 0, attention biases 0)
are re-drawn at random so the tests exercise them. Layers run in training mode with
dropout 0 (PyTorch's fused "fast path" only runs in inference, so the plain maths is used).

Run (Debian's python3-torch 1.13; writes tests/golden/nn_layers.safetensors):

    /usr/bin/python3 tools/make_nn_goldens.py
"""

import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_np  # noqa: E402  (tools/safetensors_np.py)

OUT = os.path.join(HERE, "..", "tests", "golden", "nn_layers.safetensors")

tensors = {}


def put(name, t):
    assert name not in tensors, name
    tensors[name] = t.detach().cpu().contiguous().numpy().copy()


def randomize_constant_params(module, gen):
    """Parameters PyTorch starts as constants (norm weights 1, biases 0) get random values:
    weights 1 + 0.5 N(0, 1), biases 0.5 N(0, 1)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if torch.all(p == p.flatten()[0]):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5 + (1.0 if name.endswith("weight") else 0.0))


def record(case, module, inputs, forward, mask=None, randomize=True):
    """Runs forward(*inputs) and records everything for `case`. inputs: list of tensors."""
    gen = torch.Generator().manual_seed(1000 + sum(map(ord, case)))  # fixed per case
    if randomize and module is not None:
        randomize_constant_params(module, gen)
    leaves = []
    for i, x in enumerate(inputs):
        suffix = "" if len(inputs) == 1 else f".{i}"
        put(f"{case}.input{suffix}", x)
        if x.is_floating_point():
            x = x.clone().requires_grad_(True)
        leaves.append(x)
    if mask is not None:
        put(f"{case}.mask", mask.float())
    if module is not None:
        for name, p in module.named_parameters():
            put(f"{case}.param.{name}", p)
            p.grad = None
    out = forward(*leaves)
    g = torch.randn(out.shape, generator=gen)
    out.backward(g)
    put(f"{case}.output", out)
    put(f"{case}.grad_output", g)
    for i, x in enumerate(leaves):
        suffix = "" if len(inputs) == 1 else f".{i}"
        if x.is_floating_point():
            put(f"{case}.grad.input{suffix}", x.grad)
    if module is not None:
        for name, p in module.named_parameters():
            put(f"{case}.grad.param.{name}", p.grad)


def main():
    torch.manual_seed(0)
    torch.set_default_dtype(torch.float32)

    # Linear(8, 6) on (2, 3, 8).
    m = torch.nn.Linear(8, 6)
    record("linear", m, [torch.randn(2, 3, 8)], m)

    # Conv2d(3, 5, 3, stride 2, padding 1) on (2, 3, 9, 9) -> (2, 5, 5, 5).
    m = torch.nn.Conv2d(3, 5, 3, stride=2, padding=1)
    record("conv2d", m, [torch.randn(2, 3, 9, 9)], m)

    # GroupNorm(2 groups, 6 channels) on (2, 6, 4, 4).
    m = torch.nn.GroupNorm(2, 6)
    record("group_norm", m, [torch.randn(2, 6, 4, 4) * 2 + 0.5], m)

    # LayerNorm(10) on (2, 3, 10).
    m = torch.nn.LayerNorm(10)
    record("layer_norm", m, [torch.randn(2, 3, 10) * 3 - 1], m)

    # Embedding(11, 5) on ids (2, 4) with repeats (rows 3 and 7 are read twice).
    m = torch.nn.Embedding(11, 5)
    ids = torch.tensor([[3, 0, 7, 3], [10, 7, 1, 5]], dtype=torch.int64)
    record("embedding", m, [ids], m)

    # Activations on (3, 7).
    x = torch.linspace(-4, 4, 21).reshape(3, 7)
    record("gelu", None, [x], torch.nn.GELU())
    record("gelu_tanh", None, [x], torch.nn.GELU(approximate="tanh"))
    record("silu", None, [x], torch.nn.SiLU())

    # MultiheadAttention: self-attention (packed in_proj_weight), key padding mask.
    # keep: (B, Lk), 1 = keep; PyTorch's key_padding_mask is True = ignore.
    keep5 = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)
    m = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    record("mha_self", m, [torch.randn(2, 5, 16)],
           lambda x: m(x, x, x, key_padding_mask=~keep5, need_weights=False)[0], mask=keep5)

    # Cross-attention with kdim = 12, vdim = 10 (separate q/k/v_proj_weight), mask over 7 keys.
    keep7 = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 0, 1, 1, 0, 1, 0]], dtype=torch.bool)
    m = torch.nn.MultiheadAttention(16, 4, kdim=12, vdim=10, batch_first=True)
    record("mha_cross", m, [torch.randn(2, 5, 16), torch.randn(2, 7, 12), torch.randn(2, 7, 10)],
           lambda q, k, v: m(q, k, v, key_padding_mask=~keep7, need_weights=False)[0], mask=keep7)

    # Cross-attention with packed weights (kdim = vdim = embed_dim but key != query), no mask.
    m = torch.nn.MultiheadAttention(16, 2, batch_first=True)
    record("mha_cross_packed", m, [torch.randn(2, 5, 16), torch.randn(2, 7, 16), torch.randn(2, 7, 16)],
           lambda q, k, v: m(q, k, v, need_weights=False)[0])

    # TransformerEncoderLayer(16, 4, 64), pre-norm, GELU, with a key padding mask.
    m = torch.nn.TransformerEncoderLayer(16, 4, 64, dropout=0.0, activation="gelu", batch_first=True,
                                         norm_first=True)
    record("transformer", m, [torch.randn(2, 5, 16)], lambda x: m(x, src_key_padding_mask=~keep5), mask=keep5)

    # Post-norm with ReLU, no mask.
    m = torch.nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, activation="relu", batch_first=True,
                                         norm_first=False)
    record("transformer_post", m, [torch.randn(2, 5, 16)], m)

    # Sinusoidal timestep embedding, exactly the reference code (float timesteps allowed).
    def timestep_embedding(t, dim):
        half = dim // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
        a = t[:, None].float() * freqs[None]
        return torch.cat([torch.sin(a), torch.cos(a)], dim=1)

    t = torch.tensor([0, 1, 7, 250, 999], dtype=torch.int64)
    put("timestep.input", t)
    put("timestep.output", timestep_embedding(t, 32))
    tf = torch.tensor([0.0, 0.5, 12.25, 999.0], dtype=torch.float32)
    put("timestep_float.input", tf)
    put("timestep_float.output", timestep_embedding(tf, 64))

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    safetensors_np.save(OUT, tensors, {"generator": "tools/make_nn_goldens.py", "torch": torch.__version__})
    size = os.path.getsize(OUT)
    print(f"wrote {len(tensors)} tensors, {size} bytes, to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
