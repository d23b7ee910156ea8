// bitsandbytes' LLM.int8() (Quant/BnbInt8.swift): exact Int32 products of int8 weight rows with
// int8 activation rows. `vpdpbusd` multiplies unsigned by signed bytes, so the weight bytes are
// flipped to w + 128 (0…255; one xor per 64 bytes, the stored codes stay bitsandbytes' own) and
// 128 · Σx is taken off once per output. The work goes in tiles of 4 weight rows × 4 activation
// rows: each 64-byte load feeds four products, and the 16 sums leave their registers together
// through one transposing reduction. A weight row is read from memory once per call; the
// activations (a prompt's 64 rows × in bytes) stay in L2 while the weight tiles pass over them.
// The Int32 arithmetic wraps; the true sums fit in Int32 (|w|, |x| ≤ 127, n < 2^17), so the
// wrapped results are exact.
// The steps around the products are here too, so that a layer is C from end to end: the
// activations' fp16 cast, outlier columns, absmax and codes (vcvtps2ph / vcvtph2ps, 16 lanes at a
// time, 8 with AVX2), and the scaling of a tile's 16 sums to fp16 outputs as they leave their registers. Done
// in Swift, element by element, those steps took twice the time of the products (perf, a 64-token
// GPT-2 prefill, 2026-11-30). See include/BnbSIMD.h.
#include "BnbSIMD.h"
#include <math.h>
#include <stddef.h>
#include <string.h>
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__) && defined(__F16C__)
#define BNB_INT8_SIMD 1
#else
#define BNB_INT8_SIMD 0
#endif
#if defined(__AVX2__) || BNB_INT8_SIMD
#include <immintrin.h>
#endif

// Products and sums below are never fused into one rounding (bitsandbytes rounds each).
#pragma STDC FP_CONTRACT OFF

// To fp16 (to nearest, ties to even; past 65504 to ±inf) and back: Swift's Float(Float16(v)).
static inline float round_fp16(float v) { return (float)(_Float16)v; }

// bitsandbytes' CUDA kernel scales a row by __fdividef(127, absmax): 127 times the GPU's
// approximate reciprocal (rcp.approx), which is not IEEE 1/absmax. For 129 of the 1,024 leading
// mantissas an fp16 absmax can have, the result lies 1 or 2 ulps from IEEE 127·(1/absmax), and a
// code on an exact tie (127·x/absmax = k + 1/2) then rounds the other way: 3,749 of the 56,493
// ties among every fp16 (absmax, x) pair, each able to move a small model's logits by hundredths
// (issue 16). The difference depends on the mantissa alone (every fp16 absmax, subnormals too),
// so this table of it, read from an NVIDIA H200 by scripts/oracles/bitsandbytes-cuda.py (its
// `scale`, which gives bitsandbytes' own codes on all 504 million pairs), reproduces the GPU:
// entry m is for absmax = (1 + m/1024)·2^e; '.' 0, '+' 1 ulp more, '-' 1 less, '=' 2 less.
static const char gpu_reciprocal_ulps[1024 + 1] =
    "......-....+..-..++.+...........-.............-.+.............-."
    "......-......-........---..+.....++.....++....................--"
    ".......-..+........++....+......-...............-..-............"
    "...........++....+....-....-.-...++.........................+..."
    "....+.............-............-........+.+.....++.............."
    ".....-....................+..-.....................+............"
    "..+........++....-.+....++.....-.+.......+.............+...-.-.."
    ".+...++...+........+.....--......+......+.........+......+.+...."
    ".......+++......+..+...........+...+..........-....++..........."
    "......................................-............+............"
    ".......++.++...............+.......++..........+............++.."
    "....................+...+......................-................"
    "...............-.+++.+...............+.+.....+.........+........"
    "........................................+.+.+.+..............+.."
    "........................+..+....+...............+.....-...-.--.."
    ".....-..+..................++........+............=.....=.......";

