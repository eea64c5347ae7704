// Float GEMM for the convolution panels: C[M,N] = A[M,K] * B[K,N], all row-major, with N large (a batch of
// output pixels) and M, K small (channels, taps). OpenBLAS handles M = 16..64 poorly (~20% of the FMA peak on
// ResNet20's shapes, anchors.md), so the forward and backward-data convs use this kernel instead:
// - avx512: 8x32 register tile (16 zmm accumulators); per k one 32-wide row of B (2 loads) times 8 broadcasts of A;
//   a K x 32 panel of B stays in L1 while every 8-row block of A passes over it.
// - scalar: plain loops, the portable fallback and the shape of the tile edges.
// Summation order per output element is k = 0..K-1 in both, so results depend on the ISA only through FMA
// rounding (the avx512 variant fuses multiply and add; -ffp-contract=off keeps the scalar one unfused).
#include "qat4j_kernels.h"
#include <immintrin.h>
#include <string.h>

namespace {

void sgemm_tile_scalar(int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K, const float* A, int64_t lda,
                       const float* B, int64_t ldb, float* C, int64_t ldc) {
    for (int64_t i = m0; i < m1; i++) {
        float* c = C + i * ldc;
        for (int64_t j = n0; j < n1; j++) c[j] = 0.0f;
        for (int64_t k = 0; k < K; k++) {
            const float a = A[i * lda + k];
            const float* b = B + k * ldb;
            for (int64_t j = n0; j < n1; j++) c[j] += a * b[j];
        }
    }
}

__attribute__((target("avx512f")))
void sgemm_avx512(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                  float* C, int64_t ldc) {
    const int64_t n_full = N / 32 * 32, m_full = M / 8 * 8;
    for (int64_t n0 = 0; n0 < n_full; n0 += 32) {
        for (int64_t m0 = 0; m0 < m_full; m0 += 8) {
            __m512 c0[8], c1[8];
            for (int r = 0; r < 8; r++) {
                c0[r] = _mm512_setzero_ps();
                c1[r] = _mm512_setzero_ps();
            }
            const float* a = A + m0 * lda;
            for (int64_t k = 0; k < K; k++) {
                const __m512 b0 = _mm512_loadu_ps(B + k * ldb + n0);
                const __m512 b1 = _mm512_loadu_ps(B + k * ldb + n0 + 16);
                for (int r = 0; r < 8; r++) {
                    const __m512 ar = _mm512_set1_ps(a[r * lda + k]);
                    c0[r] = _mm512_fmadd_ps(ar, b0, c0[r]);
                    c1[r] = _mm512_fmadd_ps(ar, b1, c1[r]);
                }
            }
            for (int r = 0; r < 8; r++) {
                _mm512_storeu_ps(C + (m0 + r) * ldc + n0, c0[r]);
                _mm512_storeu_ps(C + (m0 + r) * ldc + n0 + 16, c1[r]);
            }
        }
        if (m_full < M) sgemm_tile_scalar(m_full, M, n0, n0 + 32, K, A, lda, B, ldb, C, ldc);
    }
    if (n_full < N) sgemm_tile_scalar(0, M, n_full, N, K, A, lda, B, ldb, C, ldc);
}

// C[M,N] += A[M,K] * B[N,K]^T, both operands row-major with the reduction along their rows: the weight gradient of
// a conv panel, dW[cog, K] += dY[cog, P] * col[K, P]^T, where the reduction (pixels, P = 64..1024) is long and M, N
// are channel counts. A 4x4 block of dot products lives in 16 zmm accumulators; per 16 pixels, 4 + 4 row loads feed
// 16 FMAs, and the block's 4 rows of B stay in L1 while every 4-row block of A passes over them. Each dot product
// sums 16 lanes and then reduces them: a different order than OpenBLAS, within the same float bound.
__attribute__((target("avx512f")))
void sgemm_nt_acc_avx512(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                         float* C, int64_t ldc) {
    const int64_t k_full = K / 16 * 16;
    const __mmask16 tail = (__mmask16)((1u << (K - k_full)) - 1u);
    for (int64_t n0 = 0; n0 < N; n0 += 4) {
        const int nr = (int)(N - n0 < 4 ? N - n0 : 4);
        const float* b[4];
        for (int j = 0; j < 4; j++) b[j] = B + (n0 + (j < nr ? j : nr - 1)) * ldb;  // clamped rows: results unused
        for (int64_t m0 = 0; m0 < M; m0 += 4) {
            const int mr = (int)(M - m0 < 4 ? M - m0 : 4);
            const float* a[4];
            for (int i = 0; i < 4; i++) a[i] = A + (m0 + (i < mr ? i : mr - 1)) * lda;
            __m512 acc[4][4];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) acc[i][j] = _mm512_setzero_ps();
            for (int64_t k = 0; k < k_full; k += 16) {
                __m512 av[4], bv[4];
                for (int i = 0; i < 4; i++) av[i] = _mm512_loadu_ps(a[i] + k);
                for (int j = 0; j < 4; j++) bv[j] = _mm512_loadu_ps(b[j] + k);
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) acc[i][j] = _mm512_fmadd_ps(av[i], bv[j], acc[i][j]);
            }
            if (tail) {
                __m512 av[4], bv[4];
                for (int i = 0; i < 4; i++) av[i] = _mm512_maskz_loadu_ps(tail, a[i] + k_full);
                for (int j = 0; j < 4; j++) bv[j] = _mm512_maskz_loadu_ps(tail, b[j] + k_full);
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) acc[i][j] = _mm512_fmadd_ps(av[i], bv[j], acc[i][j]);
            }
            for (int i = 0; i < mr; i++)
                for (int j = 0; j < nr; j++) C[(m0 + i) * ldc + n0 + j] += _mm512_reduce_add_ps(acc[i][j]);
        }
    }
}

void sgemm_nt_acc_scalar(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                         float* C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            float s = 0.0f;
            for (int64_t k = 0; k < K; k++) s += A[i * lda + k] * B[j * ldb + k];
            C[i * ldc + j] += s;
        }
}

}  // namespace

extern "C" void qat4j_sgemm_nt_acc_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                                       int64_t ldb, float* C, int64_t ldc, int isa) {
    if (isa == QAT4J_ISA_AUTO) isa = qat4j_cpu_active_isa();
    if (M <= 0 || N <= 0 || K <= 0) return;
    if (isa >= QAT4J_ISA_AVX512VNNI) sgemm_nt_acc_avx512(M, N, K, A, lda, B, ldb, C, ldc);
    else sgemm_nt_acc_scalar(M, N, K, A, lda, B, ldb, C, ldc);
}

extern "C" void qat4j_sgemm_nn_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                                   int64_t ldb, float* C, int64_t ldc, int isa) {
    if (isa == QAT4J_ISA_AUTO) isa = qat4j_cpu_active_isa();
    if (isa >= QAT4J_ISA_AVX512VNNI) sgemm_avx512(M, N, K, A, lda, B, ldb, C, ldc);
    else sgemm_tile_scalar(0, M, 0, N, K, A, lda, B, ldb, C, ldc);
}
