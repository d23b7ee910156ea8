// Helpers shared by the per-type kernel files (q8_0.c, q4_0.c, ...); not part of the public header.
// The x86 path (AVX2, with AVX-512 VNNI where the compiler targets it) multiplies unsigned weight
// bytes by signed activation bytes: q4_0's nibbles are used as 0…15 and the −8 applied once per
// block through the activations' block sum; q8_0's signed weights go through |w| and sign(x, w).
// Each block's integer sum is converted once and added with its float scale to a vector accumulator:
// one horizontal sum per row, none per block. Every file also has the plain C versions
// (`ggml_plain_*`), always compiled so the tests check them on any machine; where the x86 path is
// not compiled in, `ggml_simd_*` call them.
#ifndef GGML_SIMD_INTERNAL_H
#define GGML_SIMD_INTERNAL_H
#include "GGMLSIMD.h"
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#if defined(__AVX2__) && defined(__FMA__)
#define GGML_SIMD_X86 1
#else
#define GGML_SIMD_X86 0
#endif

// A 16-row kernel (two interleaved groups, the second `group_bytes` after the first, against four
// activation rows; out[16k + r], r < 8 from the first group) made of two calls of the 8-row one: the
// plain twins, and CPUs without AVX-512 VNNI.
#define GGML_X16_FROM_X8(NAME16, NAME8) \
    void NAME16(const void *w, long group_bytes, const int8_t *x, const float *xd, const int32_t *sums, long stride, int nb, float *out) { \
        float o[2][32]; \
        for (int g = 0; g < 2; g++) NAME8((const uint8_t *)w + g * group_bytes, x, xd, sums, stride, nb, o[g]); \
        for (int k = 0; k < 4; k++) \
            for (int r = 0; r < 16; r++) out[16 * k + r] = o[r / 8][8 * k + r % 8]; \
    }

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

// iq4_nl / iq4_xs's 16 levels (kvalues_iq4nl).
static const int8_t iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// q3_K's 16 sub-block scales (6 bits each, −32 applied) from its 12 scale bytes: four 32-bit words
// rearranged (dequantize_row_q3_K's kmask trick) so that byte j is scale j.
static inline void q3_K_scales(const uint8_t *s, int8_t *out) {
    uint32_t aux[4], tmp;
    memcpy(aux, s, 12);
    tmp = aux[2];
    aux[2] = ((aux[0] >> 4) & 0x0f0f0f0f) | (((tmp >> 4) & 0x03030303) << 4);
    aux[3] = ((aux[1] >> 4) & 0x0f0f0f0f) | (((tmp >> 6) & 0x03030303) << 4);
    aux[0] = (aux[0] & 0x0f0f0f0f) | (((tmp >> 0) & 0x03030303) << 4);
    aux[1] = (aux[1] & 0x0f0f0f0f) | (((tmp >> 2) & 0x03030303) << 4);
    for (int j = 0; j < 16; j++) out[j] = (int8_t)(((const uint8_t *)aux)[j] - 32);
}

// Byte `i` of row `r`'s plain block, found in an interleaved group block whose plain fields start
// at `fields` (ascending offsets, the last one running to the end of the block_bytes-byte block).
static inline uint8_t group_byte(const uint8_t *blk, const int *fields, int nfields, int block_bytes, int r, int i) {
    int f = nfields - 1;
    while (fields[f] > i) f--;
    int start = fields[f], width = (f + 1 < nfields ? fields[f + 1] : block_bytes) - start;
    int u = width < 4 ? width : 4, k = (i - start) / u, j = (i - start) % u;
    return blk[8 * start + 8 * u * k + u * r + j];
}

// The plain twins of 8-row kernels: each row rebuilt from the group block (group_byte, fields as
// in Quant/Interleaved.swift) and run through the type's one-row plain kernel.
#define PLAIN_GROUP_KERNELS(T, BLOCK, BB, ...) \
    void ggml_plain_##T##x8(const void *w, const int8_t *x, const float *xd, const int32_t *sums, int nb, float *out) { \
        static const int fields[] = {__VA_ARGS__}; \
        const uint8_t *p = w; \
        for (int r = 0; r < 8; r++) { \
            float acc = 0; \
            for (int b = 0; b < nb; b++) { \
                uint8_t row[BB]; \
                for (int i = 0; i < BB; i++) row[i] = group_byte(p + b * 8 * BB, fields, sizeof(fields) / sizeof(int), BB, r, i); \
                acc += ggml_plain_##T(row, x + BLOCK * b, xd + b, sums + (BLOCK == 256 ? 16 : 1) * b, 1); \
            } \
            out[r] = acc; \
        } \
    } \
    void ggml_plain_##T##x8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *sums, long stride, int nb, float *out) { \
        for (int k = 0; k < 4; k++) \
            ggml_plain_##T##x8(w, x + k * stride, xd + k * (stride / BLOCK), sums + k * (stride / (BLOCK == 256 ? 16 : 32)), nb, out + 8 * k); \
    }

