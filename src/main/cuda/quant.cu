// nvcc: --fmad=false (cppbuild.sh reads this line)
// The QAT quantizers, forward and backward: activation quantizers (PACT, mPACT, fixed clip, DoReFa) and the DoReFa
// weight quantizer with its max|tanh w| statistics. Built with --fmad=false: they use the float operations of the Java
// reference in its order (shared with the cpu backend through quant_common.h) and must not fuse a multiply into an add.
#include "qat4j_cuda.h"
#include "cuda_common.cuh"
#include "../cpp/quant_common.h"

namespace {

using qc::kThreads;
using qc::grid;

// ---------------------------------------------------------------- quantizers

__global__ void act_quant_kernel(const float* x, float* y, int64_t len, int kind, int bits, const float* alpha,
                                 float fixed_clip) {
    const qat4j::ActQuantParams p = qat4j::make_params(kind, bits, alpha ? alpha[0] : 0.0f, fixed_clip);
    QC_GRID_STRIDE(i, len) y[i] = p.zero ? 0.0f : qat4j::act_quant_one(x[i], p);
}

// dx and one double partial of dalpha per block; finish_sum_kernel adds the partials in block order.
__global__ void act_quant_bwd_kernel(const float* dy, const float* x, float* dx, double* partial, int64_t len,
                                     int kind, const float* alpha, float fixed_clip) {
    __shared__ double red[kThreads];
    const float a = alpha ? alpha[0] : 0.0f;
    double s = 0.0;
    QC_GRID_STRIDE(i, len) {
        dx[i] = dy[i] * qat4j::act_grad_x(x[i], kind, a, fixed_clip);
        s += (double)dy[i] * qat4j::act_grad_alpha(x[i], kind, a);
    }
    s = qc::block_reduce<kThreads>(s, red, qc::Sum());
    if (threadIdx.x == 0 && partial) partial[blockIdx.x] = s;
}

__global__ void finish_sum_kernel(const double* partial, int count, float* out) {
    __shared__ double red[kThreads];
    double s = 0.0;
    for (int i = threadIdx.x; i < count; i += kThreads) s += partial[i];
    s = qc::block_reduce<kThreads>(s, red, qc::Sum());
    if (threadIdx.x == 0) out[0] = (float)s;
}

// Weight quantizers in three steps so the expensive part (tanh in double, as the reference) runs on every SM:
// t = tanh(w) with a per-block max, one block combining the maxima (and, for 1 bit, the scale mean|t/m|), then the
// elementwise part. The maxima are exact whatever the order; the 1-bit sum adds in a fixed order.
constexpr int kWeightBlocks = 256;

// block_reduce combiner: the larger, NaN winning (as the reference's max).
struct NanMax {
    template <typename T>
    __device__ __forceinline__ void operator()(T& acc, T b) const { acc = qat4j::nan_max(acc, b); }
};

// The weight statistics, written once for both directions (float t for the forward, double td for the backward, as
// the reference): t[i] = tanh(w[i]) and each block's max|t| ...
template <typename T>
__global__ void tanh_max_kernel(const float* w, T* t, int64_t len, T* block_max_out) {
    __shared__ T red[kThreads];
    T m = T(0);
    QC_GRID_STRIDE(i, len) {
        const T v = (T)tanh((double)w[i]);
        t[i] = v;
        m = qat4j::nan_max(m, (T)fabs(v));
    }
    m = qc::block_reduce<kThreads>(m, red, NanMax());
    if (threadIdx.x == 0) block_max_out[blockIdx.x] = m;
}

// ... then, in one block, m = max|t| over the blocks' maxima (every thread gets it).
template <typename T>
__device__ __forceinline__ T max_of_block_maxima(const T* maxima, int blocks, T* red) {
    T m = T(0);
    for (int i = threadIdx.x; i < blocks; i += kThreads) m = qat4j::nan_max(m, maxima[i]);
    return qc::block_reduce<kThreads>(m, red, NanMax());
}

// stats[0] = m = max|t|; stats[1] = mean|t / m| for 1 bit (else 0).
__global__ void weight_stats_finish_kernel(const float* t, int64_t len, int bits, const float* maxima, int blocks,
                                           float* stats) {
    __shared__ float redf[kThreads];
    __shared__ double red[kThreads];
    const float m = max_of_block_maxima(maxima, blocks, redf);
    double s = 0.0;
    if (bits == 1 && m != 0.0f)
        for (int64_t i = threadIdx.x; i < len; i += kThreads) s += fabsf(t[i] / m);
    s = qc::block_reduce<kThreads>(s, red, qc::Sum());
    if (threadIdx.x == 0) {
        stats[0] = m;
        stats[1] = (bits == 1 && m != 0.0f) ? (float)(s / len) : 0.0f;
    }
}

__global__ void weight_quant_kernel(const float* t, float* wq, int64_t len, int bits, const float* stats) {
    const float m = stats[0], binary = stats[1];
    QC_GRID_STRIDE(i, len) wq[i] = m == 0.0f ? 0.0f : qat4j::weight_value(qat4j::weight_code(t[i] / m, bits), bits, binary);
}

// Backward: the gradient through tanh and through the max (to the elements at the max, shared equally), in
// double as the reference. td[i] = tanh(w) in double (tanh_max_kernel<double>); stats = {m, sum g*t, ties}.
__global__ void max_finish_kernel(const double* maxima, int blocks, double* out) {
    __shared__ double red[kThreads];
    const double m = max_of_block_maxima(maxima, blocks, red);
    if (threadIdx.x == 0) out[0] = m;
}

// Per block: sum g*t and the count of elements at the max, into partial[block*2 + {0,1}].
__global__ void weight_bwd_sums_kernel(const float* g, const double* td, int64_t len, const double* stats,
                                       double* partial) {
    __shared__ double red[kThreads];
    const double m = stats[0];
    double sum_gt = 0.0, ties = 0.0;
    QC_GRID_STRIDE(i, len) {
        sum_gt += g[i] * td[i];
        if (fabs(td[i]) == m) ties += 1.0;
    }
    sum_gt = qc::block_reduce<kThreads>(sum_gt, red, qc::Sum());
    ties = qc::block_reduce<kThreads>(ties, red, qc::Sum());
    if (threadIdx.x == 0) {
        partial[blockIdx.x * 2] = sum_gt;
        partial[blockIdx.x * 2 + 1] = ties;
    }
}

__global__ void weight_bwd_finish_kernel(const double* partial, int blocks, double* stats) {
    __shared__ double red[kThreads];
    double s = 0.0, t = 0.0;
    for (int i = threadIdx.x; i < blocks; i += kThreads) {
        s += partial[i * 2];
        t += partial[i * 2 + 1];
    }
    s = qc::block_reduce<kThreads>(s, red, qc::Sum());
    t = qc::block_reduce<kThreads>(t, red, qc::Sum());
    if (threadIdx.x == 0) {
        stats[1] = s;
        stats[2] = t;
    }
}

__global__ void weight_quant_bwd_kernel(const float* g, const double* td, float* dw, int64_t len, const double* stats) {
    const double m = stats[0], sum_gt = stats[1], ties = stats[2];
    QC_GRID_STRIDE(i, len) {
        if (m == 0.0) {
            dw[i] = 0.0f;
            continue;
        }
        const double t = td[i];
        double dt = g[i] / m;
        if (fabs(t) == m) dt -= (t > 0 ? 1.0 : -1.0) * sum_gt / (m * m) / ties;
        dw[i] = (float)(dt * (1.0 - t * t));
    }
}
}  // namespace