float bnb_int8_code_scale(float absmax) {
    float s = 127.0f * (1.0f / absmax);
    uint32_t a, b;
    memcpy(&a, &absmax, 4);
    const uint32_t exponent = a >> 23 & 0xFF;
    if (exponent == 0 || exponent == 0xFF) return s;   // 0, inf, NaN: no fp16 absmax but 0 gets here
    const char c = gpu_reciprocal_ulps[a >> 13 & 0x3FF];
    memcpy(&b, &s, 4);
    b += c == '+' ? 1 : c == '-' ? (uint32_t)-1 : c == '=' ? (uint32_t)-2 : 0;
    memcpy(&s, &b, 4);
    return s;
}

// One output: ((acc·SCA)·SCB)·(1/127²) to fp16, then the bias added in fp16.
static inline float scale_output(int32_t acc, float sca, float scb, const float *bias) {
    float v = round_fp16((float)acc * sca * scb * BNB_INT8_DEQUANT);
    return bias ? round_fp16(v + *bias) : v;
}

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

void bnb_int8_plain_forward(const int8_t *w, int o0, int o1, int n, const int8_t *x, const int32_t *xsum, int rows,
                            const float *sca, const float *scb, const float *bias, float *y, long ldy) {
    for (int o = o0; o < o1; o++) {
        for (int r = 0; r < rows; r++) {
            int32_t s;
            bnb_int8_plain_gemm(w + (long)o * n, 0, 1, n, x + (long)r * n, xsum + r, 1, &s, 1);
            y[r * ldy + o] = scale_output(s, sca[r], scb[o], bias ? bias + o : NULL);
        }
    }
}

// The activation step's three parts from value i0 of a row on: the plain twin runs them from 0, the
// AVX2 version on the last n mod 8 values. Outlier columns i0..<n (1 where |fp16(x)| >= threshold
// in some row), their count.
static int mark_outliers(const float *x, int rows, int n, float threshold, int i0, uint8_t *outlier) {
    int count = 0;
    for (int i = i0; i < n; i++) {
        outlier[i] = 0;
        for (int r = 0; threshold > 0 && r < rows; r++)
            if (fabsf(round_fp16(x[(long)r * n + i])) >= threshold) { outlier[i] = 1; count++; break; }
    }
    return count;
}

// max(amax, |fp16(xr[i])| for i0 <= i < n below the threshold); a NaN never counts.
static float kept_absmax(const float *xr, int i0, int n, float threshold, float amax) {
    for (int i = i0; i < n; i++) {
        const float a = fabsf(round_fp16(xr[i]));
        if ((threshold == 0 || a < threshold) && a > amax) amax = a;
    }
    return amax;
}

// Codes i0..<n of a row (0 in outlier columns and where amax is 0), their sum.
static int32_t row_codes(const float *xr, int i0, int n, const uint8_t *outlier, float amax, float scale, int8_t *q) {
    int32_t sum = 0;
    for (int i = i0; i < n; i++) {
        const int8_t v = amax > 0 && !outlier[i] ? (int8_t)nearbyintf(round_fp16(xr[i]) * scale) : 0;
        q[i] = v;
        sum += v;
    }
    return sum;
}

int bnb_int8_plain_quantize(const float *x, int rows, int n, float threshold, uint8_t *outlier, int8_t *codes, float *sca,
                            int32_t *sums) {
    const int count = mark_outliers(x, rows, n, threshold, 0, outlier);
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (long)r * n;
        const float amax = kept_absmax(xr, 0, n, threshold, 0);
        sca[r] = amax;
        sums[r] = row_codes(xr, 0, n, outlier, amax, amax > 0 ? bnb_int8_code_scale(amax) : 0, codes + (long)r * n);
    }
    return count;
}

#if defined(__AVX2__)

// The AVX2 path (what bnb_int8_simd_* run without AVX-512 VNNI, and the tests check everywhere):
// `vpmaddubsw` multiplies unsigned by signed bytes into Int16 sums of pairs,
// where w + 128 (a pair up to 2 · 255 · 127) would saturate; so, as llama.cpp's AVX2 q8_0 does, |w|
// times x carrying w's sign (`vpsignb`; 2 · 127² at most), then `vpmaddwd` against ones into Int32,
// and no 128 · Σx to take off. Tiles of 4 activation rows × 2 weight rows: 8 accumulators, the 2
// weight vectors and their magnitudes fill 12 of the 16 registers.

static inline int32_t sum_epi32(__m256i v) {
    __m128i r = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 0x4E));
    return _mm_cvtsi128_si32(_mm_add_epi32(r, _mm_shuffle_epi32(r, 0xB1)));
}

