// nvcc: --fmad=false (cppbuild.sh reads this line)
// Batch norm (train, eval, backward) and the bias gradient: the per-channel reductions. Moments and gradient sums
// accumulate in double and combine in a fixed order, so results do not change from run to run. Built with
// --fmad=false like everything that was in ops.cu, so that the float scale/shift arithmetic rounds as it always has.
#include "qat4j_cuda.h"
#include "cuda_common.cuh"
#include "../cpp/quant_common.h"

namespace {

using qc::kThreads;
using qc::grid;

// ---------------------------------------------------------------- per-channel reductions (one block per channel)

__global__ void bias_bwd_kernel(const float* dy, float* db, int n, int c, int64_t inner) {
    __shared__ double red[kThreads];
    const int ch = blockIdx.x;
    double s = 0.0;
    for (int b = 0; b < n; b++) {
        const float* p = dy + ((int64_t)b * c + ch) * inner;
        for (int64_t i = threadIdx.x; i < inner; i += kThreads) s += p[i];
    }
    s = qc::block_reduce<kThreads>(s, red, qc::Sum());
    if (threadIdx.x == 0) db[ch] = (float)s;
}

// Batch norm is split over (channel, chunk of images) blocks so that every SM works even with 16 channels: a
// partial-moments kernel, then an apply kernel whose blocks each first combine the partials of their channel (in
// a fixed order, so results are the same on every run) and then write their chunk. Moments are taken about a
// shift (the channel's first element) in double, which keeps E[x^2] - E[x]^2 free of cancellation.
struct ChannelChunks {
    int n, c, chunks;
    int64_t hw;
    __device__ int begin(int s) const { return (int)((int64_t)s * n / chunks); }
    __device__ int end(int s) const { return (int)((int64_t)(s + 1) * n / chunks); }
};

ChannelChunks make_chunks(int n, int c, int64_t hw) {
    const int target = 4 * (qc::sm_count() > 0 ? qc::sm_count() : 80);
    int chunks = (target + c - 1) / (c > 0 ? c : 1);
    if (chunks > n) chunks = n;
    if (chunks < 1) chunks = 1;
    return ChannelChunks{n, c, chunks, hw};
}

// part[(ch * chunks + s) * 2 + {0, 1}] = sum (x - shift), sum (x - shift)^2 over images [begin(s), end(s)).
__global__ void bn_moments_kernel(const float* x, ChannelChunks cc, double* part) {
    __shared__ double red[kThreads];
    const int ch = blockIdx.x, s = blockIdx.y;
    const double shift = (cc.n > 0 && cc.hw > 0) ? x[(int64_t)ch * cc.hw] : 0.0;
    double s1 = 0.0, s2 = 0.0;
    for (int b = cc.begin(s); b < cc.end(s); b++) {
        const float* p = x + ((int64_t)b * cc.c + ch) * cc.hw;
        for (int64_t i = threadIdx.x; i < cc.hw; i += kThreads) {
            const double d = p[i] - shift;
            s1 += d;
            s2 += d * d;
        }
    }
    s1 = qc::block_reduce<kThreads>(s1, red, qc::Sum());
    s2 = qc::block_reduce<kThreads>(s2, red, qc::Sum());
    if (threadIdx.x == 0) {
        part[((int64_t)ch * cc.chunks + s) * 2] = s1;
        part[((int64_t)ch * cc.chunks + s) * 2 + 1] = s2;
    }
}

__global__ void bn_train_apply_kernel(const float* x, const float* gamma, const float* beta, float* running_mean,
                                      float* running_var, float momentum, float eps, float* y, float* mean,
                                      float* inv_std, ChannelChunks cc, const double* part) {
    __shared__ float coef[2];
    const int ch = blockIdx.x, s = blockIdx.y;
    if (threadIdx.x == 0) {
        double s1 = 0.0, s2 = 0.0;
        for (int k = 0; k < cc.chunks; k++) {
            s1 += part[((int64_t)ch * cc.chunks + k) * 2];
            s2 += part[((int64_t)ch * cc.chunks + k) * 2 + 1];
        }
        const double count = (double)cc.n * cc.hw;
        const double shift = (cc.n > 0 && cc.hw > 0) ? x[(int64_t)ch * cc.hw] : 0.0;
        const double dm = s1 / count;
        const double mu = shift + dm;
        double var = s2 / count - dm * dm;
        var = var > 0.0 ? var : 0.0;
        const double is = 1.0 / sqrt(var + eps);
        // Folded as the cpu backend does: y = x * scale + shift in float.
        coef[0] = (float)(is * gamma[ch]);
        coef[1] = (float)(beta[ch] - mu * is * gamma[ch]);
        if (s == 0) {
            mean[ch] = (float)mu;
            inv_std[ch] = (float)is;
            running_mean[ch] = (float)((1.0 - momentum) * running_mean[ch] + momentum * mu);
            running_var[ch] = (float)((1.0 - momentum) * running_var[ch] + momentum * (var * count / (count - 1.0)));
        }
    }
    __syncthreads();
    const float scale = coef[0], shift = coef[1];
    for (int b = cc.begin(s); b < cc.end(s); b++) {
        const float* p = x + ((int64_t)b * cc.c + ch) * cc.hw;
        float* q = y + ((int64_t)b * cc.c + ch) * cc.hw;
        for (int64_t i = threadIdx.x; i < cc.hw; i += kThreads) q[i] = p[i] * scale + shift;
    }
}

__global__ void bn_eval_kernel(const float* x, const float* gamma, const float* beta, const float* running_mean,
                               const float* running_var, float eps, float* y, int c, int64_t hw, int64_t len) {
    QC_GRID_STRIDE(i, len) {
        const int ch = (int)((i / hw) % c);
        const double is = 1.0 / sqrt((double)running_var[ch] + eps);
        const float scale = (float)(is * gamma[ch]);
        const float shift = (float)(beta[ch] - running_mean[ch] * is * gamma[ch]);
        y[i] = x[i] * scale + shift;
    }
}

// part[(ch * chunks + s) * 2 + {0, 1}] = sum dy, sum dy * xhat over the chunk's images.
__global__ void bn_bwd_sums_kernel(const float* dy, const float* x, const float* mean, const float* inv_std,
                                   ChannelChunks cc, double* part) {
    __shared__ double red[kThreads];
    const int ch = blockIdx.x, s = blockIdx.y;
    const float mu = mean[ch], is = inv_std[ch];
    double s1 = 0.0, s2 = 0.0;
    for (int b = cc.begin(s); b < cc.end(s); b++) {
        const float* g = dy + ((int64_t)b * cc.c + ch) * cc.hw;
        const float* p = x + ((int64_t)b * cc.c + ch) * cc.hw;
        for (int64_t i = threadIdx.x; i < cc.hw; i += kThreads) {
            s1 += g[i];
            s2 += (double)g[i] * ((p[i] - mu) * is);
        }
    }
    s1 = qc::block_reduce<kThreads>(s1, red, qc::Sum());
    s2 = qc::block_reduce<kThreads>(s2, red, qc::Sum());
    if (threadIdx.x == 0) {
        part[((int64_t)ch * cc.chunks + s) * 2] = s1;
        part[((int64_t)ch * cc.chunks + s) * 2 + 1] = s2;
    }
}

__global__ void bn_bwd_apply_kernel(const float* dy, const float* x, const float* gamma, const float* mean,
                                    const float* inv_std, float* dx, float* dgamma, float* dbeta, ChannelChunks cc,
                                    const double* part) {
    __shared__ float coef[3];
    const int ch = blockIdx.x, s = blockIdx.y;
    const float mu = mean[ch], is = inv_std[ch];
    if (threadIdx.x == 0) {
        double sum_dy = 0.0, sum_dy_xh = 0.0;
        for (int k = 0; k < cc.chunks; k++) {
            sum_dy += part[((int64_t)ch * cc.chunks + k) * 2];
            sum_dy_xh += part[((int64_t)ch * cc.chunks + k) * 2 + 1];
        }
        const double m = (double)cc.n * cc.hw;
        const double k = (double)gamma[ch] * is / m;
        coef[0] = (float)(k * m);
        coef[1] = (float)(k * sum_dy);
        coef[2] = (float)(k * sum_dy_xh);
        if (s == 0) {
            dgamma[ch] = (float)sum_dy_xh;
            dbeta[ch] = (float)sum_dy;
        }
    }
    __syncthreads();
    const float a = coef[0], bcoef = coef[1], ccoef = coef[2];
    for (int b = cc.begin(s); b < cc.end(s); b++) {
        const float* g = dy + ((int64_t)b * cc.c + ch) * cc.hw;
        const float* p = x + ((int64_t)b * cc.c + ch) * cc.hw;
        float* d = dx + ((int64_t)b * cc.c + ch) * cc.hw;
        for (int64_t i = threadIdx.x; i < cc.hw; i += kThreads) d[i] = a * g[i] - bcoef - ((p[i] - mu) * is) * ccoef;
    }
}
}  // namespace

