// Which kernels were compiled: see ggml_simd_internal.h.
#include "ggml_simd_internal.h"

#if GGML_SIMD_X86
int ggml_simd_vectorized(void) { return 1; }
#else
int ggml_simd_vectorized(void) { return 0; }
#endif