// acc[r][o] += the products of 32 bytes of weight row o (w + o·ws) and activation row r (x + r·xs).
static inline __attribute__((always_inline)) void step_avx2(const int R, const int O, __m256i acc[4][2], const int8_t *w, long ws,
                                                       const int8_t *x, long xs) {
    __m256i wv[2], wa[2];
    for (int o = 0; o < O; o++) { wv[o] = _mm256_loadu_si256((const __m256i *)(w + o * ws)); wa[o] = _mm256_abs_epi8(wv[o]); }
    for (int r = 0; r < R; r++) {
        const __m256i xv = _mm256_loadu_si256((const __m256i *)(x + r * xs));
        for (int o = 0; o < O; o++)
            acc[r][o] = _mm256_add_epi32(acc[r][o], _mm256_madd_epi16(_mm256_maddubs_epi16(wa[o], _mm256_sign_epi8(xv, wv[o])),
                                                                      _mm256_set1_epi16(1)));
    }
}

// R activation rows × O weight rows (R ≤ 4, O ≤ 2, constants once inlined); y set: the layer's
// fp16 outputs, else the Int32 products into out. The loop over whole 32-byte steps holds nothing
// but the step: with the padded last step inside it, and unrolled, two accumulators lived on the
// stack. Without either, and with gemm_avx2's loop order, GPT-2's four products at 64 rows took
// 0.83-0.87 of the time (one thread, a scratch timing). The plain twin for the last n mod 32
// products instead of the padded step took 1.03 of the time on those shapes (median of 12 scratch
// rounds, 0.99-1.15), though they have no such products: kept padded.
static inline __attribute__((always_inline)) void tile_avx2(const int R, const int O, const int8_t *w, int n, const int8_t *x,
                                                       int32_t *out, long ldo, const float *sca, const float *scb,
                                                       const float *bias, float *y, long ldy) {
    __m256i acc[4][2];
    for (int r = 0; r < R; r++)
        for (int o = 0; o < O; o++) acc[r][o] = _mm256_setzero_si256();
    const int full = n & ~31;
#pragma clang loop unroll(disable)
    for (int i = 0; i < full; i += 32) step_avx2(R, O, acc, w + i, n, x + i, n);
    if (full < n) {   // the last n mod 32 bytes, zero-padded: a zero weight adds nothing
        int8_t pad[6][32] = {{0}};
        for (int o = 0; o < O; o++) memcpy(pad[o], w + (long)o * n + full, (size_t)(n - full));
        for (int r = 0; r < R; r++) memcpy(pad[2 + r], x + (long)r * n + full, (size_t)(n - full));
        step_avx2(R, O, acc, pad[0], 32, pad[2], 32);
    }
    for (int r = 0; r < R; r++)
        for (int o = 0; o < O; o++) {
            const int32_t v = sum_epi32(acc[r][o]);
            if (y) y[r * ldy + o] = scale_output(v, sca[r], scb[o], bias ? bias + o : NULL);
            else out[r * ldo + o] = v;
        }
}

#define TILE_AVX2(R, O) case (R) * 8 + (O): \
    tile_avx2(R, O, w + (long)o * n, n, x + (long)r * n, out + r * ldo + o, ldo, y ? sca + r : NULL, y ? scb + o : NULL, \
         bias ? bias + o : NULL, y ? y + r * ldy + o : NULL, ldy); break;

static inline __attribute__((always_inline)) void gemm_avx2(const int8_t *w, int o0, int o1, int n, const int8_t *x, int rows,
                                                       int32_t *out, long ldo, const float *sca, const float *scb,
                                                       const float *bias, float *y, long ldy) {
    // An activation group's 4 rows stay in L1 while the call's weight rows (a chunk of 32 in a
    // prompt) pass them from L2.
    for (int r = 0; r < rows; r += 4) {
        const int R = rows - r < 4 ? rows - r : 4;
        for (int o = o0; o < o1; o += 2) {
            const int O = o1 - o < 2 ? o1 - o : 2;
            switch (R * 8 + O) {
                TILE_AVX2(1, 1) TILE_AVX2(1, 2) TILE_AVX2(2, 1) TILE_AVX2(2, 2)
                TILE_AVX2(3, 1) TILE_AVX2(3, 2) TILE_AVX2(4, 1) TILE_AVX2(4, 2)
            }
        }
    }
}

