// q6_K: 128 bytes of low nibbles, 64 of high bit pairs, 16 int8 scales, fp16 d (210 bytes); Quant/Q6_K.swift.
// See include/GGMLSIMD.h and ggml_simd_internal.h.
#include "ggml_simd_tile.h"

float ggml_plain_q6_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) {
    const uint8_t *p = w;
    float acc = 0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 210;
        const int8_t *sc = (const int8_t *)(blk + 192), *xb = x + 256 * b;
        int sumi = 0, offs = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = blk + 64 * h, *qh = blk + 128 + 32 * h;
            for (int l = 0; l < 32; l++) {
                const int8_t *xh = xb + 128 * h;
                int k = 8 * h + l / 16;
                sumi += sc[k] * ((ql[l] & 15) | (qh[l] & 3) << 4) * xh[l];
                sumi += sc[k + 2] * ((ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4) * xh[l + 32];
                sumi += sc[k + 4] * ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) * xh[l + 64];
                sumi += sc[k + 6] * ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) * xh[l + 96];
            }
        }
        for (int k = 0; k < 16; k++) offs += sc[k] * bsums[16 * b + k];
        acc += half_to_float(blk + 208) * xd[b] * (float)(sumi - 32 * offs);
    }
    return acc;
}

void ggml_plain_q6_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) out[k] = ggml_plain_q6_K(w, x + k * stride, xd + k * (stride / 256), bsums + k * (stride / 16), nb);
}

void ggml_plain_q6_Kx8(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb, float *out) {
    static const int fields[] = {0, 128, 192, 208};
    const uint8_t *p = w;
    for (int r = 0; r < 8; r++) {
        float acc = 0;
        for (int b = 0; b < nb; b++) {
            uint8_t row[210];
            for (int i = 0; i < 210; i++) row[i] = group_byte(p + b * 1680, fields, 4, 210, r, i);
            acc += ggml_plain_q6_K(row, x + 256 * b, xd + b, bsums + 16 * b, 1);
        }
        out[r] = acc;
    }
}

void ggml_plain_q6_Kx8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) ggml_plain_q6_Kx8(w, x + k * stride, xd + k * (stride / 256), bsums + k * (stride / 16), nb, out + 8 * k);
}

PLAIN_TILE_KERNEL(q6_K, 210 * 8)

#if GGML_SIMD_X86

// q6_K: a 128-value half as four vectors of 32 values 0…63 (low nibbles or high nibbles of ql,
// with two bits of qh each), in element order 0-31, 32-63, 64-95, 96-127.
static inline void q6_K_half(const uint8_t *ql, const uint8_t *qh, __m256i *v) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
    __m256i a = _mm256_loadu_si256((const __m256i *)ql), b = _mm256_loadu_si256((const __m256i *)(ql + 32));
    __m256i h = _mm256_loadu_si256((const __m256i *)qh);
    v[0] = _mm256_or_si256(_mm256_and_si256(a, m4), _mm256_slli_epi16(_mm256_and_si256(h, m3), 4));
    v[1] = _mm256_or_si256(_mm256_and_si256(b, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m3), 4));
    v[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m3), 4));
    v[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m3), 4));
}

// Σ sc·q·x over one super-block's 256 values, 8 Int32 lanes: pair products (63·127·2 fits 16
// bits) summed with 16-value scales by `vpmaddwd`.
static inline __m256i q6_K_block(const __m256i *v, const int8_t *x, const int8_t *sc) {
    __m256i isum = _mm256_setzero_si256();
    for (int i = 0; i < 8; i++) {
        __m256i p = _mm256_maddubs_epi16(v[i], _mm256_loadu_si256((const __m256i *)(x + 32 * i)));
        int k = 8 * (i / 4) + 2 * (i % 4);
        __m256i s = _mm256_setr_m128i(_mm_set1_epi16(sc[k]), _mm_set1_epi16(sc[k + 1]));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, s));
    }
    return isum;
}

