// See include/GGMLSIMD.h. Block layouts are those of Quant/{Q8_0,Q4_0,Q4_K}.swift:
//   q8_0: fp16 d, 32 × int8                      (34 bytes)
//   q4_0: fp16 d, 16 bytes: byte j = element j (low nibble), element j+16 (high); weight = d·(q−8)
//   q4_K: fp16 d, fp16 dmin, 12 bytes of 6-bit scales/mins, 4 × 32 bytes of nibbles (144 bytes)
//   q5_0: fp16 d, 4 bytes of fifth bits (bit j: element j), 16 bytes of nibbles as q4_0 (22 bytes)
//   q6_K: 128 bytes of low nibbles, 64 of high bit pairs, 16 int8 scales, fp16 d (210 bytes)
// The x86 path (AVX2, with AVX-512 VNNI where the compiler targets it) multiplies unsigned weight
// bytes by signed activation bytes: q4_0's nibbles are used as 0…15 and the −8 applied once per
// block through the activations' block sum; q8_0's signed weights go through |w| and sign(x, w).
// Each block's integer sum is converted once and added with its float scale to a vector accumulator:
// one horizontal sum per row, none per block.
#include "GGMLSIMD.h"
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

static inline float half_to_float(const uint8_t *p) {
    uint16_t h = (uint16_t)(p[0] | (p[1] << 8));
#if defined(__F16C__)
    return _cvtsh_ss(h);
#else
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023, bits;
    if (e == 0) {
        if (m == 0) bits = sign;
        else {   // subnormal: normalise
            e = 113;
            while (!(m & 1024)) { m <<= 1; e--; }
            bits = sign | (e << 23) | ((m & 1023) << 13);
        }
    } else if (e == 31) bits = sign | 0x7f800000u | (m << 13);
    else bits = sign | ((e + 112) << 23) | (m << 13);
    float f; memcpy(&f, &bits, 4); return f;
#endif
}

// get_scale_min_k4: sub-block j's 6-bit scale and minimum.
static inline void scale_min(int j, const uint8_t *s, int *sc, int *m) {
    if (j < 4) { *sc = s[j] & 63; *m = s[j + 4] & 63; }
    else { *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4); *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4); }
}

// Plain C: the same sums, one value at a time. Always compiled, so that the tests check them on
// any machine; they are the kernels where the x86 path is not compiled in.
float ggml_plain_q8_0(const void *w, const int8_t *x, const float *xd, int nb) {
    const uint8_t *p = w;
    float acc = 0;
    for (int b = 0; b < nb; b++) {
        const int8_t *q = (const int8_t *)(p + b * 34 + 2);
        int s = 0;
        for (int j = 0; j < 32; j++) s += q[j] * x[b * 32 + j];
        acc += half_to_float(p + b * 34) * xd[b] * (float)s;
    }
    return acc;
}

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

float ggml_plain_q4_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) {
    const uint8_t *p = w;
    float acc = 0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 144, *q = blk + 16;
        const int8_t *xb = x + 256 * b;
        int isum = 0, summ = 0;
        for (int c = 0; c < 4; c++) {
            int s1, m1, s2, m2, lo = 0, hi = 0;
            scale_min(2 * c, blk + 4, &s1, &m1);
            scale_min(2 * c + 1, blk + 4, &s2, &m2);
            for (int j = 0; j < 32; j++) {
                lo += (q[32 * c + j] & 15) * xb[64 * c + j];
                hi += (q[32 * c + j] >> 4) * xb[64 * c + 32 + j];
            }
            isum += s1 * lo + s2 * hi;
            summ += m1 * (bsums[16 * b + 4 * c] + bsums[16 * b + 4 * c + 1]) + m2 * (bsums[16 * b + 4 * c + 2] + bsums[16 * b + 4 * c + 3]);
        }
        acc += half_to_float(blk) * xd[b] * (float)isum - half_to_float(blk + 2) * xd[b] * (float)summ;
    }
    return acc;
}

