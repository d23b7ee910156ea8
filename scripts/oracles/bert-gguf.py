#!/usr/bin/env python3
"""The small random BERT of Tests/InferenceCoreTests/Oracles/bert/tiny-random as llama.cpp's converter
writes it: Tests/InferenceCoreTests/Oracles/bert/tiny-random.gguf (F32, architecture `bert`, pooling type
from its sentence-transformers folder). Runs llama.cpp's own convert_hf_to_gguf.py from the pinned source
(../shared/tools/llama-cpp-peer builds it; ~/.cache/llama-cpp-peer/llama.cpp) with one change: the
converter names a tokenizer's pre-tokenizer by hashing its output on a test text, and this cut-down
vocabulary is not in its table, so it is told "bert-bge" (llama.cpp's WordPiece has one pre-tokenizer).

Usage: ~/.cache/exprun/pyenv/bin/python scripts/oracles/bert-gguf.py   (needs torch, transformers)
"""
import os, runpy, sys
llama = os.path.expanduser(os.environ.get("LLAMA_CPP_SRC", "~/.cache/llama-cpp-peer/llama.cpp"))
repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
oracles = os.path.join(repo, "Tests/InferenceCoreTests/Oracles/bert")
sys.path[:0] = [llama, os.path.join(llama, "gguf-py")]
import conversion.base as base
base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "bert-bge"
sys.argv = ["convert_hf_to_gguf.py", os.path.join(oracles, "tiny-random"), "--outtype", "f32",
            "--outfile", os.path.join(oracles, "tiny-random.gguf")]
runpy.run_path(os.path.join(llama, "convert_hf_to_gguf.py"), run_name="__main__")
