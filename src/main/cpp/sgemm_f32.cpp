// Float GEMMs of the convolutions, as "implicit GEMMs": row k of the B operand is not B + k*ldb but B + off[k], so
// conv_f32.cpp multiplies shifted views of one padded image instead of an im2col copy (a 3x3 conv reads each input
// value 9 times from L1/L2 instead of writing and re-reading 9 copies of it). OpenBLAS is not used here: it handles
// the small M = 16..64 of these layers poorly (~20% of the FMA peak on ResNet20's shapes, anchors.md).
//
//   NN: C[M,N] = A[M,K] x B_k[n]        A packed once per call ([M/8][K][8], zero rows past M); forward conv and
//                                       backward data. avx512: 8x32 register tile (16 zmm accumulators), per k two
//                                       loads of B and 8 broadcasts of A; N tails by masked loads and stores, so
//                                       nothing past column N-1 of a row of B is read.
//   NT: C[M,N] += sum_q A[m][q] B_n[q]  the weight gradient: M output channels, N taps, a long reduction over the
//                                       pixels q. avx512: a 4x4 block of dot products in 16 zmm accumulators, each
//                                       reduced across its 16 lanes at the end.
// Scalar variants: plain loops with the same operands, the portable fallback (and what AVX2-only CPUs run). The
// dispatch table picks the variant (AVX-512F from QAT4J_ISA_AVX512F up); these kernels use AVX-512F instructions only.
// Summation orders differ between variants (and from the Java reference); results agree within the float error
// bound of a K-term sum, which the conformance tests use.
#include "qat4j_internal.h"
#include <string.h>

