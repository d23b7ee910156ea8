// bitsandbytes' 4-bit formats (Quant/Bnb4Bit.swift): weight rows against F32 activations. The
// 16 code-book values fill one 512-bit register, so `vpermps` decodes 16 codes per instruction (its
// index is the low 4 bits of each lane, so no mask is needed). A 64-byte load holds 128 codes as 16
// lanes of 8 nibbles: shifted right by 4k, lane j's low bits are its nibble k, so shifts (most of
// them replaced by loads at byte offsets, see chunk_products) and eight `vpermps` decode them,
// against activations put once per call in the matching order
// (bnb4_order: value 8j + (k ^ 1) of the chunk at 16k + j, the high nibble holding the even value).
// Lane j of a chunk lies in one block (8 values; blocks are multiples of 32), so the chunk's 8
// products per lane are scaled once, by a vector of the lanes' absmax.
//
// Decode takes four rows at a time where each half of a chunk lies in one block (blocks of 64 or
// more): the activations are loaded once for the four, each half's absmax is broadcast from memory
// into a total of its own rather than blended into a vector (a shuffle beside the 8 permutes), and
// the codes about 8 KiB ahead are prefetched in the order they are read. One row per call ran at
// 25 GB/s with its codes in cache and 20 streamed, four at 32 and 30, and with the loads at byte
// offsets at 34 and 31, where a plain read of the same buffer gives 39-42
// (scripts/bench-bnb4-ceiling): streamed nearly as fast as in cache, the kernel still sets the pace.
// Int16 arithmetic (one `vpermw` per 32 codes, `vpdpwssd`) was faster in cache but
// moved the tiny GPT-2's logits by 1e-4 and flipped a greedy token bitsandbytes picks by 5e-5; with
// a second Int16 level for the activations' remainder it was exact enough and barely faster.
// Rows whose length is not a multiple of 128 finish in groups of 32, 16 even values then 16 odd
// ones. A prompt widens weight rows the same way (bnb4_simd_widen) for F32's tiled product. See
// include/BnbSIMD.h.
#include "BnbSIMD.h"
#include "ggml_simd_internal.h"
#include <stdlib.h>

// bitsandbytes' absmax of block b, as Bnb4BitLinear.blockScale computes it (product, then sum:
// never contracted to one fused multiply-add, which would round differently).
#pragma STDC FP_CONTRACT OFF
static inline float block_absmax(const bnb4_scales *s, long b) {
    if (s->absmax) return s->absmax[b];
    float p = s->dynamic[s->absmax8[b]] * s->absmax2[b >> 8];
    return p + s->offset;
}

int bnb4_position(int i, int n) {
    const int c = i & ~127, d = i & 127;
    if (c + 128 <= n) return c + 16 * ((d & 7) ^ 1) + (d >> 3);
    const int g = i & ~31, k = i & 31;
    return g + k / 2 + (k & 1) * 16;
}

void bnb4_order(const float *x, int n, float *xp) {
    int c = 0;
    for (; c + 128 <= n; c += 128)
        for (int k = 0; k < 8; k++)
            for (int j = 0; j < 16; j++) xp[c + 16 * k + j] = x[c + 8 * j + (k ^ 1)];
    for (; c < n; c += 32)
        for (int j = 0; j < 16; j++) { xp[c + j] = x[c + 2 * j]; xp[c + 16 + j] = x[c + 2 * j + 1]; }
}

static inline int code_at(const uint8_t *packed, long i) { return i & 1 ? packed[i >> 1] & 15 : packed[i >> 1] >> 4; }

void bnb4_plain_dot(const uint8_t *packed, long e, int rows, int n, int block, const bnb4_scales *s, const float *table, const float *xp,
                    float *y) {
    for (int r = 0; r < rows; r++, e += n) {
        float acc = 0;
        for (int g = 0; g < n; g += 32) {
            float part = 0;
            for (int i = g; i < g + 32; i++) part += table[code_at(packed, e + i)] * xp[bnb4_position(i, n)];
            acc += part * block_absmax(s, (e + g) / block);
        }
        y[r] = acc;
    }
}

