// iq4_xs: fp16 d, 2 bytes of scales' high bits, 4 bytes of scales' low nibbles, 128 bytes of 4-bit
// codes (sub-block ib in bytes 16ib…, as iq4_nl's) (136 bytes); weight = d·(scale − 32)·values[code].
// Quant/IQ4_XS.swift. No minimums, so the activations' sums are not needed.
// See include/GGMLSIMD.h and ggml_simd_internal.h.
#include "ggml_simd_tile.h"

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

PLAIN_GROUP_KERNELS(iq4_xs, 256, 136, 0, 2, 4, 8)
PLAIN_TILE_KERNEL(iq4_xs, 136 * 8)

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


// Eight rows interleaved (1088-byte group blocks: 8 fp16 d, 8 × 2 bytes of scales' high bits, 8 × 4
// bytes of low nibbles, codes as 32 vectors): sub-block ib is code vectors 4ib…4ib+3, low nibbles for
// its elements 4t…, high for 16 + 4t…; levels signed, so |level| against x with the level's sign.
static inline void iq4_xsx8_scales(const uint8_t *blk, __m256i *sc) {
    const __m256i low = _mm256_loadu_si256((const __m256i *)(blk + 32));
    const __m256i high = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(blk + 16)));
    const __m256i m15 = _mm256_set1_epi32(15), m3 = _mm256_set1_epi32(3), m32 = _mm256_set1_epi32(32);
    for (int ib = 0; ib < 8; ib++) {
        __m256i l = _mm256_and_si256(_mm256_srl_epi32(low, _mm_cvtsi32_si128(4 * ib)), m15);
        __m256i h = _mm256_and_si256(_mm256_srl_epi32(high, _mm_cvtsi32_si128(2 * ib)), m3);
        sc[ib] = _mm256_sub_epi32(_mm256_or_si256(l, _mm256_slli_epi32(h, 4)), m32);
    }
}

static inline void iq4_xsx8_unpack_sub(const uint8_t *blk, int ib, __m256i *v, __m256i *av) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int t = 0; t < 4; t++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 64 + 32 * (4 * ib + t)));
        v[t] = lookup16(iq4nl_values, _mm256_and_si256(q, m4));
        v[4 + t] = lookup16(iq4nl_values, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
        av[t] = _mm256_sign_epi8(v[t], v[t]);
        av[4 + t] = _mm256_sign_epi8(v[4 + t], v[4 + t]);
    }
}

void ggml_simd_iq4_xsx8(const void *w, const int8_t *x, const float *xd, const int32_t *sums, int nb, float *out) {
    (void)sums;
    const uint8_t *p = w;
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 1088;
        __m256i sc[8], isum = _mm256_setzero_si256();
        iq4_xsx8_scales(blk, sc);
        for (int ib = 0; ib < 8; ib++) {
            __m256i v[8], av[8];
            iq4_xsx8_unpack_sub(blk, ib, v, av);
            isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(iq4_nlx8_dot(v, av, x + 256 * b + 32 * ib), sc[ib]));
        }
        __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk)), _mm256_set1_ps(xd[b]));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc);
    }
    _mm256_storeu_ps(out, acc);
}

void ggml_simd_iq4_xsx8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *sums, long stride, int nb, float *out) {
    (void)sums;
    const uint8_t *p = w;
    const long ds = stride / 256;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 1088;
        __m256i sc[8], isum[4];
        iq4_xsx8_scales(blk, sc);
        for (int k = 0; k < 4; k++) isum[k] = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib++) {
            __m256i v[8], av[8];
            iq4_xsx8_unpack_sub(blk, ib, v, av);
            for (int k = 0; k < 4; k++)
                isum[k] = _mm256_add_epi32(isum[k], _mm256_mullo_epi32(iq4_nlx8_dot(v, av, x + k * stride + 256 * b + 32 * ib), sc[ib]));
        }
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk));
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[k * ds + b])), _mm256_cvtepi32_ps(isum[k]), acc[k]);
    }
    for (int k = 0; k < 4; k++) _mm256_storeu_ps(out + 8 * k, acc[k]);
}

// Half h of a prefill tile (ggml_simd_tile.h): levels + 128 as unsigned bytes (the 128 through the
// activations' sums), the signed scales, d.
static inline void iq4_xs_tile(const uint8_t *blk, ggml_tile *t, int h) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), b128 = _mm256_set1_epi8((char)0x80);
    for (int ib = 0; ib < 8; ib++)
        for (int u = 0; u < 4; u++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 64 + 32 * (4 * ib + u)));
            tile_values(t, h, 8 * ib + u, _mm256_xor_si256(lookup16(iq4nl_values, _mm256_and_si256(q, m4)), b128));
            tile_values(t, h, 8 * ib + 4 + u, _mm256_xor_si256(lookup16(iq4nl_values, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4)), b128));
        }
    __m256i sc[8];
    iq4_xsx8_scales(blk, sc);
    for (int j = 0; j < 8; j++) tile_scale(t, h, j, sc[j]);
    tile_d(t, h, blk, NULL);
}
TILE_KERNEL(iq4_xs, 1088, iq4_xs_tile, 32, 128, 241, 0)

#else
void ggml_simd_iq4_xsx8(const void *w, const int8_t *x, const float *xd, const int32_t *sums, int nb, float *out) { ggml_plain_iq4_xsx8(w, x, xd, sums, nb, out); }
void ggml_simd_iq4_xsx8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *sums, long stride, int nb, float *out) { ggml_plain_iq4_xsx8_x4(w, x, xd, sums, stride, nb, out); }

float ggml_simd_iq4_xs(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) { return ggml_plain_iq4_xs(w, x, xd, bsums, nb); }
void ggml_simd_iq4_xs_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) { ggml_plain_iq4_xs_x4(w, x, xd, bsums, stride, nb, out); }
FALLBACK_TILE_KERNEL(iq4_xs)
#endif
