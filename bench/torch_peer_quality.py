#!/usr/bin/python3
"""The PyTorch peer of the quality benchmarks, scored by tinydiff's own judge.

Trains the peer model of ../shared/bench/torch_ref.py (the "tiny" architecture) with the recipe
of the text-to-image issue -- AdamW lr 1e-3 (weight decay 0.01) with 200 linear warm-up steps,
batch 64, gradient clipping at norm 1, EMA 0.995, caption dropout 0.1, epsilon-prediction MSE on
the linear beta schedule 1e-4..0.02 with T = 1000 -- for a fixed wall time on Fashion-MNIST or
Shapes, then samples the evaluation prompts with DDIM (trailing spacing, x0 clipped to [-1, 1],
eta 0) and classifier-free guidance, and writes them as a folder that
`tinydiff eval --images DIR --dataset D` scores with exactly the judge, prompts and reference
images it uses for tinydiff's own checkpoints:

    DIR/prompts.txt          the prompt list (from `tinydiff eval --print-prompts`)
    DIR/000000.png, ...      one image per prompt line
    DIR/log.jsonl            step, loss, lr, elapsed seconds
    DIR/summary.json         steps done, seconds, settings
    DIR/peer_ema.pt          the EMA weights (`--sample-from DIR/peer_ema.pt` samples again without training)

Usage (bench/peer_quality.sh runs all of it):
    tinydiff eval --dataset fashion --samples 50 --seed 0 --print-prompts > prompts.txt
    bench/torch_peer_quality.py --dataset fashion --minutes 20 --prompts prompts.txt --out DIR
    tinydiff eval --images DIR --dataset fashion --samples 50 --seed 0

Captions, tokenizer and data follow tinydiff's (diffusion/data/captions.cpp, shapes.cpp,
tokenizer.cpp): word-level, lower-cased, punctuation split, <pad> = 0, <unk> = 1, <bos> = 2 first,
length 16. The peer's text encoder has no padding mask (as in torch_ref.py); the empty prompt is
<bos> followed by padding.
"""
import argparse, gzip, json, math, os, re, struct, sys, time, zlib

import numpy as np
import torch
import torch.nn.functional as F

# ---------------------------------------------------------------- captions and data


FASHION_WORDS = [[("t-shirt/top", False), ("t-shirt", False), ("top", False)],
                 [("trouser", False), ("trousers", True)], [("pullover", False)], [("dress", False)],
                 [("coat", False)], [("sandal", False)], [("shirt", False)], [("sneaker", False)],
                 [("bag", False)], [("ankle boot", False)]]
FASHION_TEMPLATES = [("a photo of ", True), ("", False), ("", True), ("an image of ", True),
                     ("a picture of ", True), ("a black and white photo of ", True), ("a photo of the ", False)]


def with_article(word, plural):
    if plural:
        return word
    return ("an " if word[0] in "aeiou" else "a ") + word


def fashion_caption(label, t, w):
    prefix, article = FASHION_TEMPLATES[t]
    word, plural = FASHION_WORDS[label][w]
    return prefix + (with_article(word, plural) if article else word)


SHAPES = ["circle", "square", "triangle"]
COLOURS = ["red", "green", "blue", "yellow", "magenta", "cyan", "white"]
RGB = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1]], np.float32)
SIZES = ["small", "large"]
POSITIONS = ["at the top left", "at the top", "at the top right", "on the left", "in the center", "on the right",
             "at the bottom left", "at the bottom", "at the bottom right"]
HELD_OUT = {(2, 1), (0, 3), (1, 4)}  # green triangle, yellow circle, magenta square


def shapes_caption(shape, colour, size, pos, which):
    s, c, z, p = SHAPES[shape], COLOURS[colour], SIZES[size], POSITIONS[pos]
    return [f"a {z} {c} {s} {p}", f"{c} {s}, {z}, {p}", f"{p} there is a {z} {c} {s}",
            f"a {s} that is {c} and {z}, {p}"][which]


# Sub-pixel centres of a 4x4 supersampling of the 32x32 image (as shapes.cpp's shape_coverage).
_SUB = (np.arange(32 * 4, dtype=np.float64) + 0.5) / 4


def render_shape(shape, colour, size, cx, cy):
    s = 8.0 if size == 0 else 16.0
    h = s / 2
    px, py = np.meshgrid(_SUB, _SUB)  # (128, 128): x varies along columns
    if shape == 0:
        inside = (px - cx) ** 2 + (py - cy) ** 2 <= h * h
    elif shape == 1:
        inside = (np.abs(px - cx) <= h) & (np.abs(py - cy) <= h)
    else:
        top = cy - h
        inside = (py >= top) & (py <= cy + h) & (np.abs(px - cx) <= (py - top) / 2)
    cov = inside.reshape(32, 4, 32, 4).mean(axis=(1, 3)).astype(np.float32)  # (32, 32)
    return 2.0 * cov[None] * RGB[colour][:, None, None] - 1.0  # (3, 32, 32)


