"""Writes a Llama GGUF as a plain Hugging Face directory (config.json, model.safetensors in F32, no
tokenizer): the same model in the layout `exprun` reads from transformers, to measure what loading
or calibrating from a Hugging Face directory costs against the GGUF. Quantized tensors are
dequantized by gguf-py; q and k rows go back from llama.cpp's converter order (adjacent pairs) to
transformers' (halves of each head).
  python3 scripts/gguf-to-hf-llama.py MODEL.gguf OUT_DIR
Needs gguf, numpy, safetensors (~/.cache/exprun/pyenv has them; or pip install gguf safetensors).
"""
import json, os, sys
import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize
from safetensors.numpy import save_file

src, out = sys.argv[1], sys.argv[2]
r = GGUFReader(src)
def meta(key, default=None):
    f = r.fields.get(key)
    if f is None: return default
    v = f.parts[f.data[0]]
    return bytes(v).decode() if f.types[0].name == "STRING" else v.tolist()[0]
arch = meta("general.architecture")
if arch != "llama": sys.exit(f"{src}: architecture {arch}, this script writes llama")
heads, kv_heads = meta("llama.attention.head_count"), meta("llama.attention.head_count_kv")
def unpermute(w, n_head):
    # convert_hf_to_gguf.py's permute: reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2)
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
names = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
         "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm", "ffn_gate": "mlp.gate_proj",
         "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
tensors = {}
for t in r.tensors:
    w = dequantize(t.data, t.tensor_type).astype(np.float32).reshape([int(d) for d in reversed(t.shape)])
    base, kind = t.name.rsplit(".", 1)
    if base.startswith("blk."):
        _, layer, part = base.split(".", 2)
        if part == "attn_q": w = unpermute(w, heads)
        if part == "attn_k": w = unpermute(w, kv_heads)
        name = f"model.layers.{layer}.{names[part]}.{kind}"
    else:
        name = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}[base] + "." + kind
    tensors[name] = np.ascontiguousarray(w)
os.makedirs(out, exist_ok=True)
save_file(tensors, os.path.join(out, "model.safetensors"))
config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": tensors["model.embed_tokens.weight"].shape[0],
          "hidden_size": meta("llama.embedding_length"), "intermediate_size": meta("llama.feed_forward_length"),
          "num_hidden_layers": meta("llama.block_count"), "num_attention_heads": heads, "num_key_value_heads": kv_heads,
          "max_position_embeddings": meta("llama.context_length"), "rms_norm_eps": meta("llama.attention.layer_norm_rms_epsilon"),
          "rope_theta": meta("llama.rope.freq_base", 10000.0), "hidden_act": "silu",
          "tie_word_embeddings": "lm_head.weight" not in tensors, "torch_dtype": "float32"}
json.dump(config, open(os.path.join(out, "config.json"), "w"), indent=2)
print(f"{out}: {len(tensors)} tensors, {sum(v.nbytes for v in tensors.values()) / 2**20:.1f} MiB")
