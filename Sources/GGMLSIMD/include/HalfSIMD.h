// The prompt product of an fp16 or bf16 weight (Quant/F16.swift, Quant/BF16.swift) in C (half.c):
// Swift keeps too few accumulators in registers for a 4 × 6 tile. x86 paths with F16C and AVX-512
// or AVX2 (`ggml_avx2_*`, also callable on AVX-512 machines for the tests); `ggml_plain_*` are the
// plain twins (the fallback elsewhere), checked by the tests too.
#ifndef HALFSIMD_H
#define HALFSIMD_H
#include <stdint.h>

// y[r·ldy + o] = Σ_i half(w[o·n + i])·x[r·n + i] for o < m weight rows, r < rows activation rows.
void ggml_simd_f16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy);
void ggml_avx2_f16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy);
void ggml_plain_f16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy);
// The same for bf16 rows in BF16Linear's order (32 values as 16 pairs (k, k+16), the tail in order).
void ggml_simd_bf16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy);
void ggml_avx2_bf16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy);
void ggml_plain_bf16_matmul(const uint16_t *w, long m, long n, const float *x, long rows, float *y, long ldy);

#endif