// ---------------------------------------------------------------- C ABI

using qc::ptr;

extern "C" int qc_act_quant_f32(int64_t x, int64_t y, int64_t len, int kind, int bits, int64_t alpha,
                                float fixed_clip) {
    QC_PROFILE(QAT4J_OP_ACT_QUANT);
    if (len <= 0) return 0;
    act_quant_kernel<<<grid(len), kThreads, 0, qc::stream()>>>(ptr<float>(x), ptr<float>(y), len, kind, bits,
                                                               ptr<float>(alpha), fixed_clip);
    return qc::launched();
}

extern "C" int qc_act_quant_bwd_f32(int64_t dy, int64_t x, int64_t dx, int64_t dalpha, int64_t len, int kind,
                                    int bits, int64_t alpha, float fixed_clip) {
    QC_PROFILE(QAT4J_OP_ACT_QUANT_BACKWARD);
    (void)bits;
    const unsigned blocks = qc::blocks_for(len, kThreads, 1024);
    double* partial = dalpha ? qc::scratch<double>(blocks) : nullptr;
    if (dalpha && !partial) return qc::set_error(cudaErrorMemoryAllocation);
    act_quant_bwd_kernel<<<blocks, kThreads, 0, qc::stream()>>>(ptr<float>(dy), ptr<float>(x), ptr<float>(dx), partial,
                                                                len, kind, ptr<float>(alpha), fixed_clip);
    int e = qc::launched();
    if (e == 0 && dalpha) {
        finish_sum_kernel<<<1, kThreads, 0, qc::stream()>>>(partial, (int)blocks, ptr<float>(dalpha));
        e = qc::launched();
    }
    qc::release(partial);
    return e;
}

