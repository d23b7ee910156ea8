#!/usr/bin/env python3
"""Oracles for the llama.cpp block types (Tests/InferenceCoreTests/Oracles/ggml-*.bin).

Runs llama.cpp's own C code: `quantize_row_*_ref` and `dequantize_row_*` from the libggml-base.so
that ../shared/tools/llama-cpp-peer builds (ctypes), on a fixed set of rows, and cross-checks the
32-block types against PyPI's `gguf` package (numpy re-implementation of the same quantizers).

  python3 -m pip install numpy gguf
  python3 scripts/oracles/ggml-quants.py     # LLAMA_CPP_BIN=folder skips building llama.cpp

Writes, per type T in q8_0 q4_0 q5_0 q4_k q6_k, `ggml-T.bin`: the blocks llama.cpp's quantizer
writes for the rows of `ggml-input.bin`, then the float32 values llama.cpp's dequantizer decodes
from them. `ggml-input.bin`: int32 rows, int32 n, then rows×n float32 (little-endian).
"""
import ctypes, os, subprocess, sys
import numpy as np

ROWS, N = 6, 512
here = os.path.dirname(os.path.abspath(__file__))
out_dir = os.path.join(here, "..", "..", "Tests", "InferenceCoreTests", "Oracles")
peer = os.path.join(here, "..", "..", "..", "shared", "tools", "llama-cpp-peer")
bin_dir = os.environ.get("LLAMA_CPP_BIN") or subprocess.check_output([peer], text=True).strip()
lib = ctypes.CDLL(os.path.join(bin_dir, "libggml-base.so"))

rng = np.random.default_rng(20261125)
rows = [
    rng.standard_normal(N),                              # plain Gaussian weights
    rng.standard_t(3, N) * 0.02,                         # heavy tails, typical weight scale
    rng.uniform(-1, 1, N),
    np.concatenate([np.zeros(256), rng.standard_normal(256) * 1e-3]),   # an all-zero super-block, tiny values
    # exact ties for the 32-blocks: amax 127 gives q8_0 scale 1, so k + 0.5 rounds half away from zero
    np.tile(np.concatenate([[127.0], np.arange(-15.5, 15.5, 1.0)]), N // 32),
    np.abs(rng.standard_normal(N)) + 0.5,               # all positive: K-type minimum clamps to 0
]
x = np.stack(rows).astype(np.float32)
assert x.shape == (ROWS, N)
with open(os.path.join(out_dir, "ggml-input.bin"), "wb") as f:
    f.write(np.array([ROWS, N], dtype="<i4").tobytes()); f.write(x.astype("<f4").tobytes())

types = {"q8_0": (32, 34), "q4_0": (32, 18), "q5_0": (32, 22), "q4_k": (256, 144), "q6_k": (256, 210)}
cname = {"q8_0": "q8_0", "q4_0": "q4_0", "q5_0": "q5_0", "q4_k": "q4_K", "q6_k": "q6_K"}
fptr = ctypes.POINTER(ctypes.c_float)
for t, (bs, bb) in types.items():
    q = getattr(lib, f"quantize_row_{cname[t]}_ref"); dq = getattr(lib, f"dequantize_row_{cname[t]}")
    blocks = bytearray(); deq = np.zeros_like(x)
    for r in range(ROWS):
        buf = ctypes.create_string_buffer(N // bs * bb)
        xr = np.ascontiguousarray(x[r])
        q(xr.ctypes.data_as(fptr), buf, ctypes.c_int64(N))
        blocks += buf.raw
        yr = np.zeros(N, dtype=np.float32)
        dq(buf, yr.ctypes.data_as(fptr), ctypes.c_int64(N))
        deq[r] = yr
    with open(os.path.join(out_dir, f"ggml-{t}.bin"), "wb") as f:
        f.write(bytes(blocks)); f.write(deq.astype("<f4").tobytes())
    # Independent cross-check with the gguf package (quantize for 32-blocks, dequantize for all).
    try:
        import gguf
        qt = getattr(gguf.GGMLQuantizationType, t.upper())
        raw = np.frombuffer(bytes(blocks), dtype=np.uint8).reshape(ROWS, -1)
        assert np.array_equal(gguf.quants.dequantize(raw, qt).astype(np.float32), deq), f"{t}: gguf dequantize differs"
        if bs == 32:
            assert gguf.quants.quantize(x, qt).tobytes() == bytes(blocks), f"{t}: gguf quantize differs"
        print(f"{t}: {len(blocks)} bytes, gguf package agrees")
    except ImportError:
        print(f"{t}: {len(blocks)} bytes (gguf package not installed: no cross-check)")