// ---------------------------------------------------------------- C ABI

using qc::ptr;

extern "C" int qc_bias_bwd_f32(int64_t dy, int64_t db, int n, int c, int64_t inner) {
    QC_PROFILE(QAT4J_OP_BIAS_BACKWARD);
    if (c <= 0) return 0;
    bias_bwd_kernel<<<c, kThreads, 0, qc::stream()>>>(ptr<float>(dy), ptr<float>(db), n, c, inner);
    return qc::launched();
}

extern "C" int qc_bn_train_f32(int64_t x, int64_t gamma, int64_t beta, int64_t running_mean, int64_t running_var,
                               float momentum, float eps, int64_t y, int64_t mean, int64_t inv_std, int n, int c,
                               int64_t hw) {
    QC_PROFILE(QAT4J_OP_BATCH_NORM2D_TRAIN);
    if (c <= 0) return 0;
    const ChannelChunks cc = make_chunks(n, c, hw);
    double* part = qc::scratch<double>((int64_t)c * cc.chunks * 2);
    if (!part) return qc::set_error(cudaErrorMemoryAllocation);
    const dim3 grid(c, cc.chunks);
    bn_moments_kernel<<<grid, kThreads, 0, qc::stream()>>>(ptr<float>(x), cc, part);
    int e = qc::launched();
    if (e == 0) {
        bn_train_apply_kernel<<<grid, kThreads, 0, qc::stream()>>>(
            ptr<float>(x), ptr<float>(gamma), ptr<float>(beta), ptr<float>(running_mean), ptr<float>(running_var),
            momentum, eps, ptr<float>(y), ptr<float>(mean), ptr<float>(inv_std), cc, part);
        e = qc::launched();
    }
    qc::release(part);
    return e;
}