namespace qat4j_sgemm {
namespace {

constexpr int64_t MR = 8, NR = 32;

void nn_scalar_impl(int64_t M, int64_t N, int64_t K, const float* Ap, const float* B, const int64_t* off, float* C,
               int64_t ldc) {
    for (int64_t m = 0; m < M; m++) {
        const float* a = Ap + (m / MR) * K * MR + m % MR;
        float* c = C + m * ldc;
        for (int64_t n = 0; n < N; n++) c[n] = 0.0f;
        for (int64_t k = 0; k < K; k++) {
            const float av = a[k * MR];
            const float* b = B + off[k];
            for (int64_t n = 0; n < N; n++) c[n] += av * b[n];
        }
    }
}

// One 8 x 32 tile at columns n0.. of rows 0..rows-1 of C; mask0/mask1 select the valid columns of the two halves.
// The accumulators are named variables (macros below): with an array indexed by the runtime row count in the
// stores, gcc 12 keeps them in memory and stores all 16 on every k.
#define QAT4J_R8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
template <bool FULL>
QAT4J_AVX512F inline void nn_tile(int64_t K, const float* ap, const float* B,
                                                       const int64_t* off, int64_t n0, __mmask16 mask0,
                                                       __mmask16 mask1, float* C, int64_t ldc, int rows) {
#define QAT4J_DECL(r) __m512 c##r##a = _mm512_setzero_ps(), c##r##b = _mm512_setzero_ps();
    QAT4J_R8(QAT4J_DECL)
#undef QAT4J_DECL
    for (int64_t k = 0; k < K; k++) {
        const float* b = B + off[k] + n0;
        const __m512 b0 = FULL ? _mm512_loadu_ps(b) : _mm512_maskz_loadu_ps(mask0, b);
        const __m512 b1 = FULL ? _mm512_loadu_ps(b + 16) : _mm512_maskz_loadu_ps(mask1, b + 16);
        const float* a = ap + k * MR;
#define QAT4J_FMA(r)                                \
        {                                           \
            const __m512 ar = _mm512_set1_ps(a[r]); \
            c##r##a = _mm512_fmadd_ps(ar, b0, c##r##a); \
            c##r##b = _mm512_fmadd_ps(ar, b1, c##r##b); \
        }
        QAT4J_R8(QAT4J_FMA)
#undef QAT4J_FMA
    }
#define QAT4J_STORE(r)                                                    \
    if (r < rows) {                                                       \
        float* cr = C + r * ldc + n0;                                     \
        if (FULL) {                                                       \
            _mm512_storeu_ps(cr, c##r##a);                                \
            _mm512_storeu_ps(cr + 16, c##r##b);                           \
        } else {                                                          \
            _mm512_mask_storeu_ps(cr, mask0, c##r##a);                    \
            _mm512_mask_storeu_ps(cr + 16, mask1, c##r##b);               \
        }                                                                 \
    }
    QAT4J_R8(QAT4J_STORE)
#undef QAT4J_STORE
}
#undef QAT4J_R8

// M = 1 (a depthwise conv: one output channel per group): 1 x 128 columns, 8 accumulators, one load of B per FMA.
QAT4J_AVX512F void nn_row_avx512(int64_t N, int64_t K, const float* Ap, const float* B,
                                                      const int64_t* off, float* C) {
    int64_t n0 = 0;
    for (; n0 + 128 <= N; n0 += 128) {
        __m512 c[8];
        for (int v = 0; v < 8; v++) c[v] = _mm512_setzero_ps();
        for (int64_t k = 0; k < K; k++) {
            const __m512 a = _mm512_set1_ps(Ap[k * MR]);
            const float* b = B + off[k] + n0;
            for (int v = 0; v < 8; v++) c[v] = _mm512_fmadd_ps(a, _mm512_loadu_ps(b + 16 * v), c[v]);
        }
        for (int v = 0; v < 8; v++) _mm512_storeu_ps(C + n0 + 16 * v, c[v]);
    }
    for (; n0 < N; n0 += 16) {
        const int64_t left = N - n0;
        const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
        __m512 c = _mm512_setzero_ps();
        for (int64_t k = 0; k < K; k++)
            c = _mm512_fmadd_ps(_mm512_set1_ps(Ap[k * MR]), _mm512_maskz_loadu_ps(m, B + off[k] + n0), c);
        _mm512_mask_storeu_ps(C + n0, m, c);
    }
}

QAT4J_AVX512F void nn_avx512_impl(int64_t M, int64_t N, int64_t K, const float* Ap, const float* B,
                                                  const int64_t* off, float* C, int64_t ldc) {
    if (M == 1) {
        nn_row_avx512(N, K, Ap, B, off, C);
        return;
    }
    const int64_t mblocks = (M + MR - 1) / MR;
    for (int64_t n0 = 0; n0 < N; n0 += NR) {
        const int64_t left = N - n0;
        const __mmask16 mask0 = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
        const __mmask16 mask1 = left >= 32 ? (__mmask16)0xFFFF : left > 16 ? (__mmask16)((1u << (left - 16)) - 1u) : 0;
        for (int64_t mb = 0; mb < mblocks; mb++) {
            const int rows = (int)(M - mb * MR < MR ? M - mb * MR : MR);
            if (left >= NR) nn_tile<true>(K, Ap + mb * K * MR, B, off, n0, mask0, mask1, C + mb * MR * ldc, ldc, rows);
            else nn_tile<false>(K, Ap + mb * K * MR, B, off, n0, mask0, mask1, C + mb * MR * ldc, ldc, rows);
        }
    }
}

void nt_scalar_impl(int64_t M, int64_t N, int64_t Q, const float* A, int64_t lda, const float* B, const int64_t* off,
               float* C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            const float* a = A + i * lda;
            const float* b = B + off[j];
            float s = 0.0f;
            for (int64_t q = 0; q < Q; q++) s += a[q] * b[q];
            C[i * ldc + j] += s;
        }
}

// Sums each of 16 vectors across its lanes: result lane 4j+i = sum of v[i][j] (checked lane by lane in the sanitizer
// driver's NT GEMM test). Each level adds two vectors after moving their halves together, so 15 adds and 30 shuffles
// replace 16 separate reductions.
QAT4J_AVX512F inline __m512 reduce16(const __m512 v[4][4]) {
    __m512 l1[8];  // 256-bit halves: l1[p] lanes 0..7 = v[2p] halves added, 8..15 = v[2p+1]'s
    for (int p = 0; p < 8; p++) {
        const __m512 a = v[(2 * p) / 4][(2 * p) % 4], b = v[(2 * p + 1) / 4][(2 * p + 1) % 4];
        l1[p] = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
    }
    __m512 l2[4];  // 128-bit quarters: lanes 4q..4q+3 hold partial sums of vector 4*p2 + q
    for (int p = 0; p < 4; p++) {
        const __m512 a = l1[2 * p], b = l1[2 * p + 1];
        l2[p] = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x88), _mm512_shuffle_f32x4(a, b, 0xDD));
    }
    __m512 l3[2];  // 64-bit pairs
    for (int p = 0; p < 2; p++) {
        const __m512 a = l2[2 * p], b = l2[2 * p + 1];
        l3[p] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b))),
                              _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b))));
    }
    __m512 r = _mm512_add_ps(_mm512_shuffle_ps(l3[0], l3[1], 0x88), _mm512_shuffle_ps(l3[0], l3[1], 0xDD));
    return r;
}