extern "C" int qc_weight_quant_f32(int64_t w, int64_t wq, int64_t len, int bits) {
    QC_PROFILE(QAT4J_OP_WEIGHT_QUANT);
    if (len <= 0) return 0;
    const unsigned blocks = qc::blocks_for(len, kThreads, kWeightBlocks);
    // wq holds t = tanh(w) until the last kernel overwrites each element with its quantized value.
    float* stats = qc::scratch<float>(2 + blocks);
    if (!stats) return qc::set_error(cudaErrorMemoryAllocation);
    float* maxima = stats + 2;
    tanh_max_kernel<float><<<blocks, kThreads, 0, qc::stream()>>>(ptr<float>(w), ptr<float>(wq), len, maxima);
    int e = qc::launched();
    if (e == 0) {
        weight_stats_finish_kernel<<<1, kThreads, 0, qc::stream()>>>(ptr<float>(wq), len, bits, maxima, (int)blocks,
                                                                     stats);
        e = qc::launched();
    }
    if (e == 0) {
        weight_quant_kernel<<<blocks, kThreads, 0, qc::stream()>>>(ptr<float>(wq), ptr<float>(wq), len, bits, stats);
        e = qc::launched();
    }
    qc::release(stats);
    return e;
}

extern "C" int qc_weight_quant_bwd_f32(int64_t g, int64_t w, int64_t dw, int64_t len, int bits) {
    QC_PROFILE(QAT4J_OP_WEIGHT_QUANT_BACKWARD);
    (void)bits;
    if (len <= 0) return 0;
    const unsigned blocks = qc::blocks_for(len, kThreads, kWeightBlocks);
    double* td = qc::scratch<double>(len + 3 + 2 * (int64_t)blocks);
    if (!td) return qc::set_error(cudaErrorMemoryAllocation);
    double* stats = td + len;
    double* partial = stats + 3;  // maxima first, then (sum, ties) pairs
    tanh_max_kernel<double><<<blocks, kThreads, 0, qc::stream()>>>(ptr<float>(w), td, len, partial);
    int e = qc::launched();
    if (e == 0) {
        max_finish_kernel<<<1, kThreads, 0, qc::stream()>>>(partial, (int)blocks, stats);
        e = qc::launched();
    }
    if (e == 0) {
        weight_bwd_sums_kernel<<<blocks, kThreads, 0, qc::stream()>>>(ptr<float>(g), td, len, stats, partial);
        e = qc::launched();
    }
    if (e == 0) {
        weight_bwd_finish_kernel<<<1, kThreads, 0, qc::stream()>>>(partial, (int)blocks, stats);
        e = qc::launched();
    }
    if (e == 0) {
        weight_quant_bwd_kernel<<<blocks, kThreads, 0, qc::stream()>>>(ptr<float>(g), td, ptr<float>(dw), len, stats);
        e = qc::launched();
    }
    qc::release(td);
    return e;
}
