// q4_0: fp16 d, 16 bytes: byte j = element j (low nibble), element j+16 (high); weight = d·(q−8) (18 bytes); Quant/Q4_0.swift.
// See include/GGMLSIMD.h and ggml_simd_internal.h.
#include "ggml_simd_internal.h"

float ggml_plain_q4_0(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb) {
    const uint8_t *p = w;
    float acc = 0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *q = p + b * 18 + 2;
        int s = 0;
        for (int j = 0; j < 16; j++) s += (q[j] & 15) * x[b * 32 + j] + (q[j] >> 4) * x[b * 32 + j + 16];
        acc += half_to_float(p + b * 18) * xd[b] * (float)(s - 8 * xsum[b]);
    }
    return acc;
}

void ggml_plain_q4_0_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) out[k] = ggml_plain_q4_0(w, x + k * stride, xd + k * (stride / 32), xsum + k * (stride / 32), nb);
}

void ggml_plain_q4_0x8(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb, float *out) {
    const uint8_t *p = w;
    for (int r = 0; r < 8; r++) {
        float acc = 0;
        for (int b = 0; b < nb; b++) {
            const uint8_t *blk = p + b * 144;
            int s = 0;
            for (int j = 0; j < 16; j++) {
                uint8_t q = blk[16 + 32 * (j / 4) + 4 * r + j % 4];
                s += (q & 15) * x[b * 32 + j] + (q >> 4) * x[b * 32 + j + 16];
            }
            acc += half_to_float(blk + 2 * r) * xd[b] * (float)(s - 8 * xsum[b]);
        }
        out[r] = acc;
    }
}

void ggml_plain_q4_0x8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) ggml_plain_q4_0x8(w, x + k * stride, xd + k * (stride / 32), xsum + k * (stride / 32), nb, out + 8 * k);
}

GGML_X16_FROM_X8(ggml_plain_q4_0x16_x4, ggml_plain_q4_0x8_x4)

#if GGML_SIMD_X86

// q4_0's −8: Σ(q−8)·x = Σq·x − 8·Σx, and subtracting Σx from each of the 8 Int32 lanes takes 8·Σx
// off their sum, so the offset stays in the integer vector.
float ggml_simd_q4_0(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb) {
    const uint8_t *p = w;
#define Q4_0_STEP(B, A) { \
        const uint8_t *blk = p + (B) * 18; \
        __m256i xv = _mm256_loadu_si256((const __m256i *)(x + (B) * 32)); \
        __m256i s = _mm256_sub_epi32(dot_u8s8(q4_0_nibbles(blk + 2), xv), _mm256_set1_epi32(xsum[B])); \
        A = _mm256_fmadd_ps(block_scale(blk, xd[B]), _mm256_cvtepi32_ps(s), A); }
    BLOCK_LOOP(Q4_0_STEP)
}

void ggml_simd_q4_0_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) {
    const uint8_t *p = w;
    const long ds = stride / 32;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 18;
        __m256i q = q4_0_nibbles(blk + 2);
        __m256 dw = block_scale(blk, 1);
        for (int k = 0; k < 4; k++) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)(x + k * stride + b * 32));
            __m256i s = _mm256_sub_epi32(dot_u8s8(q, xv), _mm256_set1_epi32(xsum[k * ds + b]));
            acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[k * ds + b])), _mm256_cvtepi32_ps(s), acc[k]);
        }
    }
    for (int k = 0; k < 4; k++) out[k] = hsum(acc[k]);
}

static inline void q4_0x8_unpack(const uint8_t *blk, __m256i *lo, __m256i *hi) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int v = 0; v < 4; v++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * v));
        lo[v] = _mm256_and_si256(q, m4);
        hi[v] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    }
}

void ggml_simd_q4_0x8(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb, float *out) {
    const uint8_t *p = w;
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 144;
        __m256i lo[4], hi[4];
        q4_0x8_unpack(blk, lo, hi);
        __m256i isum = _mm256_sub_epi32(x8_dot_32(lo, hi, x + 32 * b), _mm256_set1_epi32(8 * xsum[b]));
        __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk)), _mm256_set1_ps(xd[b]));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc);
    }
    _mm256_storeu_ps(out, acc);
}

void ggml_simd_q4_0x8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) {
    const uint8_t *p = w;
    const long ds = stride / 32;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 144;
        __m256i lo[4], hi[4];
        q4_0x8_unpack(blk, lo, hi);
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk));
        for (int k = 0; k < 4; k++) {
            __m256i isum = _mm256_sub_epi32(x8_dot_32(lo, hi, x + k * stride + 32 * b), _mm256_set1_epi32(8 * xsum[k * ds + b]));
            acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[k * ds + b])), _mm256_cvtepi32_ps(isum), acc[k]);
        }
    }
    for (int k = 0; k < 4; k++) _mm256_storeu_ps(out + 8 * k, acc[k]);
}

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
// Two groups (16 rows) in 512-bit vectors, lane r < 8 from the group at w, r >= 8 from the next:
// each vpdpbusd does twice the work of the 8-row kernel's for the same broadcast activation bytes.
// Two accumulator chains per activation row (low, high nibbles) keep 8 vpdpbusd in flight.
void ggml_simd_q4_0x16_x4(const void *w, long group_bytes, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) {
    const uint8_t *p0 = w, *p1 = p0 + group_bytes;
    const long ds = stride / 32;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        const uint8_t *b0 = p0 + b * 144, *b1 = p1 + b * 144;
        __m512i lo[4], hi[4];
        for (int v = 0; v < 4; v++) {
            __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(b0 + 16 + 32 * v))),
                                           _mm256_loadu_si256((const __m256i *)(b1 + 16 + 32 * v)), 1);
            lo[v] = _mm512_and_si512(q, m4);
            hi[v] = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
        }
        __m512 dw = _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)b0)),
                                                            _mm_loadu_si128((const __m128i *)b1), 1));
        for (int k = 0; k < 4; k++) {
            const int8_t *xb = x + k * stride + 32 * b;
            __m512i sl = _mm512_set1_epi32(-8 * xsum[k * ds + b]), sh = _mm512_setzero_si512();
            for (int v = 0; v < 4; v++) {
                sl = _mm512_dpbusd_epi32(sl, lo[v], _mm512_set1_epi32(load_i32(xb + 4 * v)));
                sh = _mm512_dpbusd_epi32(sh, hi[v], _mm512_set1_epi32(load_i32(xb + 16 + 4 * v)));
            }
            acc[k] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(xd[k * ds + b])), _mm512_cvtepi32_ps(_mm512_add_epi32(sl, sh)), acc[k]);
        }
    }
    for (int k = 0; k < 4; k++) _mm512_storeu_ps(out + 16 * k, acc[k]);
}
#else
GGML_X16_FROM_X8(ggml_simd_q4_0x16_x4, ggml_simd_q4_0x8_x4)
#endif

#else

float ggml_simd_q4_0(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb) { return ggml_plain_q4_0(w, x, xd, xsum, nb); }
void ggml_simd_q4_0_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) { ggml_plain_q4_0_x4(w, x, xd, xsum, stride, nb, out); }
void ggml_simd_q4_0x8(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb, float *out) { ggml_plain_q4_0x8(w, x, xd, xsum, nb, out); }
void ggml_simd_q4_0x8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) { ggml_plain_q4_0x8_x4(w, x, xd, xsum, stride, nb, out); }
void ggml_simd_q4_0x16_x4(const void *w, long group_bytes, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) { ggml_plain_q4_0x16_x4(w, group_bytes, x, xd, xsum, stride, nb, out); }
#endif