#if GGML_SIMD_X86

// Σ over groups of 4 of u[i]·s[i] (u unsigned, s signed bytes) into 8 Int32 lanes. Callers keep
// every pair sum within Int16 (|u·s| ≤ 127·127 or 15·127), so the AVX2 route cannot saturate.
static inline __m256i dot_u8s8(__m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

// v & *mask, the mask read from memory by the `vpand` itself. In a loop that holds all 16 registers
// (half.c's bf16 tiles, bnb4.c's decode) the compiler would otherwise keep a constant mask as a 17th
// and spill, or make it again each time with a broadcast on the shuffle pipes.
static inline __m256i and_from_memory(__m256i v, const void *mask) {
    __m256i r;
    __asm__("vpand %1, %2, %0" : "=x"(r) : "m"(*(const __m256i *)mask), "x"(v));
    return r;
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

// Σ over 4-byte groups into 8 lanes, accumulated: vpdpbusd where there is VNNI.
static inline __m256i dot_u8s8_acc(__m256i acc, __m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpbusd_epi32(acc, u, s);
#else
    return _mm256_add_epi32(acc, dot_u8s8(u, s));
#endif
}

static inline int32_t load_i32(const int8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }

// One group block of eight 32-value rows (Quant/Interleaved.swift: vector v holds elements 4v…4v+3
// of each row in `lo`, 16+4v… in `hi`, as bytes 0…31) against one activation block: the 8 row sums
// Σq·x in 8 lanes, each vpdpbusd taking 4 activation bytes broadcast.
static inline __m256i x8_dot_32(const __m256i *lo, const __m256i *hi, const int8_t *x) {
    __m256i isum = _mm256_setzero_si256();
    for (int v = 0; v < 4; v++) {
        isum = dot_u8s8_acc(isum, lo[v], _mm256_set1_epi32(load_i32(x + 4 * v)));
        isum = dot_u8s8_acc(isum, hi[v], _mm256_set1_epi32(load_i32(x + 16 + 4 * v)));
    }
    return isum;
}

// q4_K / q5_K, 8 rows: the 6-bit scales and minimums of all 8 rows' 8 sub-blocks, one vector per
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

static inline __m256i q4_Kx8_mins(const __m256i *mn, const int32_t *bs) {
    __m256i s = _mm256_setzero_si256();
    for (int j = 0; j < 8; j++) s = _mm256_add_epi32(s, _mm256_mullo_epi32(mn[j], _mm256_set1_epi32(bs[2 * j] + bs[2 * j + 1])));
    return s;
}

// Fifth bits of eight interleaved 32-value rows (lane r: row r's 32 bits, as q5_0 / q5_1 groups store
// them): the bits of elements shift…shift+3 as 16 in bytes 0…3 of each lane. A lane shift brings them
// down to byte 0, a shuffle copies that byte to all four, and byte b keeps bit b.
static inline __m256i q5_0x8_high(__m256i qh, int shift) {
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12, 0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12);
    const __m256i bit = _mm256_set1_epi32(0x08040201);
    __m256i t = _mm256_shuffle_epi8(_mm256_srl_epi32(qh, _mm_cvtsi32_si128(shift)), spread);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(t, bit), bit), _mm256_set1_epi8(16));
}

// Eight interleaved rows of signed levels (iq4_nl / iq4_xs groups) against 32 activation bytes:
// Vector i < 4: elements 4i… of each row (low nibbles); i ≥ 4: elements 16 + 4(i−4)… (high ones).
static inline __m256i iq4_nlx8_dot(const __m256i *v, const __m256i *av, const int8_t *x) {
    __m256i isum = _mm256_setzero_si256();
    for (int i = 0; i < 8; i++) {
        __m256i xb = _mm256_set1_epi32(load_i32(x + (i < 4 ? 4 * i : 16 + 4 * (i - 4))));
        isum = dot_u8s8_acc(isum, av[i], _mm256_sign_epi8(xb, v[i]));
    }
    return isum;
}

