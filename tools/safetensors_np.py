#!/usr/bin/env python3
"""A small reader and writer of the safetensors format, using only numpy (torch optional).

The reference `safetensors` package is not packaged for Debian 12, so tinydiff's tools use
this module to write golden files that the C++ tests load (nn/safetensors.h reads the same
format), and to inspect files written by the C++ side.

The format (https://github.com/huggingface/safetensors), exactly:

    [8 bytes]  N, the header length, an unsigned 64-bit little-endian integer
    [N bytes]  a UTF-8 JSON object:
                 {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
                  ...,
                  "__metadata__": {"key": "value", ...}}      (optional; string values only)
               padded with spaces (0x20) so that N is a multiple of 8
    [rest]     the byte buffer: each tensor little-endian, row-major, at
               buffer[begin:end]; offsets are relative to the buffer start, the tensors
               cover the buffer contiguously from 0 without gaps, overlap or trailing bytes.

Writers conventionally order tensors by dtype alignment (largest first) and then by name,
so every tensor starts at an offset aligned to its element size; this module does that.

Usage as a library (from another script in tools/):

    import safetensors_np as st
    st.save("w.safetensors", {"w": np.ones((2, 3), np.float32)}, {"step": "10"})
    tensors, metadata = st.load("w.safetensors")
    st.save_torch("m.safetensors", model.state_dict())      # torch tensors
    state, metadata = st.load_torch("m.safetensors")

Usage from the command line:

    /usr/bin/python3 tools/safetensors_np.py --check FILE    # validate, print every tensor
    /usr/bin/python3 tools/safetensors_np.py --self-test     # round trips and bad inputs
"""

import json
import struct
import sys

import numpy as np

# safetensors dtype name -> little-endian numpy dtype. The C++ reader (nn/safetensors.h)
# accepts F32, F64 and I64; the others are here so that files from elsewhere can be read.
DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
MAX_HEADER_BYTES = 100 * 1000 * 1000  # the reference implementation's limit
MAX_RANK = 8  # tinydiff's limit (the C++ reader rejects more)


class SafetensorsError(ValueError):
    """A malformed file; the message names the file and the problem."""


def _dtype_name(array):
    for name, dt in DTYPES.items():
        if array.dtype.kind == dt.kind and array.dtype.itemsize == dt.itemsize:
            return name
    raise SafetensorsError(f"unsupported numpy dtype {array.dtype}")