void bnb4_plain_widen(const uint8_t *packed, long e, int n, int block, const bnb4_scales *s, const float *table, float *dst) {
    for (int i = 0; i < n; i++) dst[bnb4_position(i, n)] = table[code_at(packed, e + i)] * block_absmax(s, (e + i) / block);
}

#if (defined(__AVX2__) && defined(__FMA__)) || defined(__AVX512F__)
static inline int log2_block(int block) { return block > 0 && (block & (block - 1)) == 0 ? __builtin_ctz((unsigned)block) : -1; }
#endif

#if defined(__AVX2__) && defined(__FMA__)

// The AVX2 path: what bnb4_simd_* run where the compiler targets no AVX-512 (Zen 1-3, most Intel
// client chips), compiled wherever AVX2 is so that the tests check it on AVX-512 machines too.
// There `vpermps` looks up 8 entries, not 16: two lookups, two shifts and a blend per 8 codes,
// where byte lookups take 12 shuffles per 32 (and 4 operations per 64 to order and split the
// nibbles); written so (codes loaded at byte offsets, a compare for the blend), it took twice the
// time on the Zen 3 (scratch, 79 cycles per 128 codes against 35). So the table is split into its
// four byte planes (byte b of every entry: a `vpshufb` table), and each float is put back together
// from its four bytes with two levels of unpacks. The unpacks interleave the first 4 bytes of each
// 128-bit half, then the next 4, and so on; a first
// `vpshufb` orders the code bytes of each half "byte k of every lane" (0, 4, 8, 12, 1, 5, ...) so
// that the floats come out as lanes 0-7 of one nibble, the order the AVX-512 path reads them in
// (decode skips it and reorders its activations instead, once per call: avx2_row_dot_halves). A
// 32-byte half of a chunk holds lanes 8h…8h+7: values 64h…64h+63, each quarter (lanes 4q…4q+3) in
// one block.

typedef struct { __m256i plane[4]; } byte_planes;

static inline byte_planes planes_of(const float *table) {
    uint8_t b[4][32];
    for (int k = 0; k < 16; k++) {
        uint32_t u;
        memcpy(&u, table + k, 4);
        for (int j = 0; j < 4; j++) b[j][k] = b[j][k + 16] = (uint8_t)(u >> (8 * j));
    }
    byte_planes t;
    for (int j = 0; j < 4; j++) t.plane[j] = _mm256_loadu_si256((const __m256i *)b[j]);
    return t;
}

// table[i] for the 32 nibbles i in the low bits of n's bytes, as 4 vectors: out[m] holds those of
// bytes 4m…4m+3 of each 128-bit half.
static inline void lookup32(const byte_planes *t, __m256i n, __m256 out[4]) {
    const __m256i b0 = _mm256_shuffle_epi8(t->plane[0], n), b1 = _mm256_shuffle_epi8(t->plane[1], n);
    const __m256i b2 = _mm256_shuffle_epi8(t->plane[2], n), b3 = _mm256_shuffle_epi8(t->plane[3], n);
    const __m256i l01 = _mm256_unpacklo_epi8(b0, b1), h01 = _mm256_unpackhi_epi8(b0, b1);
    const __m256i l23 = _mm256_unpacklo_epi8(b2, b3), h23 = _mm256_unpackhi_epi8(b2, b3);
    out[0] = _mm256_castsi256_ps(_mm256_unpacklo_epi16(l01, l23));
    out[1] = _mm256_castsi256_ps(_mm256_unpackhi_epi16(l01, l23));
    out[2] = _mm256_castsi256_ps(_mm256_unpacklo_epi16(h01, h23));
    out[3] = _mm256_castsi256_ps(_mm256_unpackhi_epi16(h01, h23));
}

// The low nibble of each byte, the mask from memory: the decode loop uses all 16 registers, and as
// a constant the compiler made it again for every 32 bytes with a `vpbroadcastb`, one more
// operation on the shuffle pipes (which, it turned out, do not set the loop's pace: README).
static inline __m256i low_nibbles(__m256i v) {
    static const uint8_t fifteen[32] __attribute__((aligned(32))) = {15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
                                                                     15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15};
    return and_from_memory(v, fifteen);
}