extern "C" int qc_bn_eval_f32(int64_t x, int64_t gamma, int64_t beta, int64_t running_mean, int64_t running_var,
                              float eps, int64_t y, int n, int c, int64_t hw) {
    QC_PROFILE(QAT4J_OP_BATCH_NORM2D_EVAL);
    const int64_t len = (int64_t)n * c * hw;
    if (len <= 0) return 0;
    bn_eval_kernel<<<grid(len), kThreads, 0, qc::stream()>>>(ptr<float>(x), ptr<float>(gamma), ptr<float>(beta),
                                                             ptr<float>(running_mean), ptr<float>(running_var), eps,
                                                             ptr<float>(y), c, hw, len);
    return qc::launched();
}

extern "C" int qc_bn_bwd_f32(int64_t dy, int64_t x, int64_t gamma, int64_t mean, int64_t inv_std, int64_t dx,
                             int64_t dgamma, int64_t dbeta, int n, int c, int64_t hw) {
    QC_PROFILE(QAT4J_OP_BATCH_NORM2D_BACKWARD);
    if (c <= 0) return 0;
    const ChannelChunks cc = make_chunks(n, c, hw);
    double* part = qc::scratch<double>((int64_t)c * cc.chunks * 2);
    if (!part) return qc::set_error(cudaErrorMemoryAllocation);
    const dim3 grid(c, cc.chunks);
    bn_bwd_sums_kernel<<<grid, kThreads, 0, qc::stream()>>>(ptr<float>(dy), ptr<float>(x), ptr<float>(mean),
                                                            ptr<float>(inv_std), cc, part);
    int e = qc::launched();
    if (e == 0) {
        bn_bwd_apply_kernel<<<grid, kThreads, 0, qc::stream()>>>(ptr<float>(dy), ptr<float>(x), ptr<float>(gamma),
                                                                 ptr<float>(mean), ptr<float>(inv_std), ptr<float>(dx),
                                                                 ptr<float>(dgamma), ptr<float>(dbeta), cc, part);
        e = qc::launched();
    }
    qc::release(part);
    return e;
}