float ggml_plain_q5_0(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb) {
    const uint8_t *p = w;
    float acc = 0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 22, *q = blk + 6;
        uint32_t qh;
        memcpy(&qh, blk + 2, 4);
        int s = 0;
        for (int j = 0; j < 16; j++) {
            s += ((q[j] & 15) | ((qh >> j) & 1) << 4) * x[b * 32 + j];
            s += ((q[j] >> 4) | ((qh >> (j + 16)) & 1) << 4) * x[b * 32 + j + 16];
        }
        acc += half_to_float(blk) * xd[b] * (float)(s - 16 * xsum[b]);
    }
    return acc;
}

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

void ggml_plain_q5_0_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) out[k] = ggml_plain_q5_0(w, x + k * stride, xd + k * (stride / 32), xsum + k * (stride / 32), nb);
}
void ggml_plain_q6_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) out[k] = ggml_plain_q6_K(w, x + k * stride, xd + k * (stride / 256), bsums + k * (stride / 16), nb);
}

void ggml_plain_q8_0_x4(const void *w, const int8_t *x, const float *xd, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) out[k] = ggml_plain_q8_0(w, x + k * stride, xd + k * (stride / 32), nb);
}
void ggml_plain_q4_0_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) out[k] = ggml_plain_q4_0(w, x + k * stride, xd + k * (stride / 32), xsum + k * (stride / 32), nb);
}
void ggml_plain_q4_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) out[k] = ggml_plain_q4_K(w, x + k * stride, xd + k * (stride / 256), bsums + k * (stride / 16), nb);
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

// Byte `i` of row `r`'s plain block, found in an interleaved group block whose plain fields start
// at `fields` (ascending offsets, the last one running to the end of the block).
static inline uint8_t group_byte(const uint8_t *blk, const int *fields, int nfields, int r, int i) {
    int f = nfields - 1;
    while (fields[f] > i) f--;
    int start = fields[f], width = (f + 1 < nfields ? fields[f + 1] : 1 << 30) - start;
    int u = width < 4 ? width : 4, k = (i - start) / u, j = (i - start) % u;
    return blk[8 * start + 8 * u * k + u * r + j];
}

void ggml_plain_q8_0x8(const void *w, const int8_t *x, const float *xd, int nb, float *out) {
    static const int fields[] = {0, 2};
    const uint8_t *p = w;
    for (int r = 0; r < 8; r++) {
        float acc = 0;
        for (int b = 0; b < nb; b++) {
            const uint8_t *blk = p + b * 272;
            uint8_t row[34];
            for (int i = 0; i < 34; i++) row[i] = group_byte(blk, fields, 2, r, i);
            acc += ggml_plain_q8_0(row, x + 32 * b, xd + b, 1);
        }
        out[r] = acc;
    }
}

void ggml_plain_q4_Kx8(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb, float *out) {
    static const int fields[] = {0, 2, 4, 16};
    const uint8_t *p = w;
    for (int r = 0; r < 8; r++) {
        float acc = 0;
        for (int b = 0; b < nb; b++) {
            const uint8_t *blk = p + b * 1152;
            uint8_t row[144];
            for (int i = 0; i < 144; i++) row[i] = group_byte(blk, fields, 4, r, i);
            acc += ggml_plain_q4_K(row, x + 256 * b, xd + b, bsums + 16 * b, 1);
        }
        out[r] = acc;
    }
}

void ggml_plain_q8_0x8_x4(const void *w, const int8_t *x, const float *xd, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) ggml_plain_q8_0x8(w, x + k * stride, xd + k * (stride / 32), nb, out + 8 * k);
}
void ggml_plain_q4_Kx8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    for (int k = 0; k < 4; k++) ggml_plain_q4_Kx8(w, x + k * stride, xd + k * (stride / 256), bsums + k * (stride / 16), nb, out + 8 * k);
}

#if defined(__AVX2__) && defined(__FMA__)

int ggml_simd_vectorized(void) { return 1; }

