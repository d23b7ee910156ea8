#!/usr/bin/env python3
"""Oracles for the llama.cpp block types (Tests/InferenceCoreTests/Oracles/ggml-*.bin).

Runs llama.cpp's own C code from the libggml-base.so that ../shared/tools/llama-cpp-peer builds
(ctypes) on a fixed set of rows: `quantize_<type>(src, dst, rows, n, NULL)`, the function
`llama-quantize` calls through `ggml_quantize_chunk` (no importance matrix: for every type but
iq4_nl that is `quantize_row_*_ref`; iq4_nl's ref searches fewer scales than `quantize_iq4_nl`),
and `dequantize_row_*`; cross-checks against PyPI's `gguf` package (numpy re-implementation of
the same quantizers) where it has them. Then the activation quantizers the CPU backend runs before
a quantized matrix product, from libggml-cpu.so: `quantize_row_q8_0` (on x86 with AVX2 its own
arithmetic: scale 127/amax, round half to even; not `quantize_row_q8_0_ref`) and
`quantize_row_q8_K` (= `quantize_row_q8_K_ref`).

  python3 -m pip install numpy gguf
  python3 scripts/oracles/ggml-quants.py     # LLAMA_CPP_BIN=folder skips building llama.cpp

Writes, per weight type T, `ggml-T.bin`: the blocks llama.cpp's quantizer writes for the rows of
`ggml-input.bin`, then the float32 values llama.cpp's dequantizer decodes from them;
`ggml-act-q8_0.bin` / `ggml-act-q8_k.bin`: the activation blocks (block_q8_0: fp16 d, 32 int8;
block_q8_K: f32 d, 256 int8, 16 int16 sums) for the same rows. `ggml-input.bin`: int32 rows,
int32 n, then rows×n float32 (little-endian). The activation oracle is machine-dependent (the CPU
backend's SIMD path): it was made on x86-64 with AVX-512.
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

types = {"q8_0": (32, 34), "q4_0": (32, 18), "q4_1": (32, 20), "q5_0": (32, 22), "q5_1": (32, 24),
         "q2_k": (256, 84), "q3_k": (256, 110), "q4_k": (256, 144), "q5_k": (256, 176), "q6_k": (256, 210),
         "iq4_nl": (32, 18), "iq4_xs": (256, 136)}
cname = {t: t[:-1] + "K" if t[-2:] == "_k" else t for t in types}
fptr = ctypes.POINTER(ctypes.c_float)
for t, (bs, bb) in types.items():
    q = getattr(lib, f"quantize_{cname[t]}"); dq = getattr(lib, f"dequantize_row_{cname[t]}")
    q.restype = ctypes.c_size_t
    blocks = bytearray(); deq = np.zeros_like(x)
    for r in range(ROWS):
        buf = ctypes.create_string_buffer(N // bs * bb)
        xr = np.ascontiguousarray(x[r])
        assert q(xr.ctypes.data_as(fptr), buf, ctypes.c_int64(1), ctypes.c_int64(N), None) == N // bs * bb
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
        try:
            agrees = gguf.quants.quantize(x, qt).tobytes() == bytes(blocks)
            assert agrees or t == "iq4_nl", f"{t}: gguf quantize differs"
            what = "quantize and dequantize" if agrees else "dequantize (its quantize is ggml's _ref, not quantize_iq4_nl)"
        except NotImplementedError:
            what = "dequantize (it has no quantizer for this type)"
        print(f"{t}: {len(blocks)} bytes, gguf package agrees: {what}")
    except ImportError:
        print(f"{t}: {len(blocks)} bytes (gguf package not installed: no cross-check)")

# Activation rows as the CPU backend quantizes them before a quantized matrix product.
cpu = ctypes.CDLL(os.path.join(bin_dir, "libggml-cpu.so"))
for t, fn, bb, bs in [("q8_0", "quantize_row_q8_0", 34, 32), ("q8_k", "quantize_row_q8_K", 292, 256)]:
    f = getattr(cpu, fn)
    blocks = bytearray()
    for r in range(ROWS):
        buf = ctypes.create_string_buffer(N // bs * bb)
        xr = np.ascontiguousarray(x[r])
        f(xr.ctypes.data_as(fptr), buf, ctypes.c_int64(N))
        blocks += buf.raw
    with open(os.path.join(out_dir, f"ggml-act-{t}.bin"), "wb") as fo:
        fo.write(bytes(blocks))
    print(f"activations {t}: {len(blocks)} bytes from {fn}")
