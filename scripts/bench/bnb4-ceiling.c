// How fast one thread runs bitsandbytes' 4-bit decode kernel (bnb4_simd_dot, Sources/GGMLSIMD/bnb4.c)
// where memory cannot be what limits it (codes in L2, 1 MiB) and where it must be (codes streamed
// from 256 MiB on 2 MiB pages), beside a plain read of the same 256 MiB (scripts/read-bandwidth.c's
// loop): if the cache-resident figure is below the read bandwidth, the kernel, not memory, sets the
// decode speed at one thread. GPT-2 rows (768 values, blocks of 64), best of PASSES passes. Then
// the decode loop alone (64 KiB of codes, activations in registers, no scales): a shift, a
// `vpermps` and an FMA per 16 codes, then the permute or the shift replaced by an ALU instruction
// off the shuffle unit: if neither replacement is much faster, it is the number of instructions,
// not one unit, that bounds the loop.
// Built and run by scripts/bench-bnb4-ceiling.
#include "BnbSIMD.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
typedef float v16 __attribute__((vector_size(64)));
static volatile float sink;

static uint8_t *huge_buffer(size_t bytes) {
    size_t align = (size_t)2 << 20;
    char *map = mmap(NULL, bytes + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) { fprintf(stderr, "bnb4-ceiling: cannot map %zu bytes\n", bytes); exit(1); }
    uint8_t *b = (uint8_t *)(((uintptr_t)map + align - 1) & ~(uintptr_t)(align - 1));
    madvise(b, bytes, MADV_HUGEPAGE);
    return b;
}

// GB/s of codes through the kernel over `rows` rows starting at `codes`, best of `passes`.
static double kernel_rate(const uint8_t *codes, int rows, int n, const bnb4_scales *s, const float *table, const float *xp, float *y,
                          int passes) {
    double best = 0;
    for (int p = 0; p < passes; p++) {
        double t0 = now();
        bnb4_simd_dot(codes, 0, rows, n, 64, s, table, xp, y);
        double g = (double)rows * n / 2 / (now() - t0) / 1e9;
        sink = y[rows / 2];
        if (g > best) best = g;
    }
    return best;
}

#if defined(__AVX512F__)
// The loop's three variants: decode = shift + permute (what the kernel does); the permute replaced
// by one `vpternlogd` that makes the shifted bits a float in [1, 2) (no denormals, NaNs or
// infinities for the FMAs); the shift replaced by an add.
#define DECODE(q, k, t) _mm512_permutexvar_ps((k) ? _mm512_srli_epi32(q, 4 * (k)) : (q), t)
#define NO_PERMUTE(q, k, t) \
    _mm512_castsi512_ps(_mm512_ternarylogic_epi32((k) ? _mm512_srli_epi32(q, 4 * (k)) : (q), _mm512_set1_epi32(0x007FFFFF), \
                                                  _mm512_set1_epi32(0x3F800000), 0xEA))
#define NO_SHIFT(q, k, t) _mm512_permutexvar_ps(_mm512_add_epi32(q, _mm512_set1_epi32(k)), t)
#define LOOP(DEC)                                                                                                        \
    for (int c = 0; c < bytes; c += 64) {                                                                            \
        const __m512i q = _mm512_loadu_si512(codes + c);                                                             \
        __m512 a0 = _mm512_mul_ps(DEC(q, 0, t), x[0]), a1 = _mm512_mul_ps(DEC(q, 1, t), x[1]);                      \
        a0 = _mm512_fmadd_ps(DEC(q, 2, t), x[2], a0); a1 = _mm512_fmadd_ps(DEC(q, 3, t), x[3], a1);                 \
        a0 = _mm512_fmadd_ps(DEC(q, 4, t), x[4], a0); a1 = _mm512_fmadd_ps(DEC(q, 5, t), x[5], a1);                 \
        a0 = _mm512_fmadd_ps(DEC(q, 6, t), x[6], a0); a1 = _mm512_fmadd_ps(DEC(q, 7, t), x[7], a1);                 \
        acc[(c >> 6) & 3] = _mm512_add_ps(acc[(c >> 6) & 3], _mm512_add_ps(a0, a1));                              \
    }

// GB/s of codes through variant v (0 decode, 1 no permute, 2 no shift), best of `passes`.
static double loop_rate(const uint8_t *codes, int v, int passes) {
    const int bytes = 64 << 10, sweeps = 2000;
    const __m512 t = _mm512_set_ps(16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1);
    __m512 x[8];
    for (int k = 0; k < 8; k++) x[k] = _mm512_set1_ps(0.1f * k);
    double best = 0;
    for (int p = 0; p < passes; p++) {
        __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        double t0 = now();
        for (int s = 0; s < sweeps; s++) {
            if (v == 0) { LOOP(DECODE) } else if (v == 1) { LOOP(NO_PERMUTE) } else { LOOP(NO_SHIFT) }
        }
        double g = (double)bytes * sweeps / (now() - t0) / 1e9;
        sink = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
        if (g > best) best = g;
    }
    return best;
}
#endif

int main(int argc, char **argv) {
    int passes = argc > 1 ? atoi(argv[1]) : 5;
    const int n = 768;
    const size_t big = (size_t)256 << 20;
    const int big_rows = (int)(big / (n / 2)), small_rows = (1 << 20) / (n / 2);
    uint8_t *codes = huge_buffer(big);
    for (size_t i = 0; i < big; i++) codes[i] = (uint8_t)(i * 2654435761u >> 13);
    const long blocks = (long)big_rows * n / 64;
    float *absmax = malloc(blocks * sizeof(float)), *y = malloc(big_rows * sizeof(float));
    for (long b = 0; b < blocks; b++) absmax[b] = 0.01f * (1 + b % 7);
    const bnb4_scales s = {absmax, NULL, NULL, NULL, 0};
    float table[16], x[768], xp[768];
    for (int k = 0; k < 16; k++) table[k] = (k - 7.5f) / 7.5f;
    for (int i = 0; i < n; i++) x[i] = (float)((i * 37) % 101) / 101 - 0.5f;
    bnb4_order(x, n, xp);

    double cached = kernel_rate(codes, small_rows, n, &s, table, xp, y, passes * 20);
    double streamed = kernel_rate(codes, big_rows, n, &s, table, xp, y, passes);
    double read = 0;
    for (int p = 0; p < passes; p++) {
        v16 a = {0}, b = {0}, c = {0}, d = {0};
        double t0 = now();
        for (const v16 *q = (const v16 *)codes, *end = (const v16 *)(codes + big); q < end; q += 4) { a += q[0]; b += q[1]; c += q[2]; d += q[3]; }
        double g = big / (now() - t0) / 1e9;
        v16 t = a + b + c + d;
        sink = t[0] + t[15];
        if (g > read) read = g;
    }
    printf("bnb4_simd_dot, 1 thread, rows of %d: codes in cache (1 MiB) %.1f GB/s, streamed (256 MiB) %.1f GB/s; "
           "plain read of the 256 MiB %.1f GB/s\n", n, cached, streamed, read);
    printf("cached kernel / read bandwidth: %.0f%%\n", 100 * cached / read);
#if defined(__AVX512F__)
    printf("decode loop alone (64 KiB of codes): shift + permute + FMA %.1f GB/s; permute -> ternlog %.1f; shift -> add %.1f\n",
           loop_rate(codes, 0, passes), loop_rate(codes, 1, passes), loop_rate(codes, 2, passes));
#endif
    return 0;
}
