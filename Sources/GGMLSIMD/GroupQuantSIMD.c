// See include/GroupQuantSIMD.h. Tiles of 16 rows (4-bit) take one 512-bit vector per 4 codes of
// each row: masked nibbles against 4 activation bytes broadcast, 16 row sums in the lanes, no
// horizontal sums (as q4_0's 16-row kernel). Plain rows (the rest of a weight) take, per row, two
// blocks of 32 codes per 512-bit vector: their 32 bytes of nibbles masked into 64 code bytes, one `vpdpbusd` against 64
// activation bytes, the 16 int32 lanes (8 per block) converted and multiplied by the two blocks'
// scales into a group accumulator; the group's fp16 scale is applied once per group, one
// horizontal sum per row.
#include "GroupQuantSIMD.h"
#include "ggml_simd_internal.h"
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

static inline float gq_half(uint16_t h) {
#if defined(__F16C__)
    return _cvtsh_ss(h);
#else
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023, bits;
    if (e == 0) {
        if (m == 0) bits = sign;
        else {
            e = 113;
            while (!(m & 1024)) { m <<= 1; e--; }
            bits = sign | (e << 23) | ((m & 1023) << 13);
        }
    } else if (e == 31) bits = sign | 0x7f800000u | (m << 13);
    else bits = sign | ((e + 112) << 23) | (m << 13);
    float f; memcpy(&f, &bits, 4); return f;
#endif
}

// One block's codes as 32 bytes.
static inline void gq_unpack(int bits, const uint8_t *c, uint8_t *out) {
    switch (bits) {
    case 4:
        for (int j = 0; j < 16; j++) { out[j] = c[j] & 15; out[j + 16] = c[j] >> 4; }
        break;
    case 8:
        memcpy(out, c, 32);
        break;
    case 2:
        for (int j = 0; j < 8; j++) for (int k = 0; k < 4; k++) out[j + 8 * k] = (c[j] >> (2 * k)) & 3;
        break;
    default:   // 3: the low two bits as 2-bit, then one high bit per code
        for (int j = 0; j < 8; j++) for (int k = 0; k < 4; k++) out[j + 8 * k] = (c[j] >> (2 * k)) & 3;
        for (int j = 0; j < 32; j++) out[j] |= ((c[8 + j / 8] >> (j % 8)) & 1) << 2;
        break;
    }
}

float gq_plain_qn(int bits, const uint8_t *codes, const int8_t *x, const float *xd, const float *gsum,
                  const uint16_t *scales, const uint8_t *zeros, int groups, int bpg) {
    int bb = bits * 4;   // bytes per block of 32
    float acc = 0;
    uint8_t w[32];
    for (int g = 0; g < groups; g++) {
        float gacc = 0;
        for (int b = 0; b < bpg; b++) {
            int k = g * bpg + b, s = 0;
            gq_unpack(bits, codes + (long)k * bb, w);
            for (int j = 0; j < 32; j++) s += w[j] * x[k * 32 + j];
            gacc += xd[k] * (float)s;
        }
        float sc = gq_half(scales[g]);
        acc += sc * (gacc - (float)zeros[g] * gsum[g]);
    }
    return acc;
}

float gq_plain_q4(const uint8_t *codes, const int8_t *x, const float *xd, const float *gsum,
                  const uint16_t *scales, const uint8_t *zeros, int groups, int bpg) {
    return gq_plain_qn(4, codes, x, xd, gsum, scales, zeros, groups, bpg);
}

void gq_plain_q4_x4(const uint8_t *codes, const int8_t *x, const float *xd, const float *gsum,
                    const uint16_t *scales, const uint8_t *zeros, int groups, int bpg, long stride, float *out) {
    long nb = (long)groups * bpg;
    for (int r = 0; r < 4; r++)
        out[r] = gq_plain_q4(codes, x + r * stride, xd + r * nb, gsum + r * groups, scales, zeros, groups, bpg);
}

