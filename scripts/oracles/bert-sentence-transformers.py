#!/usr/bin/env python3
"""Oracles for exprun's BERT encoder and WordPiece tokenizer, from transformers and
sentence-transformers on PyTorch CPU (float32, one thread).

Writes Tests/InferenceCoreTests/Oracles/bert/:
  tiny-random/        a small random BertModel (2 layers, hidden 32, a 3,000-token cased vocabulary cut
                      from MiniLM's vocab.txt plus capitalized words), saved by sentence-transformers
                      with CLS pooling, no Normalize and max_seq_length 24 (the position table has 64);
                      tokenizer.json removed so the vocab.txt + tokenizer_config.json path is used.
  tiny-random-oracle.safetensors / .json
                      per sentence: ids as sentence-transformers feeds them, every layer's hidden
                      states (BertModel on the sequence alone); pooled outputs of sentence-transformers'
                      encode (batch 4, padded) for pooling modes cls, mean, max, mean_sqrt_len_tokens, and
                      mean + Normalize.
  minilm-extra.safetensors / .json
                      all-MiniLM-L6-v2 (the folder given as argument) on sentences the shared oracle does
                      not hold: ids, and SentenceTransformer.encode's embeddings (batch 32); and
                      `<type>.embeddings` for q8_0, q5_0 and q4_0 with llama.cpp's numerics: the word
                      embeddings and every encoder Linear weight quantized and dequantized by gguf-py's
                      reference quantizers (numpy ports of ggml-quants.c), and each Linear's input rows
                      through Q8_0 as well (ggml's vec_dot_type for these types); position and
                      token-type tables, biases and LayerNorms in F32, as llama-quantize leaves them.

Usage: ~/.cache/exprun/pyenv/bin/python scripts/oracles/bert-sentence-transformers.py "$(scripts/install-minilm)"
(the shared venv has torch CPU, transformers and sentence-transformers; see the brief).
"""
import json, os, shutil, sys
import numpy as np
import torch
import transformers, sentence_transformers, tokenizers
from transformers import BertConfig, BertModel
from sentence_transformers import SentenceTransformer, models
from safetensors.numpy import save_file

torch.set_num_threads(1)
torch.manual_seed(1234)
repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
out = os.path.join(repo, "Tests/InferenceCoreTests/Oracles/bert")
minilm = sys.argv[1]
os.makedirs(out, exist_ok=True)

SENTENCES = [
    "",
    "   ",
    "A quick brown fox jumps over the lazy dog.",
    "The café served a naïve crème brûlée; déjà vu!",
    "Привет, как дела?",
    "한국어 문장입니다",
    "Ελληνικά: ΟΔΟΣ και οδός",
    "İstanbul'da ﬁne CAFÉ",
    "emoji 🦙 and 😶\u200d🌫️ with ZWJ",
    "tabs\tand\nnewlines\r\nand\u00a0nbsp\u2003em-space",
    "control\u0007chars\u200bzero\u00adwidth\ue000private\ufffdreplacement\x00nul",
    "[CLS] special [SEP] tokens [MASK] inside [unused1]",
    "x" * 101 + " long word " + "y" * 100,
    "€100 ≈ $108; 50% off!!! (really?) <tag> a_b c-d e/f ~ `q` ^ |",
    "中文和日本語のテキスト、ひらがなカタカナ",
    "ＡＢＣ full-width and ｶﾀｶﾅ half-width",
    "Numbers 3.14159 and 1,000,000 and 2nd 3rd",
    "e\u0301 combining acute vs \u00e9 precomposed",
    "Unaffable unbelievable tokenization WordPiece",
    "Hello",
]

versions = {"torch": torch.__version__, "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__, "tokenizers": tokenizers.__version__}

# ---- tiny random model ------------------------------------------------------------------------
full = open(os.path.join(minilm, "vocab.txt"), encoding="utf-8").read().split("\n")[:-1]
keep = [full[i] for i in [0, 1, 2, 100, 101, 102, 103]]
keep += full[999:1996]                                   # single characters
keep += full[1996:3496]                                  # the most frequent words
keep += [t for t in full if t.startswith("##") and len(t) == 3][:400]   # one-character continuations
keep += [w.capitalize() for w in full[1996:2096] if w.isalpha()]         # some cased words
keep += ["CAFÉ", "café", "naïve", "crème", "##é", "##ï"]
seen, vocab = set(), []
for t in keep:
    if t not in seen:
        seen.add(t); vocab.append(t)

tiny = os.path.join(out, "tiny-random")
shutil.rmtree(tiny, ignore_errors=True)
os.makedirs(tiny)
with open(os.path.join(tiny, "vocab.txt"), "w", encoding="utf-8") as f:
    f.write("\n".join(vocab) + "\n")
config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=64, max_position_embeddings=64, layer_norm_eps=1e-5, type_vocab_size=2,
                    hidden_act="gelu", initializer_range=0.2)