// Σ over groups of 4 of u[i]·s[i] (u unsigned, s signed bytes) into 8 Int32 lanes. Callers keep
// every pair sum within Int16 (|u·s| ≤ 127·127 or 15·127), so the AVX2 route cannot saturate.
static inline __m256i dot_u8s8(__m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// A block's weight scale times the activation scale, in all 8 lanes: broadcasting the fp16 bits
// before converting saves the scalar round trip.
static inline __m256 block_scale(const uint8_t *blk, float xd) {
    uint16_t h;
    memcpy(&h, blk, 2);
    return _mm256_mul_ps(_mm256_cvtph_ps(_mm_set1_epi16((short)h)), _mm256_set1_ps(xd));
}

static inline __m256i q4_0_nibbles(const uint8_t *q) {
    __m128i t = _mm_loadu_si128((const __m128i *)q);
    __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}

// Four accumulators: one chain of FMAs would wait on its own latency every block.
#define BLOCK_LOOP(STEP) \
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()}; \
    int b = 0; \
    for (; b + 4 <= nb; b += 4) { STEP(b, acc[0]); STEP(b + 1, acc[1]); STEP(b + 2, acc[2]); STEP(b + 3, acc[3]); } \
    for (; b < nb; b++) STEP(b, acc[0]); \
    return hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));

float ggml_simd_q8_0(const void *w, const int8_t *x, const float *xd, int nb) {
    const uint8_t *p = w;
#define Q8_0_STEP(B, A) { \
        const uint8_t *blk = p + (B) * 34; \
        __m256i wv = _mm256_loadu_si256((const __m256i *)(blk + 2)); \
        __m256i xv = _mm256_loadu_si256((const __m256i *)(x + (B) * 32)); \
        __m256 s = _mm256_cvtepi32_ps(dot_u8s8(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv))); \
        A = _mm256_fmadd_ps(block_scale(blk, xd[B]), s, A); }
    BLOCK_LOOP(Q8_0_STEP)
}

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

// One q4_K super-block against one activation row: the integer sum Σ sc_j·Σq·x in 8 lanes
// (pair sums of q·x fit 16 bits, times a 6-bit scale summed in pairs fits 32). The scales are
// unpacked and broadcast with scalar code, which runs beside the vector work (an all-vector
// unpacking with shuffles measured 8% slower).
static inline __m256i q4_K_block(const uint8_t *q, const int8_t *x, const __m256i *sc) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256i isum = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(q + 32 * c));
        __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        __m256i pl = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(x + 64 * c)));
        __m256i ph = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(x + 64 * c + 32)));
        isum = _mm256_add_epi32(isum, _mm256_add_epi32(_mm256_madd_epi16(pl, sc[2 * c]), _mm256_madd_epi16(ph, sc[2 * c + 1])));
    }
    return isum;
}

float ggml_simd_q4_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) {
    const uint8_t *p = w;
    __m256 acc = _mm256_setzero_ps();
    float mins = 0;
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 144;
        __m256i sc[8];
        int summ = 0;
        for (int j = 0; j < 8; j++) {
            int s, m;
            scale_min(j, blk + 4, &s, &m);
            sc[j] = _mm256_set1_epi16((short)s);
            summ += m * (bsums[16 * b + 2 * j] + bsums[16 * b + 2 * j + 1]);
        }
        __m256i isum = q4_K_block(blk + 16, x + 256 * b, sc);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half_to_float(blk) * xd[b]), _mm256_cvtepi32_ps(isum), acc);
        mins += half_to_float(blk + 2) * xd[b] * (float)summ;
    }
    return hsum(acc) - mins;
}

// Σ over 4-byte groups into 8 lanes, accumulated: vpdpbusd where there is VNNI.
static inline __m256i dot_u8s8_acc(__m256i acc, __m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpbusd_epi32(acc, u, s);
#else
    return _mm256_add_epi32(acc, dot_u8s8(u, s));
#endif
}

static inline int32_t load_i32(const int8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }

