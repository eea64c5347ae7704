// PLACEHOLDER scalar int8 GEMM (replaced by the ISA variants).
#include "qat4j_kernels.h"
extern "C" void qat4j_gemm_s8_s32(int64_t M, int64_t N, int64_t K, const int8_t* A, const uint8_t* B, int b_signed,
                                  int32_t* C, int isa) {
    (void)isa;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < M; i++) {
        int32_t* c = C + i * N;
        for (int64_t j = 0; j < N; j++) c[j] = 0;
        for (int64_t k = 0; k < K; k++) {
            const int32_t a = A[i * K + k];
            const uint8_t* b = B + k * N;
            if (b_signed) for (int64_t j = 0; j < N; j++) c[j] += a * (int32_t)(int8_t)b[j];
            else for (int64_t j = 0; j < N; j++) c[j] += a * (int32_t)b[j];
        }
    }
}
