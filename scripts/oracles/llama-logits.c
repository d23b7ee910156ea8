// Logits and greedy tokens of a prompt from llama.cpp itself (libllama of the peer build): the
// oracle for exprun's decoder architectures on small GGUFs with random weights. One JSON object on
// stdout: the prompt's tokens (llama.cpp's tokenization, BOS/EOS as the vocabulary asks), the
// logits at every prompt position, and N_NEW greedy tokens with llama.cpp's top-2 margin at each.
// Flash attention is off and the context is N_CTX, so the numerics are those of llama.cpp's plain
// attention graph (F16 KV cache, its default).
//   cc -O2 -I$LLAMA/include -I$LLAMA/ggml/include llama-logits.c -L$BIN -lllama -o llama-logits
//   llama-logits MODEL.gguf "PROMPT" N_NEW N_CTX
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "llama.h"

static void quiet(enum ggml_log_level level, const char * text, void * data) { (void) level; (void) text; (void) data; }

int main(int argc, char ** argv) {
    if (argc < 5) { fprintf(stderr, "usage: %s MODEL PROMPT N_NEW N_CTX\n", argv[0]); return 2; }
    const char * path = argv[1], * prompt = argv[2];
    int n_new = atoi(argv[3]), n_ctx = atoi(argv[4]);
    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model * model = llama_model_load_from_file(path, mp);
    if (!model) { fprintf(stderr, "cannot load %s\n", path); return 1; }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = n_ctx; cp.n_batch = n_ctx; cp.n_ubatch = n_ctx; cp.n_threads = 1; cp.n_threads_batch = 1;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    struct llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "cannot make a context\n"); return 1; }
    const struct llama_vocab * vocab = llama_model_get_vocab(model);
    int n_vocab = llama_vocab_n_tokens(vocab);
    llama_token tokens[1024];
    int n = llama_tokenize(vocab, prompt, (int) strlen(prompt), tokens, 1024, true, false);
    if (n <= 0 || n + n_new > n_ctx) { fprintf(stderr, "prompt of %d tokens does not fit\n", n); return 1; }
    printf("{\"prompt\": [");
    for (int i = 0; i < n; i++) printf("%s%d", i ? ", " : "", tokens[i]);
    printf("], \"logits\": [");
    struct llama_batch batch = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) {
        batch.token[i] = tokens[i]; batch.pos[i] = i; batch.n_seq_id[i] = 1; batch.seq_id[i][0] = 0; batch.logits[i] = 1;
    }
    batch.n_tokens = n;
    if (llama_decode(ctx, batch)) { fprintf(stderr, "decode failed\n"); return 1; }
    for (int i = 0; i < n; i++) {
        const float * l = llama_get_logits_ith(ctx, i);
        printf("%s[", i ? ", " : "");
        for (int v = 0; v < n_vocab; v++) printf("%s%.6g", v ? ", " : "", l[v]);
        printf("]");
    }
    printf("], \"greedy\": [");
    llama_token next = 0;
    double margins[1024];
    for (int step = 0; step < n_new; step++) {
        const float * l = llama_get_logits_ith(ctx, -1);
        next = 0;
        for (int v = 1; v < n_vocab; v++) if (l[v] > l[next]) next = v;
        int second = next == 0 ? 1 : 0;
        for (int v = 0; v < n_vocab; v++) if (v != next && l[v] > l[second]) second = v;
        margins[step] = l[next] - l[second];
        printf("%s%d", step ? ", " : "", next);
        struct llama_batch one = llama_batch_get_one(&next, 1);
        if (step + 1 < n_new && llama_decode(ctx, one)) { fprintf(stderr, "decode failed\n"); return 1; }
    }
    printf("], \"margins\": [");
    for (int step = 0; step < n_new; step++) printf("%s%.6g", step ? ", " : "", margins[step]);
    printf("]}\n");
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