// One group block of eight q4_0 rows against one activation block: 8 row sums Σq·x in 8 lanes.
static inline __m256i q4_0x8_block(const __m256i *lo, const __m256i *hi, const int8_t *x) {
    __m256i isum = _mm256_setzero_si256();
    for (int v = 0; v < 4; v++) {
        isum = dot_u8s8_acc(isum, lo[v], _mm256_set1_epi32(load_i32(x + 4 * v)));
        isum = dot_u8s8_acc(isum, hi[v], _mm256_set1_epi32(load_i32(x + 16 + 4 * v)));
    }
    return isum;
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
        __m256i isum = _mm256_sub_epi32(q4_0x8_block(lo, hi, x + 32 * b), _mm256_set1_epi32(8 * xsum[b]));
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
            __m256i isum = _mm256_sub_epi32(q4_0x8_block(lo, hi, x + k * stride + 32 * b), _mm256_set1_epi32(8 * xsum[k * ds + b]));
            acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[k * ds + b])), _mm256_cvtepi32_ps(isum), acc[k]);
        }
    }
    for (int k = 0; k < 4; k++) _mm256_storeu_ps(out + 8 * k, acc[k]);
}

// q5_0's 32 weights of a block as bytes 0…31: the nibbles as q4_0's, each fifth bit (bit j of qh
// for element j) as 16.
static inline __m256i q5_0_values(const uint8_t *blk) {
    uint32_t qh;
    memcpy(&qh, blk + 2, 4);
#if defined(__AVX512BW__) && defined(__AVX512VL__)
    __m256i high = _mm256_maskz_mov_epi8((__mmask32)qh, _mm256_set1_epi8(16));
#else
    // byte j takes byte j/8 of qh, then keeps bit j%8 (llama.cpp's bytes_from_bits_32)
    const __m256i shuf = _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
    __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), shuf);
    bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    __m256i high = _mm256_and_si256(_mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1)), _mm256_set1_epi8(16));
#endif
    return _mm256_or_si256(q4_0_nibbles(blk + 6), high);
}

float ggml_simd_q5_0(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb) {
    const uint8_t *p = w;
#define Q5_0_STEP(B, A) { \
        const uint8_t *blk = p + (B) * 22; \
        __m256i xv = _mm256_loadu_si256((const __m256i *)(x + (B) * 32)); \
        __m256i s = _mm256_sub_epi32(dot_u8s8(q5_0_values(blk), xv), _mm256_set1_epi32(2 * xsum[B])); \
        A = _mm256_fmadd_ps(block_scale(blk, xd[B]), _mm256_cvtepi32_ps(s), A); }
    BLOCK_LOOP(Q5_0_STEP)
}

void ggml_simd_q5_0_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) {
    const uint8_t *p = w;
    const long ds = stride / 32;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 22;
        __m256i q = q5_0_values(blk);
        __m256 dw = block_scale(blk, 1);
        for (int k = 0; k < 4; k++) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)(x + k * stride + b * 32));
            __m256i s = _mm256_sub_epi32(dot_u8s8(q, xv), _mm256_set1_epi32(2 * xsum[k * ds + b]));
            acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[k * ds + b])), _mm256_cvtepi32_ps(s), acc[k]);
        }
    }
    for (int k = 0; k < 4; k++) out[k] = hsum(acc[k]);
}

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

// q8_0, 8 rows: |w| against x with w's signs, as in ggml_simd_q8_0, a lane per row.
static inline __m256i q8_0x8_block(const uint8_t *blk, const int8_t *x) {
    __m256i isum = _mm256_setzero_si256();
    for (int v = 0; v < 8; v++) {
        __m256i wv = _mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * v));
        isum = dot_u8s8_acc(isum, _mm256_sign_epi8(wv, wv), _mm256_sign_epi8(_mm256_set1_epi32(load_i32(x + 4 * v)), wv));
    }
    return isum;
}

