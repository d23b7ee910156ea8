// Prefill on unpacked tiles, for the K-quants and the iq4 types, most of whose values take several
// vector operations to build (q6_K, q5_K, q4_K, q3_K, q2_K, iq4_xs; iq4_nl, whose blocks are 32
// values, below): every activation row of a call against a run of 8-row groups
// (Quant/Interleaved.swift), each super-block unpacked once for all of them, as llama.cpp's CPU
// backend does with its tiled K-quant product. Unpacked in the 4-row kernels (`*x8_x4`) instead, the
// values cost about as many vector operations as the products themselves.
//
// A tile is one super-block of one or two groups: lanes 0-7 group g's rows, 8-15 group g + 1's. Where
// the CPU has AVX-512 VNNI two groups share 512-bit vectors: twice the products per instruction on
// cores with full-width 512-bit units (the benchmark's AMD EPYC), no loss where they are split in two.
// Vector i holds elements 4i…4i+3 of every row as unsigned bytes, with the type's stored offset
// (`bias`: q6_K's 32, q3_K's 4, the iq4 levels' 128) taken off through the activations' sums of 16;
// each sub-block of `sub` values has a scale (and a minimum) per row, as 32-bit lanes.
#ifndef GGML_SIMD_TILE_H
#define GGML_SIMD_TILE_H
#include "ggml_simd_internal.h"
#if GGML_SIMD_X86

typedef struct {
    _Alignas(64) uint8_t v[64][64];
    _Alignas(64) int32_t sc[16][16];
    _Alignas(64) int32_t mn[16][16];
    _Alignas(64) float d[16];
    _Alignas(64) float dmin[16];
    _Alignas(64) float dblk[8][16];   // 32-value block types: block j's d
} ggml_tile;

// Writers for half h (group 0 or 1 of the tile).
static inline void tile_values(ggml_tile *t, int h, int i, __m256i q) { _mm256_store_si256((__m256i *)(t->v[i] + 32 * h), q); }
static inline void tile_scale(ggml_tile *t, int h, int j, __m256i s) { _mm256_store_si256((__m256i *)(t->sc[j] + 8 * h), s); }
static inline void tile_min(ggml_tile *t, int h, int j, __m256i m) { _mm256_store_si256((__m256i *)(t->mn[j] + 8 * h), m); }
static inline void tile_d(ggml_tile *t, int h, const uint8_t *d8, const uint8_t *dmin8) {
    _mm256_store_ps(t->d + 8 * h, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)d8)));
    if (dmin8) _mm256_store_ps(t->dmin + 8 * h, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)dmin8)));
}

// Half h of a tile for the types whose 8-row kernels build values 4 vectors at a time (q6_K, q3_K):
// values(blk, half, u, v) gives v[k] = elements 128·half + 32k + 4u… of the 8 rows, scales(blk, sc)
// the 16 sub-block scales; d (8 fp16) at byte `d_offset`.
static inline __attribute__((always_inline)) void tile_from_quarters(const uint8_t *blk, ggml_tile *t, int h,
                                                                     void (*values)(const uint8_t *, int, int, __m256i *),
                                                                     void (*scales)(const uint8_t *, __m256i *), int d_offset) {
    for (int half = 0; half < 2; half++)
        for (int u = 0; u < 8; u++) {
            __m256i v[4];
            values(blk, half, u, v);
            for (int k = 0; k < 4; k++) tile_values(t, h, 32 * half + 8 * k + u, v[k]);
        }
    __m256i sc[16];
    scales(blk, sc);
    for (int j = 0; j < 16; j++) tile_scale(t, h, j, sc[j]);
    tile_d(t, h, blk + d_offset, NULL);
}

// Half h of a tile for q4_K and q5_K, whose 8-row kernels unpack sub-block pair c as lo (the values
// of sub-block 2c) and hi (2c + 1): the values, the 6-bit scales and minimums, d and dmin.
static inline __attribute__((always_inline)) void tile_from_pairs(const uint8_t *blk, ggml_tile *t, int h,
                                                                  void (*unpack)(const uint8_t *, int, __m256i *, __m256i *)) {
    for (int c = 0; c < 4; c++) {
        __m256i lo[8], hi[8];
        unpack(blk, c, lo, hi);
        for (int u = 0; u < 8; u++) { tile_values(t, h, 16 * c + u, lo[u]); tile_values(t, h, 16 * c + 8 + u, hi[u]); }
    }
    __m256i sc[8], mn[8];
    q4_Kx8_scales(blk, sc, mn);
    for (int j = 0; j < 8; j++) { tile_scale(t, h, j, sc[j]); tile_min(t, h, j, mn[j]); }
    tile_d(t, h, blk, blk + 16);
}

