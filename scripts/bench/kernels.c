// Kernel-level speed of exprun's dot products (Sources/GGMLSIMD) beside llama.cpp's own vec_dot
// (from libggml-cpu, through ggml_get_type_traits_cpu) on the same weight blocks and activations:
// a matrix of ROWS rows times one activation row (decode), timed over repeats. Built and run by
// scripts/bench-kernels; see there.
#include "GGMLSIMD.h"
#include "ggml.h"
#include "ggml-cpu.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }

typedef float (*dot_fn)(const void *, const int8_t *, const float *, const int32_t *, int);
typedef void (*group_fn)(const void *, const int8_t *, const float *, const int32_t *, int, float *);
typedef void (*group4_fn)(const void *, const int8_t *, const float *, const int32_t *, long, int, float *);
typedef void (*tile_fn)(const void *, int, const int8_t *, const float *, const int32_t *, long, int, int, float *, long);
static float q8_0_dot(const void *w, const int8_t *x, const float *xd, const int32_t *s, int nb) { (void)s; return ggml_simd_q8_0(w, x, xd, nb); }
static void q8_0x8(const void *w, const int8_t *x, const float *xd, const int32_t *s, int nb, float *out) { (void)s; ggml_simd_q8_0x8(w, x, xd, nb, out); }
static void q8_0x8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *s, long stride, int nb, float *out) { (void)s; ggml_simd_q8_0x8_x4(w, x, xd, stride, nb, out); }

// Quant/Interleaved.swift's layout: byte i of row r's block → its place in the 8-row group block.
static int group_pos(const int *fields, int nf, int bb, int r, int i) {
    int f = nf - 1;
    while (fields[f] > i) f--;
    int start = fields[f], width = (f + 1 < nf ? fields[f + 1] : bb) - start, u = width < 4 ? width : 4;
    return 8 * start + 8 * u * ((i - start) / u) + u * r + (i - start) % u;
}