// Each byte's high nibble moved to its low bits (in 16-bit lanes: the byte above leaves bits 4-7
// set, which low_nibbles clears), as `vpmulhuw` by 2^12 rather than `vpsrlw` by 4: the same bits,
// but from the multiply pipe (FP0) instead of the shuffle pipes (FP1, FP2), which the lookups and
// unpacks keep busy (llvm-mca -mcpu=znver3 on the decode loop: FP1 and FP2 both the bottleneck).
// Decode took 0.96-1.00 of its time with the shift (scratch harness on the Zen 3, rows in L2: 384 of
// 768 and 192 of 3072, 8 runs, all faster).
static inline __m256i high_nibbles_down(__m256i v) { return _mm256_mulhi_epu16(v, _mm256_set1_epi16(1 << 12)); }

// The 64 codes of the 32 bytes q: d[2m] the low nibbles of bytes 4m…4m+3 of each 128-bit half,
// d[2m + 1] their high nibbles.
static inline void decode_bytes(const byte_planes *t, __m256i q, __m256 d[8]) {
    __m256 lo[4], hi[4];
    lookup32(t, low_nibbles(q), lo);
    lookup32(t, low_nibbles(high_nibbles_down(q)), hi);
    for (int m = 0; m < 4; m++) { d[2 * m] = lo[m]; d[2 * m + 1] = hi[m]; }
}

// Nibble k of lanes 0-7 of the 32 code bytes at p, decoded, in d[k].
static inline void decode_half(const byte_planes *t, const uint8_t *p, __m256 d[8]) {
    const __m256i by_byte = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
                                             0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    decode_bytes(t, _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)p), by_byte), d);
}

// The absmax of each quarter of the half at flat element f (a multiple of 32): lanes 0-3, 4-7.
// With blocks a power of two of at least 64 and f a multiple of 64, the half lies in one block, and
// one broadcast from memory (a load, not a shuffle) is its scale.
static inline __m256 half_scales(const bnb4_scales *s, long f, int block, int shift) {
    if (shift >= 6 && (f & 63) == 0) return s->absmax ? _mm256_broadcast_ss(s->absmax + (f >> shift)) : _mm256_set1_ps(block_absmax(s, f >> shift));
    const long b0 = shift >= 0 ? f >> shift : f / block, b1 = shift >= 0 ? (f + 32) >> shift : (f + 32) / block;
    const float a0 = block_absmax(s, b0), a1 = b1 == b0 ? a0 : block_absmax(s, b1);
    return _mm256_set_m128(_mm_set1_ps(a1), _mm_set1_ps(a0));
}

// A group of 32 values past the last whole chunk (16 bytes at p): even values (high nibbles) at
// xp[0…15], odd ones at xp[16…31]. The high nibbles go in the low half of the vector, the low ones
// in the high half, so out[m] pairs xp[4m…4m+3] with xp[16 + 4m…16 + 4m+3].
static inline void decode_tail(const byte_planes *t, const uint8_t *p, __m256 d[4]) {
    const __m128i q = _mm_loadu_si128((const __m128i *)p), mask = _mm_set1_epi8(15);
    lookup32(t, _mm256_set_m128i(_mm_and_si128(q, mask), _mm_and_si128(_mm_srli_epi16(q, 4), mask)), d);
}

// Σ_k d[k] · x[16k…16k+7], per lane: the products of one decoded half.
static inline __m256 half_products(const __m256 d[8], const float *x) {
    __m256 a = _mm256_mul_ps(d[0], _mm256_loadu_ps(x)), b = _mm256_mul_ps(d[1], _mm256_loadu_ps(x + 16));
    for (int k = 2; k < 8; k += 2) {
        a = _mm256_fmadd_ps(d[k], _mm256_loadu_ps(x + 16 * k), a);
        b = _mm256_fmadd_ps(d[k + 1], _mm256_loadu_ps(x + 16 * k + 16), b);
    }
    return _mm256_add_ps(a, b);
}

