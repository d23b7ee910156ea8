// q3_K: 32 bytes of high bits (byte l, bit k: element 32k + l), 64 bytes of low 2 bits as q2_K's,
// 12 bytes of 6-bit scales, fp16 d (110 bytes); weight = d·(scale − 32)·(q − 4), q in 0…7.
// Quant/Q3_K.swift. The −4 enters through the activations' sums of 16: Σ(q−4)·x = Σq·x − 4·Σx.
// See include/GGMLSIMD.h and ggml_simd_internal.h.
#include "ggml_simd_tile.h"

float ggml_plain_q3_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) {
    const uint8_t *p = w;
    float acc = 0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 110, *hm = blk, *q = blk + 32;
        const int8_t *xb = x + 256 * b;
        int8_t sc[16];
        q3_K_scales(blk + 96, sc);
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            int s = 0;
            for (int l = 0; l < 16; l++) {
                int e = 16 * j + l, h = e / 128, k = (e % 128) / 32, i = e % 32;
                int v = ((q[32 * h + i] >> (2 * k)) & 3) | ((hm[i] >> (e / 32)) & 1) << 2;
                s += v * xb[e];
            }
            isum += sc[j] * (s - 4 * bsums[16 * b + j]);
        }
        acc += half_to_float(blk + 108) * xd[b] * (float)isum;
    }
    return acc;
}

void ggml_plain_q3_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) out[k] = ggml_plain_q3_K(w, x + k * stride, xd + k * (stride / 256), bsums + k * (stride / 16), nb);
}

PLAIN_GROUP_KERNELS(q3_K, 256, 110, 0, 32, 96, 108)
PLAIN_TILE_KERNEL(q3_K, 110 * 8)

#if GGML_SIMD_X86

// The 256 values q = low | high << 2 (0…7) in element order, the scales per pair lane, and the
// signed scales themselves for the offset.
static inline void q3_K_unpack(const uint8_t *blk, __m256i *v, __m256i *S, int8_t *sc) {
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m256i hm = _mm256_loadu_si256((const __m256i *)blk);
    for (int h = 0; h < 2; h++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 32 + 32 * h));
        for (int k = 0; k < 4; k++) {
            __m256i low = _mm256_and_si256(_mm256_srli_epi16(q, 2 * k), m3);
            v[4 * h + k] = _mm256_or_si256(low, mask_to_bytes(hm, (uint8_t)(1 << (4 * h + k)), 4));
        }
    }
    q3_K_scales(blk + 96, sc);
    for (int i = 0; i < 8; i++) S[i] = scale_pair(sc[2 * i], sc[2 * i + 1]);
}

static inline int q3_K_offsets(const int8_t *sc, const int32_t *bs) {
    int s = 0;
    for (int j = 0; j < 16; j++) s += sc[j] * bs[j];
    return 4 * s;
}

float ggml_simd_q3_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) {
    const uint8_t *p = w;
    __m256 acc = _mm256_setzero_ps();
    float offsets = 0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 110;
        __m256i v[8], S[8];
        int8_t sc[16];
        q3_K_unpack(blk, v, S, sc);
        float d = half_to_float(blk + 108) * xd[b];
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(scaled_dot_256(v, x + 256 * b, S)), acc);
        offsets += d * (float)q3_K_offsets(sc, bsums + 16 * b);
    }
    return hsum(acc) - offsets;
}

void ggml_simd_q3_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    const uint8_t *p = w;
    const long ds = stride / 256, ss = stride / 16;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    float offsets[4] = {0, 0, 0, 0};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 110;
        __m256i v[8], S[8];
        int8_t sc[16];
        q3_K_unpack(blk, v, S, sc);
        float dw = half_to_float(blk + 108);
        for (int k = 0; k < 4; k++) {
            float d = dw * xd[k * ds + b];
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(scaled_dot_256(v, x + k * stride + 256 * b, S)), acc[k]);
            offsets[k] += d * (float)q3_K_offsets(sc, bsums + k * ss + 16 * b);
        }
    }
    for (int k = 0; k < 4; k++) out[k] = hsum(acc[k]) - offsets[k];
}


// Eight rows interleaved (880-byte group blocks: high bits as 8 vectors, low 2 bits as 16 as q2_K's,
// scales as 3 vectors, 8 fp16 d). Sub-block j's 4 vectors are q2_K's with the high bit (bit 4h + k
// of high-bit vector 4(j%2) + i) as 4; Σ(q − 4)·x per lane takes the row's 6-bit scale.
static inline void q3_Kx8_scales(const uint8_t *blk, __m256i *sc) {
    const __m256i v0 = _mm256_loadu_si256((const __m256i *)(blk + 768)), v1 = _mm256_loadu_si256((const __m256i *)(blk + 800));
    const __m256i v2 = _mm256_loadu_si256((const __m256i *)(blk + 832));
    const __m256i m15 = _mm256_set1_epi32(15), m3 = _mm256_set1_epi32(3), m32 = _mm256_set1_epi32(32);
    for (int j = 0; j < 16; j++) {
        int lowbyte = j < 8 ? j : j - 8, lowshift = 8 * (lowbyte % 4) + (j < 8 ? 0 : 4);
        __m256i low = _mm256_and_si256(_mm256_srl_epi32(lowbyte < 4 ? v0 : v1, _mm_cvtsi32_si128(lowshift)), m15);
        __m256i high = _mm256_and_si256(_mm256_srl_epi32(v2, _mm_cvtsi32_si128(8 * (j % 4) + 2 * (j / 4))), m3);
        sc[j] = _mm256_sub_epi32(_mm256_or_si256(low, _mm256_slli_epi32(high, 4)), m32);
    }
}