void gq_plain_q4x16(const uint8_t *tile, const int8_t *x, const float *xd, const float *gsum,
                    const uint16_t *scales, const uint8_t *zeros, int groups, int bpg, float *out) {
    for (int r = 0; r < 16; r++) {
        float acc = 0;
        for (int g = 0; g < groups; g++) {
            float gacc = 0;
            for (int b = 0; b < bpg; b++) {
                int k = g * bpg + b, s = 0;
                const uint8_t *blk = tile + (long)k * 256;
                for (int j = 0; j < 16; j++) {
                    uint8_t q = blk[64 * (j / 4) + 4 * r + j % 4];
                    s += (q & 15) * x[k * 32 + j] + (q >> 4) * x[k * 32 + j + 16];
                }
                gacc += xd[k] * (float)s;
            }
            float sc = gq_half(scales[g * 16 + r]);
            acc += sc * (gacc - (float)zeros[g * 16 + r] * gsum[g]);
        }
        out[r] = acc;
    }
}

void gq_plain_q4x16_x4(const uint8_t *tile, const int8_t *x, const float *xd, const float *gsum,
                       const uint16_t *scales, const uint8_t *zeros, int groups, int bpg, long stride, float *out) {
    long nb = (long)groups * bpg;
    for (int r = 0; r < 4; r++)
        gq_plain_q4x16(tile, x + r * stride, xd + r * nb, gsum + r * groups, scales, zeros, groups, bpg, out + 16 * r);
}

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
// The AVX2 path (what gq_simd_* run without AVX-512 VNNI, and the tests check everywhere): vectors of 32
// bytes, and `vpmaddubsw` + `vpmaddwd` for `vpdpbusd`. A code is at most 15 and an activation byte
// at most 128 in size, so a `vpmaddubsw` pair sum is within ±3840 and eight of them add up in Int16
// before one `vpmaddwd` widens them.
static inline __m256i gq_widen(__m256i s16) { return _mm256_madd_epi16(s16, _mm256_set1_epi16(1)); }

// Rows 8h…8h+7 of a tile block (the h-th 32 bytes of each 64-byte vector) against one activation
// block: their Σ code·x in 8 lanes.
static inline __m256i gq_x8_block(const uint8_t *blk, int h, const int8_t *x) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256i s = _mm256_setzero_si256();
    for (int v = 0; v < 4; v++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 64 * v + 32 * h));
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(_mm256_and_si256(q, m4), _mm256_set1_epi32(load_i32(x + 4 * v))));
        s = _mm256_add_epi16(s, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), _mm256_set1_epi32(load_i32(x + 16 + 4 * v))));
    }
    return gq_widen(s);
}

// acc += s · (gacc − z · gsum) for 8 rows of a tile in group g.
static inline __m256 gq_x8_group(__m256 acc, __m256 gacc, const uint16_t *scales, const uint8_t *zeros, float gsum) {
    __m256 s = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)scales));
    __m256 z = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)zeros)));
    return _mm256_fmadd_ps(s, _mm256_fnmadd_ps(z, _mm256_set1_ps(gsum), gacc), acc);
}

void gq_avx2_q4x16_x4(const uint8_t *tile, const int8_t *x, const float *xd, const float *gsum,
                      const uint16_t *scales, const uint8_t *zeros, int groups, int bpg, long stride, float *out) {
    long nb = (long)groups * bpg;
    for (int h = 0; h < 2; h++) {
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int g = 0; g < groups; g++) {
            __m256 gacc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
            for (int k = g * bpg, end = k + bpg; k < end; k++)
                for (int r = 0; r < 4; r++)
                    gacc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(gq_x8_block(tile + (long)k * 256, h, x + r * stride + (long)k * 32)),
                                              _mm256_set1_ps(xd[r * nb + k]), gacc[r]);
            for (int r = 0; r < 4; r++)
                acc[r] = gq_x8_group(acc[r], gacc[r], scales + g * 16 + 8 * h, zeros + g * 16 + 8 * h, gsum[r * groups + g]);
        }
        for (int r = 0; r < 4; r++) _mm256_storeu_ps(out + 16 * r + 8 * h, acc[r]);
    }
}

void gq_avx2_q4x16(const uint8_t *tile, const int8_t *x, const float *xd, const float *gsum,
                   const uint16_t *scales, const uint8_t *zeros, int groups, int bpg, float *out) {
    for (int h = 0; h < 2; h++) {
        __m256 acc = _mm256_setzero_ps();
        for (int g = 0; g < groups; g++) {
            __m256 gacc = _mm256_setzero_ps();
            for (int k = g * bpg, end = k + bpg; k < end; k++)
                gacc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(gq_x8_block(tile + (long)k * 256, h, x + (long)k * 32)), _mm256_set1_ps(xd[k]), gacc);
            acc = gq_x8_group(acc, gacc, scales + g * 16 + 8 * h, zeros + g * 16 + 8 * h, gsum[g]);
        }
        _mm256_storeu_ps(out + 8 * h, acc);
    }
}