// decode_bytes of the code bytes as loaded (decode_half without its `vpshufb`): d[2m + u] holds, at
// position 4L + b, nibble u (0 low, 1 high) of byte b of lane 8h + 4L + m (h: which half of the
// chunk). The activations are put in that order once per call instead (avx2_order).
// xp (n a multiple of 128, in bnb4_order) moved to that order: what lane j,
// nibble k is at 16k + j in bnb4_order, here at 16k' + 8h + 4L + b where j = 8h + 4L + m, k = 2b + u
// and k' = 2m + u.
static void avx2_order(const float *xp, int n, float *xa) {
    for (int c = 0; c < n; c += 128)
        for (int k2 = 0; k2 < 8; k2++)
            for (int i = 0; i < 16; i++) {
                const int h = i >> 3, L = (i >> 2) & 1, b = i & 3, m = k2 >> 1, u = k2 & 1;
                xa[c + 16 * k2 + i] = xp[c + 16 * (2 * b + u) + 8 * h + 4 * L + m];
            }
}

// A row whose halves each lie in one block (blocks a power of two of at least 64, the row starting
// at a multiple of 64, n a multiple of 128): each half's scale is one broadcast, and its codes are
// decoded as loaded (decode_bytes), against activations in avx2_order (`xa`). `am`: s->absmax or NULL (double
// quantization), a constant at each call so that each gets its own loop. Scratch harness on the Zen
// 3, rows in L2 (384 of 768, 192 of 3072: GPT-2's products at two threads): decoding as loaded, the
// activations' reordering included, took 0.92-0.95 of the time of the same loop with the ordering
// `vpshufb`; with high_nibbles_down too, 0.89-0.96 of avx2_row_dot's (a test of the layout per half,
// and spills).
static inline __attribute__((always_inline)) float avx2_row_dot_halves(const uint8_t *packed, long e, int n, int shift, const bnb4_scales *s,
                                                                       const float *am, const byte_planes *t, const float *xa) {
    __m256 tot0 = _mm256_setzero_ps(), tot1 = _mm256_setzero_ps();
    const uint8_t *p = packed + e / 2;
    for (int c = 0; c < n; c += 128, p += 64)
        for (int h = 0; h < 2; h++) {
            __m256 d[8];
            decode_bytes(t, _mm256_loadu_si256((const __m256i *)(p + 32 * h)), d);
            const __m256 v = half_products(d, xa + c + 8 * h);
            const long b = (e + c + 64 * h) >> shift;
            // two totals taken in turn, so the halves do not wait on each other
            const __m256 next = _mm256_fmadd_ps(v, am ? _mm256_broadcast_ss(am + b) : _mm256_set1_ps(block_absmax(s, b)), tot0);
            tot0 = tot1;
            tot1 = next;
        }
    return hsum(_mm256_add_ps(tot0, tot1));
}

// Any layout.
static float avx2_row_dot(const uint8_t *packed, long e, int n, int block, int shift, const bnb4_scales *s, const byte_planes *t,
                          const float *xp) {
    __m256 tot0 = _mm256_setzero_ps(), tot1 = _mm256_setzero_ps();
    const uint8_t *p = packed + e / 2;
    int c = 0;
    for (; c + 128 <= n; c += 128, p += 64)
        for (int h = 0; h < 2; h++) {
            __m256 d[8];
            decode_half(t, p + 32 * h, d);
            const __m256 next = _mm256_fmadd_ps(half_products(d, xp + c + 8 * h), half_scales(s, e + c + 64 * h, block, shift), tot0);
            tot0 = tot1;
            tot1 = next;
        }
    for (; c < n; c += 32, p += 16) {
        __m256 d[4];
        decode_tail(t, p, d);
        __m256 a = _mm256_mul_ps(d[0], _mm256_loadu2_m128(xp + c + 16, xp + c));
        for (int m = 1; m < 4; m++) a = _mm256_fmadd_ps(d[m], _mm256_loadu2_m128(xp + c + 16 + 4 * m, xp + c + 4 * m), a);
        tot0 = _mm256_fmadd_ps(a, _mm256_set1_ps(block_absmax(s, (e + c) / block)), tot0);
    }
    return hsum(_mm256_add_ps(tot0, tot1));
}

