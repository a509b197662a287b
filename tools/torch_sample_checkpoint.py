#!/usr/bin/python3
"""Samples a tinydiff checkpoint with PyTorch: the EMA weights in the PyTorch peer model, DDIM there.

A cross-check that separates the model from the sampler: tinydiff's state-dict names are the
peer's (`../shared/bench/torch_ref.py`), so a tinydiff checkpoint's EMA weights load into the
peer's TextEncoder and UNet unchanged. The peer ignores padding, and tinydiff masks padded
tokens, so this script adds the masks: `src_key_padding_mask` in the text encoder and
`key_padding_mask` in cross-attention. It then samples the prompt with the DDIM of
bench/torch_peer_quality.py (trailing spacing, x0 clipped, eta 0, guidance w) in float64, and
writes DIR/000.png, ... If these images show what `tinydiff sample` shows, the model is the
cause, not tinydiff's sampler. That is how the blotches of docs/quality.md were traced.

    /usr/bin/python3 tools/torch_sample_checkpoint.py runs/shapes/checkpoint.safetensors \\
        "a large red circle at the bottom left" /tmp/torch_red [--count 16] [--guidance 3] [--steps 50]
"""
import argparse, json, os, sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
import safetensors_np  # noqa: E402
import torch_peer_quality as peer  # noqa: E402  (split_words, save_png, ddim_guided)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("prompt")
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=16)
    ap.add_argument("--guidance", type=float, default=3.0)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--peer-dir", default=os.path.join(HERE, "..", "..", "shared", "bench"))
    a = ap.parse_args()
    sys.path.insert(0, a.peer_dir)
    import torch_ref

    tensors, meta = safetensors_np.load(a.checkpoint)
    cfg = json.loads(meta["config"])
    if meta.get("num_timesteps") != "1000" or meta.get("schedule") != "linear" or meta.get("prediction") != "epsilon":
        sys.exit("torch_sample_checkpoint: only the linear schedule, T = 1000, epsilon prediction are supported")
    vocab = [w for w in meta["tokenizer"].split("\n")[1:] if w]  # after the "tinydiff-tokenizer 1 16" line
    index = {w: i for i, w in enumerate(vocab)}
    te = torch_ref.TextEncoder(vocab=cfg["vocab_size"], max_len=cfg["max_length"], d=cfg["text_width"],
                               layers=cfg["text_layers"], heads=cfg["text_heads"])
    unet = torch_ref.UNet(cimg=cfg["image_channels"], base=cfg["base_channels"], mults=tuple(cfg["channel_mults"]),
                          dtext=cfg["text_width"])

    def part(prefix):
        return {k[len(prefix):]: torch.from_numpy(v.copy()) for k, v in tensors.items() if k.startswith(prefix)}

    te.load_state_dict(part("ema.text_encoder."), strict=True)
    unet.load_state_dict(part("ema.unet."), strict=True)
    te.eval(), unet.eval()

    def encode(texts):  # <bos> + words, <pad> = 0, as tinydiff's Tokenizer
        ids = torch.zeros(len(texts), cfg["max_length"], dtype=torch.long)
        for i, t in enumerate(texts):
            toks = ([2] + [index.get(w, 1) for w in peer.split_words(t)])[: cfg["max_length"]]
            ids[i, : len(toks)] = torch.tensor(toks)
        return ids

    def text(ids):  # the peer's TextEncoder.forward, with the padding mask
        pad = ids == 0
        return te.ln(te.enc(te.tok(ids) + te.pos, src_key_padding_mask=pad)), pad

    def attn_forward(s, x, ctx):  # the peer's AttnBlock.forward, with the padding mask in cross-attention
        ctx, pad = ctx
        b, c, h, w = x.shape
        q = s.n1(x).flatten(2).transpose(1, 2)
        x = x + s.self_attn(q, q, q, need_weights=False)[0].transpose(1, 2).reshape(b, c, h, w)
        q = s.n2(x).flatten(2).transpose(1, 2)
        a = s.cross(q, ctx, ctx, key_padding_mask=pad, need_weights=False)[0]
        return x + a.transpose(1, 2).reshape(b, c, h, w)

    torch_ref.AttnBlock.forward = attn_forward
    T, n, ch, size = 1000, a.count, cfg["image_channels"], cfg["image_size"]
    abar = torch.cumprod(1 - torch.linspace(1e-4, 0.02, T, dtype=torch.float64), 0)
    gen = torch.Generator().manual_seed(a.seed)
    with torch.no_grad():
        ctx = text(torch.cat([encode([""] * n), encode([a.prompt] * n)]))
        x = torch.randn(n, ch, size, size, generator=gen, dtype=torch.float64)
        x = peer.ddim_guided(unet, ctx, x, abar, a.steps, a.guidance)
    os.makedirs(a.out, exist_ok=True)
    for j in range(n):
        peer.save_png(os.path.join(a.out, f"{j:03d}.png"), x[j].clamp(-1, 1).float().numpy())
    print(f"torch_sample_checkpoint: {n} images in {a.out}")


if __name__ == "__main__":
    main()