// The 8-row kernels of a 32-value type with a minimum (q4_1, q5_1): groups of BB bytes whose first
// 16 bytes are the 8 rows' fp16 d and the next 16 their fp16 m; UNPACK gives the values as x8_dot_32
// takes them. Σ(d·q + m)·x = d·Σq·x + m·Σx in the 8 lanes.
#define GROUP_KERNELS_WITH_MIN(T, BB, UNPACK) \
    void ggml_simd_##T##x8(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, int nb, float *out) { \
        const uint8_t *p = w; \
        __m256 acc = _mm256_setzero_ps(); \
        for (int b = 0; b < nb; b++) { \
            const uint8_t *blk = p + b * BB; \
            __m256i lo[4], hi[4]; \
            UNPACK(blk, lo, hi); \
            __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk)), _mm256_set1_ps(xd[b])); \
            acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(x8_dot_32(lo, hi, x + 32 * b)), acc); \
            acc = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 16))), _mm256_set1_ps(xd[b] * (float)xsum[b]), acc); \
        } \
        _mm256_storeu_ps(out, acc); \
    } \
    void ggml_simd_##T##x8_x4(const void *w, const int8_t *x, const float *xd, const int32_t *xsum, long stride, int nb, float *out) { \
        const uint8_t *p = w; \
        const long ds = stride / 32; \
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()}; \
        for (int b = 0; b < nb; b++) { \
            const uint8_t *blk = p + b * BB; \
            __m256i lo[4], hi[4]; \
            UNPACK(blk, lo, hi); \
            __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk)), mw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 16))); \
            for (int k = 0; k < 4; k++) { \
                float dx = xd[k * ds + b]; \
                acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(dx)), _mm256_cvtepi32_ps(x8_dot_32(lo, hi, x + k * stride + 32 * b)), acc[k]); \
                acc[k] = _mm256_fmadd_ps(mw, _mm256_set1_ps(dx * (float)xsum[k * ds + b]), acc[k]); \
            } \
        } \
        for (int k = 0; k < 4; k++) _mm256_storeu_ps(out + 8 * k, acc[k]); \
    }

// Byte j = `value` where bit j of qh is set, else 0 (llama.cpp's bytes_from_bits_32).
static inline __m256i bits_to_bytes(uint32_t qh, char value) {
#if defined(__AVX512BW__) && defined(__AVX512VL__)
    return _mm256_maskz_mov_epi8((__mmask32)qh, _mm256_set1_epi8(value));
#else
    // byte j takes byte j/8 of qh, then keeps bit j%8
    const __m256i shuf = _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
    __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), shuf);
    bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    return _mm256_and_si256(_mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1)), _mm256_set1_epi8(value));
#endif
}

// Byte l = `value` where byte l of `v` has the bits of `mask` set, else 0.
static inline __m256i mask_to_bytes(__m256i v, uint8_t mask, char value) {
    const __m256i m = _mm256_set1_epi8((char)mask);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(v, m), m), _mm256_set1_epi8(value));
}

// A super-block's 256 unsigned values (8 vectors of 32, in element order) against 256 activation
// bytes: Σ_i S[i]·(pair sums of v[i]·x) in 8 Int32 lanes. S[i] holds 16-bit scales per pair lane
// (one scale for all 32 values, or two for two sub-blocks of 16). Callers keep v·x pair sums in Int16.
static inline __m256i scaled_dot_256(const __m256i *v, const int8_t *x, const __m256i *S) {
    __m256i isum = _mm256_setzero_si256();
    for (int i = 0; i < 8; i++) {
        __m256i p = _mm256_maddubs_epi16(v[i], _mm256_loadu_si256((const __m256i *)(x + 32 * i)));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, S[i]));
    }
    return isum;
}

// Two 16-bit scales, one for each 16-value half of a 32-byte vector (pair lanes 0-7 and 8-15).
static inline __m256i scale_pair(int lo, int hi) { return _mm256_setr_m128i(_mm_set1_epi16((short)lo), _mm_set1_epi16((short)hi)); }

// 32 signed values looked up from `table` (16 bytes) by the 4-bit codes in `codes` (0…15 per byte).
static inline __m256i lookup16(const int8_t *table, __m256i codes) {
    const __m256i t = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)table));
    return _mm256_shuffle_epi8(t, codes);
}

// Σ w·x over signed bytes w (|w| ≤ 127), 8 Int32 lanes: |w| against x with w's signs.
static inline __m256i dot_s8s8(__m256i w, __m256i x) {
    return dot_u8s8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
}

#endif
#endif