// One block's 16 bytes as 32 code bytes: low nibbles (codes 0-15), then high ones (16-31).
static inline __m256i gq_codes1(const uint8_t *c) {
    const __m128i mask = _mm_set1_epi8(0x0F);
    __m128i raw = _mm_loadu_si128((const __m128i *)c);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(raw, mask)),
                                   _mm_and_si128(_mm_srli_epi16(raw, 4), mask), 1);
}

void gq_avx2_q4_x4(const uint8_t *codes, const int8_t *x, const float *xd, const float *gsum,
                   const uint16_t *scales, const uint8_t *zeros, int groups, int bpg, long stride, float *out) {
    long nb = (long)groups * bpg;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    float scalar[4] = {0, 0, 0, 0};
    for (int g = 0; g < groups; g++) {
        __m256 gacc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int k = g * bpg, end = k + bpg; k < end; k++) {
            __m256i w = gq_codes1(codes + (long)k * 16);
            for (int r = 0; r < 4; r++) {
                __m256i dot = gq_widen(_mm256_maddubs_epi16(w, _mm256_loadu_si256((const __m256i *)(x + r * stride + (long)k * 32))));
                gacc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(xd[r * nb + k]), gacc[r]);
            }
        }
        float s = gq_half(scales[g]);
        for (int r = 0; r < 4; r++) {
            acc[r] = _mm256_fmadd_ps(gacc[r], _mm256_set1_ps(s), acc[r]);
            scalar[r] -= s * (float)zeros[g] * gsum[r * groups + g];
        }
    }
    for (int r = 0; r < 4; r++) out[r] = hsum(acc[r]) + scalar[r];
}

float gq_avx2_q4(const uint8_t *codes, const int8_t *x, const float *xd, const float *gsum,
                 const uint16_t *scales, const uint8_t *zeros, int groups, int bpg) {
    __m256 acc = _mm256_setzero_ps();
    float scalar = 0;
    for (int g = 0; g < groups; g++) {
        __m256 gacc = _mm256_setzero_ps();
        for (int k = g * bpg, end = k + bpg; k < end; k++) {
            __m256i dot = gq_widen(_mm256_maddubs_epi16(gq_codes1(codes + (long)k * 16), _mm256_loadu_si256((const __m256i *)(x + (long)k * 32))));
            gacc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(xd[k]), gacc);
        }
        float s = gq_half(scales[g]);
        acc = _mm256_fmadd_ps(gacc, _mm256_set1_ps(s), acc);
        scalar -= s * (float)zeros[g] * gsum[g];
    }
    return hsum(acc) + scalar;
}
#else
void gq_avx2_q4x16(const uint8_t *tile, const int8_t *x, const float *xd, const float *gsum,
                   const uint16_t *scales, const uint8_t *zeros, int groups, int bpg, float *out) {
    gq_plain_q4x16(tile, x, xd, gsum, scales, zeros, groups, bpg, out);
}
void gq_avx2_q4x16_x4(const uint8_t *tile, const int8_t *x, const float *xd, const float *gsum,
                      const uint16_t *scales, const uint8_t *zeros, int groups, int bpg, long stride, float *out) {
    gq_plain_q4x16_x4(tile, x, xd, gsum, scales, zeros, groups, bpg, stride, out);
}
float gq_avx2_q4(const uint8_t *codes, const int8_t *x, const float *xd, const float *gsum,
                 const uint16_t *scales, const uint8_t *zeros, int groups, int bpg) {
    return gq_plain_q4(codes, x, xd, gsum, scales, zeros, groups, bpg);
}
void gq_avx2_q4_x4(const uint8_t *codes, const int8_t *x, const float *xd, const float *gsum,
                   const uint16_t *scales, const uint8_t *zeros, int groups, int bpg, long stride, float *out) {
    gq_plain_q4_x4(codes, x, xd, gsum, scales, zeros, groups, bpg, stride, out);
}
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)