def random_shape(rng):
    while True:
        shape, colour = int(rng.integers(3)), int(rng.integers(7))
        if (shape, colour) not in HELD_OUT:
            break
    size, pos = int(rng.integers(2)), int(rng.integers(9))
    cell, half = 32 / 3, (8.0 if size == 0 else 16.0) / 2
    col, row = pos % 3, pos // 3
    x0, x1 = max(col * cell + 1, half), min((col + 1) * cell - 1, 32 - half)
    y0, y1 = max(row * cell + 1, half), min((row + 1) * cell - 1, 32 - half)
    cx, cy = x0 + (x1 - x0) * rng.random(), y0 + (y1 - y0) * rng.random()
    which = 0 if rng.random() < 0.5 else int(rng.integers(1, 4))
    return render_shape(shape, colour, size, cx, cy), shapes_caption(shape, colour, size, pos, which)


def load_fashion_train(data_dir):
    with gzip.open(os.path.join(data_dir, "train-images-idx3-ubyte.gz")) as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        assert magic == 2051 and rows == 28 and cols == 28, "unexpected Fashion-MNIST image file"
        images = np.frombuffer(f.read(), np.uint8).reshape(n, 28, 28)
    with gzip.open(os.path.join(data_dir, "train-labels-idx1-ubyte.gz")) as f:
        magic, n2 = struct.unpack(">II", f.read(8))
        assert magic == 2049 and n2 == n, "unexpected Fashion-MNIST label file"
        labels = np.frombuffer(f.read(), np.uint8).astype(np.int64)
    x = np.full((n, 1, 32, 32), -1.0, np.float32)  # 2 pixels of background on every side
    x[:, 0, 2:30, 2:30] = images.astype(np.float32) / 255.0 * 2.0 - 1.0
    return x, labels


# ---------------------------------------------------------------- tokenizer


def split_words(text):
    return re.findall(r"[a-z0-9\-'\x80-\uffff]+|[^\sa-z0-9\-'\x80-\uffff]", text.lower())


class Tokenizer:
    def __init__(self, captions, max_len=16):
        words = sorted({w for c in captions for w in split_words(c)})
        self.vocab = ["<pad>", "<unk>", "<bos>"] + words
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.max_len = max_len

    def encode(self, texts):
        ids = torch.zeros(len(texts), self.max_len, dtype=torch.long)
        for i, t in enumerate(texts):
            toks = [2] + [self.index.get(w, 1) for w in split_words(t)]
            toks = toks[: self.max_len]
            ids[i, : len(toks)] = torch.tensor(toks)
        return ids


# ---------------------------------------------------------------- PNG output (8-bit, no PIL on Debian's python3-torch set)


