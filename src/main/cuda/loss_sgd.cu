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

// ---------------------------------------------------------------- sgdSteps: many tensors, one launch

namespace {
constexpr int kSgdTensors = 80;  // 48 bytes each: a chunk stays under 4 KiB of kernel parameters

struct SgdChunk {
    float* param[kSgdTensors];
    const float* grad[kSgdTensors];
    float* buf[kSgdTensors];
    int64_t len[kSgdTensors];
    float lr[kSgdTensors], momentum[kSgdTensors], weight_decay[kSgdTensors];
    int nesterov[kSgdTensors];
};

// blockIdx.y picks the tensor; the update is sgd_kernel's, operation for operation (this file is built with
// --fmad=false), and any updated value that is not finite sets *non_finite (never cleared here).
__global__ void sgd_steps_kernel(SgdChunk c, float* non_finite) {
    const int t = blockIdx.y;
    float* param = c.param[t];
    const float* grad = c.grad[t];
    float* buf = c.buf[t];
    const float lr = c.lr[t], momentum = c.momentum[t], weight_decay = c.weight_decay[t];
    const int nesterov = c.nesterov[t];
    bool bad = false;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < c.len[t]; i += (int64_t)gridDim.x * blockDim.x) {
        const float g = grad[i] + weight_decay * param[i];
        buf[i] = momentum * buf[i] + g;
        const float step = nesterov ? g + momentum * buf[i] : buf[i];
        param[i] -= lr * step;
        bad |= !isfinite(param[i]);
    }
    if (__syncthreads_or(bad) && threadIdx.x == 0) *non_finite = 1.0f;
}
}  // namespace

extern "C" int qc_sgd_steps_f32(const int64_t* params, const int64_t* grads, const int64_t* bufs,
                                const int64_t* lengths, const float* lr, const float* momentum,
                                const float* weight_decay, const int32_t* nesterov, int count, int64_t non_finite) {
    QC_PROFILE(QAT4J_OP_SGD_STEPS);
    for (int first = 0; first < count; first += kSgdTensors) {
        const int n = count - first < kSgdTensors ? count - first : kSgdTensors;
        SgdChunk c;
        int64_t longest = 1;
        for (int i = 0; i < n; i++) {
            const int k = first + i;
            c.param[i] = ptr<float>(params[k]);
            c.grad[i] = ptr<const float>(grads[k]);
            c.buf[i] = ptr<float>(bufs[k]);
            c.len[i] = lengths[k];
            c.lr[i] = lr[k];
            c.momentum[i] = momentum[k];
            c.weight_decay[i] = weight_decay[k];
            c.nesterov[i] = nesterov[k];
            longest = lengths[k] > longest ? lengths[k] : longest;
        }
        dim3 g(qc::blocks_for(longest, kThreads, 128), n);
        sgd_steps_kernel<<<g, kThreads, 0, qc::stream()>>>(c, ptr<float>(non_finite));
        const int e = qc::launched();
        if (e != 0) return e;
    }
    return 0;
}