void bnb_int8_avx2_gemm(const int8_t *w, int o0, int o1, int n, const int8_t *x, const int32_t *xsum, int rows,
                        int32_t *out, long ldo) {
    (void)xsum;
    gemm_avx2(w, o0, o1, n, x, rows, out, ldo, NULL, NULL, NULL, NULL, 0);
}

void bnb_int8_avx2_forward(const int8_t *w, int o0, int o1, int n, const int8_t *x, const int32_t *xsum, int rows,
                           const float *sca, const float *scb, const float *bias, float *y, long ldy) {
    (void)xsum;
    gemm_avx2(w, o0, o1, n, x, rows, NULL, 0, sca, scb, bias, y, ldy);
}

#else

void bnb_int8_avx2_gemm(const int8_t *w, int o0, int o1, int n, const int8_t *x, const int32_t *xsum, int rows,
                        int32_t *out, long ldo) {
    bnb_int8_plain_gemm(w, o0, o1, n, x, xsum, rows, out, ldo);
}

void bnb_int8_avx2_forward(const int8_t *w, int o0, int o1, int n, const int8_t *x, const int32_t *xsum, int rows,
                           const float *sca, const float *scb, const float *bias, float *y, long ldy) {
    bnb_int8_plain_forward(w, o0, o1, n, x, xsum, rows, sca, scb, bias, y, ldy);
}

#endif

#if defined(__AVX2__) && defined(__F16C__)
// The activation step in 8 lanes (vcvtps2ph / vcvtph2ps round to fp16 as round_fp16 does); the last
// n mod 8 values of a row go through the plain steps. Plain, the step took a tenth of a 64-token
// GPT-2 prefill's time at one thread (perf, 2026-12-01), and it runs on one thread before the
// products.
static inline __m256 round_fp16_x8(__m256 v) { return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT)); }
static inline __m256 abs_x8(__m256 v) { return _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF))); }

int bnb_int8_avx2_quantize(const float *x, int rows, int n, float threshold, uint8_t *outlier, int8_t *codes, float *sca,
                           int32_t *sums) {
    const __m256 t = _mm256_set1_ps(threshold);
    const int full = n & ~7;
    int count = mark_outliers(x, rows, n, threshold, full, outlier);
    for (int i = 0; i < full; i += 8) {
        int hit = 0;
        for (int r = 0; threshold > 0 && r < rows; r++)
            hit |= _mm256_movemask_ps(_mm256_cmp_ps(abs_x8(round_fp16_x8(_mm256_loadu_ps(x + (long)r * n + i))), t, _CMP_GE_OQ));
        for (int l = 0; l < 8; l++) outlier[i + l] = (uint8_t)(hit >> l & 1);
        count += __builtin_popcount((unsigned)hit);
    }
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (long)r * n;
        int8_t *q = codes + (long)r * n;
        __m256 m = _mm256_setzero_ps();
        for (int i = 0; i < full; i += 8) {
            // vmaxps gives its second operand where the first is NaN: a NaN never counts.
            const __m256 a = abs_x8(round_fp16_x8(_mm256_loadu_ps(xr + i)));
            const __m256 top = _mm256_max_ps(a, m);
            m = threshold > 0 ? _mm256_blendv_ps(m, top, _mm256_cmp_ps(a, t, _CMP_LT_OQ)) : top;
        }
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        const float amax = kept_absmax(xr, full, n, threshold, _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h))));
        sca[r] = amax;
        // A row without a kept value has codes 0, as the plain step gives them (the lanes below would
        // multiply an inf or NaN by a scale of 0).
        if (amax == 0) { sums[r] = row_codes(xr, 0, n, outlier, 0, 0, q); continue; }
        const float scale = bnb_int8_code_scale(amax);
        const __m256 s8 = _mm256_set1_ps(scale);
        __m256i sum = _mm256_setzero_si256();
        for (int i = 0; i < full; i += 8) {
            const __m256i keep = _mm256_cmpeq_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(outlier + i))), _mm256_setzero_si256());
            // vcvtps2dq rounds to nearest even (the default MXCSR), as nearbyintf
            const __m256i v = _mm256_and_si256(keep, _mm256_cvtps_epi32(_mm256_mul_ps(round_fp16_x8(_mm256_loadu_ps(xr + i)), s8)));
            sum = _mm256_add_epi32(sum, v);
            const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
            _mm_storel_epi64((__m128i *)(q + i), _mm_packs_epi16(w16, w16));
        }
        sums[r] = sum_epi32(sum) + row_codes(xr, full, n, outlier, amax, scale, q);
    }
    return count;
}
#else
int bnb_int8_avx2_quantize(const float *x, int rows, int n, float threshold, uint8_t *outlier, int8_t *codes, float *sca,
                           int32_t *sums) {
    return bnb_int8_plain_quantize(x, rows, n, threshold, outlier, codes, sca, sums);
}
#endif

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