def save_png(path, img):  # img: (C, H, W) in [-1, 1], C = 1 or 3
    c, h, w = img.shape
    b = np.clip(np.rint((img + 1.0) * 127.5), 0, 255).astype(np.uint8).transpose(1, 2, 0)  # (H, W, C)
    raw = b"".join(b"\x00" + b[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    head = struct.pack(">IIBBBBB", w, h, 8, 0 if c == 1 else 2, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


# ---------------------------------------------------------------- sampling


def ddim_guided(unet, ctx, x, abar, steps, guidance):
    """DDIM (Song et al. 2021, eq. 12, eta 0) with trailing spacing, x0 clipped to [-1, 1] and eps
    recomputed, and classifier-free guidance eps_u + w (eps_c - eps_u). x: (b, C, S, S) float64
    noise; ctx: text encodings of the b empty prompts followed by the b prompts (whatever the
    model's third argument is); abar: (T,) float64. Returns x_0, (b, C, S, S) float64."""
    T, b = len(abar), x.shape[0]
    ts = [int(round(T - i * T / steps)) - 1 for i in range(steps)]
    for i, t in enumerate(ts):
        out = unet(torch.cat([x, x]).float(), torch.full((2 * b,), t), ctx).double()
        e = out[:b] + guidance * (out[b:] - out[:b])
        at = abar[t]
        x0 = ((x - (1 - at).sqrt() * e) / at.sqrt()).clamp(-1, 1)
        e = (x - at.sqrt() * x0) / (1 - at).sqrt()
        an = abar[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0, dtype=torch.float64)
        x = an.sqrt() * x0 + (1 - an).sqrt() * e
    return x


# ---------------------------------------------------------------- training and sampling


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", choices=["fashion", "shapes"], required=True)
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--prompts", required=True,
                    help="prompt list from `tinydiff eval --print-prompts` (read when sampling starts)")
    ap.add_argument("--sample-from", help="skip training: sample with the EMA weights saved in DIR/peer_ema.pt")
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--guidance", type=float, default=3.0)
    ap.add_argument("--steps", type=int, default=50, help="DDIM steps")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--peer-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                        "shared", "bench"))
    a = ap.parse_args()
    sys.path.insert(0, a.peer_dir)
    from torch_ref import TextEncoder, UNet  # the peer architecture, unchanged

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.out, exist_ok=True)

    if a.dataset == "fashion":
        x_all, y_all = load_fashion_train(a.data_dir)
        captions = [fashion_caption(l, t, w) for l in range(10) for t in range(7) for w in range(len(FASHION_WORDS[l]))]
        channels = 1
    else:
        captions = [shapes_caption(s, c, z, p, k) for s in range(3) for c in range(7) for z in range(2)
                    for p in range(9) for k in range(4)]
        channels = 3
    tok = Tokenizer(captions)

    te, unet = TextEncoder(vocab=max(256, len(tok.vocab))), UNet(cimg=channels)
    params = list(te.parameters()) + list(unet.parameters())
    print(f"peer: {sum(p.numel() for p in params):,} parameters, vocabulary {len(tok.vocab)}", flush=True)
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    ema = [p.detach().clone() for p in params]
    T = 1000
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    abar = torch.cumprod(1 - betas, 0)
    abar32 = abar.float()

    start = time.perf_counter()
    budget = 0.0 if a.sample_from else a.minutes * 60.0
    step = 0
    loss = torch.tensor(float("nan"))
    log = open(os.path.join(a.out, "log.jsonl"), "a" if a.sample_from else "w")
    while time.perf_counter() - start < budget:
        if a.dataset == "fashion":
            idx = rng.integers(0, len(x_all), a.batch)
            x0 = torch.from_numpy(x_all[idx])
            texts = [fashion_caption(int(l), int(rng.integers(7)), int(rng.integers(len(FASHION_WORDS[l]))))
                     for l in y_all[idx]]
        else:
            pairs = [random_shape(rng) for _ in range(a.batch)]
            x0 = torch.from_numpy(np.stack([p[0] for p in pairs]))
            texts = [p[1] for p in pairs]
        texts = ["" if rng.random() < 0.1 else t for t in texts]  # caption dropout
        ids = tok.encode(texts)
        t = torch.randint(0, T, (a.batch,))
        eps = torch.randn_like(x0)
        ab = abar32[t][:, None, None, None]
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
        loss = F.mse_loss(unet(xt, t, te(ids)), eps)
        for g in opt.param_groups:
            g["lr"] = 1e-3 * min(1.0, (step + 1) / 200)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema, params):
                e.mul_(0.995).add_(p.detach(), alpha=0.005)
        step += 1
        elapsed = time.perf_counter() - start
        log.write(json.dumps({"step": step, "loss": loss.item(), "grad_norm": float(gnorm),
                              "lr": opt.param_groups[0]["lr"], "elapsed": round(elapsed, 3)}) + "\n")
        if step % 100 == 0:
            log.flush()
            print(f"peer: step {step}, loss {loss.item():.4f}, {step / elapsed:.2f} steps/s, "
                  f"{elapsed / 60:.1f} of {a.minutes:g} min", flush=True)
    train_seconds = time.perf_counter() - start
    log.close()
    weights = os.path.join(a.out, "peer_ema.pt")
    if a.sample_from:
        saved = torch.load(a.sample_from)
        ema, step, train_seconds = saved["ema"], saved["steps"], saved["train_seconds"]
    else:
        torch.save({"ema": ema, "steps": step, "train_seconds": train_seconds, "vocab": tok.vocab}, weights)
    prompts = [l.rstrip("\n") for l in open(a.prompts)]
    unknown = sorted({w for p in prompts for w in split_words(p)} - set(tok.index))
    if unknown:
        sys.exit(f"torch_peer_quality: prompt words outside the vocabulary: {unknown}")

    # Sampling with the EMA weights (ddim_guided).
    with torch.no_grad():
        for e, p in zip(ema, params):
            p.copy_(e)
    te.eval(), unet.eval()
    gen = torch.Generator().manual_seed(a.seed)
    t0 = time.perf_counter()
    with torch.no_grad():
        for s in range(0, len(prompts), a.batch):
            chunk = prompts[s: s + a.batch]
            b = len(chunk)
            ctx = te(torch.cat([tok.encode([""] * b), tok.encode(chunk)]))
            x = torch.randn(b, channels, 32, 32, generator=gen, dtype=torch.float64)
            x = ddim_guided(unet, ctx, x, abar, a.steps, a.guidance)
            for j in range(b):
                save_png(os.path.join(a.out, f"{s + j:06d}.png"), x[j].clamp(-1, 1).float().numpy())
            print(f"peer: sampled {s + b}/{len(prompts)}", flush=True)
    with open(os.path.join(a.out, "prompts.txt"), "w") as f:
        f.write("".join(p + "\n" for p in prompts))
    summary = {"dataset": a.dataset, "steps": step, "train_seconds": round(train_seconds, 1),
               "sample_seconds": round(time.perf_counter() - t0, 1), "minutes": a.minutes, "threads": a.threads,
               "guidance": a.guidance, "ddim_steps": a.steps, "batch": a.batch, "final_loss": loss.item(),
               "torch": torch.__version__}
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(f"peer: {step} steps in {train_seconds:.0f} s; images in {a.out}", flush=True)


if __name__ == "__main__":
    main()
