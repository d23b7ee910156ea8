// The prompt product of an F32 weight (Quant/F32.swift) in C (f32.c), for CPUs whose vectors are
// 256 bits: the same bits as F32Linear.block4x4, in tiles that fit AVX2's 16 registers.
#ifndef F32SIMD_H
#define F32SIMD_H

// y[r·ldy + o] for o < m weight rows of n values and the first 4·⌊rows/4⌋ activation rows of x
// (n values each), each summed as F32Linear.block4x4 sums it. `ggml_avx2_*` is the AVX2 path where
// the compiler targets AVX2 and FMA (the plain one elsewhere); `ggml_plain_*` its twin.
void ggml_avx2_f32_rows4(const float *w, long m, long n, const float *x, long rows, float *y, long ldy);
void ggml_plain_f32_rows4(const float *w, long m, long n, const float *x, long rows, float *y, long ldy);

// The widest vectors the C kernels were compiled for: 512 (AVX-512), 256 (AVX2) or 0.
int ggml_simd_vector_bits(void);

#endif