void ggml_simd_q8_0x8(const void *w, const int8_t *x, const float *xd, int nb, float *out) {
    const uint8_t *p = w;
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 272;
        __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk)), _mm256_set1_ps(xd[b]));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(q8_0x8_block(blk, x + 32 * b)), acc);
    }
    _mm256_storeu_ps(out, acc);
}

void ggml_simd_q8_0x8_x4(const void *w, const int8_t *x, const float *xd, long stride, int nb, float *out) {
    const uint8_t *p = w;
    const long ds = stride / 32;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 272;
        __m256i aw[8], sg[8];
        for (int v = 0; v < 8; v++) { sg[v] = _mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * v)); aw[v] = _mm256_sign_epi8(sg[v], sg[v]); }
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk));
        for (int k = 0; k < 4; k++) {
            const int8_t *xb = x + k * stride + 32 * b;
            __m256i isum = _mm256_setzero_si256();
            for (int v = 0; v < 8; v++) isum = dot_u8s8_acc(isum, aw[v], _mm256_sign_epi8(_mm256_set1_epi32(load_i32(xb + 4 * v)), sg[v]));
            acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[k * ds + b])), _mm256_cvtepi32_ps(isum), acc[k]);
        }
    }
    for (int k = 0; k < 4; k++) _mm256_storeu_ps(out + 8 * k, acc[k]);
}

// q4_K, 8 rows: the 6-bit scales and minimums of all 8 rows' 8 sub-blocks, one vector per
// sub-block (lane = row), decoded from the three interleaved 32-byte vectors of scale bytes with
// lane-wise shifts (get_scale_min_k4 for 8 rows at once).
static inline void q4_Kx8_scales(const uint8_t *blk, __m256i *sc, __m256i *mn) {
    const __m256i s0 = _mm256_loadu_si256((const __m256i *)(blk + 32));
    const __m256i s1 = _mm256_loadu_si256((const __m256i *)(blk + 64));
    const __m256i s2 = _mm256_loadu_si256((const __m256i *)(blk + 96));
    const __m256i m63 = _mm256_set1_epi32(63), m15 = _mm256_set1_epi32(15), m48 = _mm256_set1_epi32(48);
    for (int j = 0; j < 4; j++) {
        const __m128i sh = _mm_cvtsi32_si128(8 * j), sh2 = _mm_cvtsi32_si128(8 * j + 2);
        __m256i a = _mm256_srl_epi32(s0, sh), b = _mm256_srl_epi32(s1, sh), c = _mm256_srl_epi32(s2, sh);
        sc[j] = _mm256_and_si256(a, m63);
        mn[j] = _mm256_and_si256(b, m63);
        // high two bits of the j-th scale / minimum bytes become bits 4-5
        sc[j + 4] = _mm256_or_si256(_mm256_and_si256(c, m15), _mm256_and_si256(_mm256_srl_epi32(s0, sh2), m48));
        mn[j + 4] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(c, 4), m15), _mm256_and_si256(_mm256_srl_epi32(s1, sh2), m48));
    }
}

// Sub-block pair c (64 values) of 8 rows against 64 activation bytes: Σq·x per row for the low
// nibbles (sub-block 2c) and the high ones (2c+1).
static inline void q4_Kx8_pair(const __m256i *lo, const __m256i *hi, const int8_t *x, __m256i *slo, __m256i *shi) {
    __m256i a = _mm256_setzero_si256(), b = _mm256_setzero_si256();
    for (int v = 0; v < 8; v++) {
        a = dot_u8s8_acc(a, lo[v], _mm256_set1_epi32(load_i32(x + 4 * v)));
        b = dot_u8s8_acc(b, hi[v], _mm256_set1_epi32(load_i32(x + 32 + 4 * v)));
    }
    *slo = a; *shi = b;
}

static inline void q4_Kx8_unpack(const uint8_t *blk, int c, __m256i *lo, __m256i *hi) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int v = 0; v < 8; v++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * (8 * c + v)));
        lo[v] = _mm256_and_si256(q, m4);
        hi[v] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    }
}