void bnb4_avx2_dot(const uint8_t *packed, long e, int rows, int n, int block, const bnb4_scales *s, const float *table, const float *xp,
                   float *y) {
    const byte_planes t = planes_of(table);
    const int shift = log2_block(block);
    // On the heap: n has no bound here (a thread's stack is 1 MiB). Without it, the general loop.
    float *xa = shift >= 6 && (e & 63) == 0 && (n & 127) == 0 ? malloc(sizeof(float) * (size_t)n) : NULL;
    if (xa) {
        avx2_order(xp, n, xa);
        if (s->absmax)
            for (int r = 0; r < rows; r++) y[r] = avx2_row_dot_halves(packed, e + (long)r * n, n, shift, s, s->absmax, &t, xa);
        else
            for (int r = 0; r < rows; r++) y[r] = avx2_row_dot_halves(packed, e + (long)r * n, n, shift, s, NULL, &t, xa);
        free(xa);
    } else {
        for (int r = 0; r < rows; r++) y[r] = avx2_row_dot(packed, e + (long)r * n, n, block, shift, s, &t, xp);
    }
}

void bnb4_avx2_widen(const uint8_t *packed, long e, int n, int block, const bnb4_scales *s, const float *table, float *dst) {
    const byte_planes t = planes_of(table);
    const int shift = log2_block(block);
    const uint8_t *p = packed + e / 2;
    int c = 0;
    for (; c + 128 <= n; c += 128, p += 64)
        for (int h = 0; h < 2; h++) {
            __m256 d[8];
            decode_half(&t, p + 32 * h, d);
            const __m256 a = half_scales(s, e + c + 64 * h, block, shift);
            for (int k = 0; k < 8; k++) _mm256_storeu_ps(dst + c + 16 * k + 8 * h, _mm256_mul_ps(d[k], a));
        }
    for (; c < n; c += 32, p += 16) {
        __m256 d[4];
        decode_tail(&t, p, d);
        const __m256 a = _mm256_set1_ps(block_absmax(s, (e + c) / block));
        for (int m = 0; m < 4; m++) _mm256_storeu2_m128(dst + c + 16 + 4 * m, dst + c + 4 * m, _mm256_mul_ps(d[m], a));
    }
}

#else

void bnb4_avx2_dot(const uint8_t *packed, long e, int rows, int n, int block, const bnb4_scales *s, const float *table, const float *xp,
                   float *y) {
    bnb4_plain_dot(packed, e, rows, n, block, s, table, xp, y);
}

void bnb4_avx2_widen(const uint8_t *packed, long e, int n, int block, const bnb4_scales *s, const float *table, float *dst) {
    bnb4_plain_widen(packed, e, n, block, s, table, dst);
}

#endif

#if defined(__AVX512F__)

// Lane j's absmax for the 128-value chunk at flat element f (a multiple of 32): with blocks a power
// of two of at least 64 and f a multiple of 64 (`shift` = log2 of the block, else -1), each half of
// the chunk lies in one block; otherwise each quarter (32 values, lanes 4q…4q+3) does.
static inline __m512 chunk_scales(const bnb4_scales *s, long f, int block, int shift) {
    if (shift >= 6 && (f & 63) == 0)
        return _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(block_absmax(s, f >> shift)), _mm512_set1_ps(block_absmax(s, (f + 64) >> shift)));
    float q[4];
    for (int k = 0; k < 4; k++) q[k] = block_absmax(s, (f + 32 * k) / block);
    return _mm512_permutexvar_ps(_mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0), _mm512_castps128_ps512(_mm_loadu_ps(q)));
}

// Nibble k of every lane of 128 codes, decoded.
#define NIBBLES(q, k, t) _mm512_permutexvar_ps((k) ? _mm512_srli_epi32(q, 4 * (k)) : (q), t)