def serialize(tensors, metadata=None):
    """Returns the bytes of a safetensors file holding `tensors` (name -> np.ndarray)."""
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise SafetensorsError(f"invalid tensor name {name!r}")
        arrays[name] = np.asarray(value)
    # Largest alignment first, then by name (the reference writer's order).
    order = sorted(arrays, key=lambda n: (-arrays[n].dtype.itemsize, n))
    header = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise SafetensorsError(f"metadata must map str to str, got {k!r}: {v!r}")
        header["__metadata__"] = dict(metadata)
    chunks, offset = [], 0
    for name in order:
        a = arrays[name]
        dname = _dtype_name(a)
        data = np.ascontiguousarray(a, dtype=DTYPES[dname]).tobytes(order="C")
        header[name] = {"dtype": dname, "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def save(path, tensors, metadata=None):
    """Writes `tensors` (name -> np.ndarray) and optional `metadata` (str -> str) to `path`."""
    blob = serialize(tensors, metadata)
    with open(path, "wb") as f:
        f.write(blob)


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise SafetensorsError(f"duplicate key '{k}' in header")
        out[k] = v
    return out


def parse(blob, source="<bytes>"):
    """Parses and validates safetensors bytes; returns (dict name -> np.ndarray, metadata dict)."""

    def fail(msg):
        raise SafetensorsError(f"{source}: {msg}")

    if len(blob) < 8:
        fail(f"file is {len(blob)} bytes, too short for the 8-byte header length")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > MAX_HEADER_BYTES:
        fail(f"header length {n} exceeds the limit of {MAX_HEADER_BYTES} bytes")
    if n > len(blob) - 8:
        fail(f"header length {n} exceeds the {len(blob) - 8} bytes after the length field")
    try:
        text = blob[8 : 8 + n].decode("utf-8")
    except UnicodeDecodeError as e:
        fail(f"header is not valid UTF-8 ({e})")
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates)
    except SafetensorsError as e:
        fail(str(e))
    except json.JSONDecodeError as e:
        fail(f"header is not valid JSON ({e})")
    except RecursionError:
        fail("header JSON is nested too deeply")
    if not isinstance(header, dict):
        fail("header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        fail("__metadata__ must be an object of string values")
    buffer = memoryview(blob)[8 + n :]
    entries = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            fail(f"tensor '{name}' must have exactly the keys dtype, shape, data_offsets")
        dname, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if dname not in DTYPES:
            fail(f"tensor '{name}' has unknown dtype {dname!r}")
        if not isinstance(shape, list) or not all(type(d) is int for d in shape):
            fail(f"tensor '{name}' shape must be a list of integers")
        if len(shape) > MAX_RANK:
            fail(f"tensor '{name}' has rank {len(shape)} > {MAX_RANK}")
        if any(d < 0 for d in shape):
            fail(f"tensor '{name}' has a negative extent in {shape}")
        if not isinstance(offs, list) or len(offs) != 2 or not all(type(o) is int and o >= 0 for o in offs):
            fail(f"tensor '{name}' data_offsets must be two non-negative integers")
        nbytes = int(np.prod(shape, dtype=object)) * DTYPES[dname].itemsize
        if offs[1] < offs[0] or offs[1] - offs[0] != nbytes:
            fail(f"tensor '{name}' has data_offsets {offs} but shape {shape} {dname} needs {nbytes} bytes")
        entries.append((offs[0], offs[1], name, dname, shape))
    entries.sort()
    end = 0
    for begin, stop, name, _, _ in entries:
        if begin != end:
            fail(f"tensor '{name}' starts at {begin}, expected {end} (offsets must be contiguous)")
        end = stop
    if end != len(buffer):
        fail(f"tensors cover {end} bytes but the buffer holds {len(buffer)}")
    tensors = {}
    for begin, stop, name, dname, shape in entries:
        tensors[name] = np.frombuffer(buffer[begin:stop], dtype=DTYPES[dname]).reshape(shape).copy()
    # Keep the header's order for printing.
    return {k: tensors[k] for k in header}, metadata


def load(path):
    """Reads and validates `path`; returns (dict name -> np.ndarray, metadata dict)."""
    with open(path, "rb") as f:
        return parse(f.read(), path)


def save_torch(path, tensors, metadata=None):
    """Writes a dict of torch tensors (e.g. a state_dict) with optional str -> str metadata."""
    save(path, {k: v.detach().cpu().contiguous().numpy() for k, v in tensors.items()}, metadata)


def load_torch(path):
    """Reads `path` into (dict name -> torch.Tensor, metadata dict)."""
    import torch

    tensors, metadata = load(path)
    return {k: torch.from_numpy(v) for k, v in tensors.items()}, metadata


def _check(path):
    tensors, metadata = load(path)
    np.set_printoptions(precision=8, threshold=64, edgeitems=3, linewidth=100)
    print(f"{path}: {len(tensors)} tensors, valid")
    for name, a in tensors.items():
        print(f"{name}: {_dtype_name(a)} shape={list(a.shape)}")
        print("  " + np.array2string(a, prefix="  "))
    for k, v in sorted(metadata.items()):
        print(f"__metadata__[{k!r}] = {v!r}")


def _self_test():
    t = {
        "b": np.arange(6, dtype=np.float32).reshape(2, 3),
        "a": np.array(1.0 / 3.0),
        "i": np.array([-1, 2**40], dtype=np.int64),
        "e": np.zeros((0, 4), np.float32),
    }
    blob = serialize(t, {"step": "3"})
    (n,) = struct.unpack("<Q", blob[:8])
    assert n % 8 == 0
    back, meta = parse(blob)
    assert meta == {"step": "3"}
    for k in t:
        assert back[k].dtype == t[k].dtype and back[k].shape == t[k].shape and np.array_equal(back[k], t[k]), k
    bad = [
        (blob[:5], "too short"),
        (struct.pack("<Q", 2 * MAX_HEADER_BYTES) + blob[8:], "exceeds the limit"),
        (struct.pack("<Q", len(blob)) + blob[8:], "exceeds the"),
        (blob + b"\0", "buffer holds"),
    ]
    for b, words in bad:
        try:
            parse(b)
        except SafetensorsError as e:
            assert words in str(e), (words, str(e))
        else:
            raise AssertionError(f"accepted a bad file ({words})")
    print("safetensors_np self-test passed")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        _check(sys.argv[2])
    elif len(sys.argv) == 2 and sys.argv[1] == "--self-test":
        _self_test()
    else:
        print(__doc__)
        sys.exit(2)