// The 4 value vectors (k = 0…3: elements 128h + 32k + 4t… of every row) of quant vector 8h + t and
// high-bit vector t: bits 2k of the one, bit 4h + k of the other moved to bit 2 (the +4).
static inline void q3_Kx8_values(const uint8_t *blk, int h, int t, __m256i *v) {
    const __m256i m3 = _mm256_set1_epi8(3), m4 = _mm256_set1_epi8(4);
    const __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 256 + 32 * (8 * h + t)));
    const __m256i hm = _mm256_loadu_si256((const __m256i *)(blk + 32 * t));
    for (int k = 0; k < 4; k++) {
        const int p = 4 * h + k;
        __m256i high = p >= 2 ? _mm256_srl_epi16(hm, _mm_cvtsi32_si128(p - 2)) : _mm256_sll_epi16(hm, _mm_cvtsi32_si128(2 - p));
        v[k] = _mm256_or_si256(_mm256_and_si256(_mm256_srl_epi16(q, _mm_cvtsi32_si128(2 * k)), m3), _mm256_and_si256(high, m4));
    }
}

// For each half h and each half of the t range: 16 value vectors into the 4 sub-blocks they fill.
void ggml_simd_q3_Kx8(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb, float *out) {
    const uint8_t *p = w;
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 880;
        const int8_t *xb = x + 256 * b;
        __m256i sc[16], isum = _mm256_setzero_si256();
        q3_Kx8_scales(blk, sc);
        for (int h = 0; h < 2; h++)
            for (int half = 0; half < 2; half++) {
                __m256i a[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
                for (int i = 0; i < 4; i++) {
                    const int t = 4 * half + i;
                    __m256i v[4];
                    q3_Kx8_values(blk, h, t, v);
                    for (int k = 0; k < 4; k++) a[k] = dot_u8s8_acc(a[k], v[k], _mm256_set1_epi32(load_i32(xb + 128 * h + 32 * k + 4 * t)));
                }
                for (int k = 0; k < 4; k++) {
                    const int j = 8 * h + 2 * k + half;
                    isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(_mm256_sub_epi32(a[k], _mm256_set1_epi32(4 * bsums[16 * b + j])), sc[j]));
                }
            }
        __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 864))), _mm256_set1_ps(xd[b]));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc);
    }
    _mm256_storeu_ps(out, acc);
}

void ggml_simd_q3_Kx8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    const uint8_t *p = w;
    const long ds = stride / 256, ss = stride / 16;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 880;
        __m256i sc[16], isum[4];
        q3_Kx8_scales(blk, sc);
        for (int k = 0; k < 4; k++) isum[k] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++)
            for (int half = 0; half < 2; half++) {
                __m256i v[4][4];
                for (int i = 0; i < 4; i++) q3_Kx8_values(blk, h, 4 * half + i, v[i]);
                for (int r = 0; r < 4; r++) {
                    const int8_t *xb = x + r * stride + 256 * b;
                    for (int k = 0; k < 4; k++) {
                        const int j = 8 * h + 2 * k + half;
                        __m256i a = _mm256_setzero_si256();
                        for (int i = 0; i < 4; i++) a = dot_u8s8_acc(a, v[i][k], _mm256_set1_epi32(load_i32(xb + 128 * h + 32 * k + 4 * (4 * half + i))));
                        isum[r] = _mm256_add_epi32(isum[r], _mm256_mullo_epi32(_mm256_sub_epi32(a, _mm256_set1_epi32(4 * bsums[r * ss + 16 * b + j])), sc[j]));
                    }
                }
            }
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 864)));
        for (int r = 0; r < 4; r++)
            acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[r * ds + b])), _mm256_cvtepi32_ps(isum[r]), acc[r]);
    }
    for (int r = 0; r < 4; r++) _mm256_storeu_ps(out + 8 * r, acc[r]);
}

// Half h of a prefill tile (ggml_simd_tile.h): values 0…7 (the −4 through the activations' sums).
static inline void q3_K_tile(const uint8_t *blk, ggml_tile *t, int h) { tile_from_quarters(blk, t, h, q3_Kx8_values, q3_Kx8_scales, 864); }
TILE_KERNEL(q3_K, 880, q3_K_tile, 16, 4, 7, 0)

#else
void ggml_simd_q3_Kx8(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb, float *out) { ggml_plain_q3_Kx8(w, x, xd, bsums, nb, out); }
void ggml_simd_q3_Kx8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) { ggml_plain_q3_Kx8_x4(w, x, xd, bsums, stride, nb, out); }

float ggml_simd_q3_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) { return ggml_plain_q3_K(w, x, xd, bsums, nb); }
void ggml_simd_q3_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) { ggml_plain_q3_K_x4(w, x, xd, bsums, stride, nb, out); }
FALLBACK_TILE_KERNEL(q3_K)
#endif
