// fp16 and bf16 weights (Quant/F16.swift, Quant/BF16.swift) times F32 activation rows: the
// prompt's product. Weights are widened in registers as they are loaded (vcvtph2ps; a shift or a
// mask for bf16), so the caches hold them at 2 bytes a value and nothing is written back; with
// AVX-512, 4 weight rows × up to 6 activation rows of 16-lane accumulators (24 of the 32 vector
// registers) give each loaded vector 4-6 FMAs (AVX2: 4 × 3 tiles of 8 lanes, further down). The
// plain C versions are the fallback and the tests' twins (with the Swift reference dots).
#include "ggml_simd_internal.h"

// Value k of a weight row: fp16, or bf16 rows as Quant/BF16.swift stores them (each 32 values as 16
// pairs (g+j, g+j+16), so one 64-byte load widens to values g..g+15 (shifted up) and g+16..g+31
// (masked); the last n mod 32 values in order). The plain twins read every value this way, the
// AVX2 tiles the values past the last full group of 32.
static inline float widen1(int bf16, const uint16_t *row, long n, long k) {
    if (!bf16) return half_to_float((const uint8_t *)(row + k));
    const long g = k & ~31L, slot = g + 32 <= n ? g + (k & 15) * 2 + ((k >> 4) & 1) : k;
    const uint32_t bits = (uint32_t)row[slot] << 16;
    float v;
    memcpy(&v, &bits, 4);
    return v;
}

static inline void plain_matmul(int bf16, const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy) {
    for (long o = 0; o < m; o++)
        for (long r = 0; r < rows; r++) {
            float s = 0;
            for (long i = 0; i < n; i++) s += widen1(bf16, w + o * n, n, i) * x[r * n + i];
            y[r * ldy + o] = s;
        }
}

void ggml_plain_f16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy) { plain_matmul(0, w, m, n, x, rows, y, ldy); }
void ggml_plain_bf16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy) { plain_matmul(1, w, m, n, x, rows, y, ldy); }

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

// The AVX2 path (what ggml_simd_* run without AVX-512, and the tests check everywhere): 16 registers
// of 8 lanes. A tile is 4 weight rows × 3 activation rows, llama.cpp's tinyBLAS shape for 16
// registers: the 3 activation vectors are loaded first, then each weight row's vector is widened and
// meets all three (12 accumulators + 3 + 1 registers; 7 loads per 12 multiply-adds). The weight rows
// go round the outer loop: a tile's 4 rows (6 KB at 768 values) stay in L1 while every activation row
// of the prompt passes by. In a scratch timing on a Zen 3 (GPT-2's four products at 64 rows, one
// thread, medians of 11 alternating runs) fp16 took 0.84-0.88 of the time of the 2 × 6 tiles this
// replaces (48 KB of weight rows in L2, 6 activation rows in L1), bf16 0.97-1.03; an outer product
// over a widened, transposed panel of 16 weight rows took 0.93-1.0.

// Values g+q…g+q+7 of a weight row widened to F32 (g a multiple of 32, q of 8; for bf16, g starts a
// full group, whose pair (g+j, g+j+16) widens to value g+j shifted up and to g+j+16 masked).
static inline __attribute__((always_inline)) __m256 widen8(int bf16, const uint16_t *row, long g, int q) {
    if (!bf16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + g + q)));
    const __m256i u = _mm256_loadu_si256((const __m256i *)(row + g + 2 * (q & 15)));
    if (!(q & 16)) return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
    // The mask from memory: held in a register (or as the zero of a blend, which the compiler makes
    // of two shifts) it is a 17th register, and the tile spills (bf16 prefill then took 1.5 times
    // the 2 × 6 tiles' time).
    static const uint32_t high[8] __attribute__((aligned(32))) = {0xFFFF0000u, 0xFFFF0000u, 0xFFFF0000u, 0xFFFF0000u,
                                                                   0xFFFF0000u, 0xFFFF0000u, 0xFFFF0000u, 0xFFFF0000u};
    return _mm256_castsi256_ps(and_from_memory(u, high));
}

