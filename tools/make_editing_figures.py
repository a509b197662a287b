#!/usr/bin/env python3
"""Makes the README's editing pictures (docs/images/edit_*.png) from a trained Fashion-MNIST checkpoint.

Runs `tinydiff sample` for a negative prompt, an image-to-image edit and an inpainting, and lays each
result out as one strip, 4x enlarged: the inputs on the left, then eight samples. Standard library only
(PNG read and written with zlib), so it runs on a fresh Debian with python3.

    tools/make_editing_figures.py --checkpoint runs/fashion20/checkpoint.safetensors [--out docs/images]
                                  [--tinydiff build/tinydiff] [--work DIR]

The init image is a Fashion-MNIST test image (an ankle boot, --index); the mask covers its top half
(white: generate, black: keep). Every command is printed before it runs.
"""
import argparse
import gzip
import os
import struct
import subprocess
import sys
import tempfile
import zlib

SCALE = 4  # enlargement of every 32x32 picture
GAP = 4    # white pixels between pictures (before enlargement: GAP / SCALE)


def read_png(path):
    """(width, height, channels, rows) of an 8-bit, non-interlaced grey/RGB/RGBA PNG; rows are bytes."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat, width = 8, b"", None
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or interlace:
                sys.exit(f"{path}: only 8-bit non-interlaced PNGs are read here")
            channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, rows, prev = zlib.decompress(idat), width * channels, [], bytearray(width * channels)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):  # undo the PNG filters (spec section 9)
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, channels, rows


def grey(path):
    """The PNG at `path` as a list of rows of grey values (RGB averaged)."""
    w, h, c, rows = read_png(path)
    return [[sum(r[x * c:x * c + min(c, 3)]) // min(c, 3) for x in range(w)] for r in rows]


def write_png(path, pixels):
    """Writes rows of grey values as an 8-bit grayscale PNG."""
    h, w = len(pixels), len(pixels[0])
    raw = b"".join(b"\0" + bytes(row) for row in pixels)
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def strip(pictures, gap_after=()):
    """Pictures (rows of grey) side by side, enlarged SCALE times, GAP white pixels between them and a wider
    gap after the indices in `gap_after`."""
    h, out = len(pictures[0]), []
    for y in range(h * SCALE + 2 * GAP):
        inside, src = 0 <= y - GAP < h * SCALE, (y - GAP) // SCALE
        line = [255] * GAP
        for k, p in enumerate(pictures):
            line += [v for v in p[src] for _ in range(SCALE)] if inside else [255] * (len(p[0]) * SCALE)
            line += [255] * (GAP * (4 if k in gap_after else 1))
        out.append(line)
    return out


def fashion_test_image(path, index):
    """Test image `index` of the Fashion-MNIST IDX file, padded from 28x28 to 32x32 as tinydiff trains."""
    data = gzip.open(path).read()
    img = data[16 + index * 784:16 + (index + 1) * 784]
    rows = [[0] * 32 for _ in range(32)]
    for y in range(28):
        for x in range(28):
            rows[y + 2][x + 2] = img[y * 28 + x]
    return rows


def run(cmd):
    print("+", " ".join(f"'{a}'" if " " in a else a for a in cmd), flush=True)
    subprocess.run(cmd, check=True)


def samples(folder, count=8):
    return [grey(os.path.join(folder, f"{i:03}.png")) for i in range(count)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--out", default="docs/images")
    ap.add_argument("--tinydiff", default="build/tinydiff")
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--index", type=int, default=0, help="Fashion-MNIST test image (0 is an ankle boot)")
    ap.add_argument("--work", default=None, help="folder for the intermediate files (default: a temporary one)")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="tinydiff-edit-")
    os.makedirs(work, exist_ok=True)
    os.makedirs(a.out, exist_ok=True)
    td, ck = a.tinydiff, a.checkpoint
    common = ["--count", "8", "--seed", "1", "--steps", "50", "--guidance", "3"]

    boot = fashion_test_image(os.path.join(a.data_dir, "t10k-images-idx3-ubyte.gz"), a.index)
    write_png(os.path.join(work, "boot.png"), boot)
    mask = [[255 if y < 16 else 0 for _ in range(32)] for y in range(32)]  # top half: generate
    write_png(os.path.join(work, "top_half.png"), mask)

    # Negative prompt: the same noise, without and with guidance away from "a photo of a sneaker".
    run([td, "sample", "--checkpoint", ck, "--prompt", "a photo of a sandal", *common, "--out", f"{work}/plain"])
    run([td, "sample", "--checkpoint", ck, "--prompt", "a photo of a sandal", "--negative-prompt",
         "a photo of a sneaker", *common, "--out", f"{work}/neg"])
    write_png(os.path.join(a.out, "edit_negative_prompt.png"),
              strip(samples(f"{work}/plain") + samples(f"{work}/neg"), gap_after=(7,)))

    # Image-to-image: the boot, then the last 60% of the steps from it, prompted "a photo of a sneaker".
    run([td, "sample", "--checkpoint", ck, "--prompt", "a photo of a sneaker", "--init-image", f"{work}/boot.png",
         "--strength", "0.6", *common, "--out", f"{work}/img2img"])
    write_png(os.path.join(a.out, "edit_img2img.png"), strip([boot] + samples(f"{work}/img2img"), gap_after=(0,)))

    # Inpainting: the boot's bottom half kept, its top half generated as "a photo of a sneaker".
    run([td, "sample", "--checkpoint", ck, "--prompt", "a photo of a sneaker", "--init-image", f"{work}/boot.png",
         "--mask", f"{work}/top_half.png", "--resample", "5", *common, "--out", f"{work}/inpaint"])
    write_png(os.path.join(a.out, "edit_inpaint.png"),
              strip([boot, mask] + samples(f"{work}/inpaint"), gap_after=(1,)))
    print(f"wrote {a.out}/edit_negative_prompt.png, edit_img2img.png, edit_inpaint.png")


if __name__ == "__main__":
    main()