static inline __m256i q4_Kx8_mins(const __m256i *mn, const int32_t *bs) {
    __m256i s = _mm256_setzero_si256();
    for (int j = 0; j < 8; j++) s = _mm256_add_epi32(s, _mm256_mullo_epi32(mn[j], _mm256_set1_epi32(bs[2 * j] + bs[2 * j + 1])));
    return s;
}

void ggml_simd_q4_Kx8(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb, float *out) {
    const uint8_t *p = w;
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 1152;
        __m256i sc[8], mn[8], isum = _mm256_setzero_si256();
        q4_Kx8_scales(blk, sc, mn);
        for (int c = 0; c < 4; c++) {
            __m256i lo[8], hi[8], slo, shi;
            q4_Kx8_unpack(blk, c, lo, hi);
            q4_Kx8_pair(lo, hi, x + 256 * b + 64 * c, &slo, &shi);
            isum = _mm256_add_epi32(isum, _mm256_add_epi32(_mm256_mullo_epi32(slo, sc[2 * c]), _mm256_mullo_epi32(shi, sc[2 * c + 1])));
        }
        __m256 dx = _mm256_set1_ps(xd[b]);
        __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk)), dx);
        __m256 dmin = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 16))), dx);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc);
        accm = _mm256_fmadd_ps(dmin, _mm256_cvtepi32_ps(q4_Kx8_mins(mn, bsums + 16 * b)), accm);
    }
    _mm256_storeu_ps(out, _mm256_sub_ps(acc, accm));
}

void ggml_simd_q4_Kx8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    const uint8_t *p = w;
    const long ds = stride / 256, ss = stride / 16;
    __m256 acc[4], accm[4];
    for (int k = 0; k < 4; k++) { acc[k] = _mm256_setzero_ps(); accm[k] = _mm256_setzero_ps(); }
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 1152;
        __m256i sc[8], mn[8], isum[4];
        q4_Kx8_scales(blk, sc, mn);
        for (int k = 0; k < 4; k++) isum[k] = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i lo[8], hi[8];
            q4_Kx8_unpack(blk, c, lo, hi);
            for (int k = 0; k < 4; k++) {
                __m256i slo, shi;
                q4_Kx8_pair(lo, hi, x + k * stride + 256 * b + 64 * c, &slo, &shi);
                isum[k] = _mm256_add_epi32(isum[k], _mm256_add_epi32(_mm256_mullo_epi32(slo, sc[2 * c]), _mm256_mullo_epi32(shi, sc[2 * c + 1])));
            }
        }
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk));
        __m256 mw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 16)));
        for (int k = 0; k < 4; k++) {
            __m256 dx = _mm256_set1_ps(xd[k * ds + b]);
            acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, dx), _mm256_cvtepi32_ps(isum[k]), acc[k]);
            accm[k] = _mm256_fmadd_ps(_mm256_mul_ps(mw, dx), _mm256_cvtepi32_ps(q4_Kx8_mins(mn, bsums + k * ss + 16 * b)), accm[k]);
        }
    }
    for (int k = 0; k < 4; k++) _mm256_storeu_ps(out + 8 * k, _mm256_sub_ps(acc[k], accm[k]));
}

void ggml_simd_q8_0_x4(const void *w, const int8_t *x, const float *xd, long stride, int nb, float *out) {
    const uint8_t *p = w;
    const long ds = stride / 32;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 34;
        __m256i wv = _mm256_loadu_si256((const __m256i *)(blk + 2)), aw = _mm256_sign_epi8(wv, wv);
        __m256 dw = block_scale(blk, 1);
        for (int k = 0; k < 4; k++) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)(x + k * stride + b * 32));
            __m256 s = _mm256_cvtepi32_ps(dot_u8s8(aw, _mm256_sign_epi8(xv, wv)));
            acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(xd[k * ds + b])), s, acc[k]);
        }
    }
    for (int k = 0; k < 4; k++) out[k] = hsum(acc[k]);
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