// K activation rows (`stride` values apart) against super-block b's tile: y[k·ldy + lane] += Σ_j
// d·xd·sc_j·(Σ q·x − bias·Σx) − dmin·xd·Σ_j m_j·Σx, the sums over sub-block j. SUBDOT gives one
// sub-block's sc_j·(Σ q·x − bias·Σx); `top` is the largest value the tile holds.
#define TILE_ROWS(NAME, V, PS, LOADV, ZERO, SET1, SUBDOT, ADD, MUL, CVT, FMA, FNMA, LOADPS, STOREPS, MULPS, SET1PS) \
    static inline __attribute__((always_inline)) void NAME(const ggml_tile *t, const int sub, const int bias, const int top, \
                                                          const int hasMin, const int8_t *x, const float *xd, const int32_t *bs, \
                                                          long stride, int b, const int K, float *y, long ldy) { \
        const long ds = stride / 256, ss = stride / 16; \
        const int nv = sub / 4; \
        V isum[8], msum[8]; \
        for (int k = 0; k < K; k++) { isum[k] = ZERO(); msum[k] = ZERO(); } \
        for (int j = 0; j < 256 / sub; j++) { \
            V v[8]; \
            for (int u = 0; u < nv; u++) v[u] = LOADV(t->v[nv * j + u]); \
            const V sc = LOADV(t->sc[j]); \
            for (int k = 0; k < K; k++) { \
                const int8_t *xb = x + k * stride + 256 * b + sub * j; \
                const int32_t *bk = bs + k * ss + 16 * b + (sub / 16) * j; \
                const int s = sub == 32 ? bk[0] + bk[1] : bk[0]; \
                isum[k] = ADD(isum[k], SUBDOT(v, nv, xb, sc, bias ? -bias * s : 0, bias, top)); \
            } \
        } \
        /* the minimums apart: in the loop above they would take registers its products need */ \
        if (hasMin) \
            for (int j = 0; j < 256 / sub; j++) { \
                const V mn = LOADV(t->mn[j]); \
                for (int k = 0; k < K; k++) { \
                    const int32_t *bk = bs + k * ss + 16 * b + (sub / 16) * j; \
                    msum[k] = ADD(msum[k], MUL(SET1(sub == 32 ? bk[0] + bk[1] : bk[0]), mn)); \
                } \
            } \
        const PS d = LOADPS(t->d), dm = LOADPS(t->dmin); \
        for (int k = 0; k < K; k++) { \
            const PS dx = SET1PS(xd[k * ds + b]); \
            PS r = FMA(MULPS(d, dx), CVT(isum[k]), LOADPS(y + k * ldy)); \
            if (hasMin) r = FNMA(MULPS(dm, dx), CVT(msum[k]), r); \
            STOREPS(y + k * ldy, r); \
        } \
    }
#define TILE_LOAD256(p) _mm256_load_si256((const __m256i *)(p))
// The 8-lane tiles' products (`bias`: the values' offset). Without AVX-512 VNNI `vpmaddubsw` sums
// byte products in Int16 pairs, which saturate past 32767: the iq4 levels + 128 (up to 241) against
// activation bytes reach 2 · 241 · 127, so for them the top bit of each value goes through a second
// product (2 · 128 · 127 and 2 · 127 · 127 fit). The other types' values stay under 64.
static inline __m256i tile_dot8(__m256i acc, __m256i u, __m256i s, int bias) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    (void)bias;
    return _mm256_dpbusd_epi32(acc, u, s);
#else
    if (bias < 128) return dot_u8s8_acc(acc, u, s);
    const __m256i top = _mm256_set1_epi8((char)0x80);
    return dot_u8s8_acc(dot_u8s8_acc(acc, _mm256_andnot_si256(top, u), s), _mm256_and_si256(u, top), s);
