#!/usr/bin/env python3
"""Oracles for llama.cpp's K-quant mixes (Tests/InferenceCoreTests/Oracles/kquant-mixes-*.json):
the type `llama-quantize` gives each tensor of an F32 GGUF, for every mix exprun names and a few
--pure types, on the shapes of real models:

  gpt2-124m      GPT-2 small (12 layers, fused attn_qkv), from `exprun quantize random:gpt2 --to f32`
  smollm-135m    Llama architecture, SmolLM-135M's shape: 30 layers, width 576 (not a multiple of 256:
                 the K-types fall back), 9 heads / 3 KV heads, tied embeddings
  tinyllama-1.1b Llama architecture, TinyLlama-1.1B's shape: 22 layers, 32 heads / 4 KV heads (GQA 8),
                 separate output head
  odd-72         a 2-layer Llama of width 72 (no multiple of 32): where even the 32-blocks do not fit

The Llama-shaped files are written with PyPI's gguf package as sparse files (their values are never
read: `llama-quantize --dry-run` only chooses types). Then, with --check, `exprun quantize --to MIX`
runs on the GPT-2 and SmolLM files and its tensor types are compared with llama-quantize's.

  python3 -m pip install numpy gguf                     # or ~/.cache/exprun/pyenv/bin/python
  LLAMA_CPP_BIN=$(../shared/tools/llama-cpp-peer) python3 scripts/oracles/kquant-mixes.py [--check]
"""
import json, os, re, subprocess, sys, tempfile
import numpy as np
import gguf

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.join(here, "..", "..")
out_dir = os.path.join(root, "Tests", "InferenceCoreTests", "Oracles")
bin_dir = os.environ.get("LLAMA_CPP_BIN") or subprocess.check_output([os.path.join(root, "..", "shared", "tools", "llama-cpp-peer")], text=True).strip()
exprun = os.environ.get("EXPRUN", os.path.join(root, ".build", "release", "exprun"))
check = "--check" in sys.argv

MIXES = ["q2_k", "q3_k_s", "q3_k_m", "q3_k_l", "q4_k_s", "q4_k_m", "q5_k_s", "q5_k_m", "q6_k"]
PURE = ["q2_k", "q4_k", "q5_k", "q8_0", "q4_0", "q5_1", "iq4_xs"]
LLAMA_NAME = {"q2_k": "Q2_K", "q3_k_s": "Q3_K_S", "q3_k_m": "Q3_K_M", "q3_k_l": "Q3_K_L", "q4_k_s": "Q4_K_S",
              "q4_k_m": "Q4_K_M", "q5_k_s": "Q5_K_S", "q5_k_m": "Q5_K_M", "q6_k": "Q6_K", "q4_k": "Q4_K",
              "q5_k": "Q5_K", "q8_0": "Q8_0", "q4_0": "Q4_0", "q5_1": "Q5_1", "iq4_xs": "IQ4_XS"}

