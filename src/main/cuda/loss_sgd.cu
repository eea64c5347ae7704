// nvcc: --fmad=false (cppbuild.sh reads this line)
// The training-step tail: softmax cross-entropy (loss and its gradient, one kernel) and the SGD update. Built with
// --fmad=false: SGD uses the float operations of the Java reference in its order and must not fuse a multiply into an
// add.
#include "qat4j_cuda.h"
#include "cuda_common.cuh"
#include "../cpp/quant_common.h"

namespace {

using qc::kThreads;
using qc::grid;

// ---------------------------------------------------------------- loss (one block: batches have a few hundred rows)

__global__ void softmax_ce_kernel(const float* logits, const int32_t* labels, float smoothing, float* dlogits,
                                  float* loss_out, int n, int k) {
    __shared__ double red[kThreads];
    double total = 0.0;
    for (int b = threadIdx.x; b < n; b += kThreads)
        total += qat4j::softmax_ce_row(logits + (int64_t)b * k, labels[b], smoothing, dlogits + (int64_t)b * k, n, k);
    total = qc::block_reduce<kThreads>(total, red, qc::Sum());
    if (threadIdx.x == 0) loss_out[0] = (float)(total / n);
}

// ---------------------------------------------------------------- SGD

__global__ void sgd_kernel(float* param, const float* grad, float* buf, int64_t len, float lr, float momentum,
                           float weight_decay, int nesterov) {
    QC_GRID_STRIDE(i, len) {
        const float g = grad[i] + weight_decay * param[i];
        buf[i] = momentum * buf[i] + g;
        const float step = nesterov ? g + momentum * buf[i] : buf[i];
        param[i] -= lr * step;
    }
}
}  // namespace

// ---------------------------------------------------------------- C ABI

using qc::ptr;

extern "C" int qc_softmax_ce_f32(int64_t logits, int64_t labels, float smoothing, int64_t dlogits, int64_t loss, int n,
                                 int k) {
    QC_PROFILE(QAT4J_OP_SOFTMAX_CROSS_ENTROPY);
    softmax_ce_kernel<<<1, kThreads, 0, qc::stream()>>>(ptr<float>(logits), ptr<int32_t>(labels), smoothing,
                                                        ptr<float>(dlogits), ptr<float>(loss), n, k);
    return qc::launched();
}

extern "C" int qc_sgd_f32(int64_t param, int64_t grad, int64_t buf, int64_t len, float lr, float momentum,
                          float weight_decay, int nesterov) {
    QC_PROFILE(QAT4J_OP_SGD_STEP);
    if (len <= 0) return 0;
    sgd_kernel<<<grid(len), kThreads, 0, qc::stream()>>>(ptr<float>(param), ptr<float>(grad), ptr<float>(buf), len, lr,
                                                         momentum, weight_decay, nesterov);
    return qc::launched();
}
