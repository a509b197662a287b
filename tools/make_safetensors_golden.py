#!/usr/bin/env python3
"""Writes tests/golden/from_torch.safetensors: tensors made by PyTorch, saved with safetensors_np.

tests/nn/test_safetensors.cpp loads the file with tinydiff's C++ reader and checks every value,
which shows that files written from PyTorch load in tinydiff. Run from the repository root:

    /usr/bin/python3 tools/make_safetensors_golden.py

The values are chosen so the C++ test can state them exactly: multiples of 1/8 (exact in
binary), float32(1/3) and float64 pi (rounding of a known constant), -0.0, the float32
extremes, int64 values beyond 2^53 (not representable as double), a 0-d tensor, an empty
tensor and a transposed (non-contiguous) PyTorch view, which must be written row-major.
"""

import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "from_torch.safetensors")


def main():
    f32 = torch.finfo(torch.float32)
    tensors = {
        # (2, 3): [[-0.5, -0.375, -0.25], [-0.125, 0, 0.125]]
        "linear.weight": (torch.arange(6, dtype=torch.float32) / 8 - 0.5).reshape(2, 3),
        # (3,) float32: 1/3 rounded to float32, -0.0, float32 max, smallest normal
        "f32_special": torch.tensor([1.0 / 3.0, -0.0, f32.max, f32.tiny], dtype=torch.float32),
        # (3,) float64: pi, e, -1/3
        "f64": torch.tensor([math.pi, math.e, -1.0 / 3.0], dtype=torch.float64),
        # (4,) int64: -1, 2^40, 2^53 + 1, int64 min
        "i64": torch.tensor([-1, 2**40, 2**53 + 1, -(2**63)], dtype=torch.int64),
        # 0-d float32 2.5
        "scalar": torch.tensor(2.5, dtype=torch.float32),
        # (0, 4) float32
        "empty": torch.zeros(0, 4, dtype=torch.float32),
        # (3, 2) transposed view of arange(6).reshape(2, 3): [[0, 3], [1, 4], [2, 5]]
        "transposed": torch.arange(6, dtype=torch.float64).reshape(2, 3).t(),
        # (1, 2, 1, 3) float32: arange(6) / 8
        "rank4": (torch.arange(6, dtype=torch.float32) / 8).reshape(1, 2, 1, 3),
    }
    metadata = {"source": f"torch {torch.__version__}", "unicode": "\u00fc \u2014 \u2713"}
    safetensors_np.save_torch(OUT, tensors, metadata)
    back, meta = safetensors_np.load_torch(OUT)
    assert meta == metadata
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape and torch.equal(back[k], v.contiguous()), k
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes, {len(tensors)} tensors)")


if __name__ == "__main__":
    main()