#endif
}
// One sub-block of nv value vectors against 4·nv activation bytes at xb, times the scales: with
// VNNI the byte products summed in Int32 (from `offset` = −bias·Σx), then one 32-bit multiply.
// Without it, each `vpmaddubsw` would need a `vpmaddwd` by ones to widen its Int16 pair sums, and the
// sub-block one more multiply: for values up to `top` the pair sums (at most 2 · top · 128) of as
// many vectors as fit add up in Int16 (all 8 of q4_K's, 4 of q5_K's, 2 of q6_K's), and one
// `vpmaddwd` by the scale (in both halves of each lane) widens them: 9 multiplies where there were
// 17 for q4_K. The integers are the same, so the outputs are the same bits.
static inline __attribute__((always_inline)) __m256i tile_sub8(const __m256i *v, int nv, const int8_t *xb, __m256i sc, int offset,
                                                                int bias, int top) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    (void)top;
#else
    if (bias < 128) {
        const int fit = 32767 / (2 * top * 128);
        const __m256i sc16 = _mm256_or_si256(_mm256_and_si256(sc, _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(sc, 16));
        __m256i r = offset ? _mm256_mullo_epi32(_mm256_set1_epi32(offset), sc) : _mm256_setzero_si256();
        for (int u = 0; u < nv; u += fit) {
            __m256i p = _mm256_maddubs_epi16(v[u], _mm256_set1_epi32(load_i32(xb + 4 * u)));
            for (int w = u + 1; w < u + fit && w < nv; w++)
                p = _mm256_add_epi16(p, _mm256_maddubs_epi16(v[w], _mm256_set1_epi32(load_i32(xb + 4 * w))));
            r = _mm256_add_epi32(r, _mm256_madd_epi16(p, sc16));
        }
        return r;
    }
#endif
    __m256i a = _mm256_set1_epi32(offset);
    for (int u = 0; u < nv; u++) a = tile_dot8(a, v[u], _mm256_set1_epi32(load_i32(xb + 4 * u)), bias);
    return _mm256_mullo_epi32(a, sc);
}
TILE_ROWS(tile_rows8, __m256i, __m256, TILE_LOAD256, _mm256_setzero_si256, _mm256_set1_epi32, tile_sub8, _mm256_add_epi32,
          _mm256_mullo_epi32, _mm256_cvtepi32_ps, _mm256_fmadd_ps, _mm256_fnmadd_ps, _mm256_loadu_ps, _mm256_storeu_ps,
          _mm256_mul_ps, _mm256_set1_ps)
#if defined(__AVX512VNNI__) && defined(__AVX512F__)
#define TILE_PAIRS 1
#define TILE_LOAD512(p) _mm512_load_si512((const void *)(p))
static inline __m512i tile_dot16(__m512i acc, __m512i u, __m512i s, int bias) { (void)bias; return _mm512_dpbusd_epi32(acc, u, s); }
static inline __attribute__((always_inline)) __m512i tile_sub16(const __m512i *v, int nv, const int8_t *xb, __m512i sc, int offset,
                                                                 int bias, int top) {
    (void)top;
    __m512i a = _mm512_set1_epi32(offset);
    for (int u = 0; u < nv; u++) a = tile_dot16(a, v[u], _mm512_set1_epi32(load_i32(xb + 4 * u)), bias);
    return _mm512_mullo_epi32(a, sc);
}
TILE_ROWS(tile_rows16, __m512i, __m512, TILE_LOAD512, _mm512_setzero_si512, _mm512_set1_epi32, tile_sub16, _mm512_add_epi32,
          _mm512_mullo_epi32, _mm512_cvtepi32_ps, _mm512_fmadd_ps, _mm512_fnmadd_ps, _mm512_loadu_ps, _mm512_storeu_ps,
          _mm512_mul_ps, _mm512_set1_ps)
#else
#define TILE_PAIRS 0
#endif

