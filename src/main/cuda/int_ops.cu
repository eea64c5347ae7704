// Integer inference: the int8 convolution (dp4a), the int8 GEMM (on the tiled GEMM core of gemm.cuh) and the
// requantization of their int32 accumulators. All integer arithmetic, exact, bit-identical to the reference; no float
// operation here, so --fmad does not apply.
#include "qat4j_cuda.h"
#include "cuda_common.cuh"
#include "gemm.cuh"
#include "../cpp/quant_common.h"

namespace {

using qc::kThreads;
using qc::grid;

struct ConvAccStore {
    int32_t* acc;
    Conv cv;
    __device__ void operator()(int, int g, int m, int n, int v) const {
        const int P = cv.pixels();
        const int b = cv.by_pixels.div(m), p = m - b * P;
        acc[((int64_t)b * cv.co + g * cv.cog + n) * P + p] = v;
    }
};

// ---------------------------------------------------------------- int8 convolution with dp4a
// The integer conv multiplies byte codes four at a time: each shared-memory
// word packs four consecutive k of one row, and dp4a adds their four products into an int32 accumulator, exactly.
// Activations are uint8 (dp4a.u32.s32) or int8 codes (mPACT, dp4a.s32.s32); weights are int8. K is padded with
// zero codes to a multiple of 4.
template <bool X_SIGNED>
__device__ __forceinline__ int dp4a(uint32_t a, uint32_t b, int c) {
    int d;
    if (X_SIGNED) asm("dp4a.s32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    else asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}

template <bool X_SIGNED, int BN, int TN, class ST>
__global__ void __launch_bounds__(256) conv_s8_dp4a_kernel(const uint8_t* x, const int8_t* wt, Conv cv, ST st) {
    constexpr int BM = 128, TM = 4, NT = 256, KW = 8;  // KW packed words = 32 k per tile
    constexpr int RS = BM / TM, CS = BN / TN;
    static_assert(RS * CS == NT, "256 threads");
    __shared__ uint32_t Aw[KW][BM + 1];
    __shared__ uint32_t Bw[KW][BN + 1];
    const int tid = threadIdx.x;
    const int M = cv.n * cv.pixels(), N = cv.cog, K = cv.cig * cv.taps();
    const int n_tiles = qc::ceil_div(N, BN);
    const int g = blockIdx.y / n_tiles, nt = blockIdx.y % n_tiles;
    const int m0 = blockIdx.x * BM, n0 = nt * BN;
    const int ty = tid % RS, tx = tid / RS;
    // A: this thread always fills row tid % BM; its pixel context is computed once.
    const int ar = tid % BM;
    const bool a_ok = m0 + ar < M;
    const PixelCtx px = pixel_ctx(cv, g, a_ok ? m0 + ar : m0);
    const int64_t w_base = (int64_t)g * cv.cog * K;
    int acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] = 0;

    for (int k0 = 0; k0 < K; k0 += 4 * KW) {
#pragma unroll
        for (int j = 0; j < KW * BM / NT; j++) {
            const int word = tid / BM + j * (NT / BM);
            uint32_t packed = 0;
#pragma unroll
            for (int q = 0; q < 4; q++) {
                const int k = k0 + 4 * word + q;
                uint32_t v = 0;
                if (a_ok && k < K) v = (uint32_t)(uint8_t)patch_at<uint8_t, int>(x, cv, px, tap_ctx(cv, k));
                packed |= v << (8 * q);
            }
            Aw[word][ar] = packed;
        }
        for (int idx = tid; idx < KW * BN; idx += NT) {
            const int n = idx / KW, word = idx % KW;
            uint32_t packed = 0;
            if (n0 + n < N) {
                const int8_t* row = wt + w_base + (int64_t)(n0 + n) * K;
#pragma unroll
                for (int q = 0; q < 4; q++) {
                    const int k = k0 + 4 * word + q;
                    if (k < K) packed |= (uint32_t)(uint8_t)row[k] << (8 * q);
                }
            }
            Bw[word][n] = packed;
        }
        __syncthreads();
#pragma unroll
        for (int word = 0; word < KW; word++) {
            uint32_t a[TM], b[TN];
#pragma unroll
            for (int i = 0; i < TM; i++) a[i] = Aw[word][ty + i * RS];
#pragma unroll
            for (int j = 0; j < TN; j++) b[j] = Bw[word][tx + j * CS];
#pragma unroll
            for (int i = 0; i < TM; i++)
#pragma unroll
                for (int j = 0; j < TN; j++) acc[i][j] = dp4a<X_SIGNED>(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < TM; i++) {
        const int gm = m0 + ty + i * RS;
        if (gm >= M) continue;
#pragma unroll
        for (int j = 0; j < TN; j++) {
            const int gn = n0 + tx + j * CS;
            if (gn < N) st(0, g, gm, gn, acc[i][j]);
        }
    }
}

template <bool X_SIGNED, class ST>
int run_conv_s8(const uint8_t* x, const int8_t* wt, const Conv& cv, const ST& st) {
    const int M = cv.n * cv.pixels(), N = cv.cog;
    if (M <= 0 || N <= 0) return 0;
    const int m_tiles = qc::ceil_div(M, 128);
    auto launch = [&](auto kernel, int bn) {
        const dim3 grid(m_tiles, qc::ceil_div(N, bn) * cv.groups);
        kernel<<<grid, 256, 0, qc::stream()>>>(x, wt, cv, st);
        return qc::launched();
    };
    if (N <= 16) return launch(conv_s8_dp4a_kernel<X_SIGNED, 16, 2, ST>, 16);
    if (N <= 32) return launch(conv_s8_dp4a_kernel<X_SIGNED, 32, 4, ST>, 32);
    return launch(conv_s8_dp4a_kernel<X_SIGNED, 64, 8, ST>, 64);
}
// ---------------------------------------------------------------- requantization (64-bit integer, exact)

__global__ void requantize_kernel(const int32_t* acc, const int32_t* mult, const int32_t* shift, const int32_t* bias,
                                  int per_tensor, int rounding, int qmin, int qmax, void* out, int out_bytes,
                                  int64_t len, int channels, int64_t inner) {
    QC_GRID_STRIDE(i, len) {
        const int ch = per_tensor ? 0 : (int)((i / inner) % channels);
        const int64_t y = qat4j::requantize_one(acc[i], mult[ch], shift[ch], bias ? bias[ch] : 0, rounding, qmin, qmax);
        if (out_bytes == 1) ((int8_t*)out)[i] = (int8_t)y;
        else ((int32_t*)out)[i] = (int32_t)y;
    }
}

}  // namespace

// ---------------------------------------------------------------- C ABI

using qc::ptr;

extern "C" int qc_conv2d_s8_s32(int64_t x, int x_signed, int64_t wt, int64_t acc, int n, int c, int h, int w, int co,
                                int kh, int kw, int sh, int sw, int ph, int pw, int groups) {
    QC_PROFILE(QAT4J_OP_CONV2D_INT);
    const Conv cv = make_conv(n, c, h, w, co, kh, kw, sh, sw, ph, pw, groups);
    const ConvAccStore st{qc::ptr<int32_t>(acc), cv};
    if (x_signed) return run_conv_s8<true>(qc::ptr<uint8_t>(x), qc::ptr<int8_t>(wt), cv, st);
    return run_conv_s8<false>(qc::ptr<uint8_t>(x), qc::ptr<int8_t>(wt), cv, st);
}

extern "C" int qc_gemm_s8_s32(int64_t m, int64_t n, int64_t k, int64_t a, int64_t b, int b_signed, int64_t c) {
    QC_PROFILE(QAT4J_OP_GEMM_INT);
    const Strided<int8_t, int> la{qc::ptr<int8_t>(a), k, 1};
    const MatrixStore<int, int32_t> st{qc::ptr<int32_t>(c), n, nullptr};
    if (b_signed)
        return run_gemm<int, true, false>((int)m, (int)n, (int)k, 1, la, Strided<int8_t, int>{qc::ptr<int8_t>(b), 1, n},
                                          st);
    return run_gemm<int, true, false>((int)m, (int)n, (int)k, 1, la, Strided<uint8_t, int>{qc::ptr<uint8_t>(b), 1, n},
                                      st);
}

extern "C" int qc_requantize_s32(int64_t acc, int64_t mult, int64_t shift, int64_t bias, int per_tensor, int rounding,
                                 int qmin, int qmax, int64_t out, int out_bytes, int64_t len, int channels,
                                 int64_t inner) {
    QC_PROFILE(QAT4J_OP_REQUANTIZE);
    if (len <= 0) return 0;
    requantize_kernel<<<grid(len), kThreads, 0, qc::stream()>>>(ptr<int32_t>(acc), ptr<int32_t>(mult),
                                                                ptr<int32_t>(shift), ptr<int32_t>(bias), per_tensor,
                                                                rounding, qmin, qmax, ptr<void>(out), out_bytes, len,
                                                                channels, inner);
    return qc::launched();
}
