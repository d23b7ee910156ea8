// Greedy continuation of a prompt by llama.cpp itself (libllama of the peer build), printed as
// token ids, one JSON object on stdout: the oracle for exprun's greedy decoding of GGUF models.
// llama-completion prints text, not ids; this asks the same library for the ids directly.
//   cc -O2 -I$LLAMA/include scripts/oracles/llama-greedy.c -L$LLAMA/build/bin -lllama -o llama-greedy
//   llama-greedy MODEL.gguf "PROMPT" N_NEW [THREADS]
// Tokenization as llama-completion does it: BOS added where the vocabulary asks, special text not parsed.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "llama.h"

static void quiet(enum ggml_log_level level, const char * text, void * data) { (void) level; (void) text; (void) data; }

int main(int argc, char ** argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s MODEL PROMPT N_NEW [THREADS]\n", argv[0]); return 2; }
    const char * path = argv[1], * prompt = argv[2];
    int n_new = atoi(argv[3]), threads = argc > 4 ? atoi(argv[4]) : 1;
    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model * model = llama_model_load_from_file(path, mp);
    if (!model) { fprintf(stderr, "cannot load %s\n", path); return 1; }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 512; cp.n_batch = 512; cp.n_threads = threads; cp.n_threads_batch = threads;
    if (getenv("FLASH_ATTN")) cp.flash_attn_type = atoi(getenv("FLASH_ATTN")) ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
    // KV_F32=1 keeps keys and values in F32 as exprun does: llama.cpp's default F16 cache alone moves
    // a logit by 0.3 on SmolLM2 (step 5 of 'The capital of France is'), more than any kernel does.
    if (getenv("KV_F32") && atoi(getenv("KV_F32"))) { cp.type_k = GGML_TYPE_F32; cp.type_v = GGML_TYPE_F32; }
    struct llama_context * ctx = llama_init_from_model(model, cp);
    const struct llama_vocab * vocab = llama_model_get_vocab(model);
    int n_vocab = llama_vocab_n_tokens(vocab);
    llama_token tokens[512];
    int n = llama_tokenize(vocab, prompt, (int) strlen(prompt), tokens, 512, true, false);
    if (n < 0) { fprintf(stderr, "prompt too long\n"); return 1; }
    printf("{\"prompt\": [");
    for (int i = 0; i < n; i++) printf("%s%d", i ? ", " : "", tokens[i]);
    printf("], \"greedy\": [");
    struct llama_batch batch = llama_batch_get_one(tokens, n);
    llama_token next;
    for (int step = 0; step < n_new; step++) {
        if (llama_decode(ctx, batch)) { fprintf(stderr, "decode failed\n"); return 1; }
        const float * logits = llama_get_logits_ith(ctx, -1);
        if (step == 0 && getenv("LOGITS_OUT")) {      // the prompt's last logits, raw float32
            FILE * f = fopen(getenv("LOGITS_OUT"), "wb");
            if (f) { fwrite(logits, sizeof(float), (size_t) n_vocab, f); fclose(f); }
        }
        next = 0;
        for (int v = 1; v < n_vocab; v++) if (logits[v] > logits[next]) next = v;
        int second = next == 0 ? 1 : 0;
        for (int v = 0; v < n_vocab; v++) if (v != next && logits[v] > logits[second]) second = v;
        fprintf(stderr, "step %d: %d (%.4f) over %d (%.4f)\n", step, next, logits[next], second, logits[second]);
        printf("%s%d", step ? ", " : "", next);
        batch = llama_batch_get_one(&next, 1);
    }
    printf("]}\n");
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
