// How fast one thread runs bitsandbytes' 4-bit decode kernel (bnb4_simd_dot, Sources/GGMLSIMD/bnb4.c)
// where memory cannot be what limits it (codes in L2, 1 MiB) and where it must be (codes streamed
// from 256 MiB on 2 MiB pages, and again in rows of 3072 as GPT-2's MLP projection has them), beside
// a plain read of the same 256 MiB (scripts/read-bandwidth.c's loop): if the cache-resident figure
// is below the read bandwidth, the kernel, not memory, sets the decode speed at one thread. GPT-2
// rows (768 values, blocks of 64), best of PASSES passes. Then
// the decode loop alone (64 KiB of codes, activations in registers, no scales): a shift, a
// `vpermps` and an FMA per 16 codes, then the permute or the shift replaced by an ALU instruction
// off the shuffle unit: if neither replacement is much faster, it is the number of instructions,
// not one unit, that bounds the loop.
// Then a GPT-2 124M decode step of the 4-bit blocks and the F32 head alone (decode_step), and
// which of the loop's instruction kinds (permute, multiply, shift) share pipes (pipe_seconds), with
// the clock (a chain of dependent adds) to read the times as cycles.
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
// Seconds for `iters` times 12 independent instructions, none waiting on another or on its own
// last result: 12 `vpermps`, 12 multiplies, 12 shifts, or 6 + 6 of two kinds. Each kind alone
// issues 2 a cycle here; where two kinds have pipes of their own, 6 + 6 take half as long as 12 of
// one, where they share both pipes as long, and where they share one of their two, two thirds.
// (Timing multiply-adds instead would time their latency: each adds to its own last result.)
#define PERM(i) "vpermps %%zmm15, %%zmm14, %%zmm" #i ";"
#define MUL(i) "vmulps %%zmm15, %%zmm14, %%zmm" #i ";"
#define SHIFT(i) "vpsrld $4, %%zmm14, %%zmm" #i ";"
#define ZERO "vpxord %%zmm14, %%zmm14, %%zmm14; vpxord %%zmm15, %%zmm15, %%zmm15"
#define PIPE_KINDS(X) X(0, PERM, PERM) X(1, MUL, MUL) X(2, SHIFT, SHIFT) X(3, PERM, MUL) X(4, PERM, SHIFT) X(5, MUL, SHIFT)
#elif defined(__AVX2__)
// The AVX2 path (bnb4_avx2_dot) looks codes up with `vpshufb` on the table's four byte planes and
// puts each float together with two levels of unpacks. Per 64 bytes of codes (128 codes) it issues
// 52 operations that run on the shuffle pipes: per 32 bytes one `vpshufb` to order the bytes, one
// shift for the high nibbles and 2 × (4 `vpshufb` + 8 unpacks) in lookup32 (counted in its
// disassembly; 58 before d1740a4, which loads the scale and the nibble mask instead of shuffling
// them). Timed as on AVX-512: 12 independent instructions of a kind, or 6 + 6 of two kinds.
#define SHUF(i) "vpshufb %%ymm15, %%ymm14, %%ymm" #i ";"
#define UNPACK(i) "vpunpcklbw %%ymm15, %%ymm14, %%ymm" #i ";"
#define PERM(i) "vpermps %%ymm15, %%ymm14, %%ymm" #i ";"
#define MUL(i) "vmulps %%ymm15, %%ymm14, %%ymm" #i ";"
#define SHIFT(i) "vpsrld $4, %%ymm14, %%ymm" #i ";"
#define ZERO "vpxor %%ymm14, %%ymm14, %%ymm14; vpxor %%ymm15, %%ymm15, %%ymm15"
#define PIPE_KINDS(X) X(0, SHUF, SHUF) X(1, UNPACK, UNPACK) X(2, PERM, PERM) X(3, SHIFT, SHIFT) X(4, MUL, MUL) X(5, SHUF, SHIFT) X(6, SHUF, MUL)
enum { AVX2_SHUFFLES_PER_64_BYTES = 52 };
#endif