def llama_gguf(path, layers, d, ff, heads, kv, vocab, tied):
    """A Llama-architecture F32 GGUF with the given shape and no values (a sparse file)."""
    w = gguf.GGUFWriter(path, "llama")
    w.add_context_length(2048); w.add_embedding_length(d); w.add_feed_forward_length(ff)
    w.add_block_count(layers); w.add_head_count(heads); w.add_head_count_kv(kv)
    w.add_layer_norm_rms_eps(1e-5); w.add_rope_dimension_count(d // heads); w.add_vocab_size(vocab)
    shapes = [("token_embd.weight", (vocab, d)), ("output_norm.weight", (d,))]
    if not tied: shapes.append(("output.weight", (vocab, d)))
    kvd = d // heads * kv
    for i in range(layers):
        p = f"blk.{i}."
        shapes += [(p + "attn_norm.weight", (d,)), (p + "attn_q.weight", (d, d)), (p + "attn_k.weight", (kvd, d)),
                   (p + "attn_v.weight", (kvd, d)), (p + "attn_output.weight", (d, d)), (p + "ffn_norm.weight", (d,)),
                   (p + "ffn_gate.weight", (ff, d)), (p + "ffn_up.weight", (ff, d)), (p + "ffn_down.weight", (d, ff))]
    for name, shape in shapes:
        w.add_tensor_info(name, shape, np.dtype(np.float32), 4 * int(np.prod(shape)))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_ti_data_to_file(); w.close()
    data = sum((4 * int(np.prod(s)) + 31) // 32 * 32 for _, s in shapes)
    with open(path, "r+b") as f:
        f.seek(0, 2); start = (f.tell() + 31) // 32 * 32
        f.truncate(start + data)

def llama_quantize_types(path, target, pure):
    """Tensor name → type, from llama-quantize --dry-run's listing."""
    args = [os.path.join(bin_dir, "llama-quantize"), "--dry-run"] + (["--pure"] if pure else []) + [path, path + ".out", LLAMA_NAME[target]]
    r = subprocess.run(args, capture_output=True, text=True)
    types = {}
    for line in (r.stdout + r.stderr).splitlines():
        m = re.match(r"\[\s*\d+/\s*\d+\]\s+(\S+)\s+- \[[^\]]*\], type =\s+(\S+), size =.*?(?:\((\S+)\))?$", line)
        if m: types[m.group(1)] = (m.group(3) or m.group(2)).lower()
    if not types:
        sys.exit(f"llama-quantize {' '.join(args[1:])} failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return types

def model_facts(path):
    r = gguf.GGUFReader(path)
    arch = r.fields["general.architecture"].contents()
    heads = r.fields[f"{arch}.attention.head_count"].contents()
    kvf = r.fields.get(f"{arch}.attention.head_count_kv")
    kv = kvf.contents() if kvf else heads
    tensors = [[t.name, [int(x) for x in t.shape]] for t in r.tensors]
    return {"architecture": arch, "layers": r.fields[f"{arch}.block_count"].contents(), "gqa": heads // kv}, tensors

with tempfile.TemporaryDirectory() as tmp:
    models = {
        "gpt2-124m": os.path.join(tmp, "gpt2.gguf"),
        "smollm-135m": os.path.join(tmp, "smollm.gguf"),
        "tinyllama-1.1b": os.path.join(tmp, "tinyllama.gguf"),
        "odd-72": os.path.join(tmp, "odd.gguf"),
    }
    subprocess.run([exprun, "quantize", "random:gpt2", "--to", "f32", "--out", models["gpt2-124m"]], check=True, stdout=subprocess.DEVNULL)
    llama_gguf(models["smollm-135m"], 30, 576, 1536, 9, 3, 49152, tied=True)
    llama_gguf(models["tinyllama-1.1b"], 22, 2048, 5632, 32, 4, 32000, tied=False)
    llama_gguf(models["odd-72"], 2, 72, 200, 2, 2, 128, tied=False)
    bad = 0
    for key, path in models.items():
        facts, tensors = model_facts(path)
        types = {}
        for t in MIXES: types[t] = llama_quantize_types(path, t, False)
        for t in PURE: types["pure:" + t] = llama_quantize_types(path, t, True)
        doc = {"model": key, "facts": facts, "tensors": tensors,
               "types": {t: [m[name] for name, _ in tensors] for t, m in types.items()},
               "made_by": "scripts/oracles/kquant-mixes.py: llama-quantize --dry-run (llama.cpp 0c1e57098, llama-cpp-python 0.3.36)"}
        with open(os.path.join(out_dir, f"kquant-mixes-{key}.json"), "w") as f:
            json.dump(doc, f, separators=(",", ":")); f.write("\n")
        print(f"{key}: {len(tensors)} tensors, {len(types)} targets")
        if check and key in ("gpt2-124m", "smollm-135m"):
            for t in ["q4_k_m", "q2_k", "q3_k_m"]:
                out = os.path.join(tmp, f"{key}-{t}.gguf")
                subprocess.run([exprun, "quantize", path, "--to", t, "--out", out], check=True, stdout=subprocess.DEVNULL)
                ours = {x.name: x.tensor_type.name.lower() for x in gguf.GGUFReader(out).tensors}
                diff = [(n, ours.get(n), types[t][n]) for n, _ in tensors if ours.get(n) != types[t][n]]
                print(f"  exprun quantize --to {t}: " + ("same tensor types as llama-quantize" if not diff else f"{len(diff)} differ, e.g. {diff[:3]}"))
                bad += bool(diff)
                os.remove(out)
    sys.exit(1 if bad else 0)
