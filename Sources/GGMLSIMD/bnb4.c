// bitsandbytes' 4-bit formats (Quant/Bnb4Bit.swift): one weight row against F32 activations. The
// 16 code-book values fill one 512-bit register, so `vpermps` decodes 16 codes per instruction
// (its index is the low 4 bits of each lane: a byte's low nibble needs no mask); 16 packed bytes
// widen to 16 lanes, giving the 16 high-nibble (even) values after a shift and the 16 low-nibble
// (odd) ones as they are, against activations stored evens-then-odds (bnb4_pair_order). Each block's
// sum is scaled once, into two accumulators taken in turn so consecutive blocks do not wait on
// each other. A prompt widens weight rows the same way (bnb4_simd_widen) for F32's tiled product.
// See include/BnbSIMD.h.
#include "BnbSIMD.h"
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

// bitsandbytes' absmax of block b, as Bnb4BitLinear.blockScale computes it (product, then sum:
// never contracted to one fused multiply-add, which would round differently).
#pragma STDC FP_CONTRACT OFF
static inline float block_absmax(const bnb4_scales *s, long b) {
    if (s->absmax) return s->absmax[b];
    float p = s->dynamic[s->absmax8[b]] * s->absmax2[b >> 8];
    return p + s->offset;
}

void bnb4_pair_order(const float *x, int n, float *xp) {
    for (int c = 0; c < n; c += 32) {
        for (int j = 0; j < 16; j++) { xp[c + j] = x[c + 2 * j]; xp[c + 16 + j] = x[c + 2 * j + 1]; }
    }
}

float bnb4_plain_dot(const uint8_t *packed, long e, int n, int block, const bnb4_scales *s, const float *table, const float *xp) {
    float acc = 0;
    for (int i = 0; i < n; i += 32) {
        const uint8_t *p = packed + (e + i) / 2;
        float part = 0;
        for (int j = 0; j < 16; j++) part += table[p[j] >> 4] * xp[i + j] + table[p[j] & 15] * xp[i + 16 + j];
        acc += part * block_absmax(s, (e + i) / block);
    }
    return acc;
}

void bnb4_plain_widen(const uint8_t *packed, long e, int n, int block, const bnb4_scales *s, const float *table, float *dst) {
    for (int i = 0; i < n; i += 32) {
        const uint8_t *p = packed + (e + i) / 2;
        const float a = block_absmax(s, (e + i) / block);
        for (int j = 0; j < 16; j++) { dst[i + j] = table[p[j] >> 4] * a; dst[i + 16 + j] = table[p[j] & 15] * a; }
    }
}

#if defined(__AVX512F__)

float bnb4_simd_dot(const uint8_t *packed, long e, int n, int block, const bnb4_scales *s, const float *table, const float *xp) {
    const __m512 t = _mm512_loadu_ps(table);
    __m512 tot0 = _mm512_setzero_ps(), tot1 = _mm512_setzero_ps();
    const uint8_t *p = packed + e / 2;
    // One division per row, not per block: a 64-bit `idiv` per 64 values cost more than the
    // block's vector work.
    long b = e / block;
    int i = 0, stop = (int)((b + 1) * block - e);
    while (i < n) {
        if (stop > n) stop = n;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
        for (; i < stop; i += 32, p += 16) {
            __m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
            a0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(c, 4), t), _mm512_loadu_ps(xp + i), a0);
            a1 = _mm512_fmadd_ps(_mm512_permutexvar_ps(c, t), _mm512_loadu_ps(xp + i + 16), a1);
        }
        __m512 next = _mm512_fmadd_ps(_mm512_add_ps(a0, a1), _mm512_set1_ps(block_absmax(s, b)), tot0);
        tot0 = tot1;
        tot1 = next;
        b++;
        stop += block;
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(tot0, tot1));
}

void bnb4_simd_widen(const uint8_t *packed, long e, int n, int block, const bnb4_scales *s, const float *table, float *dst) {
    const __m512 t = _mm512_loadu_ps(table);
    const uint8_t *p = packed + e / 2;
    long b = e / block;
    int i = 0, stop = (int)((b + 1) * block - e);
    while (i < n) {
        if (stop > n) stop = n;
        const __m512 a = _mm512_set1_ps(block_absmax(s, b));
        for (; i < stop; i += 32, p += 16) {
            __m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
            _mm512_storeu_ps(dst + i, _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(c, 4), t), a));
            _mm512_storeu_ps(dst + i + 16, _mm512_mul_ps(_mm512_permutexvar_ps(c, t), a));
        }
        b++;
        stop += block;
    }
}

#else

float bnb4_simd_dot(const uint8_t *packed, long e, int n, int block, const bnb4_scales *s, const float *table, const float *xp) {
    return bnb4_plain_dot(packed, e, n, block, s, table, xp);
}

void bnb4_simd_widen(const uint8_t *packed, long e, int n, int block, const bnb4_scales *s, const float *table, float *dst) {
    bnb4_plain_widen(packed, e, n, block, s, table, dst);
}

#endif
