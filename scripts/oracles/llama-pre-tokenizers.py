#!/usr/bin/env python3
"""Oracle for exprun's table of byte-level BPE pre-tokenizers (Sources/InferenceCore/Tokenizers/
PreTokenizers.swift): reads llama.cpp's src/llama-vocab.cpp and writes, for every
`tokenizer.ggml.pre` name it maps to a pre-tokenizer type, the type, its regular expressions in
order (as the C++ string literals spell them, escapes resolved) and the flags the loader sets with
it (ignore_merges, add_bos, clean BOS). Writes Tests/InferenceCoreTests/Oracles/llama.cpp-pre-tokenizers.json.

    scripts/oracles/llama-pre-tokenizers.py [LLAMA_CPP_SOURCE]   (default ~/.cache/llama-cpp-peer/llama.cpp)
"""
import json
import os
import re
import sys

src = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/llama-cpp-peer/llama.cpp")
text = open(os.path.join(src, "src/llama-vocab.cpp"), encoding="utf-8").read()


def literals(code):
    """The C++ string literals in `code`, adjacent ones concatenated, escapes resolved."""
    out, i, current, last_end = [], 0, None, None
    while i < len(code):
        c = code[i]
        if code.startswith("//", i):
            i = code.index("\n", i)
            continue
        if c == '"':
            j, s = i + 1, []
            while code[j] != '"':
                if code[j] == "\\":
                    e = code[j + 1]
                    s.append({"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'"}.get(e, None) or ("\\" + e))
                    j += 2
                else:
                    s.append(code[j])
                    j += 1
            lit = "".join(s)
            if current is not None and code[last_end:i].strip() == "":
                current += lit
            else:
                if current is not None:
                    out.append(current)
                current = lit
            last_end = j + 1
            i = j + 1
            continue
        i += 1
    if current is not None:
        out.append(current)
    return out


# 1. llm_tokenizer_bpe's constructor: case labels → regex_exprs.
ctor = text[text.index("llm_tokenizer_bpe(const llama_vocab & vocab) {"):text.index("std::vector<std::string> regex_exprs;")]
regexes = {}
for block in re.split(r"\n\s*break;", ctor):
    labels = re.findall(r"case (LLAMA_VOCAB_PRE_TYPE_\w+):", block) + (["DEFAULT"] if "default:" in block else [])
    m = re.search(r"regex_exprs = \{(.*?)\n\s*\};", block, re.S)
    if not labels or not m:
        continue
    for label in labels:
        regexes[label.replace("LLAMA_VOCAB_PRE_TYPE_", "")] = literals(m.group(1))

# 2. load(): tokenizer_pre names → type and flags, in the byte-level BPE branch.
load = text[text.index('} else if (tokenizer_pre == "default") {') - 200:text.index("} else if (type == LLAMA_VOCAB_TYPE_SPM) {")]
names = {}
for cond, body in re.findall(r"if \((.*?)\)\s*\{(.*?)\n\s*\}", load, re.S):
    found = re.findall(r'tokenizer_pre == "([^"]+)"', cond)
    kind = re.search(r"pre_type = LLAMA_VOCAB_PRE_TYPE_(\w+);", body)
    if not found or not kind:
        continue
    for name in found:
        names[name] = {
            "type": kind.group(1),
            "ignore_merges": "ignore_merges = true" in body,
            "add_bos": "add_bos = true" in body,
            "no_default_bos": "special_bos_id = LLAMA_TOKEN_NULL" in body,
            "byte_encode": kind.group(1) not in ("GEMMA4", "SARVAM_MOE", "WHITESPACE"),
        }

table = {name: {**flags, "regexes": regexes[flags["type"]]} for name, flags in sorted(names.items())}
out = os.path.join(os.path.dirname(__file__), "../../Tests/InferenceCoreTests/Oracles/llama.cpp-pre-tokenizers.json")
with open(out, "w", encoding="utf-8") as f:
    json.dump({"producer": "scripts/oracles/llama-pre-tokenizers.py from llama.cpp's src/llama-vocab.cpp "
                           "(the peer's source, llama-cpp-python 0.3.36 = llama.cpp 0c1e57098)",
               "pre_tokenizers": table}, f, ensure_ascii=False, indent=1)
    f.write("\n")
print(f"{out}: {len(table)} names")
