// iq4_xs: fp16 d, 2 bytes of scales' high bits, 4 bytes of scales' low nibbles, 128 bytes of 4-bit
// codes (sub-block ib in bytes 16ib…, as iq4_nl's) (136 bytes); weight = d·(scale − 32)·values[code].
// Quant/IQ4_XS.swift. No minimums, so the activations' sums are not needed.
// See include/GGMLSIMD.h and ggml_simd_internal.h.
#include "ggml_simd_internal.h"

static inline int iq4_xs_scale(const uint8_t *blk, int ib) {
    uint16_t high;
    memcpy(&high, blk + 2, 2);
    return (((blk[4 + ib / 2] >> (4 * (ib % 2))) & 0xF) | ((high >> (2 * ib)) & 3) << 4) - 32;
}

float ggml_plain_iq4_xs(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) {
    (void)bsums;
    const uint8_t *p = w;
    float acc = 0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 136;
        const int8_t *xb = x + 256 * b;
        int isum = 0;
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t *q = blk + 8 + 16 * ib;
            int s = 0;
            for (int j = 0; j < 16; j++) s += iq4nl_values[q[j] & 15] * xb[32 * ib + j] + iq4nl_values[q[j] >> 4] * xb[32 * ib + 16 + j];
            isum += iq4_xs_scale(blk, ib) * s;
        }
        acc += half_to_float(blk) * xd[b] * (float)isum;
    }
    return acc;
}

void ggml_plain_iq4_xs_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) out[k] = ggml_plain_iq4_xs(w, x + k * stride, xd + k * (stride / 256), bsums, nb);
}

#if GGML_SIMD_X86

// The 256 levels in element order as |level| and level (for the signs), and the scales.
static inline void iq4_xs_unpack(const uint8_t *blk, __m256i *av, __m256i *v, __m256i *S) {
    for (int ib = 0; ib < 8; ib++) {
        v[ib] = lookup16(iq4nl_values, q4_0_nibbles(blk + 8 + 16 * ib));
        av[ib] = _mm256_sign_epi8(v[ib], v[ib]);
        S[ib] = _mm256_set1_epi16((short)iq4_xs_scale(blk, ib));
    }
}

// |level|·x with level's sign: pair sums ≤ 2·127·127 fit Int16; times the scale in 32 bits.
static inline __m256i iq4_xs_dot(const __m256i *av, const __m256i *v, const __m256i *S, const int8_t *x) {
    __m256i isum = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ib++) {
        __m256i xv = _mm256_loadu_si256((const __m256i *)(x + 32 * ib));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(av[ib], _mm256_sign_epi8(xv, v[ib])), S[ib]));
    }
    return isum;
}

float ggml_simd_iq4_xs(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) {
    (void)bsums;
    const uint8_t *p = w;
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 136;
        __m256i av[8], v[8], S[8];
        iq4_xs_unpack(blk, av, v, S);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half_to_float(blk) * xd[b]), _mm256_cvtepi32_ps(iq4_xs_dot(av, v, S, x + 256 * b)), acc);
    }
    return hsum(acc);
}

void ggml_simd_iq4_xs_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    (void)bsums;
    const uint8_t *p = w;
    const long ds = stride / 256;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 136;
        __m256i av[8], v[8], S[8];
        iq4_xs_unpack(blk, av, v, S);
        float d = half_to_float(blk);
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d * xd[k * ds + b]), _mm256_cvtepi32_ps(iq4_xs_dot(av, v, S, x + k * stride + 256 * b)), acc[k]);
    }
    for (int k = 0; k < 4; k++) out[k] = hsum(acc[k]);
}

#else

float ggml_simd_iq4_xs(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) { return ggml_plain_iq4_xs(w, x, xd, bsums, nb); }
void ggml_simd_iq4_xs_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) { ggml_plain_iq4_xs_x4(w, x, xd, bsums, stride, nb, out); }
#endif
