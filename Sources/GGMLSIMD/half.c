// fp16 and bf16 weights (Quant/F16.swift, Quant/BF16.swift) times F32 activation rows: the
// prompt's product. Weights are widened in registers as they are loaded (vcvtph2ps; a shift or a
// mask for bf16), so the caches hold them at 2 bytes a value and nothing is written back; with
// AVX-512, 4 weight rows × up to 6 activation rows of 16-lane accumulators (24 of the 32 vector
// registers) give each loaded vector 4-6 FMAs (AVX2: 2 × 6 tiles of 8 lanes, further down). The
// plain C versions are the fallback and the tests' twins (with the Swift reference dots).
#include "ggml_simd_internal.h"

void ggml_plain_f16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy) {
    for (long o = 0; o < m; o++)
        for (long r = 0; r < rows; r++) {
            float s = 0;
            for (long i = 0; i < n; i++) s += half_to_float((const uint8_t *)(w + o * n + i)) * x[r * n + i];
            y[r * ldy + o] = s;
        }
}

// bf16 rows as Quant/BF16.swift stores them: each 32 values as 16 pairs (g+k, g+k+16), so one
// 64-byte load widens to values g..g+15 (shifted up) and g+16..g+31 (masked); the last n mod 32
// values in order.
void ggml_plain_bf16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy) {
    for (long o = 0; o < m; o++)
        for (long r = 0; r < rows; r++) {
            float s = 0;
            for (long i = 0; i < n; i++) {
                long g = i & ~31L, k = i & 31, slot = g + 32 <= n ? g + (k & 15) * 2 + (k >> 4) : i;
                uint32_t bits = (uint32_t)w[o * n + slot] << 16;
                float v; memcpy(&v, &bits, 4);
                s += v * x[r * n + i];
            }
            y[r * ldy + o] = s;
        }
}

// The tile with RM weight rows and rn (1...6) activation rows, each shape compiled on its own.
#define TILES(NAME, TILE, RM) \
    static void NAME(int rn, const uint16_t *w, long n, const float *x, float *y, long ldy) { \
        switch (rn) { \
        case 1: TILE(RM, 1, w, n, x, y, ldy); break; \
        case 2: TILE(RM, 2, w, n, x, y, ldy); break; \
        case 3: TILE(RM, 3, w, n, x, y, ldy); break; \
        case 4: TILE(RM, 4, w, n, x, y, ldy); break; \
        case 5: TILE(RM, 5, w, n, x, y, ldy); break; \
        default: TILE(RM, 6, w, n, x, y, ldy); break; \
        } \
    }
typedef void (*tile_fn)(int rn, const uint16_t *w, long n, const float *x, float *y, long ldy);

// `group` takes `g` weight rows at a time, `one` the rest.
static inline void matmul(tile_fn group, int g, tile_fn one, const uint16_t *w, long m, long n, const float *x, long rows, float *y,
                          long ldy) {
    // Weight rows in tiles of about 48 KB (L1 or L2), which stay in cache while every activation row passes over them.
    long tile = (24576 / n) & ~3L;
    if (tile < 4) tile = 4;
    for (long o0 = 0; o0 < m; o0 += tile) {
        long o1 = o0 + tile < m ? o0 + tile : m;
        for (long r = 0; r < rows; r += 6) {
            int rn = rows - r < 6 ? (int)(rows - r) : 6;
            long o = o0;
            for (; o + g <= o1; o += g) group(rn, w + o * n, n, x + r * n, y + r * ldy + o, ldy);
            for (; o < o1; o++) one(rn, w + o * n, n, x + r * n, y + r * ldy + o, ldy);
        }
    }
}

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

// The AVX2 path (what ggml_simd_* run without AVX-512, and the tests check everywhere): 16 vector
// registers of 8 lanes, so tiles of 2 weight rows × up to 6 activation rows (12 accumulators, 2
// widened weight vectors, 1 activation vector). Without it such CPUs ran the plain twin (README,
// "On a CPU without AVX-512").
// RM weight vectors (values i…i+7 of their rows) times RN activation rows' values i…i+7.
static inline __attribute__((always_inline)) void fma_step_avx2(int RM, int RN, const __m256 wv[2], const float *x, long n, long i,
                                                           __m256 acc[2][6]) {
    for (int b = 0; b < RN; b++) {
        const __m256 xv = _mm256_loadu_ps(x + b * n + i);
        for (int a = 0; a < RM; a++) acc[a][b] = _mm256_fmadd_ps(wv[a], xv, acc[a][b]);
    }
}