bert = BertModel(config).eval()
with torch.no_grad():
    for name, p in bert.named_parameters():
        if p.dim() == 1:                                 # biases and LayerNorm: away from 0 and 1
            p.add_(0.1 * torch.randn_like(p))
bert.save_pretrained(os.path.join(out, "tiny-hf"))
tok = transformers.BertTokenizerFast(os.path.join(tiny, "vocab.txt"), do_lower_case=False)
tok.save_pretrained(os.path.join(out, "tiny-hf"))

transformer = models.Transformer(os.path.join(out, "tiny-hf"), max_seq_length=24)
pool = {m: models.Pooling(32, pooling_mode=m) for m in ["cls", "mean", "max", "mean_sqrt_len_tokens"]}
st = SentenceTransformer(modules=[transformer, pool["cls"]], device="cpu")
st.save(tiny)
shutil.rmtree(os.path.join(out, "tiny-hf"))
for extra in ["tokenizer.json", "README.md"]:
    if os.path.exists(os.path.join(tiny, extra)):
        os.remove(os.path.join(tiny, extra))

st = SentenceTransformer(tiny, device="cpu")             # as a user would load the folder
tensors, meta = {}, {"versions": versions, "max_seq_length": 24, "sentences": []}
model = st[0].auto_model
for i, s in enumerate(SENTENCES):
    feats = st.tokenize([s])
    ids = feats["input_ids"][0]
    with torch.no_grad():
        o = model(input_ids=ids[None], output_hidden_states=True)
    tensors[f"s{i}.input_ids"] = ids.numpy().astype(np.int32)
    tensors[f"s{i}.hidden_states"] = torch.stack(o.hidden_states)[:, 0].numpy()
    meta["sentences"].append({"index": i, "text": s, "input_ids": ids.tolist(),
                              "untruncated_ids": st.tokenizer(s)["input_ids"],
                              "tokens": st.tokenizer.convert_ids_to_tokens(ids.tolist())})
for m, p in pool.items():
    enc = SentenceTransformer(modules=[st[0], p], device="cpu")
    tensors[f"pooled.{m}"] = enc.encode(SENTENCES, batch_size=4, convert_to_numpy=True)
enc = SentenceTransformer(modules=[st[0], pool["mean"], models.Normalize()], device="cpu")
tensors["pooled.mean.normalized"] = enc.encode(SENTENCES, batch_size=4, convert_to_numpy=True)
tensors["pooled.cls.default"] = st.encode(SENTENCES, batch_size=4, convert_to_numpy=True)
save_file(tensors, os.path.join(out, "tiny-random-oracle.safetensors"))
json.dump(meta, open(os.path.join(out, "tiny-random-oracle.json"), "w"), ensure_ascii=False, indent=1)

# ---- all-MiniLM-L6-v2 on other sentences ------------------------------------------------------
mini = SentenceTransformer(minilm, device="cpu")
emb = mini.encode(SENTENCES, batch_size=32, convert_to_numpy=True)
meta = {"versions": versions, "model": minilm, "max_seq_length": mini.max_seq_length, "sentences": []}
for i, s in enumerate(SENTENCES):
    ids = mini.tokenize([s])["input_ids"][0].tolist()
    meta["sentences"].append({"index": i, "text": s, "input_ids": ids, "tokens": mini.tokenizer.convert_ids_to_tokens(ids)})
import gguf
from gguf.quants import quantize, dequantize
Q8 = gguf.GGMLQuantizationType.Q8_0
extra = {"embeddings": emb, "cosine": emb @ emb.T}
bert_model = mini[0].auto_model
state = {k: v.clone() for k, v in bert_model.state_dict().items()}
def through_q8_0(module, inputs):
    a = inputs[0].detach().numpy().astype(np.float32)
    rows = a.reshape(-1, a.shape[-1])
    return (torch.from_numpy(dequantize(quantize(rows, Q8), Q8).reshape(a.shape)),)
hooks = [m.register_forward_pre_hook(through_q8_0) for n, m in bert_model.named_modules()
         if isinstance(m, torch.nn.Linear) and n.startswith("encoder.")]
for name in ["q8_0", "q5_0", "q4_0"]:
    qt = getattr(gguf.GGMLQuantizationType, name.upper())
    new = {}
    for k, v in state.items():
        if v.dim() == 2 and (k.startswith("encoder.") or k == "embeddings.word_embeddings.weight"):
            a = v.numpy().astype(np.float32)
            new[k] = torch.from_numpy(dequantize(quantize(a, qt), qt).reshape(a.shape))
        else:
            new[k] = v
    bert_model.load_state_dict(new)
    extra[f"{name}.embeddings"] = mini.encode(SENTENCES, batch_size=32, convert_to_numpy=True)
for h in hooks:
    h.remove()
bert_model.load_state_dict(state)
import importlib.metadata
versions["gguf"] = importlib.metadata.version("gguf")
save_file(extra, os.path.join(out, "minilm-extra.safetensors"))
json.dump(meta, open(os.path.join(out, "minilm-extra.json"), "w"), ensure_ascii=False, indent=1)
print("wrote", out)
