#!/usr/bin/env bash
# Oracle for exprun's character classes (Sources/InferenceCore/Tokenizers/UnicodeFlags.swift): dumps
# llama.cpp's own table (src/unicode.cpp + unicode-data.cpp, compiled as they are) as runs of equal
# flags over all codepoints, "FIRST_CODEPOINT FLAGS" in hex per line, flags being the category and
# whitespace bits of `unicode_cpt_flags` (0x1FF). Writes
# Tests/InferenceCoreTests/Oracles/llama.cpp-unicode-flags.txt. Run from the repository root.
set -euo pipefail
src=${LLAMA_CPP_SOURCE:-$HOME/.cache/llama-cpp-peer/llama.cpp}
out=Tests/InferenceCoreTests/Oracles/llama.cpp-unicode-flags.txt
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/dump.cpp" <<'CPP'
#include <cstdio>
#include "unicode.h"
int main() {
    unsigned previous = 0xFFFFFFFF;
    for (unsigned cpt = 0; cpt < 0x110000; cpt++) {
        unsigned flags = unicode_cpt_flags_from_cpt(cpt).as_uint() & 0x1FF;
        if (flags != previous) { std::printf("%06X %03X\n", cpt, flags); previous = flags; }
    }
}
CPP
g++ -O1 -std=c++17 -I"$src/src" "$tmp/dump.cpp" "$src/src/unicode.cpp" "$src/src/unicode-data.cpp" -o "$tmp/dump"
{ echo "# llama.cpp's unicode_cpt_flags (category and whitespace bits) by runs: first codepoint, flags (hex). Made by scripts/oracles/llama-unicode-flags.sh from llama.cpp 0c1e57098 (llama-cpp-python 0.3.36)."; "$tmp/dump"; } >"$out"
wc -l "$out"