int main(int argc, char **argv) {
    const int n = argc > 1 ? atoi(argv[1]) : 3072, rows = (argc > 2 ? atoi(argv[2]) : 3072) / 8 * 8, reps = argc > 3 ? atoi(argv[3]) : 30;
    const char *only = argc > 4 ? argv[4] : NULL;
    ggml_cpu_init();
#define K(T) ggml_simd_##T##x8, ggml_simd_##T##x8_x4
    struct { const char *name; enum ggml_type t; dot_fn ours; group_fn eight; group4_fn eight4; int fields[6], nf; tile_fn all; } types[] = {
        {"q8_0", GGML_TYPE_Q8_0, q8_0_dot, q8_0x8, q8_0x8_x4, {0, 2}, 2}, {"q4_0", GGML_TYPE_Q4_0, ggml_simd_q4_0, K(q4_0), {0, 2}, 2},
        {"q4_1", GGML_TYPE_Q4_1, ggml_simd_q4_1, K(q4_1), {0, 2, 4}, 3}, {"q5_0", GGML_TYPE_Q5_0, ggml_simd_q5_0, K(q5_0), {0, 2, 6}, 3},
        {"q5_1", GGML_TYPE_Q5_1, ggml_simd_q5_1, K(q5_1), {0, 2, 4, 8}, 4}, {"iq4_nl", GGML_TYPE_IQ4_NL, ggml_simd_iq4_nl, K(iq4_nl), {0, 2}, 2, ggml_simd_iq4_nlx8_xn},
        {"q2_k", GGML_TYPE_Q2_K, ggml_simd_q2_K, K(q2_K), {0, 16, 80, 82}, 4, ggml_simd_q2_Kx8_xn}, {"q3_k", GGML_TYPE_Q3_K, ggml_simd_q3_K, K(q3_K), {0, 32, 96, 108}, 4, ggml_simd_q3_Kx8_xn},
        {"q4_k", GGML_TYPE_Q4_K, ggml_simd_q4_K, K(q4_K), {0, 2, 4, 16}, 4, ggml_simd_q4_Kx8_xn}, {"q5_k", GGML_TYPE_Q5_K, ggml_simd_q5_K, K(q5_K), {0, 2, 4, 16, 48}, 5, ggml_simd_q5_Kx8_xn},
        {"q6_k", GGML_TYPE_Q6_K, ggml_simd_q6_K, K(q6_K), {0, 128, 192, 208}, 4, ggml_simd_q6_Kx8_xn}, {"iq4_xs", GGML_TYPE_IQ4_XS, ggml_simd_iq4_xs, K(iq4_xs), {0, 2, 4, 8}, 4, ggml_simd_iq4_xsx8_xn},
    };
    float *wf = malloc(sizeof(float) * n * rows), *xf = malloc(sizeof(float) * n);
    srand(1);
    for (long i = 0; i < (long)n * rows; i++) wf[i] = ((rand() / (float)RAND_MAX) - 0.5f) * 0.1f;
    for (int i = 0; i < n; i++) xf[i] = (rand() / (float)RAND_MAX) - 0.5f;
    printf("%-7s %10s %10s %10s %7s %7s %12s %12s   (%d x %d, ns per row, best of %d; ratio = llama.cpp / exprun)\n",
           "type", "exprun 1", "exprun x8", "llama.cpp", "ratio 1", "ratio 8", "x8, 4 acts", "tiles, 64", rows, n, reps);
    for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
        if (only && strcmp(only, types[k].name)) continue;
        enum ggml_type t = types[k].t;
        const struct ggml_type_traits_cpu *tr = ggml_get_type_traits_cpu(t);
        size_t rb = ggml_row_size(t, n);
        char *w = malloc(rb * rows);
        ggml_quantize_chunk(t, wf, w, 0, rows, n, NULL);
        enum ggml_type at = tr->vec_dot_type;
        size_t ab = ggml_row_size(at, n);
        char *a = malloc(ab);
        ggml_get_type_traits_cpu(at)->from_float(xf, a, n);
        // exprun's activation arrays from the same blocks
        int block = at == GGML_TYPE_Q8_K ? 256 : 32, nb = n / block, group = block == 256 ? 16 : 32;
        int8_t *q = malloc(n); float *d = malloc(sizeof(float) * nb); int32_t *s = malloc(sizeof(int32_t) * n / group);
        for (int b = 0; b < nb; b++) {
            if (block == 32) {   // block_q8_0 (fp16 d, 32 int8) or block_q8_1 (fp16 d, fp16 d·Σq, 32 int8)
                const int bsz = at == GGML_TYPE_Q8_1 ? 36 : 34;
                const char *blk = a + b * bsz;
                d[b] = ggml_fp16_to_fp32(*(const ggml_fp16_t *)blk);
                memcpy(q + 32 * b, blk + bsz - 32, 32);
                int sum = 0; for (int j = 0; j < 32; j++) sum += q[32 * b + j];
                s[b] = sum;
            } else {
                const char *blk = a + b * 292;
                memcpy(&d[b], blk, 4); memcpy(q + 256 * b, blk + 4, 256);
                for (int g = 0; g < 16; g++) { int16_t v; memcpy(&v, blk + 260 + 2 * g, 2); s[16 * b + g] = v; }
            }
        }
        int wnb = n / ggml_blck_size(t);
        // the same rows interleaved by 8, as exprun keeps weights it quantizes or repacks
        int bb = (int)ggml_type_size(t), nblk = (int)(rb / bb);
        char *g = malloc(rb * rows);
        for (int o0 = 0; o0 < rows; o0 += 8)
            for (int b = 0; b < nblk; b++)
                for (int r = 0; r < 8; r++)
                    for (int i = 0; i < bb; i++)
                        g[o0 * rb + b * 8 * bb + group_pos(types[k].fields, types[k].nf, bb, r, i)] = w[(o0 + r) * rb + b * bb + i];
        float *y1 = malloc(sizeof(float) * rows), *y2 = malloc(sizeof(float) * rows), *y8 = malloc(sizeof(float) * rows);
        float *y84 = malloc(sizeof(float) * 4 * rows);
        // four activation rows (copies of the one), as prefill passes them to the 4-row kernels
        int8_t *q4 = malloc(4 * n); float *d4 = malloc(sizeof(float) * 4 * nb); int32_t *s4 = malloc(sizeof(int32_t) * 4 * (n / group));
        for (int k = 0; k < 4; k++) {
            memcpy(q4 + k * n, q, n); memcpy(d4 + k * nb, d, sizeof(float) * nb); memcpy(s4 + k * (n / group), s, sizeof(int32_t) * (n / group));
        }
        // and 64 (a prefill's prompt) to the all-rows tile kernels, where the type has one
        const int na = 64;
        int8_t *q64 = malloc((size_t)na * n); float *d64 = malloc(sizeof(float) * na * nb); int32_t *s64 = malloc(sizeof(int32_t) * na * (n / group));
        for (int k = 0; k < na; k++) {
            memcpy(q64 + k * n, q, n); memcpy(d64 + k * nb, d, sizeof(float) * nb); memcpy(s64 + k * (n / group), s, sizeof(int32_t) * (n / group));
        }
        float *y64 = malloc(sizeof(float) * na * rows);
        double best1 = 1e9, best2 = 1e9, best8 = 1e9, best84 = 1e9, best64 = 1e9;
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            for (int o = 0; o < rows; o++) y1[o] = types[k].ours(w + o * rb, q, d, s, wnb);
            double t1 = now();
            for (int o = 0; o < rows; o++) tr->vec_dot(n, &y2[o], 0, w + o * rb, 0, a, 0, 1);
            double t2 = now();
            for (int o = 0; o < rows; o += 8) types[k].eight(g + o * rb, q, d, s, wnb, y8 + o);
            double t3 = now();
            for (int o = 0; o < rows; o += 8) types[k].eight4(g + o * rb, q4, d4, s4, n, wnb, y84 + 4 * o);
            double t4 = now();
            if (t4 - t3 < best84) best84 = t4 - t3;
            if (types[k].all) types[k].all(g, rows / 8, q64, d64, s64, n, wnb, na, y64, rows);
            double t5 = now();
            if (t5 - t4 < best64) best64 = t5 - t4;
            if (t1 - t0 < best1) best1 = t1 - t0;
            if (t2 - t1 < best2) best2 = t2 - t1;
            if (t3 - t2 < best8) best8 = t3 - t2;
        }
        double err = 0, mag = 0;
        for (int o = 0; o < rows; o++) {   // (a NaN counts as a difference: fmax would skip it)
            double e = fmax(fabs(y1[o] - y2[o]), fmax(fabs(y8[o] - y2[o]), fabs(y84[4 * (o - o % 8) + o % 8] - y2[o])));
            if (types[k].all) e = fmax(e, fabs(y64[(na - 1) * rows + o] - y2[o]));
            err = isnan(e) || isnan(y1[o]) || isnan(y8[o]) ? INFINITY : fmax(err, e);
            mag = fmax(mag, fabs(y2[o]));
        }
        char tiles[16] = "-";
        if (types[k].all) snprintf(tiles, sizeof tiles, "%.1f", 1e9 * best64 / rows / na);
        printf("%-7s %10.1f %10.1f %10.1f %7.2f %7.2f %12.1f %12s   max |diff| %.2g of %.2g\n", types[k].name, 1e9 * best1 / rows, 1e9 * best8 / rows,
               1e9 * best2 / rows, best2 / best1, best2 / best8, 1e9 * best84 / rows / 4, tiles, err, mag);
        free(w); free(g); free(a); free(q); free(d); free(s); free(y1); free(y2); free(y8); free(y84); free(q4); free(d4); free(s4); free(q64); free(d64); free(s64); free(y64);
    }
    return 0;
}