#if defined(__AVX512F__) || defined(__AVX2__)
#define TWELVE(a, b) a(0) b(1) a(2) b(3) a(4) b(5) a(6) b(7) a(8) b(9) a(10) b(11)
#define CLOBBER "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11"
// The clock: a chain of dependent integer adds, one cycle each, so the figures above read as cycles.
static double clock_hz(long iters) {
    long x = 0, n = iters;
    double t0 = now();
    __asm__ volatile("1: add $1, %0; add $1, %0; add $1, %0; add $1, %0; sub $1, %1; jnz 1b" : "+r"(x), "+r"(n));
    return 4.0 * iters / (now() - t0);
}
// Seconds for `iters` times kind `kind` of PIPE_KINDS (12 instructions, of one kind or 6 + 6).
static double pipe_seconds(int kind, long iters) {
#define PIPE_CASE(k, a, b) case k: __asm__ volatile(TWELVE(a, b) ::: CLOBBER); break;
    __asm__ volatile(ZERO ::: "xmm14", "xmm15");
    double t0 = now();
    for (long i = 0; i < iters; i++) {
        switch (kind) { PIPE_KINDS(PIPE_CASE) }
    }
    return now() - t0;
}
#endif

// One decode step of GPT-2 124M in bnb-nf4 at one thread, without attention, norms or anything
// else: its 4-bit blocks (12 layers of c_attn, 2304 rows of 768; attn.c_proj, 768 of 768; c_fc,
// 3072 of 768; mlp.c_proj, 768 of 3072: codes and an F32 absmax per 64, one bnb4_simd_dot call
// each, as exprun makes them) and then its F32 tied head (50257 rows of 768) as plain row dots.
// `xp3072`: the activations for rows of 3072. Returns seconds (best of `passes`); *blocks_s the
// blocks' part.
static double decode_step(const uint8_t *codes, const bnb4_scales *s, const float *table, const float *xp, const float *xp3072,
                          const float *x, const float *head, float *y, int passes, double *blocks_s) {
    const int n = 768, shapes[4][2] = {{2304, 768}, {768, 768}, {3072, 768}, {768, 3072}};
    double best = 1e9;
    for (int p = 0; p < passes; p++) {
        double t0 = now();
        long e = 0;
        for (int l = 0; l < 12; l++)
            for (int k = 0; k < 4; k++) {
                const int rows = shapes[k][0], in = shapes[k][1];
                bnb4_simd_dot(codes, e, rows, in, 64, s, table, in == n ? xp : xp3072, y);
                e += (long)rows * in;
            }
        double t1 = now();
        for (long r = 0; r < 50257; r++) {
            v16 a = {0}, b = {0}, c = {0};
            const v16 *w = (const v16 *)(head + r * n), *v = (const v16 *)x;
            for (int i = 0; i < n / 16; i += 3) { a += w[i] * v[i]; b += w[i + 1] * v[i + 1]; c += w[i + 2] * v[i + 2]; }
            v16 t = a + b + c;
            y[r & 1023] = t[0] + t[15];
        }
        double t2 = now();
        if (t2 - t0 < best) { best = t2 - t0; *blocks_s = t1 - t0; }
    }
    return best;
}

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
    float table[16], x[3072], xp[768], xp3072[3072];
    for (int k = 0; k < 16; k++) table[k] = (k - 7.5f) / 7.5f;
    for (int i = 0; i < 3072; i++) x[i] = (float)((i * 37) % 101) / 101 - 0.5f;
    bnb4_order(x, n, xp);
    bnb4_order(x, 3072, xp3072);

    double cached = kernel_rate(codes, small_rows, n, &s, table, xp, y, passes * 20);
    double streamed = kernel_rate(codes, big_rows, n, &s, table, xp, y, passes);
    double streamed3072 = kernel_rate(codes, (int)(big / 1536), 3072, &s, table, xp3072, y, passes);
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
    printf("bnb4_simd_dot, 1 thread, rows of %d: codes in cache (1 MiB) %.1f GB/s, streamed (256 MiB) %.1f GB/s (rows of 3072: %.1f); "
           "plain read of the 256 MiB %.1f GB/s\n", n, cached, streamed, streamed3072, read);
    printf("cached kernel / read bandwidth: %.0f%%\n", 100 * cached / read);
