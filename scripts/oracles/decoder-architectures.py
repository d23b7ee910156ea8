#!/usr/bin/env python3
"""Oracles for exprun's decoder architectures: for each of llama (as Llama 2 with a SentencePiece
vocabulary, as Llama 3 with rope_freqs, Q8_0 matrices and a byte-level BPE vocabulary, with linear
RoPE scaling), qwen2 (Q/K/V biases, YaRN), qwen3 (Q/K norms), phi3 (fused QKV and gate/up, LongRoPE,
partial rotary), gemma, gemma2 (soft-caps, sliding window) and gemma3 (Q/K norms, sliding window
with its own rotary base), a small GGUF with seeded random weights and a tiny vocabulary, written by
PyPI's `gguf` package, and llama.cpp's logits and greedy tokens on it (scripts/oracles/llama-logits.c
against libllama of the peer build; flash attention off, F16 KV cache, context 64).

Writes Tests/InferenceCoreTests/Oracles/decoders/<name>.gguf and <name>.json (tokens, the logits at
every prompt position, 8 greedy tokens and llama.cpp's top-2 margin at each step).

    ~/.cache/exprun/pyenv/bin/python scripts/oracles/decoder-architectures.py     (from the repository root)
"""
import json
import math
import os
import subprocess
import tempfile

import gguf
import numpy as np

root = os.path.dirname(os.path.abspath(__file__)) + "/../.."
out_dir = os.path.join(root, "Tests/InferenceCoreTests/Oracles/decoders")
PROMPT = "The quick brown fox jumps over the lazy dog."
CONTEXT = 64
NEW_TOKENS = 8
Q = gguf.GGMLQuantizationType

TEXT = ("the quick brown fox jumps over the lazy dog. the dog sleeps and the fox runs. "
        "then they sleep in the sun, over and over, quick and lazy.")