static inline __m512 round_fp16_x16(__m512 v) {
    return _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

// Where a tile's sums go: Int32 products into `out`, or (`y` set) the layer's fp16 outputs.
typedef struct { const float *sca, *scb, *bias; float *y; long ldy; } scaling;

// R activation rows × O weight rows (R, O ≤ 4, constants once inlined).
static inline __attribute__((always_inline)) void tile(const int R, const int O, const int8_t *w, int n, const int8_t *x,
                                                       const int32_t *xsum, int32_t *out, long ldo, const scaling *e) {
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
        if (e) {   // lane 4r + o: ((acc·SCA[r])·SCB[o])·(1/127²) to fp16, then + bias[o] in fp16
            const __m512 sca = _mm512_permutexvar_ps(_mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0),
                                                     _mm512_castps128_ps512(_mm_loadu_ps(e->sca)));
            __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(s), sca), _mm512_broadcast_f32x4(_mm_loadu_ps(e->scb)));
            v = round_fp16_x16(_mm512_mul_ps(v, _mm512_set1_ps(BNB_INT8_DEQUANT)));
            if (e->bias) v = round_fp16_x16(_mm512_add_ps(v, _mm512_broadcast_f32x4(_mm_loadu_ps(e->bias))));
            _mm_storeu_ps(e->y, _mm512_extractf32x4_ps(v, 0));
            _mm_storeu_ps(e->y + e->ldy, _mm512_extractf32x4_ps(v, 1));
            _mm_storeu_ps(e->y + 2 * e->ldy, _mm512_extractf32x4_ps(v, 2));
            _mm_storeu_ps(e->y + 3 * e->ldy, _mm512_extractf32x4_ps(v, 3));
            return;
        }
        _mm_storeu_si128((__m128i *)(out), _mm512_extracti32x4_epi32(s, 0));
        _mm_storeu_si128((__m128i *)(out + ldo), _mm512_extracti32x4_epi32(s, 1));
        _mm_storeu_si128((__m128i *)(out + 2 * ldo), _mm512_extracti32x4_epi32(s, 2));
        _mm_storeu_si128((__m128i *)(out + 3 * ldo), _mm512_extracti32x4_epi32(s, 3));
        return;
    }
    for (int r = 0; r < R; r++) {
        for (int o = 0; o < O; o++) {
            int32_t v = (int32_t)((uint32_t)_mm512_reduce_add_epi32(acc[4 * r + o]) - 128u * (uint32_t)xsum[r]);
            if (e) e->y[r * e->ldy + o] = scale_output(v, e->sca[r], e->scb[o], e->bias ? e->bias + o : NULL);
            else out[r * ldo + o] = v;
        }
    }
}

#define TILE(R, O) case (R) * 8 + (O): \
    tile(R, O, w + (long)o * n, n, x + (long)r * n, xsum + r, out + r * ldo + o, ldo, \
         y ? &(scaling){sca + r, scb + o, bias ? bias + o : NULL, y + r * ldy + o, ldy} : NULL); break;

