// nvcc: --fmad=false (cppbuild.sh reads this line)
// Elementwise ops: the clamp behind relu and relu6 (forward and backward) and add. Built with --fmad=false, as
// everything from the former ops.cu.
#include "qat4j_cuda.h"
#include "cuda_common.cuh"
#include "../cpp/quant_common.h"

namespace {

using qc::kThreads;
using qc::grid;

// ---------------------------------------------------------------- elementwise

__global__ void clamp_kernel(const float* x, float* y, int64_t len, float lo, float hi) {
    QC_GRID_STRIDE(i, len) {
        float v = x[i];
        v = v < lo ? lo : v;  // NaN stays NaN, as the reference
        y[i] = v > hi ? hi : v;
    }
}

__global__ void clamp_bwd_kernel(const float* dy, const float* x, float* dx, int64_t len, float lo, float hi) {
    QC_GRID_STRIDE(i, len) dx[i] = (x[i] > lo && x[i] < hi) ? dy[i] : 0.0f;
}

__global__ void add_kernel(const float* a, const float* b, float* y, int64_t len) {
    QC_GRID_STRIDE(i, len) y[i] = a[i] + b[i];
}
}  // namespace

// ---------------------------------------------------------------- C ABI

using qc::ptr;

extern "C" int qc_clamp_f32(int64_t x, int64_t y, int64_t len, float lo, float hi, int op) {
    QC_PROFILE(op);
    if (len <= 0) return 0;
    clamp_kernel<<<grid(len), kThreads, 0, qc::stream()>>>(ptr<float>(x), ptr<float>(y), len, lo, hi);
    return qc::launched();
}

extern "C" int qc_clamp_bwd_f32(int64_t dy, int64_t x, int64_t dx, int64_t len, float lo, float hi, int op) {
    QC_PROFILE(op);
    if (len <= 0) return 0;
    clamp_bwd_kernel<<<grid(len), kThreads, 0, qc::stream()>>>(ptr<float>(dy), ptr<float>(x), ptr<float>(dx), len, lo,
                                                               hi);
    return qc::launched();
}

extern "C" int qc_add_f32(int64_t a, int64_t b, int64_t y, int64_t len) {
    QC_PROFILE(QAT4J_OP_ADD);
    if (len <= 0) return 0;
    add_kernel<<<grid(len), kThreads, 0, qc::stream()>>>(ptr<float>(a), ptr<float>(b), ptr<float>(y), len);
    return qc::launched();
}
