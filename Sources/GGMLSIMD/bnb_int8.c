// bitsandbytes' LLM.int8() (Quant/BnbInt8.swift): exact Int32 products of int8 weight rows with
// int8 activation rows. `vpdpbusd` multiplies unsigned by signed bytes, so the weight bytes are
// flipped to w + 128 (0…255; one xor per 64 bytes, the stored codes stay bitsandbytes' own) and
// 128 · Σx is taken off once per output. The work goes in tiles of 4 weight rows × 4 activation
// rows: each 64-byte load feeds four products, and the 16 sums leave their registers together
// through one transposing reduction. A weight row is read from memory once per call; the
// activations (a prompt's 64 rows × in bytes) stay in L2 while the weight tiles pass over them.
// The Int32 arithmetic wraps; the true sums fit in Int32 (|w|, |x| ≤ 127, n < 2^17), so the
// wrapped results are exact. See include/BnbSIMD.h.
#include "BnbSIMD.h"
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#include <immintrin.h>
#define BNB_INT8_SIMD 1
#else
#define BNB_INT8_SIMD 0
#endif

void bnb_int8_plain_gemm(const int8_t *w, int o0, int o1, int n, const int8_t *x, const int32_t *xsum, int rows,
                         int32_t *out, long ldo) {
    (void)xsum;
    for (int o = o0; o < o1; o++) {
        for (int r = 0; r < rows; r++) {
            int32_t s = 0;
            for (int i = 0; i < n; i++) s += (int32_t)w[(long)o * n + i] * x[(long)r * n + i];
            out[r * ldo + o] = s;
        }
    }
}

#if BNB_INT8_SIMD

// Lane 4a + b of the result: the sum of v[4a + b]'s 16 lanes.
static inline __m512i reduce16(const __m512i *v) {
    __m512i t[8], u[4];
    for (int k = 0; k < 8; k++) t[k] = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * k], v[2 * k + 1]), _mm512_unpackhi_epi32(v[2 * k], v[2 * k + 1]));
    for (int k = 0; k < 4; k++) u[k] = _mm512_add_epi32(_mm512_unpacklo_epi64(t[2 * k], t[2 * k + 1]), _mm512_unpackhi_epi64(t[2 * k], t[2 * k + 1]));
    __m512i s01 = _mm512_add_epi32(_mm512_shuffle_i32x4(u[0], u[1], 0x88), _mm512_shuffle_i32x4(u[0], u[1], 0xDD));
    __m512i s23 = _mm512_add_epi32(_mm512_shuffle_i32x4(u[2], u[3], 0x88), _mm512_shuffle_i32x4(u[2], u[3], 0xDD));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(s01, s23, 0x88), _mm512_shuffle_i32x4(s01, s23, 0xDD));
}

// R activation rows × O weight rows (R, O ≤ 4, constants once inlined).
static inline __attribute__((always_inline)) void tile(const int R, const int O, const int8_t *w, int n, const int8_t *x,
                                                       const int32_t *xsum, int32_t *out, long ldo) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512i acc[16];
    for (int k = 0; k < 16; k++) acc[k] = _mm512_setzero_si512();
    int i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512i wu[4];
        for (int o = 0; o < O; o++) wu[o] = _mm512_xor_si512(_mm512_loadu_si512(w + (long)o * n + i), flip);
        for (int r = 0; r < R; r++) {
            __m512i xv = _mm512_loadu_si512(x + (long)r * n + i);
            for (int o = 0; o < O; o++) acc[4 * r + o] = _mm512_dpbusd_epi32(acc[4 * r + o], wu[o], xv);
        }
    }
    if (i < n) {
        // The last n - i bytes: activations past the row read as 0, so the flipped weights there
        // (0x80) add nothing.
        const __mmask64 k = (~0ULL) >> (64 - (n - i));
        __m512i wu[4];
        for (int o = 0; o < O; o++) wu[o] = _mm512_xor_si512(_mm512_maskz_loadu_epi8(k, w + (long)o * n + i), flip);
        for (int r = 0; r < R; r++) {
            __m512i xv = _mm512_maskz_loadu_epi8(k, x + (long)r * n + i);
            for (int o = 0; o < O; o++) acc[4 * r + o] = _mm512_dpbusd_epi32(acc[4 * r + o], wu[o], xv);
        }
    }
    if (R == 4 && O == 4) {
        __m512i bias = _mm512_mullo_epi32(_mm512_set_epi32(xsum[3], xsum[3], xsum[3], xsum[3], xsum[2], xsum[2], xsum[2], xsum[2],
                                                           xsum[1], xsum[1], xsum[1], xsum[1], xsum[0], xsum[0], xsum[0], xsum[0]),
                                          _mm512_set1_epi32(128));
        __m512i s = _mm512_sub_epi32(reduce16(acc), bias);
        _mm_storeu_si128((__m128i *)(out), _mm512_extracti32x4_epi32(s, 0));
        _mm_storeu_si128((__m128i *)(out + ldo), _mm512_extracti32x4_epi32(s, 1));
        _mm_storeu_si128((__m128i *)(out + 2 * ldo), _mm512_extracti32x4_epi32(s, 2));
        _mm_storeu_si128((__m128i *)(out + 3 * ldo), _mm512_extracti32x4_epi32(s, 3));
        return;
    }
    for (int r = 0; r < R; r++) {
        for (int o = 0; o < O; o++) out[r * ldo + o] = (int32_t)((uint32_t)_mm512_reduce_add_epi32(acc[4 * r + o]) - 128u * (uint32_t)xsum[r]);
    }
}

#define TILE(R, O) case (R) * 8 + (O): tile(R, O, w + (long)o * n, n, x + (long)r * n, xsum + r, out + r * ldo + o, ldo); break;

void bnb_int8_simd_gemm(const int8_t *w, int o0, int o1, int n, const int8_t *x, const int32_t *xsum, int rows,
                        int32_t *out, long ldo) {
    for (int o = o0; o < o1; o += 4) {
        const int O = o1 - o < 4 ? o1 - o : 4;
        for (int r = 0; r < rows; r += 4) {
            const int R = rows - r < 4 ? rows - r : 4;
            switch (R * 8 + O) {
                TILE(1, 1) TILE(1, 2) TILE(1, 3) TILE(1, 4)
                TILE(2, 1) TILE(2, 2) TILE(2, 3) TILE(2, 4)
                TILE(3, 1) TILE(3, 2) TILE(3, 3) TILE(3, 4)
                TILE(4, 1) TILE(4, 2) TILE(4, 3) TILE(4, 4)
            }
        }
    }
}

#else

void bnb_int8_simd_gemm(const int8_t *w, int o0, int o1, int n, const int8_t *x, const int32_t *xsum, int rows,
                        int32_t *out, long ldo) {
    bnb_int8_plain_gemm(w, o0, o1, n, x, xsum, rows, out, ldo);
}

#endif