// The products into out, or (y set) the layer's outputs into y.
static inline __attribute__((always_inline)) void gemm(const int8_t *w, int o0, int o1, int n, const int8_t *x, const int32_t *xsum,
                                                       int rows, int32_t *out, long ldo, const float *sca, const float *scb,
                                                       const float *bias, float *y, long ldy) {
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

void bnb_int8_simd_gemm(const int8_t *w, int o0, int o1, int n, const int8_t *x, const int32_t *xsum, int rows,
                        int32_t *out, long ldo) {
    gemm(w, o0, o1, n, x, xsum, rows, out, ldo, NULL, NULL, NULL, NULL, 0);
}

void bnb_int8_simd_forward(const int8_t *w, int o0, int o1, int n, const int8_t *x, const int32_t *xsum, int rows,
                           const float *sca, const float *scb, const float *bias, float *y, long ldy) {
    gemm(w, o0, o1, n, x, xsum, rows, NULL, 0, sca, scb, bias, y, ldy);
}

static inline __mmask16 first(int count) { return count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1); }

// |fp16(x[i ..< i + 16])|, the lanes past n 0.
static inline __m512 abs_fp16(const float *x, int i, int n) {
    return _mm512_abs_ps(round_fp16_x16(_mm512_maskz_loadu_ps(first(n - i), x + i)));
}

int bnb_int8_simd_quantize(const float *x, int rows, int n, float threshold, uint8_t *outlier, int8_t *codes, float *sca,
                           int32_t *sums) {
    const __m512 t = _mm512_set1_ps(threshold);
    int count = 0;
    for (int i = 0; i < n; i += 16) {
        __mmask16 hit = 0;
        for (int r = 0; threshold > 0 && r < rows; r++) hit |= _mm512_cmp_ps_mask(abs_fp16(x + (long)r * n, i, n), t, _CMP_GE_OQ);
        _mm_mask_storeu_epi8(outlier + i, first(n - i), _mm_maskz_set1_epi8(hit, 1));
        count += __builtin_popcount(hit);
    }
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (long)r * n;
        int8_t *q = codes + (long)r * n;
        __m512 m = _mm512_setzero_ps();
        for (int i = 0; i < n; i += 16) {
            // vmaxps gives its second operand where the first is NaN: a NaN never counts.
            const __m512 a = abs_fp16(xr, i, n);
            m = threshold > 0 ? _mm512_mask_max_ps(m, _mm512_cmp_ps_mask(a, t, _CMP_LT_OQ), a, m) : _mm512_max_ps(a, m);
        }
        const float amax = _mm512_reduce_max_ps(m);
        sca[r] = amax;
        const __m512 scale = _mm512_set1_ps(amax > 0 ? bnb_int8_code_scale(amax) : 0);
        __m512i sum = _mm512_setzero_si512();
        for (int i = 0; i < n; i += 16) {
            const __mmask16 k = first(n - i);
            const __mmask16 keep = amax > 0 ? _mm512_mask_cmpeq_epi32_mask(k, _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(k, outlier + i)),
                                                                           _mm512_setzero_si512()) : 0;
            // vcvtps2dq rounds to nearest even (the default MXCSR), as .rounded(.toNearestOrEven)
            const __m512i v = _mm512_maskz_cvtps_epi32(keep, _mm512_mul_ps(round_fp16_x16(_mm512_maskz_loadu_ps(k, xr + i)), scale));
            sum = _mm512_add_epi32(sum, v);
            _mm_mask_storeu_epi8(q + i, k, _mm512_cvtsepi32_epi8(v));
        }
        sums[r] = _mm512_reduce_add_epi32(sum);
    }
    return count;
}

#else

void bnb_int8_simd_gemm(const int8_t *w, int o0, int o1, int n, const int8_t *x, const int32_t *xsum, int rows,
                        int32_t *out, long ldo) {
    bnb_int8_avx2_gemm(w, o0, o1, n, x, xsum, rows, out, ldo);
}

void bnb_int8_simd_forward(const int8_t *w, int o0, int o1, int n, const int8_t *x, const int32_t *xsum, int rows,
                           const float *sca, const float *scb, const float *bias, float *y, long ldy) {
    bnb_int8_avx2_forward(w, o0, o1, n, x, xsum, rows, sca, scb, bias, y, ldy);
}

int bnb_int8_simd_quantize(const float *x, int rows, int n, float threshold, uint8_t *outlier, int8_t *codes, float *sca,
                           int32_t *sums) {
    return bnb_int8_avx2_quantize(x, rows, n, threshold, outlier, codes, sca, sums);
}

#endif