// The 128 products of a chunk (codes at p, activations x[0…7]) summed per lane: lane j holds
// values 8j…8j+7. Loaded at byte offsets 1, 2 and 3 as well, lane j's low bits are the low nibble of
// byte 4j+k, which is nibble 2k of the aligned load: three more loads replace three of the seven shifts
// (see the top of the file for what that gained), but read 3 bytes past the chunk, so
// the last chunk before `end` (the end of the caller's codes) takes the shifts. The line at `ahead`
// is fetched meanwhile (codes about 8 KiB ahead: without it, streamed codes ran at 18 GB/s instead
// of 30).
static inline __m512 chunk_products(const uint8_t *p, const uint8_t *end, __m512 t, const __m512 *x, const char *ahead) {
    _mm_prefetch(ahead, _MM_HINT_T0);
    const __m512i q = _mm512_loadu_si512(p);
    __m512i q1, q2, q3;
    if (end - p >= 67) {
        q1 = _mm512_loadu_si512(p + 1); q2 = _mm512_loadu_si512(p + 2); q3 = _mm512_loadu_si512(p + 3);
    } else {
        q1 = _mm512_srli_epi32(q, 8); q2 = _mm512_srli_epi32(q, 16); q3 = _mm512_srli_epi32(q, 24);
    }
    __m512 a0 = _mm512_mul_ps(NIBBLES(q, 0, t), x[0]);
    __m512 a1 = _mm512_mul_ps(NIBBLES(q, 1, t), x[1]);
    a0 = _mm512_fmadd_ps(NIBBLES(q1, 0, t), x[2], a0);
    a1 = _mm512_fmadd_ps(NIBBLES(q1, 1, t), x[3], a1);
    a0 = _mm512_fmadd_ps(NIBBLES(q2, 0, t), x[4], a0);
    a1 = _mm512_fmadd_ps(NIBBLES(q2, 1, t), x[5], a1);
    a0 = _mm512_fmadd_ps(NIBBLES(q3, 0, t), x[6], a0);
    a1 = _mm512_fmadd_ps(NIBBLES(q3, 1, t), x[7], a1);
    return _mm512_add_ps(a0, a1);
}

// Four rows whose chunks each lie in two blocks, one per half (blocks of 64 or more, rows starting
// at multiples of 64, n a multiple of 128). `am`: s->absmax or NULL (double quantization), a
// constant at each call so that each gets its own loop.
// The four rows' 2n bytes of codes are read 256 bytes a chunk, and the prefetches walk the bytes
// `ahead` (8 KiB, or the next four rows where they are longer) past the rows' start at that pace,
// one line per row of a chunk. A prefetch 8 KiB past each row's chunk covered as much but, in rows
// longer than 2 KiB (GPT-2's MLP projection: 3072 values, 1.5 KiB), out of the order the codes are
// then read: rows of 3072 streamed at 26.9 GB/s of codes against 31.2 in rows of 768
// (scripts/bench-bnb4-ceiling, 2026-11-30 19:02 UTC, benchmarks/bench-bnb4-ceiling-20261130T1902Z.log).
static inline __attribute__((always_inline)) void simd_rows4(const uint8_t *packed, const uint8_t *end, long e, int n, int shift,
                                                             const bnb4_scales *s, const float *am, const __m512 t, const float *xp, float *y) {
    __m512 lo[4], hi[4];   // totals of each row's first and second halves of chunks (lanes 0-7, 8-15)
    for (int r = 0; r < 4; r++) lo[r] = hi[r] = _mm512_setzero_ps();
    const char *ahead = (const char *)(packed + e / 2) + (2 * n > 8192 ? 2 * n : 8192);
    for (int c = 0; c < n; c += 128, ahead += 256) {
        __m512 x[8];
        for (int k = 0; k < 8; k++) x[k] = _mm512_loadu_ps(xp + c + 16 * k);
        for (int r = 0; r < 4; r++) {
            const long f = e + (long)r * n + c, b0 = f >> shift, b1 = (f + 64) >> shift;
            const __m512 v = chunk_products(packed + f / 2, end, t, x, ahead + 64 * r);
            lo[r] = _mm512_fmadd_ps(v, _mm512_set1_ps(am ? am[b0] : block_absmax(s, b0)), lo[r]);
            hi[r] = _mm512_fmadd_ps(v, _mm512_set1_ps(am ? am[b1] : block_absmax(s, b1)), hi[r]);
        }
    }
    for (int r = 0; r < 4; r++) y[r] = _mm512_reduce_add_ps(_mm512_mask_blend_ps(0xFF00, lo[r], hi[r]));
}