static inline __attribute__((always_inline)) void store_sums_avx2(int RM, int RN, __m256 acc[2][6], float *y, long ldy) {
    for (int b = 0; b < RN; b++)
        for (int a = 0; a < RM; a++) y[b * ldy + a] = hsum(acc[a][b]);
}

// The last n mod 8 values (fp16) or n mod 32 (bf16, stored in order), through zero-padded copies.
static inline __attribute__((always_inline)) void padded_tail_avx2(int RM, int RN, const uint16_t *w, long n, long i, const float *x,
                                                              int bf16, __m256 acc[2][6]) {
    for (; i < n; i += 8) {
        const long k = n - i < 8 ? n - i : 8;
        uint16_t wt[2][8] = {{0}};
        float xt[6][8] = {{0}};
        __m256 wv[2];
        for (int a = 0; a < RM; a++) {
            memcpy(wt[a], w + a * n + i, (size_t)k * 2);
            const __m128i h = _mm_loadu_si128((const __m128i *)wt[a]);
            wv[a] = bf16 ? _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)) : _mm256_cvtph_ps(h);
        }
        for (int b = 0; b < RN; b++) memcpy(xt[b], x + b * n + i, (size_t)k * 4);
        fma_step_avx2(RM, RN, wv, &xt[0][0], 8, 0, acc);
    }
}

static inline __attribute__((always_inline)) void f16_tile_avx2(int RM, int RN, const uint16_t *w, long n, const float *x, float *y, long ldy) {
    __m256 acc[2][6];
    for (int a = 0; a < RM; a++)
        for (int b = 0; b < RN; b++) acc[a][b] = _mm256_setzero_ps();
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 wv[2];
        for (int a = 0; a < RM; a++) wv[a] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + a * n + i)));
        fma_step_avx2(RM, RN, wv, x, n, i, acc);
    }
    padded_tail_avx2(RM, RN, w, n, i, x, 0, acc);
    store_sums_avx2(RM, RN, acc, y, ldy);
}

// bf16 pairs (g+k, g+k+16): 8 pairs widen to values g+j…g+j+7 (shifted up) and g+16+j… (masked).
static inline __attribute__((always_inline)) void bf16_tile_avx2(int RM, int RN, const uint16_t *w, long n, const float *x, float *y, long ldy) {
    __m256 acc[2][6];
    for (int a = 0; a < RM; a++)
        for (int b = 0; b < RN; b++) acc[a][b] = _mm256_setzero_ps();
    const __m256i high = _mm256_set1_epi32((int)0xFFFF0000u);
    long i = 0;
    for (; i + 32 <= n; i += 32)
        for (int j = 0; j < 16; j += 8) {
            // Each half loads the pairs again: kept, they made 17 live vectors of the 16 registers.
            __m256 wv[2];
            for (int a = 0; a < RM; a++) wv[a] = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)(w + a * n + i + 2 * j)), 16));
            fma_step_avx2(RM, RN, wv, x, n, i + j, acc);
            __asm__ volatile("" ::: "memory");
            for (int a = 0; a < RM; a++) wv[a] = _mm256_castsi256_ps(_mm256_and_si256(_mm256_loadu_si256((const __m256i *)(w + a * n + i + 2 * j)), high));
            fma_step_avx2(RM, RN, wv, x, n, i + j + 16, acc);
        }
    padded_tail_avx2(RM, RN, w, n, i, x, 1, acc);
    store_sums_avx2(RM, RN, acc, y, ldy);
}

TILES(f16_tile2_avx2, f16_tile_avx2, 2)
TILES(f16_tile1_avx2, f16_tile_avx2, 1)
TILES(bf16_tile2_avx2, bf16_tile_avx2, 2)
TILES(bf16_tile1_avx2, bf16_tile_avx2, 1)
void ggml_avx2_f16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy) { matmul(f16_tile2_avx2, 2, f16_tile1_avx2, w, m, n, x, rows, y, ldy); }
void ggml_avx2_bf16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy) { matmul(bf16_tile2_avx2, 2, bf16_tile1_avx2, w, m, n, x, rows, y, ldy); }
#else
void ggml_avx2_f16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy) { ggml_plain_f16_matmul(w, m, n, x, rows, y, ldy); }
void ggml_avx2_bf16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy) { ggml_plain_bf16_matmul(w, m, n, x, rows, y, ldy); }
#endif

#if defined(__AVX512F__) && defined(__F16C__)

// y[b·ldy + a] = the sum of acc[a][b]'s lanes.
static inline __attribute__((always_inline)) void store_sums(int RM, int RN, __m512 acc[4][6], float *y, long ldy) {
    for (int b = 0; b < RN; b++) {
        if (RM == 4) {   // four sums at once: halves added, then a tree of horizontal adds
            __m256 v[4];
            for (int a = 0; a < 4; a++) v[a] = _mm256_add_ps(_mm512_castps512_ps256(acc[a][b]), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[a][b]), 1)));
            __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
            _mm_storeu_ps(y + b * ldy, _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1)));
        } else {
            for (int a = 0; a < RM; a++) y[b * ldy + a] = _mm512_reduce_add_ps(acc[a][b]);
        }
    }
}