def byte_stand_ins():
    """GPT-2's printable stand-in for each byte."""
    printable = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def bpe_vocabulary(specials):
    """256 byte tokens, 40 merges learned on TEXT, then `specials` (control tokens)."""
    stand = byte_stand_ins()
    words = [[stand[b] for b in (" " + w if i else w).encode()] for i, w in enumerate(TEXT.split(" "))]
    tokens = [stand[b] for b in range(256)]
    merges = []
    for _ in range(40):
        counts = {}
        for w in words:
            for a, b in zip(w, w[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + 1
        (a, b), _ = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append(f"{a} {b}")
        tokens.append(a + b)
        for w in words:
            i = 0
            while i < len(w) - 1:
                if w[i] == a and w[i + 1] == b:
                    w[i:i + 2] = [a + b]
                i += 1
    types = [1] * len(tokens) + [3] * len(specials)
    return tokens + specials, types, merges


def spm_vocabulary(extra_specials=()):
    """<unk> <s> </s>, the 256 byte tokens, single letters and a few pieces, scored by length and
    rank, then `extra_specials` (control tokens)."""
    pieces = ["▁"] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + [
        "▁the", "▁t", "th", "he", "▁a", "in", "er", "an", "▁s", "on", "re", "at", "en", "ed", "▁o", "▁d", "og",
        "▁dog", "ox", "▁f", "▁fox", "ui", "ck", "▁q", "zy", "▁la", "ump", "ver", "▁over", "ee", "ps", "."]
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + pieces
    types = [2, 3, 3] + [6] * 256 + [1] * len(pieces)
    scores = [0.0, 0.0, 0.0] + [0.0] * 256 + [-float(i) for i in range(len(pieces))]
    # Longer pieces score higher so that they win over their parts.
    for i, p in enumerate(pieces):
        scores[259 + i] = -10.0 + len(p) - i * 0.01
    return tokens + list(extra_specials), types + [3] * len(extra_specials), scores + [0.0] * len(extra_specials)


def llama3_rope_factors(base, dim, factor=8.0, low=1.0, high=4.0, old_context=8192):
    """convert_hf_to_gguf.py's rope_freqs for rope_scaling.rope_type = llama3."""
    freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / dim))
    low_wavelen, high_wavelen = old_context / low, old_context / high
    out = []
    for f in freqs:
        wavelen = 2 * math.pi / f
        if wavelen < high_wavelen:
            out.append(1.0)
        elif wavelen > low_wavelen:
            out.append(factor)
        else:
            smooth = (old_context / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


MODELS = {
    # name: architecture, vocabulary, hyper-parameters, options
    "llama-spm": dict(arch="llama", vocab="spm", matrices="f16", tied=True, layers=2, heads=4, kv=2),
    "llama3-bpe": dict(arch="llama", vocab="llama-bpe", matrices="q8_0", d=64, heads=4, kv=1, layers=2, ff=64,
                       base=500000.0, rope_freqs=True),
    "llama-linear": dict(arch="llama", vocab="spm", matrices="f32", layers=2, heads=4, kv=4,
                         extra={"rope.scaling.type": "linear", "rope.scaling.factor": 2.0}),
    "qwen2": dict(arch="qwen2", vocab="qwen2", matrices="f32", layers=2, heads=4, kv=2, biases=True, base=1e6,
                  extra={"rope.scaling.type": "yarn", "rope.scaling.factor": 4.0, "rope.scaling.original_context_length": 16}),
    "qwen3": dict(arch="qwen3", vocab="qwen2", matrices="f16", layers=2, heads=4, kv=2, qk_norm=True, base=1e6),
    "phi3": dict(arch="phi3", vocab="spm", matrices="f32", layers=2, heads=4, kv=4, fused=True, rope_dims=4,
                 longrope=True, extra={"rope.scaling.original_context_length": 16, "rope.scaling.attn_factor": 1.19}),
    "gemma": dict(arch="gemma", vocab="spm", matrices="f32", layers=2, heads=4, kv=1, gemma=True),
    "gemma2": dict(arch="gemma2", vocab="spm", matrices="f16", layers=2, heads=4, kv=2, gemma=True, post_norms=True,
                   extra={"attention.sliding_window": 4, "attn_logit_softcapping": 5.0, "final_logit_softcapping": 3.0,
                          "rope.freq_base_swa": 1000.0}),
    "gemma3": dict(arch="gemma3", vocab="spm", matrices="f32", layers=3, heads=4, kv=2, gemma=True, post_norms=True,
                   qk_norm=True, tied=False, base=1e6,
                   extra={"attention.sliding_window": 4, "attention.sliding_window_pattern": 3}),
}


def build(name, spec, path):
    rng = np.random.default_rng(sum(map(ord, name)) * 7919)
    arch = spec["arch"]
    d, heads, kv, layers = spec.get("d", 32), spec["heads"], spec["kv"], spec["layers"]
    ff = spec.get("ff", 64)
    head = d // heads
    w = gguf.GGUFWriter(path, arch=arch)
    w.add_string("general.name", f"exprun random {name}")
    w.add_uint32(f"{arch}.context_length", 128)
    w.add_uint32(f"{arch}.embedding_length", d)
    w.add_uint32(f"{arch}.block_count", layers)
    w.add_uint32(f"{arch}.feed_forward_length", ff)
    w.add_uint32(f"{arch}.attention.head_count", heads)
    w.add_uint32(f"{arch}.attention.head_count_kv", kv)
    w.add_float32(f"{arch}.attention.layer_norm_rms_epsilon", 1e-5 if not spec.get("gemma") else 1e-6)
    w.add_float32(f"{arch}.rope.freq_base", spec.get("base", 10000.0))
    w.add_uint32(f"{arch}.rope.dimension_count", spec.get("rope_dims", head))
    for k, v in spec.get("extra", {}).items():
        key = f"{arch}.{k}"
        if isinstance(v, str):
            w.add_string(key, v)
        elif isinstance(v, float):
            w.add_float32(key, v)
        else:
            w.add_uint32(key, v)

    # Vocabulary.
    if spec["vocab"] == "spm":
        # llama.cpp requires Phi-3's special tokens of a model named so.
        tokens, types, scores = spm_vocabulary(["<|endoftext|>", "<|user|>", "<|end|>"] if arch == "phi3" else [])
        w.add_string("tokenizer.ggml.model", "llama")
        w.add_array("tokenizer.ggml.tokens", tokens)
        w.add_array("tokenizer.ggml.scores", scores)
        w.add_array("tokenizer.ggml.token_type", types)
        w.add_uint32("tokenizer.ggml.bos_token_id", 1)
        w.add_uint32("tokenizer.ggml.eos_token_id", 2)
        w.add_uint32("tokenizer.ggml.unknown_token_id", 0)
        if spec.get("gemma"):
            w.add_bool("tokenizer.ggml.add_space_prefix", False)
    else:
        specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"] if spec["vocab"] == "llama-bpe" \
            else ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        tokens, types, merges = bpe_vocabulary(specials)
        w.add_string("tokenizer.ggml.model", "gpt2")
        w.add_string("tokenizer.ggml.pre", spec["vocab"])
        w.add_array("tokenizer.ggml.tokens", tokens)
        w.add_array("tokenizer.ggml.token_type", types)
        w.add_array("tokenizer.ggml.merges", merges)
        first = len(tokens) - 3
        w.add_uint32("tokenizer.ggml.bos_token_id", first)
        w.add_uint32("tokenizer.ggml.eos_token_id", first + (1 if spec["vocab"] == "llama-bpe" else 0))
    vocab = len(tokens)

    def matrix(name, out, inp, scale=None):
        values = (rng.standard_normal((out, inp)) * (scale if scale is not None else 1 / math.sqrt(inp))).astype(np.float32)
        kind = spec["matrices"]
        if kind == "f16":
            w.add_tensor(name, values.astype(np.float16))
        elif kind == "q8_0":
            w.add_tensor(name, gguf.quants.quantize(values, Q.Q8_0), raw_dtype=Q.Q8_0)
        else:
            w.add_tensor(name, values)

    def vector(name, n, around=1.0, spread=0.2):
        w.add_tensor(name, (around + spread * rng.standard_normal(n)).astype(np.float32))

    w.add_tensor("token_embd.weight", rng.standard_normal((vocab, d)).astype(np.float32) * (0.3 if spec.get("gemma") else 1.0))
    if spec.get("rope_freqs"):
        w.add_tensor("rope_freqs.weight", llama3_rope_factors(spec.get("base", 10000.0), spec.get("rope_dims", head)))
    if spec.get("longrope"):
        half = spec.get("rope_dims", head) // 2
        w.add_tensor("rope_factors_long.weight", (1 + 3 * rng.random(half)).astype(np.float32))
        w.add_tensor("rope_factors_short.weight", (1 + 0.5 * rng.random(half)).astype(np.float32))
    qd, kvd = heads * head, kv * head
    for l in range(layers):
        p = f"blk.{l}."
        vector(p + "attn_norm.weight", d)
        if spec.get("fused"):
            matrix(p + "attn_qkv.weight", qd + 2 * kvd, d)
        else:
            matrix(p + "attn_q.weight", qd, d)
            matrix(p + "attn_k.weight", kvd, d)
            matrix(p + "attn_v.weight", kvd, d)
        if spec.get("biases"):
            vector(p + "attn_q.bias", qd, 0.0, 0.5)
            vector(p + "attn_k.bias", kvd, 0.0, 0.5)
            vector(p + "attn_v.bias", kvd, 0.0, 0.5)
        if spec.get("qk_norm"):
            vector(p + "attn_q_norm.weight", head)
            vector(p + "attn_k_norm.weight", head)
        matrix(p + "attn_output.weight", d, qd)
        if spec.get("post_norms"):
            vector(p + "post_attention_norm.weight", d)
            vector(p + "post_ffw_norm.weight", d)
        vector(p + "ffn_norm.weight", d)
        if spec.get("fused"):
            matrix(p + "ffn_up.weight", 2 * ff, d)
        else:
            matrix(p + "ffn_gate.weight", ff, d)
            matrix(p + "ffn_up.weight", ff, d)
        matrix(p + "ffn_down.weight", d, ff)
    vector("output_norm.weight", d)
    # Gemma and Gemma 2 always use the embedding as the head (llama.cpp loads no output tensor for them).
    if not (spec.get("tied") or arch in ("gemma", "gemma2")):
        matrix("output.weight", vocab, d, scale=1.0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    binary = subprocess.run([os.path.join(root, "../shared/tools/llama-cpp-peer")], capture_output=True, text=True, check=True).stdout.strip()
    source = os.path.dirname(os.path.dirname(binary))
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tool = os.path.join(tmp, "llama-logits")
        subprocess.run(["cc", "-O2", "-o", tool, os.path.join(root, "scripts/oracles/llama-logits.c"),
                        "-I" + os.path.join(source, "include"), "-I" + os.path.join(source, "ggml/include"),
                        "-L" + binary, "-lllama", "-Wl,-rpath," + binary], check=True)
        for name, spec in MODELS.items():
            path = os.path.join(out_dir, f"{name}.gguf")
            build(name, spec, path)
            result = json.loads(subprocess.run([tool, path, PROMPT, str(NEW_TOKENS), str(CONTEXT)],
                                               capture_output=True, text=True, check=True).stdout)
            result = {"producer": "scripts/oracles/decoder-architectures.py: llama.cpp (libllama of the peer build, "
                                  "llama-cpp-python 0.3.36 = llama.cpp 0c1e57098) via scripts/oracles/llama-logits.c, "
                                  f"n_ctx {CONTEXT}, flash attention off, F16 KV cache, 1 thread",
                      "text": PROMPT, "context": CONTEXT, **result}
            with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
                json.dump(result, f)
                f.write("\n")
            print(f"{name}: {os.path.getsize(path)} bytes, {len(result['prompt'])} prompt tokens, "
                  f"greedy {result['greedy']}, smallest margin {min(result['margins']):.3f}")


main()