// M = 1 (depthwise): one row of A against 8 rows of B at a time, 8 accumulators, lane sums at the end.
QAT4J_AVX512F void nt_row_avx512(int64_t N, int64_t Q, const float* A, const float* B,
                                                      const int64_t* off, float* C) {
    const int64_t q_full = Q / 16 * 16;
    const __mmask16 tail = (__mmask16)((1u << (Q - q_full)) - 1u);
    for (int64_t n0 = 0; n0 < N; n0 += 8) {
        const int nr = (int)(N - n0 < 8 ? N - n0 : 8);
        const float* b[8];
        for (int j = 0; j < 8; j++) b[j] = B + off[n0 + (j < nr ? j : nr - 1)];  // clamped: results unused
        __m512 acc[8];
        for (int j = 0; j < 8; j++) acc[j] = _mm512_setzero_ps();
        for (int64_t q = 0; q < q_full; q += 16) {
            const __m512 a = _mm512_loadu_ps(A + q);
            for (int j = 0; j < 8; j++) acc[j] = _mm512_fmadd_ps(a, _mm512_loadu_ps(b[j] + q), acc[j]);
        }
        if (tail) {
            const __m512 a = _mm512_maskz_loadu_ps(tail, A + q_full);
            for (int j = 0; j < 8; j++) acc[j] = _mm512_fmadd_ps(a, _mm512_maskz_loadu_ps(tail, b[j] + q_full), acc[j]);
        }
        for (int j = 0; j < nr; j++) C[n0 + j] += _mm512_reduce_add_ps(acc[j]);
    }
}

// 4 rows of A x 4 rows of B per block; the block's B rows stay in L1 while every 4-row block of A passes over them.
QAT4J_AVX512F void nt_avx512_impl(int64_t M, int64_t N, int64_t Q, const float* A, int64_t lda,
                                                  const float* B, const int64_t* off, float* C, int64_t ldc) {
    if (M == 1) {
        nt_row_avx512(N, Q, A, B, off, C);
        return;
    }
    const int64_t q_full = Q / 16 * 16;
    const __mmask16 tail = (__mmask16)((1u << (Q - q_full)) - 1u);
    for (int64_t n0 = 0; n0 < N; n0 += 4) {
        const int nr = (int)(N - n0 < 4 ? N - n0 : 4);
        const float* b[4];
        for (int j = 0; j < 4; j++) b[j] = B + off[n0 + (j < nr ? j : nr - 1)];  // clamped: results unused
        for (int64_t m0 = 0; m0 < M; m0 += 4) {
            const int mr = (int)(M - m0 < 4 ? M - m0 : 4);
            const float* a[4];
            for (int i = 0; i < 4; i++) a[i] = A + (m0 + (i < mr ? i : mr - 1)) * lda;
            __m512 acc[4][4];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) acc[i][j] = _mm512_setzero_ps();
            for (int64_t q = 0; q < q_full; q += 16) {
                __m512 av[4], bv[4];
                for (int i = 0; i < 4; i++) av[i] = _mm512_loadu_ps(a[i] + q);
                for (int j = 0; j < 4; j++) bv[j] = _mm512_loadu_ps(b[j] + q);
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) acc[i][j] = _mm512_fmadd_ps(av[i], bv[j], acc[i][j]);
            }
            if (tail) {
                __m512 av[4], bv[4];
                for (int i = 0; i < 4; i++) av[i] = _mm512_maskz_loadu_ps(tail, a[i] + q_full);
                for (int j = 0; j < 4; j++) bv[j] = _mm512_maskz_loadu_ps(tail, b[j] + q_full);
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) acc[i][j] = _mm512_fmadd_ps(av[i], bv[j], acc[i][j]);
            }
            // The 16 lane sums at once (lane 4j+i of `sums` holds dot product (i, j)).
            alignas(64) float sums[16];
            _mm512_store_ps(sums, reduce16(acc));
            for (int i = 0; i < mr; i++)
                for (int j = 0; j < nr; j++) C[(m0 + i) * ldc + n0 + j] += sums[4 * j + i];
        }
    }
}

}  // namespace
}  // namespace qat4j_sgemm

