#!/usr/bin/env python3
"""Oracle for every byte-level BPE pre-tokenizer llama.cpp knows, beyond the vocabularies that come
with test vectors: GPT-2's vocabulary (../shared/data/llama.cpp-vocab/ggml-vocab-gpt-2.gguf) is
rewritten with each `tokenizer.ggml.pre` name in turn and tokenized by llama.cpp itself (libllama of
the peer build, scripts/oracles/llama-tokenize.c) on llama.cpp's test strings plus cases aimed at
each pattern (digit runs, contractions in capitals, CR/LF runs, marks, Han, Hangul, kana, symbols,
slashes before newlines, non-ASCII whitespace). One name per distinct behaviour (the same patterns and
whether whole-token words skip merging). Writes
Tests/InferenceCoreTests/Oracles/llama.cpp-pre-tokenizer-vectors.json.

Needs PyPI's `gguf` (the shared venv ~/.cache/exprun/pyenv has it) and llama.cpp built by
../shared/tools/llama-cpp-peer. Run from the repository root:
    ~/.cache/exprun/pyenv/bin/python scripts/oracles/pre-tokenizer-vectors.py
"""
import json
import os
import random
import subprocess
import sys
import tempfile

import gguf

root = os.path.dirname(os.path.abspath(__file__)) + "/../.."
vocab = os.path.join(root, "../shared/data/llama.cpp-vocab/ggml-vocab-gpt-2.gguf")
table = json.load(open(os.path.join(root, "Tests/InferenceCoreTests/Oracles/llama.cpp-pre-tokenizers.json"), encoding="utf-8"))
binary = subprocess.run([os.path.join(root, "../shared/tools/llama-cpp-peer")], capture_output=True, text=True, check=True).stdout.strip()
source = os.path.dirname(os.path.dirname(binary))
SEP = "\n__ggml_vocab_test__\n"

cases = open(vocab + ".inp", encoding="utf-8", newline="").read().split(SEP)[:-1]
cases += [
    "1 12 123 1234 12345 123456 1234567 ٣٤٥٦ ½¾ Ⅳ ①②③④",
    "It's IT'S it'S they'RE We'VE I'M you'LL he'D 'Z ' s",
    "a\r\nb\r\n\r\nc\n\n\nd  \n  e \r f",
    "line/\n/\r\npath/to/file\n//",
    "café naïve résumé Ünïcödé e\u0301 a\u0308\u0323 क्षत्रिय தமிழ்",
    "漢字かなカナ한국어 中文English混合 ㄅㄆㄇ 한글ㄱㄴ",
    "$100 + 20% = <x> ^ y | z ~ w `code` {a} [b] (c) @d #e &f *g",
    "  leading and trailing  ",
    "\u00a0nbsp\u2009thin\u3000ideo\u2028sep\u0085nel\u000bvt",
    "🦙🦙 👩‍💻 🇫🇷 ✨ ∑∫√ ©®™",
    "CamelCaseWord ALLCAPS lowercase MiXeD aBC Abc ÀÉÎ àéî",
    "<sentinel:12> IMGIMGABCDZ IMGIMGZ \t\n    x  y",
    "x = 1000000; y = 3.14159; z = 0x1F;",
    "don't won't can't shouldn't y'all O'Neil",
    "مرحبا بالعالم، كيف حالك؟ ۱۲۳",
    "Ελληνικά Русский язык Қазақ",
    "    def f(x):\n        return x  # comment\n",
    "\t\t\tindent\t\ttabs",
    "...!!!???;;;:::,,,",
    "Hello\u200bworld\u200d zero\ufeffwidth",
]
wiki = open(os.path.join(root, "../shared/data/wikitext-2-raw/wiki.test.raw"), encoding="utf-8").read()
cases += [wiki[50000:51000]]
# Random strings over characters that make the patterns' alternatives differ.
rng = random.Random(2024)
alphabet = ["a", "B", "é", "ß", "中", "ア", "한", "ก", "1", "٣", "½", "Ⅳ", " ", " ", " ", "\t", "\n", "\r", "\u00a0",
            "\u3000", "\u2028", "'", "'", "s", "T", "re", "LL", "d", "m", ".", "!", "-", "/", "$", "_", "😀", "\u0301",
            "\u0915\u094d", "Abc", "aBC", "123", "4567"]
cases += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24))) for _ in range(40)]
assert not any(SEP in c or "\0" in c for c in cases)

# One name per behaviour (the same patterns and merge rule); llama.cpp's vocabularies other than
# byte-level BPE are left out.
chosen = {}
for name, spec in sorted(table["pre_tokenizers"].items()):
    if not spec["byte_encode"]:
        continue
    chosen.setdefault((tuple(spec["regexes"]), spec["ignore_merges"]), name)

with tempfile.TemporaryDirectory() as tmp:
    tool = os.path.join(tmp, "llama-tokenize")
    subprocess.run(["cc", "-O2", "-o", tool, os.path.join(root, "scripts/oracles/llama-tokenize.c"),
                    "-I" + os.path.join(source, "include"), "-I" + os.path.join(source, "ggml/include"),
                    "-L" + binary, "-lllama", "-Wl,-rpath," + binary], check=True)
    inp = os.path.join(tmp, "cases.inp")
    with open(inp, "w", encoding="utf-8", newline="") as f:
        f.write("".join(c + SEP for c in cases))
    reader = gguf.GGUFReader(vocab)
    results = {}
    for name in sorted(chosen.values()):
        path = os.path.join(tmp, f"vocab-{name}.gguf")
        writer = gguf.GGUFWriter(path, arch="gpt2")
        for key, field in reader.fields.items():
            if key.startswith("GGUF.") or key == "general.architecture":
                continue
            value = name if key == "tokenizer.ggml.pre" else field.contents()
            vtype = field.types[0]
            if vtype == gguf.GGUFValueType.ARRAY:
                writer.add_key_value(key, value, vtype, sub_type=field.types[-1])
            else:
                writer.add_key_value(key, value, vtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.close()
        out = subprocess.run([tool, path, inp, "0", "cases"], capture_output=True, text=True, check=True).stdout
        lines = out.split("\n")[:-1]
        assert len(lines) == len(cases), (name, len(lines), len(cases))
        results[name] = [[int(x) for x in line.split()] for line in lines]
        print(f"{name}: {sum(map(len, results[name]))} tokens", file=sys.stderr)

out = os.path.join(root, "Tests/InferenceCoreTests/Oracles/llama.cpp-pre-tokenizer-vectors.json")
with open(out, "w", encoding="utf-8") as f:
    json.dump({"producer": "scripts/oracles/pre-tokenizer-vectors.py: llama.cpp (libllama of the peer build, "
                           "llama-cpp-python 0.3.36 = llama.cpp 0c1e57098) tokenizing with GPT-2's vocabulary "
                           "(ggml-vocab-gpt-2.gguf) under each tokenizer.ggml.pre; add_special false, parse_special false",
               "cases": cases, "ids": results}, f, ensure_ascii=False)
    f.write("\n")
print(out, os.path.getsize(out), "bytes")