// One block of a tile against one activation block: the 16 rows' Σ code·x in 16 lanes (two chains,
// low and high nibbles, of four vpdpbusd each).
static inline __m512i gq_x16_block(const __m512i *lo, const __m512i *hi, const int8_t *x) {
    __m512i sl = _mm512_setzero_si512(), sh = _mm512_setzero_si512();
    for (int v = 0; v < 4; v++) {
        sl = _mm512_dpbusd_epi32(sl, lo[v], _mm512_set1_epi32(load_i32(x + 4 * v)));
        sh = _mm512_dpbusd_epi32(sh, hi[v], _mm512_set1_epi32(load_i32(x + 16 + 4 * v)));
    }
    return _mm512_add_epi32(sl, sh);
}

static inline void gq_x16_unpack(const uint8_t *blk, __m512i *lo, __m512i *hi) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int v = 0; v < 4; v++) {
        __m512i q = _mm512_loadu_si512((const void *)(blk + 64 * v));
        lo[v] = _mm512_and_si512(q, m4);
        hi[v] = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
    }
}

// acc += s · (gacc − z · gsum) for the tile's 16 rows in group g.
static inline __m512 gq_x16_group(__m512 acc, __m512 gacc, const uint16_t *scales, const uint8_t *zeros, float gsum) {
    __m512 s = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)scales));
    __m512 z = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)zeros)));
    return _mm512_fmadd_ps(s, _mm512_fnmadd_ps(z, _mm512_set1_ps(gsum), gacc), acc);
}

void gq_simd_q4x16(const uint8_t *tile, const int8_t *x, const float *xd, const float *gsum,
                   const uint16_t *scales, const uint8_t *zeros, int groups, int bpg, float *out) {
    __m512 acc = _mm512_setzero_ps();
    for (int g = 0; g < groups; g++) {
        __m512 gacc = _mm512_setzero_ps();
        for (int k = g * bpg, end = k + bpg; k < end; k++) {
            __m512i lo[4], hi[4];
            gq_x16_unpack(tile + (long)k * 256, lo, hi);
            gacc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(gq_x16_block(lo, hi, x + (long)k * 32)), _mm512_set1_ps(xd[k]), gacc);
        }
        acc = gq_x16_group(acc, gacc, scales + g * 16, zeros + g * 16, gsum[g]);
    }
    _mm512_storeu_ps(out, acc);
}

void gq_simd_q4x16_x4(const uint8_t *tile, const int8_t *x, const float *xd, const float *gsum,
                      const uint16_t *scales, const uint8_t *zeros, int groups, int bpg, long stride, float *out) {
    long nb = (long)groups * bpg;
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int g = 0; g < groups; g++) {
        __m512 gacc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        for (int k = g * bpg, end = k + bpg; k < end; k++) {
            __m512i lo[4], hi[4];
            gq_x16_unpack(tile + (long)k * 256, lo, hi);
            for (int r = 0; r < 4; r++)
                gacc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(gq_x16_block(lo, hi, x + r * stride + (long)k * 32)),
                                          _mm512_set1_ps(xd[r * nb + k]), gacc[r]);
        }
        for (int r = 0; r < 4; r++) acc[r] = gq_x16_group(acc[r], gacc[r], scales + g * 16, zeros + g * 16, gsum[r * groups + g]);
    }
    for (int r = 0; r < 4; r++) _mm512_storeu_ps(out + 16 * r, acc[r]);
}

// Two blocks' 32 code bytes (16 each) as 64 code bytes: [block b: low nibbles, high nibbles, block b+1: ...].
static inline __m512i gq_codes2(const uint8_t *c) {
    const __m256i mask = _mm256_set1_epi8(0x0F);
    __m256i raw = _mm256_loadu_si256((const __m256i *)c);
    __m256i lo = _mm256_and_si256(raw, mask), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask);
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_permute2x128_si256(lo, hi, 0x20)),
                              _mm256_permute2x128_si256(lo, hi, 0x31), 1);
}
static inline __m512 gq_d2(const float *d) {
    return _mm512_insertf32x8(_mm512_set1_ps(d[0]), _mm256_set1_ps(d[1]), 1);
}
static inline float gq_hsum512(__m512 v) { return _mm512_reduce_add_ps(v); }

