#!/usr/bin/env python3
"""Turns Debian's libjs-emojify emoji into a captioned image folder for `tinydiff train --data DIR`.

libjs-emojify (Debian main, "JavaScript library converting Emoji keywords to images") ships 881
emoji as PNG files named by their keyword: smiley_cat.png, thumbsup.png, ... (64x64, most of them
RGBA; a few grey + alpha or palette images, two 75x75). This script writes

    DIR/images/<name>.png   the emoji, copied unchanged
    DIR/metadata.jsonl      {"file_name": "images/<name>.png", "text": "<caption>"} per line

in the diffusers ImageFolder convention. The caption is the keyword with "_" as spaces:
"smiley_cat" -> "smiley cat", "arrow_double_up" -> "arrow double up"; keywords such as "+1" or
"8ball" stay as they are.

Where the PNGs come from, in this order: --from FOLDER; the installed package
(/usr/share/javascript/emojify.js/images/emoji); otherwise `apt-get download libjs-emojify` into
a temporary folder and `dpkg-deb -x` of the .deb there (no root needed), removed afterwards.

Python 3 standard library only. Usage:

    python3 tools/make_emoji_dataset.py data/emoji
    ./build/tinydiff train --data data/emoji --minutes 3 --out runs/emoji
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

PACKAGE = "libjs-emojify"
EMOJI_DIR = "usr/share/javascript/emojify.js/images/emoji"


def caption(name):
    """The caption of an emoji keyword: underscores become spaces."""
    return " ".join(part for part in name.split("_") if part)


def extract_package(tmp):
    """Downloads the package's .deb into tmp and unpacks it there; returns the emoji folder."""
    try:
        subprocess.run(["apt-get", "download", PACKAGE], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except FileNotFoundError:
        sys.exit(f"make_emoji_dataset: error: apt-get is not available; pass --from FOLDER of {PACKAGE}'s PNGs")
    except subprocess.CalledProcessError as e:
        sys.exit(f"make_emoji_dataset: error: 'apt-get download {PACKAGE}' failed: {e.stderr.strip()}; "
                 "hint: run 'sudo apt-get update', or install it with 'sudo apt-get install " + PACKAGE + "'")
    debs = [f for f in os.listdir(tmp) if f.endswith(".deb")]
    if len(debs) != 1:
        sys.exit(f"make_emoji_dataset: error: expected one .deb in {tmp}, found {debs}")
    root = os.path.join(tmp, "root")
    subprocess.run(["dpkg-deb", "-x", os.path.join(tmp, debs[0]), root], check=True)
    return os.path.join(root, EMOJI_DIR)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", help="the folder to write (DIR/images/*.png and DIR/metadata.jsonl)")
    parser.add_argument("--from", dest="source", help="a folder of emoji PNGs to use instead of the package")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="emojify-") as tmp:
        source = args.source
        if source is None and os.path.isdir("/" + EMOJI_DIR):
            source = "/" + EMOJI_DIR
        if source is None:
            print(f"make_emoji_dataset: extracting {PACKAGE} with apt-get download + dpkg-deb -x", file=sys.stderr)
            source = extract_package(tmp)
        names = sorted(f[:-4] for f in os.listdir(source) if f.endswith(".png"))
        if not names:
            sys.exit(f"make_emoji_dataset: error: no PNG files in {source}")
        images = os.path.join(args.out, "images")
        os.makedirs(images, exist_ok=True)
        lines = []
        for name in names:
            shutil.copyfile(os.path.join(source, name + ".png"), os.path.join(images, name + ".png"))
            lines.append(json.dumps({"file_name": f"images/{name}.png", "text": caption(name)}))
        # metadata.jsonl last, through a temporary name: a folder with it is complete.
        tmp_meta = os.path.join(args.out, "metadata.jsonl.tmp")
        with open(tmp_meta, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp_meta, os.path.join(args.out, "metadata.jsonl"))
    print(f"make_emoji_dataset: wrote {len(names)} emoji with captions to {args.out} (from {PACKAGE})")


if __name__ == "__main__":
    main()
