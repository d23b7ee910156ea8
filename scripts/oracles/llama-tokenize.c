// Oracle for exprun's tokenizers: tokenizes a file with llama.cpp's own tokenizer (libllama, vocab
// only) and prints the ids separated by spaces, as `exprun tokenize MODEL --file FILE` does.
// Built and run by check-tokenizers-vs-llama-cpp and pre-tokenizer-vectors; never needed by `swift test`.
//   usage: llama-tokenize MODEL.gguf FILE [parse_special 0|1] [cases]
// With `cases`, FILE holds test cases each followed by "\n__ggml_vocab_test__\n" (llama.cpp's .inp
// format) and one line of ids is printed per case.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "llama.h"

static void quiet(enum ggml_log_level level, const char * text, void * data) { (void) level; (void) text; (void) data; }

int main(int argc, char ** argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s MODEL.gguf FILE [parse_special]\n", argv[0]); return 2; }
    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.vocab_only = true;
    struct llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "cannot load %s\n", argv[1]); return 1; }
    const struct llama_vocab * vocab = llama_model_get_vocab(model);
    FILE * f = fopen(argv[2], "rb");
    if (!f) { fprintf(stderr, "cannot open %s\n", argv[2]); return 1; }
    fseek(f, 0, SEEK_END); long n = ftell(f); fseek(f, 0, SEEK_SET);
    char * text = malloc(n + 1);
    if (fread(text, 1, n, f) != (size_t) n) { fprintf(stderr, "cannot read %s\n", argv[2]); return 1; }
    fclose(f);
    text[n] = 0;
    int parse_special = argc > 3 ? atoi(argv[3]) : 0;
    int cases = argc > 4 && strcmp(argv[4], "cases") == 0;
    const char * sep = "\n__ggml_vocab_test__\n";
    int32_t cap = (int32_t) n + 16;
    llama_token * ids = malloc(sizeof(llama_token) * cap);
    char * at = text;
    while (*at || !cases) {
        char * end = cases ? strstr(at, sep) : text + n;
        if (!end) break;
        int32_t count = llama_tokenize(vocab, at, (int32_t) (end - at), ids, cap, false, parse_special != 0);
        if (count < 0) { fprintf(stderr, "tokenize failed (%d)\n", count); return 1; }
        for (int32_t i = 0; i < count; i++) printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
        if (!cases) break;
        at = end + strlen(sep);
    }
    llama_model_free(model);
    return 0;
}