float gq_simd_q4(const uint8_t *codes, const int8_t *x, const float *xd, const float *gsum,
                 const uint16_t *scales, const uint8_t *zeros, int groups, int bpg) {
    __m512 acc = _mm512_setzero_ps();
    float scalar = 0;
    for (int g = 0; g < groups; g++) {
        __m512 gacc = _mm512_setzero_ps();
        int k = g * bpg, end = k + bpg;
        for (; k + 2 <= end; k += 2) {
            __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), gq_codes2(codes + (long)k * 16),
                                              _mm512_loadu_si512((const void *)(x + (long)k * 32)));
            gacc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), gq_d2(xd + k), gacc);
        }
        if (k < end) {
            __m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), gq_codes1(codes + (long)k * 16),
                                              _mm256_loadu_si256((const __m256i *)(x + (long)k * 32)));
            __m256 p = _mm256_mul_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(xd[k]));
            gacc = _mm512_add_ps(gacc, _mm512_zextps256_ps512(p));
        }
        float s = gq_half(scales[g]);
        acc = _mm512_fmadd_ps(gacc, _mm512_set1_ps(s), acc);
        scalar -= s * (float)zeros[g] * gsum[g];
    }
    return gq_hsum512(acc) + scalar;
}

void gq_simd_q4_x4(const uint8_t *codes, const int8_t *x, const float *xd, const float *gsum,
                   const uint16_t *scales, const uint8_t *zeros, int groups, int bpg, long stride, float *out) {
    long nb = (long)groups * bpg;
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    float scalar[4] = {0, 0, 0, 0};
    for (int g = 0; g < groups; g++) {
        __m512 gacc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        int k = g * bpg, end = k + bpg;
        for (; k + 2 <= end; k += 2) {
            __m512i w = gq_codes2(codes + (long)k * 16);
            for (int r = 0; r < 4; r++) {
                __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w,
                                                  _mm512_loadu_si512((const void *)(x + r * stride + (long)k * 32)));
                gacc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), gq_d2(xd + r * nb + k), gacc[r]);
            }
        }
        if (k < end) {
            __m256i w = gq_codes1(codes + (long)k * 16);
            for (int r = 0; r < 4; r++) {
                __m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), w,
                                                  _mm256_loadu_si256((const __m256i *)(x + r * stride + (long)k * 32)));
                __m256 p = _mm256_mul_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(xd[r * nb + k]));
                gacc[r] = _mm512_add_ps(gacc[r], _mm512_zextps256_ps512(p));
            }
        }
        float s = gq_half(scales[g]);
        __m512 sv = _mm512_set1_ps(s);
        for (int r = 0; r < 4; r++) {
            acc[r] = _mm512_fmadd_ps(gacc[r], sv, acc[r]);
            scalar[r] -= s * (float)zeros[g] * gsum[r * groups + g];
        }
    }
    for (int r = 0; r < 4; r++) out[r] = gq_hsum512(acc[r]) + scalar[r];
}
#else
void gq_simd_q4x16(const uint8_t *tile, const int8_t *x, const float *xd, const float *gsum,
                   const uint16_t *scales, const uint8_t *zeros, int groups, int bpg, float *out) {
    gq_avx2_q4x16(tile, x, xd, gsum, scales, zeros, groups, bpg, out);
}
void gq_simd_q4x16_x4(const uint8_t *tile, const int8_t *x, const float *xd, const float *gsum,
                      const uint16_t *scales, const uint8_t *zeros, int groups, int bpg, long stride, float *out) {
    gq_avx2_q4x16_x4(tile, x, xd, gsum, scales, zeros, groups, bpg, stride, out);
}
float gq_simd_q4(const uint8_t *codes, const int8_t *x, const float *xd, const float *gsum,
                 const uint16_t *scales, const uint8_t *zeros, int groups, int bpg) {
    return gq_avx2_q4(codes, x, xd, gsum, scales, zeros, groups, bpg);
}
void gq_simd_q4_x4(const uint8_t *codes, const int8_t *x, const float *xd, const float *gsum,
                   const uint16_t *scales, const uint8_t *zeros, int groups, int bpg, long stride, float *out) {
    gq_avx2_q4_x4(codes, x, xd, gsum, scales, zeros, groups, bpg, stride, out);
}
#endif