static inline int q6_K_offsets(const int8_t *sc, const int32_t *bs) {
    int offs = 0;
    for (int k = 0; k < 16; k++) offs += sc[k] * bs[k];
    return offs;
}

float ggml_simd_q6_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) {
    const uint8_t *p = w;
    __m256 acc = _mm256_setzero_ps();
    float offsets = 0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 210;
        const int8_t *sc = (const int8_t *)(blk + 192);
        __m256i v[8];
        q6_K_half(blk, blk + 128, v);
        q6_K_half(blk + 64, blk + 160, v + 4);
        float d = half_to_float(blk + 208) * xd[b];
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(q6_K_block(v, x + 256 * b, sc)), acc);
        offsets += d * (float)(32 * q6_K_offsets(sc, bsums + 16 * b));
    }
    return hsum(acc) - offsets;
}

void ggml_simd_q6_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    const uint8_t *p = w;
    const long ds = stride / 256, ss = stride / 16;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    float offsets[4] = {0, 0, 0, 0};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 210;
        const int8_t *sc = (const int8_t *)(blk + 192);
        __m256i v[8];
        q6_K_half(blk, blk + 128, v);
        q6_K_half(blk + 64, blk + 160, v + 4);
        float dw = half_to_float(blk + 208);
        for (int k = 0; k < 4; k++) {
            float d = dw * xd[k * ds + b];
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(q6_K_block(v, x + k * stride + 256 * b, sc)), acc[k]);
            offsets[k] += d * (float)(32 * q6_K_offsets(sc, bsums + k * ss + 16 * b));
        }
    }
    for (int k = 0; k < 4; k++) out[k] = hsum(acc[k]) - offsets[k];
}

// Eight rows interleaved (1680-byte group blocks: ql as 32 vectors, qh as 16, the int8 scales as 4,
// then 8 fp16 d; vector k of a field holds its bytes 4k…4k+3 of each row). Sub-block j (16 values)
// is 4 vectors of values 0…63, each the 4 elements 128h + 32s + 4u… of every row: the low or high
// nibbles of ql vector 16h + 8(s&1) + u with bits 2s of qh vector 8h + u. Their vpdpbusd sums (one
// lane per row) take the row's own scale with one 32-bit multiply per sub-block.
// The 4 value vectors (s = 0…3: elements 128h + 32s + 4u… of every row) that ql vectors 16h + u and
// 16h + 8 + u and qh vector 8h + u hold: the nibble, and qh's bits 2s moved to bits 4-5.
static inline void q6_Kx8_values(const uint8_t *blk, int h, int u, __m256i *v) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    __m256i a = _mm256_loadu_si256((const __m256i *)(blk + 32 * (16 * h + u)));
    __m256i b = _mm256_loadu_si256((const __m256i *)(blk + 32 * (16 * h + 8 + u)));
    __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 1024 + 32 * (8 * h + u)));
    v[0] = _mm256_or_si256(_mm256_and_si256(a, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
    v[1] = _mm256_or_si256(_mm256_and_si256(b, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
    v[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), m4), _mm256_and_si256(qh, m30));
    v[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
}

// The 16 sub-block scales of the 8 rows, sign-extended into 32-bit lanes.
static inline void q6_Kx8_scales(const uint8_t *blk, __m256i *sc) {
    for (int j = 0; j < 16; j++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(blk + 1536 + 32 * (j / 4)));
        sc[j] = _mm256_srai_epi32(_mm256_slli_epi32(v, 24 - 8 * (j % 4)), 24);
    }
}

// One activation row: for each half h and each half of its u range, the 16 value vectors feed the
// 4 sub-blocks (s = 0…3) they belong to, 4 accumulators in registers.
void ggml_simd_q6_Kx8(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb, float *out) {
    const uint8_t *p = w;
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 1680;
        const int8_t *xb = x + 256 * b;
        // the blocks 4 ahead by hand: the hardware prefetcher loses track of the three interleaved
        // streams (ql, qh, scales) on matrices larger than the cache (50256 x 768: 244 -> 20 ns/row)
        for (int c = 0; c < 1680; c += 64) _mm_prefetch((const char *)blk + 4 * 1680 + c, _MM_HINT_T0);
        __m256i sc[16], isum = _mm256_setzero_si256();
        q6_Kx8_scales(blk, sc);
        for (int h = 0; h < 2; h++)
            for (int half = 0; half < 2; half++) {
                __m256i a[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
                for (int i = 0; i < 4; i++) {
                    const int u = 4 * half + i;
                    __m256i v[4];
                    q6_Kx8_values(blk, h, u, v);
                    for (int s = 0; s < 4; s++) a[s] = dot_u8s8_acc(a[s], v[s], _mm256_set1_epi32(load_i32(xb + 128 * h + 32 * s + 4 * u)));
                }
                for (int s = 0; s < 4; s++) {
                    const int j = 8 * h + 2 * s + half;
                    isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(_mm256_sub_epi32(a[s], _mm256_set1_epi32(32 * bsums[16 * b + j])), sc[j]));
                }
            }
        __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 1664))), _mm256_set1_ps(xd[b]));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc);
    }
    _mm256_storeu_ps(out, acc);
}