#if defined(__AVX512F__)
    printf("decode loop alone (64 KiB of codes): shift + permute + FMA %.1f GB/s; permute -> ternlog %.1f; shift -> add %.1f\n",
           loop_rate(codes, 0, passes), loop_rate(codes, 1, passes), loop_rate(codes, 2, passes));
#endif
    const long head_bytes = 50257L * 768 * 4, weights = 12L * 768 * (2304 + 768 + 3072 + 3072);
    const double block_bytes = weights / 2 + weights / 64 * 4.0;
    float *head = (float *)huge_buffer(head_bytes);
    for (long i = 0; i < head_bytes / 4; i++) head[i] = (float)(i % 97) * 1e-3f;
    double blocks_s = 0, step = decode_step(codes, &s, table, xp, xp3072, x, head, y, passes, &blocks_s);
    printf("a GPT-2 124M bnb-nf4 decode step without attention or norms: 4-bit blocks %.1f MB in %.2f ms (%.1f GB/s), F32 head %.1f MB "
           "in %.2f ms (%.1f GB/s): %.0f%% of the plain read\n", block_bytes / 1e6, blocks_s * 1e3, block_bytes / blocks_s / 1e9,
           head_bytes / 1e6, (step - blocks_s) * 1e3, head_bytes / (step - blocks_s) / 1e9, 100 * (block_bytes + head_bytes) / step / 1e9 / read);
#if defined(__AVX512F__)
    const long iters = 50000000;
    const double hz = clock_hz(500000000);
    double t[6];
    for (int k = 0; k < 6; k++) t[k] = pipe_seconds(k, iters);
    const double one = (t[0] + t[1] + t[2]) / 3;
    printf("clock %.2f GHz (dependent adds); the kernel in cache takes %.1f cycles per 64 bytes of codes\n", hz / 1e9, 64 / cached * hz / 1e9);
    printf("12 independent vpermps %.2f ns (%.1f a cycle), multiplies %.2f (%.1f), shifts %.2f (%.1f); 6 + 6 of two kinds, as a share of "
           "12 of one: permute + multiply %.2f, permute + shift %.2f, multiply + shift %.2f (0.5: pipes of their own, 0.67: one of "
           "two shared, 1: both shared)\n", t[0] / iters * 1e9, 12 * iters / (t[0] * hz), t[1] / iters * 1e9, 12 * iters / (t[1] * hz),
           t[2] / iters * 1e9, 12 * iters / (t[2] * hz), t[3] / one, t[4] / one, t[5] / one);
#elif defined(__AVX2__)
    const long iters = 50000000;
    const double hz = clock_hz(500000000);
    double t[7];
    for (int k = 0; k < 7; k++) t[k] = pipe_seconds(k, iters);
    const double rate = 12 * iters / (t[0] * hz);
    printf("clock %.2f GHz (dependent adds); the AVX2 kernel in cache takes %.1f cycles per 64 bytes of codes, where its %d shuffle-pipe "
           "operations take %.1f at the rate of vpshufb\n", hz / 1e9, 64 / cached * hz / 1e9, AVX2_SHUFFLES_PER_64_BYTES, AVX2_SHUFFLES_PER_64_BYTES / rate);
    printf("a cycle, 12 independent of a kind: vpshufb %.2f, vpunpcklbw %.2f, vpermps %.2f, shifts %.2f, multiplies %.2f; 6 + 6: vpshufb + shift %.2f, "
           "vpshufb + multiply %.2f\n", rate, 12 * iters / (t[1] * hz), 12 * iters / (t[2] * hz), 12 * iters / (t[3] * hz), 12 * iters / (t[4] * hz),
           12 * iters / (t[5] * hz), 12 * iters / (t[6] * hz));
#endif
    return 0;
}