// RM (4 or 1) weight rows × RN (1…3) activation rows over all n values; y[b·ldy + a] for a < RM, b < RN.
static inline __attribute__((always_inline)) void tile(int bf16, int RM, int RN, const uint16_t *w, long n, const float *x, float *y, long ldy) {
    __m256 acc[4][3];
    for (int a = 0; a < RM; a++)
        for (int b = 0; b < RN; b++) acc[a][b] = _mm256_setzero_ps();
    long i = 0;
    for (; i + 32 <= n; i += 32)
        for (int s = 0; s < 4; s++) {   // unrolled: q is a constant in each copy
            // bf16 takes values 0-7, 16-23, 8-15, 24-31 of the group (the low and high halves of a
            // load of pairs in turn), the order of the 2 × 6 tiles before, whose bits it keeps (fp16's
            // are theirs too). It loads the pairs again for the high halves: kept from the low
            // halves' step, they would be 4 more live registers.
            const int q = bf16 ? (s & 1) * 16 + (s >> 1) * 8 : 8 * s;
            if (bf16) __asm__ volatile("" ::: "memory");
            __m256 xv[3];
            for (int b = 0; b < RN; b++) xv[b] = _mm256_loadu_ps(x + b * n + i + q);
            for (int a = 0; a < RM; a++) {
                const __m256 wv = widen8(bf16, w + a * n, i, q);
                for (int b = 0; b < RN; b++) acc[a][b] = _mm256_fmadd_ps(wv, xv[b], acc[a][b]);
            }
        }
    for (; i < n; i += 8) {   // the rest, through zero-padded copies
        const long k = n - i < 8 ? n - i : 8;
        float wt[4][8] = {{0}}, xt[3][8] = {{0}};
        for (int a = 0; a < RM; a++)
            for (long j = 0; j < k; j++) wt[a][j] = widen1(bf16, w + a * n, n, i + j);
        for (int b = 0; b < RN; b++) memcpy(xt[b], x + b * n + i, (size_t)k * 4);
        for (int a = 0; a < RM; a++)
            for (int b = 0; b < RN; b++) acc[a][b] = _mm256_fmadd_ps(_mm256_loadu_ps(wt[a]), _mm256_loadu_ps(xt[b]), acc[a][b]);
    }
    for (int a = 0; a < RM; a++)
        for (int b = 0; b < RN; b++) y[b * ldy + a] = hsum(acc[a][b]);
}

static inline __attribute__((always_inline)) void product(int bf16, const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy) {
    // No blocking: with the activation rows in chunks that stay in L2 (and the weights in 128 KB
    // blocks), the scratch timing was 1.02-1.14 times this at 64, 256 and 1,024 rows.
    for (long o = 0; o < m;) {
        const int rm = m - o >= 4 ? 4 : 1;
        // The next tile's weight rows are fetched while this one's products run, a share before each
        // pass of activation rows: fetched by the first pass over them, they came from memory 4 rows
        // at a time at the pace of the products (scratch timing at 64 rows: fp16 0.92-0.96 of the
        // time without, bf16 0.95-1.01; at 8 rows 0.77; at 256 rows 1.01-1.04, where a tile's
        // passes hide the fetch anyway).
        const long next = o + rm < m ? (m - o - rm < 4 ? m - o - rm : 4) * n * 2 : 0, passes = (rows + 2) / 3;
        long fetched = 0;
        for (long r = 0; r < rows; r += 3) {
            for (const long upto = next * (r / 3 + 1) / passes; fetched < upto; fetched += 64)
                _mm_prefetch((const char *)(w + (o + rm) * n) + fetched, _MM_HINT_T0);
            const uint16_t *wo = w + o * n;
            const float *xr = x + r * n;
            float *yr = y + r * ldy + o;
            const long rn = rows - r < 3 ? rows - r : 3;
            if (rm == 4) {
                if (rn == 3) tile(bf16, 4, 3, wo, n, xr, yr, ldy);
                else if (rn == 2) tile(bf16, 4, 2, wo, n, xr, yr, ldy);
                else tile(bf16, 4, 1, wo, n, xr, yr, ldy);
            } else {
                if (rn == 3) tile(bf16, 1, 3, wo, n, xr, yr, ldy);
                else if (rn == 2) tile(bf16, 1, 2, wo, n, xr, yr, ldy);
                else tile(bf16, 1, 1, wo, n, xr, yr, ldy);
            }
        }
        o += rm;
    }
}
void ggml_avx2_f16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy) { product(0, w, m, n, x, rows, y, ldy); }
void ggml_avx2_bf16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy) { product(1, w, m, n, x, rows, y, ldy); }
#else
void ggml_avx2_f16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy) { ggml_plain_f16_matmul(w, m, n, x, rows, y, ldy); }
void ggml_avx2_bf16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy) { ggml_plain_bf16_matmul(w, m, n, x, rows, y, ldy); }
#endif

#if defined(__AVX512F__) && defined(__F16C__)

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