// 32-value block types (iq4_nl): a tile holds `nblk` ≤ 8 consecutive blocks from b0 (vectors 8j…8j + 7
// for block j), each with its own d per row, so each block's sum is scaled in float.
#define TILE32_ROWS(NAME, V, PS, LOADV, SET1, DOT, CVT, FMA, ADDPS, ZEROPS, LOADPS, STOREPS, MULPS, SET1PS) \
    static inline __attribute__((always_inline)) void NAME(const ggml_tile *t, int nblk, const int bias, const int8_t *x, \
                                                          const float *xd, const int32_t *xs, long stride, int b0, const int K, \
                                                          float *y, long ldy) { \
        const long ds = stride / 32; \
        PS acc[8]; \
        for (int k = 0; k < K; k++) acc[k] = ZEROPS(); \
        for (int j = 0; j < nblk; j++) { \
            V v[8]; \
            for (int u = 0; u < 8; u++) v[u] = LOADV(t->v[8 * j + u]); \
            const PS d = LOADPS(t->dblk[j]); \
            for (int k = 0; k < K; k++) { \
                const int8_t *xb = x + k * stride + 32 * (b0 + j); \
                V a = SET1(-bias * xs[k * ds + b0 + j]); \
                for (int u = 0; u < 8; u++) a = DOT(a, v[u], SET1(load_i32(xb + 4 * u)), bias); \
                acc[k] = FMA(MULPS(d, SET1PS(xd[k * ds + b0 + j])), CVT(a), acc[k]); \
            } \
        } \
        for (int k = 0; k < K; k++) STOREPS(y + k * ldy, ADDPS(acc[k], LOADPS(y + k * ldy))); \
    }
TILE32_ROWS(tile32_rows8, __m256i, __m256, TILE_LOAD256, _mm256_set1_epi32, tile_dot8, _mm256_cvtepi32_ps, _mm256_fmadd_ps,
            _mm256_add_ps, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_mul_ps, _mm256_set1_ps)
#if TILE_PAIRS
TILE32_ROWS(tile32_rows16, __m512i, __m512, TILE_LOAD512, _mm512_set1_epi32, tile_dot16, _mm512_cvtepi32_ps, _mm512_fmadd_ps,
            _mm512_add_ps, _mm512_setzero_ps, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_mul_ps, _mm512_set1_ps)
#define TILE32_ROWS_PAIR tile32_rows16
#else
#define TILE32_ROWS_PAIR tile32_rows8
#endif

// ggml_simd_<T>x8_xn for a 32-value block type: UNPACK(blk, tile, h, j) fills block slot j of half h.
#define TILE32_ALL_ROWS(ROWS, BIAS, yg) { \
        int r = 0; \
        for (; r + 8 <= rows; r += 8) ROWS(&t, nblk, BIAS, x + r * stride, xd + r * ds, sums + r * ds, stride, b0, 8, yg + r * ldy, ldy); \
        for (; r < rows; r++) ROWS(&t, nblk, BIAS, x + r * stride, xd + r * ds, sums + r * ds, stride, b0, 1, yg + r * ldy, ldy); \
    }
#define TILE32_KERNEL(T, BB, UNPACK, BIAS) \
    void ggml_simd_##T##x8_xn(const void *w, int groups, const int8_t *x, const float *xd, const int32_t *sums, long stride, int nb, \
                              int rows, float *y, long ldy) { \
        const uint8_t *p = w; \
        const long gb = (long)nb * BB, ds = stride / 32; \
        ggml_tile t; \
        for (int k = 0; k < rows; k++) memset(y + k * ldy, 0, sizeof(float) * 8 * groups); \
        int g = 0; \
        if (TILE_PAIRS) \
            for (; g + 2 <= groups; g += 2) \
                for (int b0 = 0; b0 < nb; b0 += 8) { \
                    const int nblk = nb - b0 < 8 ? nb - b0 : 8; \
                    for (int j = 0; j < nblk; j++) { \
                        UNPACK(p + g * gb + (b0 + j) * BB, &t, 0, j); \
                        UNPACK(p + (g + 1) * gb + (b0 + j) * BB, &t, 1, j); \
                    } \
                    TILE32_ALL_ROWS(TILE32_ROWS_PAIR, BIAS, y + 8 * g) \
                } \
        for (; g < groups; g++) \
            for (int b0 = 0; b0 < nb; b0 += 8) { \
                const int nblk = nb - b0 < 8 ? nb - b0 : 8; \
                for (int j = 0; j < nblk; j++) UNPACK(p + g * gb + (b0 + j) * BB, &t, 0, j); \
                TILE32_ALL_ROWS(tile32_rows8, BIAS, y + 8 * g) \
            } \
    }