// Any layout, one row.
static float simd_row_dot(const uint8_t *packed, const uint8_t *end, long e, int n, int block, const bnb4_scales *s, const float *table,
                          const float *xp) {
    const __m512 t = _mm512_loadu_ps(table);
    const int shift = log2_block(block);
    __m512 tot0 = _mm512_setzero_ps(), tot1 = _mm512_setzero_ps();
    const uint8_t *p = packed + e / 2;
    int c = 0;
    for (; c + 128 <= n; c += 128, p += 64) {
        __m512 x[8];
        for (int k = 0; k < 8; k++) x[k] = _mm512_loadu_ps(xp + c + 16 * k);
        // two totals taken in turn, so consecutive chunks do not wait on each other
        const __m512 next = _mm512_fmadd_ps(chunk_products(p, end, t, x, (const char *)p + 8192), chunk_scales(s, e + c, block, shift), tot0);
        tot0 = tot1;
        tot1 = next;
    }
    for (; c < n; c += 32, p += 16) {   // the last n mod 128 values, 32 at a time
        const __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
        __m512 a = _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(q, 4), t), _mm512_loadu_ps(xp + c));
        a = _mm512_fmadd_ps(_mm512_permutexvar_ps(q, t), _mm512_loadu_ps(xp + c + 16), a);
        tot0 = _mm512_fmadd_ps(a, _mm512_set1_ps(block_absmax(s, (e + c) / block)), tot0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(tot0, tot1));
}

void bnb4_simd_dot(const uint8_t *packed, long e, int rows, int n, int block, const bnb4_scales *s, const float *table, const float *xp,
                   float *y) {
    const int shift = log2_block(block);
    const __m512 t = _mm512_loadu_ps(table);
    const uint8_t *end = packed + (e + (long)rows * n + 1) / 2;
    int r = 0;
    if (shift >= 6 && (e & 63) == 0 && (n & 127) == 0)
        for (; r + 4 <= rows; r += 4) {
            if (s->absmax) simd_rows4(packed, end, e + (long)r * n, n, shift, s, s->absmax, t, xp, y + r);
            else simd_rows4(packed, end, e + (long)r * n, n, shift, s, NULL, t, xp, y + r);
        }
    for (; r < rows; r++) y[r] = simd_row_dot(packed, end, e + (long)r * n, n, block, s, table, xp);
}

void bnb4_simd_widen(const uint8_t *packed, long e, int n, int block, const bnb4_scales *s, const float *table, float *dst) {
    const __m512 t = _mm512_loadu_ps(table);
    const int shift = log2_block(block);
    const uint8_t *p = packed + e / 2;
    int c = 0;
    for (; c + 128 <= n; c += 128, p += 64) {
        const __m512i q = _mm512_loadu_si512(p);
        const __m512 a = chunk_scales(s, e + c, block, shift);
        _mm512_storeu_ps(dst + c, _mm512_mul_ps(NIBBLES(q, 0, t), a));
        _mm512_storeu_ps(dst + c + 16, _mm512_mul_ps(NIBBLES(q, 1, t), a));
        _mm512_storeu_ps(dst + c + 32, _mm512_mul_ps(NIBBLES(q, 2, t), a));
        _mm512_storeu_ps(dst + c + 48, _mm512_mul_ps(NIBBLES(q, 3, t), a));
        _mm512_storeu_ps(dst + c + 64, _mm512_mul_ps(NIBBLES(q, 4, t), a));
        _mm512_storeu_ps(dst + c + 80, _mm512_mul_ps(NIBBLES(q, 5, t), a));
        _mm512_storeu_ps(dst + c + 96, _mm512_mul_ps(NIBBLES(q, 6, t), a));
        _mm512_storeu_ps(dst + c + 112, _mm512_mul_ps(NIBBLES(q, 7, t), a));
    }
    for (; c < n; c += 32, p += 16) {
        const __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
        const __m512 a = _mm512_set1_ps(block_absmax(s, (e + c) / block));
        _mm512_storeu_ps(dst + c, _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(q, 4), t), a));
        _mm512_storeu_ps(dst + c + 16, _mm512_mul_ps(_mm512_permutexvar_ps(q, t), a));
    }
}

#else

void bnb4_simd_dot(const uint8_t *packed, long e, int rows, int n, int block, const bnb4_scales *s, const float *table, const float *xp,
                   float *y) {
    bnb4_avx2_dot(packed, e, rows, n, block, s, table, xp, y);
}

void bnb4_simd_widen(const uint8_t *packed, long e, int n, int block, const bnb4_scales *s, const float *table, float *dst) {
    bnb4_avx2_widen(packed, e, n, block, s, table, dst);
}

#endif