void qat4j::sgemm_off_nn_scalar(int64_t M, int64_t N, int64_t K, const float* Ap, const float* B, const int64_t* off,
                                float* C, int64_t ldc) {
    qat4j_sgemm::nn_scalar_impl(M, N, K, Ap, B, off, C, ldc);
}

void qat4j::sgemm_off_nn_avx512(int64_t M, int64_t N, int64_t K, const float* Ap, const float* B, const int64_t* off,
                                float* C, int64_t ldc) {
    qat4j_sgemm::nn_avx512_impl(M, N, K, Ap, B, off, C, ldc);
}

void qat4j::sgemm_off_nt_scalar(int64_t M, int64_t N, int64_t Q, const float* A, int64_t lda, const float* B,
                                const int64_t* off, float* C, int64_t ldc) {
    qat4j_sgemm::nt_scalar_impl(M, N, Q, A, lda, B, off, C, ldc);
}

void qat4j::sgemm_off_nt_avx512(int64_t M, int64_t N, int64_t Q, const float* A, int64_t lda, const float* B,
                                const int64_t* off, float* C, int64_t ldc) {
    qat4j_sgemm::nt_avx512_impl(M, N, Q, A, lda, B, off, C, ldc);
}

int64_t qat4j_sgemm_packed_a_floats(int64_t M, int64_t K) {
    return (M + qat4j_sgemm::MR - 1) / qat4j_sgemm::MR * qat4j_sgemm::MR * (K > 0 ? K : 1);
}

void qat4j_sgemm_pack_a_f32(int64_t M, int64_t K, const float* A, int64_t lda, float* Ap) {
    using qat4j_sgemm::MR;
    const int64_t mblocks = (M + MR - 1) / MR;
    for (int64_t mb = 0; mb < mblocks; mb++)
        for (int64_t k = 0; k < K; k++)
            for (int64_t r = 0; r < MR; r++) {
                const int64_t m = mb * MR + r;
                Ap[(mb * K + k) * MR + r] = m < M ? A[m * lda + k] : 0.0f;
            }
}

void qat4j_sgemm_off_nn_f32(const qat4j_kernel_table* kt, int64_t M, int64_t N, int64_t K, const float* Ap,
                            const float* B, const int64_t* off, float* C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int64_t m = 0; m < M; m++) memset(C + m * ldc, 0, sizeof(float) * (size_t)N);
        return;
    }
    kt->sgemm_off_nn(M, N, K, Ap, B, off, C, ldc);
}

void qat4j_sgemm_off_nt_acc_f32(const qat4j_kernel_table* kt, int64_t M, int64_t N, int64_t Q, const float* A,
                                int64_t lda, const float* B, const int64_t* off, float* C, int64_t ldc) {
    if (M <= 0 || N <= 0 || Q <= 0) return;
    kt->sgemm_off_nt(M, N, Q, A, lda, B, off, C, ldc);
}

// The plain strided forms, for callers with an ordinary row-major B: the offsets are k * ldb.
int qat4j_sgemm_nn_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                       float* C, int64_t ldc, int isa) {
    if (M <= 0 || N <= 0) return QAT4J_OK;
    float* Ap = (float*)qat4j_alloc64_n(qat4j_sgemm_packed_a_floats(M, K), sizeof(float));
    int64_t* off = (int64_t*)qat4j_alloc64_n(K > 0 ? K : 1, sizeof(int64_t));
    if (!Ap || !off) {
        qat4j_free64(off);
        qat4j_free64(Ap);
        return QAT4J_ERR_NO_MEMORY;
    }
    qat4j_sgemm_pack_a_f32(M, K, A, lda, Ap);
    for (int64_t k = 0; k < K; k++) off[k] = k * ldb;
    qat4j_sgemm_off_nn_f32(qat4j_kernels_for(isa), M, N, K, Ap, B, off, C, ldc);
    qat4j_free64(off);
    qat4j_free64(Ap);
    return QAT4J_OK;
}

int qat4j_sgemm_nt_acc_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                           float* C, int64_t ldc, int isa) {
    if (M <= 0 || N <= 0 || K <= 0) return QAT4J_OK;
    int64_t* off = (int64_t*)qat4j_alloc64_n(N, sizeof(int64_t));
    if (!off) return QAT4J_ERR_NO_MEMORY;
    for (int64_t n = 0; n < N; n++) off[n] = n * ldb;
    qat4j_sgemm_off_nt_acc_f32(qat4j_kernels_for(isa), M, N, K, A, lda, B, off, C, ldc);
    qat4j_free64(off);
    return QAT4J_OK;
}