// ggml_simd_<T>x8_xn (GGMLSIMD.h) for a type whose group blocks are BB bytes and UNPACK(blk, tile, h)
// fills half h of a tile with values up to TOP: pairs of groups through 512-bit tiles where there
// are any, the rest one group at a time; activation rows 8 at a time, then one by one.
#define TILE_ALL_ROWS(ROWS, SUB, BIAS, TOP, HAS_MIN, yg) { \
        int r = 0; \
        for (; r + 8 <= rows; r += 8) ROWS(&t, SUB, BIAS, TOP, HAS_MIN, x + r * stride, xd + r * ds, bsums + r * ss, stride, b, 8, yg + r * ldy, ldy); \
        for (; r < rows; r++) ROWS(&t, SUB, BIAS, TOP, HAS_MIN, x + r * stride, xd + r * ds, bsums + r * ss, stride, b, 1, yg + r * ldy, ldy); \
    }
#define TILE_KERNEL(T, BB, UNPACK, SUB, BIAS, TOP, HAS_MIN) \
    void ggml_simd_##T##x8_xn(const void *w, int groups, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, \
                              int rows, float *y, long ldy) { \
        const uint8_t *p = w; \
        const long gb = (long)nb * BB, ds = stride / 256, ss = stride / 16; \
        ggml_tile t; \
        for (int k = 0; k < rows; k++) memset(y + k * ldy, 0, sizeof(float) * 8 * groups); \
        int g = 0; \
        if (TILE_PAIRS) \
            for (; g + 2 <= groups; g += 2) \
                for (int b = 0; b < nb; b++) { \
                    UNPACK(p + g * gb + b * BB, &t, 0); \
                    UNPACK(p + (g + 1) * gb + b * BB, &t, 1); \
                    TILE_ALL_ROWS(TILE_ROWS_PAIR, SUB, BIAS, TOP, HAS_MIN, y + 8 * g) \
                } \
        for (; g < groups; g++) \
            for (int b = 0; b < nb; b++) { \
                UNPACK(p + g * gb + b * BB, &t, 0); \
                TILE_ALL_ROWS(tile_rows8, SUB, BIAS, TOP, HAS_MIN, y + 8 * g) \
            } \
    }
#if TILE_PAIRS
#define TILE_ROWS_PAIR tile_rows16
#else
#define TILE_ROWS_PAIR tile_rows8
#endif

#endif

// The plain twin (ggml_plain_<T>x8_xn): the type's plain 8-row kernel for each group and row.
#define PLAIN_TILE_KERNEL(T, BB) \
    void ggml_plain_##T##x8_xn(const void *w, int groups, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, \
                               int rows, float *y, long ldy) { \
        for (int g = 0; g < groups; g++) \
            for (int r = 0; r < rows; r++) \
                ggml_plain_##T##x8((const uint8_t *)w + (long)g * nb * BB, x + r * stride, xd + r * (stride / 256), bsums + r * (stride / 16), \
                                   nb, y + r * ldy + 8 * g); \
    }
#define PLAIN_TILE32_KERNEL(T, BB) \
    void ggml_plain_##T##x8_xn(const void *w, int groups, const int8_t *x, const float *xd, const int32_t *sums, long stride, int nb, \
                               int rows, float *y, long ldy) { \
        for (int g = 0; g < groups; g++) \
            for (int r = 0; r < rows; r++) \
                ggml_plain_##T##x8((const uint8_t *)w + (long)g * nb * BB, x + r * stride, xd + r * (stride / 32), sums + r * (stride / 32), \
                                   nb, y + r * ldy + 8 * g); \
    }
#define FALLBACK_TILE_KERNEL(T) \
    void ggml_simd_##T##x8_xn(const void *w, int groups, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, \
                              int rows, float *y, long ldy) { ggml_plain_##T##x8_xn(w, groups, x, xd, bsums, stride, nb, rows, y, ldy); }
#endif
