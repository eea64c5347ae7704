// Linear layers, forward and both backwards, as strided GEMMs on the tiled GEMM core of gemm.cuh. Built with FMA
// (no --fmad=false). The bias gradient (shared with convolutions) is in batch_norm.cu with the other per-channel
// reductions.
#include "qat4j_cuda.h"
#include "cuda_common.cuh"
#include "gemm.cuh"
#include "../cpp/quant_common.h"

// ---------------------------------------------------------------- C ABI

extern "C" int qc_linear_f32(int64_t x, int64_t wt, int64_t bias, int64_t y, int n, int in, int out) {
    QC_PROFILE(QAT4J_OP_LINEAR);
    // y[n][out] = x[n][in] . w[out][in] + b
    return run_gemm<float, true, true>(n, out, in, 1, Strided<float, float>{qc::ptr<float>(x), in, 1},
                                       Strided<float, float>{qc::ptr<float>(wt), in, 1},
                                       MatrixStore<float, float>{qc::ptr<float>(y), out, qc::ptr<float>(bias)});
}

extern "C" int qc_linear_bwd_data_f32(int64_t dy, int64_t wt, int64_t dx, int n, int in, int out) {
    QC_PROFILE(QAT4J_OP_LINEAR_BACKWARD_DATA);
    // dx[n][in] = dy[n][out] . w[out][in]
    return run_gemm<float, true, false>(n, in, out, 1, Strided<float, float>{qc::ptr<float>(dy), out, 1},
                                        Strided<float, float>{qc::ptr<float>(wt), 1, in},
                                        MatrixStore<float, float>{qc::ptr<float>(dx), in, nullptr});
}

extern "C" int qc_linear_bwd_weight_f32(int64_t dy, int64_t x, int64_t dw, int n, int in, int out) {
    QC_PROFILE(QAT4J_OP_LINEAR_BACKWARD_WEIGHT);
    // dw[out][in] = dy[n][out]^T . x[n][in]
    return run_gemm<float, false, false>(out, in, n, 1, Strided<float, float>{qc::ptr<float>(dy), 1, out},
                                         Strided<float, float>{qc::ptr<float>(x), 1, in},
                                         MatrixStore<float, float>{qc::ptr<float>(dw), in, nullptr});
}
