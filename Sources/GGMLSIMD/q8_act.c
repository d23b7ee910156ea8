// Activation rows quantized to q8_0 / q8_K blocks (Kernels/ActivationQuant.swift has the layout and
// the Swift twins, which the tests hold these to byte for byte): the absmax search that Swift leaves
// scalar (its max skips NaN in a way LLVM does not vectorize) done 16 lanes at a time. maxps
// returns its second operand where the first is NaN, and minps too, which is exactly Swift's
// max(amax, |x|) and min(127, v).
#include "ggml_simd_internal.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__F16C__)

int ggml_simd_quantize_q8_0(const float *x, long n, int8_t *q, float *d, int32_t *sums) {
    for (long b = 0; b < n / 32; b++) {
        const float *xb = x + 32 * b;
        __m512 v0 = _mm512_loadu_ps(xb), v1 = _mm512_loadu_ps(xb + 16);
        __m512 m = _mm512_max_ps(_mm512_abs_ps(v1), _mm512_max_ps(_mm512_abs_ps(v0), _mm512_setzero_ps()));
        float amax = _mm512_reduce_max_ps(m);
        float id = amax != 0 ? 127 / amax : 0;
        const __m512 lim = _mm512_set1_ps(127), nlim = _mm512_set1_ps(-127), mul = _mm512_set1_ps(id);
        __m512i i0 = _mm512_cvtps_epi32(_mm512_max_ps(_mm512_min_ps(_mm512_mul_ps(v0, mul), lim), nlim));
        __m512i i1 = _mm512_cvtps_epi32(_mm512_max_ps(_mm512_min_ps(_mm512_mul_ps(v1, mul), lim), nlim));
        _mm_storeu_si128((__m128i *)(q + 32 * b), _mm512_cvtepi32_epi8(i0));
        _mm_storeu_si128((__m128i *)(q + 32 * b + 16), _mm512_cvtepi32_epi8(i1));
        sums[b] = _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
        d[b] = _cvtsh_ss(_cvtss_sh(amax / 127, _MM_FROUND_TO_NEAREST_INT));
    }
    return 1;
}

int ggml_simd_quantize_q8_K(const float *x, long n, int8_t *q, float *d, int32_t *sums) {
    for (long b = 0; b < n / 256; b++) {
        const float *xb = x + 256 * b;
        __m512 m = _mm512_setzero_ps();
        for (int i = 0; i < 16; i++) m = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(xb + 16 * i)), m);
        float amax = _mm512_reduce_max_ps(m);
        int8_t *qb = q + 256 * b;
        if (amax == 0) {
            memset(qb, 0, 256); memset(sums + 16 * b, 0, 64); d[b] = 0;
            continue;
        }
        // the value of the first element with the largest magnitude (its sign sets the scale's)
        float mx = 0;
        for (int i = 0; i < 16; i++) {
            __mmask16 k = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(xb + 16 * i)), _mm512_set1_ps(amax), _CMP_EQ_OQ);
            if (k) { mx = xb[16 * i + __builtin_ctz(k)]; break; }
        }
        float iscale = -127 / mx;
        const __m512 mul = _mm512_set1_ps(iscale);
        const __m512i lim = _mm512_set1_epi32(127);
        for (int i = 0; i < 16; i++) {
            __m512i v = _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xb + 16 * i), mul)), lim);
            __m128i bytes = _mm512_cvtepi32_epi8(v);   // the low byte, as Int8(truncatingIfNeeded:) (a NaN's INT_MIN: 0)
            _mm_storeu_si128((__m128i *)(qb + 16 * i), bytes);
            sums[16 * b + i] = _mm512_reduce_add_epi32(_mm512_cvtepi8_epi32(bytes));
        }
        d[b] = 1 / iscale;
    }
    return 1;
}

#else
// 0: not done here, the Swift loops quantize the row.
int ggml_simd_quantize_q8_0(const float *x, long n, int8_t *q, float *d, int32_t *sums) { (void)x; (void)n; (void)q; (void)d; (void)sums; return 0; }
int ggml_simd_quantize_q8_K(const float *x, long n, int8_t *q, float *d, int32_t *sums) { (void)x; (void)n; (void)q; (void)d; (void)sums; return 0; }
#endif