void ggml_simd_q4_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) {
    const uint8_t *p = w;
    const long ds = stride / 256, ss = stride / 16;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    float mins[4] = {0, 0, 0, 0};
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = p + b * 144;
        __m256i sc[8];
        int mv[8];
        for (int j = 0; j < 8; j++) {
            int s;
            scale_min(j, blk + 4, &s, &mv[j]);
            sc[j] = _mm256_set1_epi16((short)s);
        }
        // The nibbles are unpacked once and multiplied with each row's activations.
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        __m256i is[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
        for (int c = 0; c < 4; c++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(blk + 16 + 32 * c));
            __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
            for (int k = 0; k < 4; k++) {
                const int8_t *xk = x + k * stride + 256 * b + 64 * c;
                __m256i pl = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)xk));
                __m256i ph = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(xk + 32)));
                is[k] = _mm256_add_epi32(is[k], _mm256_add_epi32(_mm256_madd_epi16(pl, sc[2 * c]), _mm256_madd_epi16(ph, sc[2 * c + 1])));
            }
        }
        float d = half_to_float(blk), dmin = half_to_float(blk + 2);
        for (int k = 0; k < 4; k++) {
            __m256i isum = is[k];
            const int32_t *bs = bsums + k * ss + 16 * b;
            int summ = 0;
            for (int j = 0; j < 8; j++) summ += mv[j] * (bs[2 * j] + bs[2 * j + 1]);
            float dx = xd[k * ds + b];
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d * dx), _mm256_cvtepi32_ps(isum), acc[k]);
            mins[k] += dmin * dx * (float)summ;
        }
    }
    for (int k = 0; k < 4; k++) out[k] = hsum(acc[k]) - mins[k];
}

#else

int ggml_simd_vectorized(void) { return 0; }
float ggml_simd_q5_0(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb) { return ggml_plain_q5_0(w, x, xd, xsum, nb); }
float ggml_simd_q6_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) { return ggml_plain_q6_K(w, x, xd, bsums, nb); }
void ggml_simd_q5_0_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) { ggml_plain_q5_0_x4(w, x, xd, xsum, stride, nb, out); }
void ggml_simd_q6_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) { ggml_plain_q6_K_x4(w, x, xd, bsums, stride, nb, out); }
float ggml_simd_q8_0(const void *w, const int8_t *x, const float *xd, int nb) { return ggml_plain_q8_0(w, x, xd, nb); }
float ggml_simd_q4_0(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb) { return ggml_plain_q4_0(w, x, xd, xsum, nb); }
float ggml_simd_q4_K(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb) { return ggml_plain_q4_K(w, x, xd, bsums, nb); }
void ggml_simd_q8_0_x4(const void *w, const int8_t *x, const float *xd, long stride, int nb, float *out) { ggml_plain_q8_0_x4(w, x, xd, stride, nb, out); }
void ggml_simd_q4_0_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) { ggml_plain_q4_0_x4(w, x, xd, xsum, stride, nb, out); }
void ggml_simd_q4_K_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) { ggml_plain_q4_K_x4(w, x, xd, bsums, stride, nb, out); }
void ggml_simd_q4_0x8(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb, float *out) { ggml_plain_q4_0x8(w, x, xd, xsum, nb, out); }
void ggml_simd_q4_0x8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) { ggml_plain_q4_0x8_x4(w, x, xd, xsum, stride, nb, out); }
void ggml_simd_q8_0x8(const void *w, const int8_t *x, const float *xd, int nb, float *out) { ggml_plain_q8_0x8(w, x, xd, nb, out); }
void ggml_simd_q8_0x8_x4(const void *w, const int8_t *x, const float *xd, long stride, int nb, float *out) { ggml_plain_q8_0x8_x4(w, x, xd, stride, nb, out); }
void ggml_simd_q4_Kx8(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, int nb, float *out) { ggml_plain_q4_Kx8(w, x, xd, bsums, nb, out); }
void ggml_simd_q4_Kx8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *bsums, long stride, int nb, float *out) { ggml_plain_q4_Kx8_x4(w, x, xd, bsums, stride, nb, out); }
#endif
