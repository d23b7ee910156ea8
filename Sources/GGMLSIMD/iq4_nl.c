// iq4_nl: fp16 d, 16 bytes of 4-bit codes laid out as q4_0's nibbles (18 bytes); weight =
// d·values[code] with iq4nl_values' 16 signed levels. Quant/IQ4_NL.swift. The x86 path looks the
// levels up with one byte shuffle per block and multiplies signed by signed (dot_s8s8).
// See include/GGMLSIMD.h and ggml_simd_internal.h.
#include "ggml_simd_tile.h"

float ggml_plain_iq4_nl(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb) {
    (void)xsum;
    const uint8_t *p = w;
    float acc = 0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 18, *q = blk + 2;
        int s = 0;
        for (int j = 0; j < 16; j++) s += iq4nl_values[q[j] & 15] * x[b * 32 + j] + iq4nl_values[q[j] >> 4] * x[b * 32 + j + 16];
        acc += half_to_float(blk) * xd[b] * (float)s;
    }
    return acc;
}

void ggml_plain_iq4_nl_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) out[k] = ggml_plain_iq4_nl(w, x + k * stride, xd + k * (stride / 32), xsum, nb);
}

PLAIN_GROUP_KERNELS(iq4_nl, 32, 18, 0, 2)
PLAIN_TILE32_KERNEL(iq4_nl, 18 * 8)

#if GGML_SIMD_X86

float ggml_simd_iq4_nl(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb) {
    (void)xsum;
    const uint8_t *p = w;
#define IQ4_NL_STEP(B, A) { \
        const uint8_t *blk = p + (B) * 18; \
        __m256i v = lookup16(iq4nl_values, q4_0_nibbles(blk + 2)); \
        __m256i s = dot_s8s8(v, _mm256_loadu_si256((const __m256i *)(x + (B) * 32))); \
        A = _mm256_fmadd_ps(block_scale(blk, xd[B]), _mm256_cvtepi32_ps(s), A); }
    BLOCK_LOOP(IQ4_NL_STEP)
}

void ggml_simd_iq4_nl_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) {
    (void)xsum;
    const uint8_t *p = w;
    const long ds = stride / 32;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 18;
        __m256i v = lookup16(iq4nl_values, q4_0_nibbles(blk + 2)), av = _mm256_sign_epi8(v, v);
        __m256 dw = block_scale(blk, 1);
        for (int k = 0; k < 4; k++) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)(x + k * stride + b * 32));
            __m256i s = dot_u8s8(av, _mm256_sign_epi8(xv, v));
            acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[k * ds + b])), _mm256_cvtepi32_ps(s), acc[k]);
        }
    }
    for (int k = 0; k < 4; k++) out[k] = hsum(acc[k]);
}


// Eight rows interleaved (144-byte group blocks: 8 fp16 d, 4 vectors of codes as q4_0's groups):
// the levels looked up once per group block, kept as |level| and level (for its sign).
static inline void iq4_nlx8_unpack(const uint8_t *blk, __m256i *v, __m256i *av) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int i = 0; i < 4; i++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * i));
        v[i] = lookup16(iq4nl_values, _mm256_and_si256(q, m4));
        v[4 + i] = lookup16(iq4nl_values, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
        av[i] = _mm256_sign_epi8(v[i], v[i]);
        av[4 + i] = _mm256_sign_epi8(v[4 + i], v[4 + i]);
    }
}

void ggml_simd_iq4_nlx8(const void *w, const int8_t *x, const float *xd, const int32_t *sums, int nb, float *out) {
    (void)sums;
    const uint8_t *p = w;
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 144;
        __m256i v[8], av[8];
        iq4_nlx8_unpack(blk, v, av);
        __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk)), _mm256_set1_ps(xd[b]));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(iq4_nlx8_dot(v, av, x + 32 * b)), acc);
    }
    _mm256_storeu_ps(out, acc);
}

void ggml_simd_iq4_nlx8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *sums, long stride, int nb, float *out) {
    (void)sums;
    const uint8_t *p = w;
    const long ds = stride / 32;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 144;
        __m256i v[8], av[8];
        iq4_nlx8_unpack(blk, v, av);
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk));
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[k * ds + b])), _mm256_cvtepi32_ps(iq4_nlx8_dot(v, av, x + k * stride + 32 * b)), acc[k]);
    }
    for (int k = 0; k < 4; k++) _mm256_storeu_ps(out + 8 * k, acc[k]);
}

// Block slot j of half h of a prefill tile (ggml_simd_tile.h): levels + 128 as unsigned bytes (the
// 128 through the activations' block sums), d.
static inline void iq4_nl_tile(const uint8_t *blk, ggml_tile *t, int h, int j) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), b128 = _mm256_set1_epi8((char)0x80);
    for (int u = 0; u < 4; u++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * u));
        tile_values(t, h, 8 * j + u, _mm256_xor_si256(lookup16(iq4nl_values, _mm256_and_si256(q, m4)), b128));
        tile_values(t, h, 8 * j + 4 + u, _mm256_xor_si256(lookup16(iq4nl_values, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4)), b128));
    }
    _mm256_store_ps(t->dblk[j] + 8 * h, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk)));
}
TILE32_KERNEL(iq4_nl, 144, iq4_nl_tile, 128)

#else
void ggml_simd_iq4_nlx8(const void *w, const int8_t *x, const float *xd, const int32_t *sums, int nb, float *out) { ggml_plain_iq4_nlx8(w, x, xd, sums, nb, out); }
void ggml_simd_iq4_nlx8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *sums, long stride, int nb, float *out) { ggml_plain_iq4_nlx8_x4(w, x, xd, sums, stride, nb, out); }

float ggml_simd_iq4_nl(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb) { return ggml_plain_iq4_nl(w, x, xd, xsum, nb); }
void ggml_simd_iq4_nl_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) { ggml_plain_iq4_nl_x4(w, x, xd, xsum, stride, nb, out); }
FALLBACK_TILE_KERNEL(iq4_nl)
#endif
