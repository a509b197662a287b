#!/usr/bin/python3
"""Golden values for the whole text-to-image model (text encoder + U-Net) from PyTorch.

Builds a miniature of the PyTorch peer architecture (bench/torch_ref.py of the project's
shared folder: the same classes with smaller widths), runs one forward pass and the
backward of a fixed scalar loss, and writes inputs, every parameter (named as in
tinydiff's TextToImageModel: text_encoder.* and unet.*), the output and a few gradients to
tests/golden/model_mini.safetensors. The C++ test loads the parameters by name and must
reproduce the output and the gradients.

Run with Debian's python3-torch:
    /usr/bin/python3 tools/make_model_golden.py --torch-ref ../shared/bench/torch_ref.py
"""
import argparse
import importlib.util
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--torch-ref", default=os.path.join(os.path.dirname(__file__), "../../shared/bench/torch_ref.py"))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "../tests/golden/model_mini.safetensors"))
    a = ap.parse_args()
    spec = importlib.util.spec_from_file_location("torch_ref", a.torch_ref)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)

    torch.manual_seed(0)
    # Miniature: text width 24 (so cross-attention has kdim != embed_dim), 1 layer, 4 heads, vocab 32, 8 tokens; U-Net base 16, mults (1, 2),
    # 16x16 grayscale images, attention at the deepest level (8x8), GroupNorm(8), 4 heads.
    te = ref.TextEncoder(vocab=32, max_len=8, d=24, layers=1, heads=4)
    unet = ref.UNet(cimg=1, base=16, mults=(1, 2), dtext=24)
    with torch.no_grad():  # non-zero positions so the golden exercises them
        te.pos.normal_(0, 0.02)
    params = {}
    for n, p in te.named_parameters():
        params["text_encoder." + n] = p
    for n, p in unet.named_parameters():
        params["unet." + n] = p

    x = torch.randn(2, 1, 16, 16)
    t = torch.tensor([3, 917])
    ids = torch.randint(0, 32, (2, 8))
    eps = unet(x, t, te(ids))
    w = torch.randn_like(eps)
    loss = (eps * w).sum()
    loss.backward()

    out = {"input.x": x, "input.t": t, "input.ids": ids, "output.eps": eps.detach(), "loss.weight": w}
    for n, p in params.items():
        out["param." + n] = p.detach()
    for n in ["text_encoder.tok.weight", "text_encoder.pos", "text_encoder.enc.layers.0.self_attn.in_proj_weight",
              "unet.inp.weight", "unet.down.0.c1.weight", "unet.mid_attn.cross.k_proj_weight",
              "unet.up_attn.1.self_attn.in_proj_weight", "unet.out.bias"]:
        out["grad." + n] = params[n].grad
    safetensors_np.save_torch(a.out, out, {"source": "tools/make_model_golden.py", "torch": torch.__version__})
    print(f"wrote {a.out}: {len(params)} parameters, {sum(p.numel() for p in params.values())} elements")


if __name__ == "__main__":
    main()
