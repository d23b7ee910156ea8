// Decode (one activation row) through a 4-bit weight of ROWS × N, group 128, with GPTQ's kernels
// (Sources/GGMLSIMD/GroupQuantSIMD.c: one row at a time, `gq_simd_q4`; 16-row tiles,
// `gq_simd_q4x16`) beside q4_0's 8-row kernel (`ggml_simd_q4_0x8`, what exprun's q4_0 decodes
// with) on a weight of the same shape. Weights larger than the caches by default, so the figures
// are about streaming them. Built and run by scripts/bench-gptq-kernels; see there.
#include "GGMLSIMD.h"
#include "GroupQuantSIMD.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }

static int n, rows, G, bpg, nb;
static uint8_t *codes, *zeros, *q40;
static uint16_t *scales;
static int8_t *x;
static float *xd, *gsum, *y;
static int32_t *xsum;

// One function per kernel, so that a profiler shows each apart.
__attribute__((noinline)) void bench_gptq_rows(void) {
    for (int o = 0; o < rows; o++)
        y[o] = gq_simd_q4(codes + (long)o * nb * 16, x, xd, gsum, scales + (long)o * G, zeros + (long)o * G, G, bpg);
}
__attribute__((noinline)) void bench_gptq_tiles(void) {
    for (int t = 0; t < rows / 16; t++)
        gq_simd_q4x16(codes + (long)t * 16 * nb * 16, x, xd, gsum, scales + (long)t * 16 * G, zeros + (long)t * 16 * G, G, bpg, y + 16 * t);
}
__attribute__((noinline)) void bench_q4_0_groups(void) {
    for (int g = 0; g < rows / 8; g++) ggml_simd_q4_0x8(q40 + (long)g * 8 * nb * 18, x, xd, xsum, nb, y + 8 * g);
}

int main(int argc, char **argv) {
    n = argc > 1 ? atoi(argv[1]) : 768;
    rows = (argc > 2 ? atoi(argv[2]) : 65536) / 16 * 16;
    int reps = argc > 3 ? atoi(argv[3]) : 20;
    const char *only = argc > 4 ? argv[4] : NULL;
    G = n / 128; bpg = 4; nb = n / 32;
    codes = malloc((size_t)rows * nb * 16); scales = malloc((size_t)rows * G * 2); zeros = malloc((size_t)rows * G);
    q40 = malloc((size_t)rows * nb * 18);
    x = malloc(n); xd = malloc(nb * 4); xsum = malloc(nb * 4); gsum = malloc(G * 4); y = malloc(rows * 4);
    srand(1);
    for (long i = 0; i < (long)rows * nb * 16; i++) codes[i] = rand();
    for (long i = 0; i < (long)rows * G; i++) { scales[i] = 0x3C00; zeros[i] = rand() & 15; }
    for (long i = 0; i < (long)rows * nb * 18; i++) q40[i] = rand();
    for (long g = 0; g < (long)rows / 8 * nb; g++) for (int r = 0; r < 8; r++) memcpy(q40 + g * 144 + 2 * r, &(uint16_t){0x3C00}, 2);
    for (int i = 0; i < n; i++) x[i] = rand() % 255 - 127;
    for (int b = 0; b < nb; b++) { xd[b] = 0.01f; xsum[b] = 0; for (int j = 0; j < 32; j++) xsum[b] += x[32 * b + j]; }
    for (int g = 0; g < G; g++) gsum[g] = 1;
    struct { const char *name; void (*run)(void); double bytes; } k[] = {
        {"gptq rows (gq_simd_q4)", bench_gptq_rows, (double)rows * (nb * 16 + 3 * G)},
        {"gptq 16-row tiles (gq_simd_q4x16)", bench_gptq_tiles, (double)rows * (nb * 16 + 3 * G)},
        {"q4_0 8-row groups (ggml_simd_q4_0x8)", bench_q4_0_groups, (double)rows * nb * 18},
    };
    printf("decode through %d x %d (4-bit, group 128 / q4_0), best of %d\n", rows, n, reps);
    for (int i = 0; i < 3; i++) {
        if (only && !strstr(k[i].name, only)) continue;
        double best = 1e30;
        for (int r = 0; r < reps; r++) { double t0 = now(); k[i].run(); double t = now() - t0; if (t < best) best = t; }
        printf("%-40s %8.3f ms  %6.1f GB/s of weight bytes  %6.2f ns per row\n", k[i].name, 1e3 * best, k[i].bytes / best / 1e9, 1e9 * best / rows);
    }
    return 0;
}