// RM (4 or 1) weight rows × RN activation rows over all n values; y[b·ldy + a] for a < RM, b < RN.
// Inlined with constant RM / RN, so the accumulators live in registers.
static inline __attribute__((always_inline)) void f16_tile(int RM, int RN, const uint16_t *w, long n, const float *x, float *y, long ldy) {
    __m512 acc[4][6];
    for (int a = 0; a < RM; a++)
        for (int b = 0; b < RN; b++) acc[a][b] = _mm512_setzero_ps();
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 wv[4];
        for (int a = 0; a < RM; a++) wv[a] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + a * n + i)));
        for (int b = 0; b < RN; b++) {
            __m512 xv = _mm512_loadu_ps(x + b * n + i);
            for (int a = 0; a < RM; a++) acc[a][b] = _mm512_fmadd_ps(wv[a], xv, acc[a][b]);
        }
    }
    if (i < n) {   // the last n mod 16 values, masked (the lanes past n load as zero)
        __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        __m512 wv[4];
        for (int a = 0; a < RM; a++) wv[a] = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, w + a * n + i));
        for (int b = 0; b < RN; b++) {
            __m512 xv = _mm512_maskz_loadu_ps(k, x + b * n + i);
            for (int a = 0; a < RM; a++) acc[a][b] = _mm512_fmadd_ps(wv[a], xv, acc[a][b]);
        }
    }
    store_sums(RM, RN, acc, y, ldy);
}

static inline __attribute__((always_inline)) void bf16_tile(int RM, int RN, const uint16_t *w, long n, const float *x, float *y, long ldy) {
    __m512 acc[4][6];
    for (int a = 0; a < RM; a++)
        for (int b = 0; b < RN; b++) acc[a][b] = _mm512_setzero_ps();
    const __m512i high = _mm512_set1_epi32((int)0xFFFF0000u);
    long i = 0;
    for (; i + 32 <= n; i += 32)
        for (int h = 0; h < 2; h++) {   // values i..i+15 (low halves of the pairs), then i+16..i+31
            // Each half loads the pairs again (the shift and the mask take them straight from
            // memory): kept from the first half, the 4 loaded vectors pushed the 4 × 6 tile out of
            // the 32 registers, and the loop spent a fifth of its instructions moving and spilling
            // accumulators (bf16 prefill took 1.2-1.3x fp16's time).
            __asm__ volatile("" ::: "memory");
            __m512 wv[4];
            for (int a = 0; a < RM; a++) {
                __m512i u = _mm512_loadu_si512(w + a * n + i);
                wv[a] = _mm512_castsi512_ps(h == 0 ? _mm512_slli_epi32(u, 16) : _mm512_and_si512(u, high));
            }
            for (int b = 0; b < RN; b++) {
                __m512 xv = _mm512_loadu_ps(x + b * n + i + 16 * h);
                for (int a = 0; a < RM; a++) acc[a][b] = _mm512_fmadd_ps(wv[a], xv, acc[a][b]);
            }
        }
    for (; i < n; i += 16) {   // the last n mod 32 values, in order, masked
        __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 wv[4];
        for (int a = 0; a < RM; a++) wv[a] = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, w + a * n + i)), 16));
        for (int b = 0; b < RN; b++) {
            __m512 xv = _mm512_maskz_loadu_ps(k, x + b * n + i);
            for (int a = 0; a < RM; a++) acc[a][b] = _mm512_fmadd_ps(wv[a], xv, acc[a][b]);
        }
    }
    store_sums(RM, RN, acc, y, ldy);
}

TILES(f16_tile4, f16_tile, 4)
TILES(f16_tile1, f16_tile, 1)
TILES(bf16_tile4, bf16_tile, 4)
TILES(bf16_tile1, bf16_tile, 1)
void ggml_simd_f16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy) { matmul(f16_tile4, 4, f16_tile1, w, m, n, x, rows, y, ldy); }
void ggml_simd_bf16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy) { matmul(bf16_tile4, 4, bf16_tile1, w, m, n, x, rows, y, ldy); }
#else
void ggml_simd_f16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy) { ggml_avx2_f16_matmul(w, m, n, x, rows, y, ldy); }
void ggml_simd_bf16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy) { ggml_avx2_bf16_matmul(w, m, n, x, rows, y, ldy); }
#endif
