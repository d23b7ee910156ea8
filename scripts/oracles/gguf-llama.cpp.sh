#!/usr/bin/env bash
# Oracles for a real GGUF (MODEL) as exprun runs it, computed by
# llama.cpp itself (the peer build, ../shared/tools/llama-cpp-peer): greedy token ids of a few
# prompts, 24 steps each, with llama.cpp's top-2 logit margin at each step
# (scripts/oracles/llama-greedy.c against libllama, with an F32 KV cache as exprun keeps it), and llama-perplexity on WikiText-2 raw test at
# contexts 128 and 512 (4 chunks each), with the sha256 of the model file they were made on.
#   scripts/oracles/gguf-llama.cpp.sh MODEL.gguf OUT.json        (from the repository root)
# scripts/oracles/gemma3-llama.cpp.sh and smollm2-llama.cpp.sh run it on the installed models.
set -euo pipefail
BIN=$(../shared/tools/llama-cpp-peer)
LLAMA=$(dirname "$(dirname "$BIN")")
MODEL=$1
TEXT=../shared/data/wikitext-2-raw/wiki.test.raw
OUT=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cc -O2 -I"$LLAMA/include" -I"$LLAMA/ggml/include" scripts/oracles/llama-greedy.c -L"$BIN" -lllama -lggml -lggml-base \
   -Wl,-rpath,"$BIN" -o "$tmp/llama-greedy"
prompts=("The quick brown fox" "Water boils at a temperature of" "def fibonacci(n):"
         "The capital of France is" "Once upon a time" "The first president of the United States was")
for i in "${!prompts[@]}"; do
  FLASH_ATTN=0 KV_F32=1 "$tmp/llama-greedy" "$MODEL" "${prompts[$i]}" 24 1 >"$tmp/greedy$i.json" 2>"$tmp/greedy$i.log"
done
for ctx in 128 512; do
  "$BIN/llama-perplexity" -m "$MODEL" -f "$TEXT" -c $ctx --chunks 4 -t 1 >"$tmp/ppl$ctx.log" 2>&1
done
python3 - "$tmp" "$MODEL" "$OUT" "${prompts[@]}" <<'PY'
import json, re, sys, hashlib, subprocess
tmp, model, out, prompts = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
cases = []
for i, p in enumerate(prompts):
    g = json.load(open(f"{tmp}/greedy{i}.json"))
    steps = re.findall(r"step \d+: (\d+) \(([-\d.]+)\) over (\d+) \(([-\d.]+)\)", open(f"{tmp}/greedy{i}.log").read())
    g["margins"] = [round(float(a) - float(b), 4) for _, a, _, b in steps]
    cases.append({"text": p, **g})
def perplexity(ctx):
    log = open(f"{tmp}/ppl{ctx}.log").read()
    m = re.search(r"Final estimate: PPL = ([\d.]+) \+/- ([\d.]+)", log)
    running = [float(x) for x in re.findall(r"\[\d+\]([\d.]+)", log)]
    return {"text": "wikitext-2-raw:test", "context": ctx, "chunks": 4,
            "ppl": float(m.group(1)), "uncertainty": float(m.group(2)), "running": running}
sha = hashlib.sha256(open(model, "rb").read()).hexdigest()
json.dump({
    "producer": "scripts/oracles/gguf-llama.cpp.sh (llama.cpp from PyPI llama-cpp-python's vendored source, peer build; "
                "greedy: scripts/oracles/llama-greedy.c, n_ctx 512, 1 thread, F32 KV cache and no flash attention as exprun computes it; "
                "perplexity: llama-perplexity -m MODEL -f wiki.test.raw -c CONTEXT --chunks 4 -t 1)",
    "model_sha256": sha,
    "greedy": cases,
    "perplexity": [perplexity(128), perplexity(512)],
}, open(out, "w"), indent=1)
print(out)
PY