// Four activation rows: sub-block pairs (u < 4 and u ≥ 4 halves of an (h, s) run) so that 4 × 2
// accumulators and the 16 value vectors of one h, u-half stay in registers.
void ggml_simd_q6_Kx8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    const uint8_t *p = w;
    const long ds = stride / 256, ss = stride / 16;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 1680;
        __m256i sc[16], isum[4];
        q6_Kx8_scales(blk, sc);
        for (int k = 0; k < 4; k++) isum[k] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++)
            for (int half = 0; half < 2; half++) {
                __m256i v[4][4];
                for (int i = 0; i < 4; i++) q6_Kx8_values(blk, h, 4 * half + i, v[i]);
                for (int k = 0; k < 4; k++) {
                    const int8_t *xb = x + k * stride + 256 * b;
                    for (int s = 0; s < 4; s++) {
                        const int j = 8 * h + 2 * s + half;
                        __m256i a = _mm256_setzero_si256();
                        for (int i = 0; i < 4; i++) a = dot_u8s8_acc(a, v[i][s], _mm256_set1_epi32(load_i32(xb + 128 * h + 32 * s + 4 * (4 * half + i))));
                        a = _mm256_sub_epi32(a, _mm256_set1_epi32(32 * bsums[k * ss + 16 * b + j]));
                        isum[k] = _mm256_add_epi32(isum[k], _mm256_mullo_epi32(a, sc[j]));
                    }
                }
            }
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 1664)));
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[k * ds + b])), _mm256_cvtepi32_ps(isum[k]), acc[k]);
    }
    for (int k = 0; k < 4; k++) _mm256_storeu_ps(out + 8 * k, acc[k]);
}

// Half h of a prefill tile (ggml_simd_tile.h): the value vectors in element order, scales, d.
static inline void q6_K_tile(const uint8_t *blk, ggml_tile *t, int h) { tile_from_quarters(blk, t, h, q6_Kx8_values, q6_Kx8_scales, 1664); }
TILE_KERNEL(q6_K, 1680, q6_K_tile, 16, 32, 63, 0)

#else

void ggml_simd_q6_Kx8(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb, float *out) { ggml_plain_q6_Kx8(w, x, xd, bsums, nb, out); }
void ggml_simd_q6_Kx8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) { ggml_plain_q6_Kx8_x4(w, x, xd, bsums, stride, nb, out); }
FALLBACK_TILE_KERNEL(q6_K)

float ggml_simd_q6_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) { return ggml_plain_q6_K(w, x, xd, bsums, nb); }
void ggml_simd_q6_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) { ggml_plain_q6_K_x4(w, x, xd, bsums, stride, nb, out); }
#endif
