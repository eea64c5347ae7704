// Elementwise, normalisation, pooling, loss, optimizer, quantizer and requantization kernels of the CUDA backend.
// Built with --fmad=false: the quantizers and SGD use the float operations of the Java reference in its order
// (shared with the cpu backend through quant_common.h) and must not have a multiply fused into an add.
// Reductions accumulate in double and combine in a fixed order, so results do not change from run to run.
#include "qat4j_cuda.h"
#include "cuda_common.cuh"
#include "../cpp/quant_common.h"

namespace {

#define GRID_STRIDE(i, len) \
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (len); i += (int64_t)gridDim.x * blockDim.x)

constexpr int kThreads = 256;

// Block-wide sum of one double per thread (blockDim.x == kThreads); every thread gets the result.
__device__ double block_sum(double v, double* red) {
    red[threadIdx.x] = v;
    __syncthreads();
    for (int o = kThreads / 2; o > 0; o >>= 1) {
        if ((int)threadIdx.x < o) red[threadIdx.x] += red[threadIdx.x + o];
        __syncthreads();
    }
    const double r = red[0];
    __syncthreads();
    return r;
}

// ---------------------------------------------------------------- per-channel reductions (one block per channel)

__global__ void bias_bwd_kernel(const float* dy, float* db, int n, int c, int64_t inner) {
    __shared__ double red[kThreads];
    const int ch = blockIdx.x;
    double s = 0.0;
    for (int b = 0; b < n; b++) {
        const float* p = dy + ((int64_t)b * c + ch) * inner;
        for (int64_t i = threadIdx.x; i < inner; i += kThreads) s += p[i];
    }
    s = block_sum(s, red);
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
    s1 = block_sum(s1, red);
    s2 = block_sum(s2, red);
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
    GRID_STRIDE(i, len) {
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
    s1 = block_sum(s1, red);
    s2 = block_sum(s2, red);
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

// ---------------------------------------------------------------- elementwise

__global__ void clamp_kernel(const float* x, float* y, int64_t len, float lo, float hi) {
    GRID_STRIDE(i, len) {
        float v = x[i];
        v = v < lo ? lo : v;  // NaN stays NaN, as the reference
        y[i] = v > hi ? hi : v;
    }
}

__global__ void clamp_bwd_kernel(const float* dy, const float* x, float* dx, int64_t len, float lo, float hi) {
    GRID_STRIDE(i, len) dx[i] = (x[i] > lo && x[i] < hi) ? dy[i] : 0.0f;
}

__global__ void add_kernel(const float* a, const float* b, float* y, int64_t len) {
    GRID_STRIDE(i, len) y[i] = a[i] + b[i];
}

__global__ void sgd_kernel(float* param, const float* grad, float* buf, int64_t len, float lr, float momentum,
                           float weight_decay, int nesterov) {
    GRID_STRIDE(i, len) {
        const float g = grad[i] + weight_decay * param[i];
        buf[i] = momentum * buf[i] + g;
        const float step = nesterov ? g + momentum * buf[i] : buf[i];
        param[i] -= lr * step;
    }
}

// ---------------------------------------------------------------- pooling

__global__ void avg_pool_kernel(const float* x, float* y, int nc, int h, int w, int k, int stride, int pad, int oh,
                                int ow) {
    const float inv = 1.0f / (float)(k * k);
    GRID_STRIDE(i, (int64_t)nc * oh * ow) {
        const int ox = (int)(i % ow), oy = (int)((i / ow) % oh);
        const int64_t p = i / ((int64_t)ow * oh);
        const float* in = x + p * h * w;
        float s = 0.0f;
        for (int ky = 0; ky < k; ky++) {
            const int iy = oy * stride - pad + ky;
            if (iy < 0 || iy >= h) continue;
            for (int kx = 0; kx < k; kx++) {
                const int ix = ox * stride - pad + kx;
                if (ix >= 0 && ix < w) s += in[(int64_t)iy * w + ix];
            }
        }
        y[i] = s * inv;
    }
}

// Gathers, per input element, the windows that contain it (no atomics).
__global__ void avg_pool_bwd_kernel(const float* dy, float* dx, int nc, int h, int w, int k, int stride, int pad,
                                    int oh, int ow) {
    const float inv = 1.0f / (float)(k * k);
    GRID_STRIDE(i, (int64_t)nc * h * w) {
        const int ix = (int)(i % w), iy = (int)((i / w) % h);
        const int64_t p = i / ((int64_t)w * h);
        const float* g = dy + p * oh * ow;
        float s = 0.0f;
        for (int ky = 0; ky < k; ky++) {
            const int ty = iy + pad - ky;
            if (ty < 0 || ty % stride) continue;
            const int oy = ty / stride;
            if (oy >= oh) continue;
            for (int kx = 0; kx < k; kx++) {
                const int tx = ix + pad - kx;
                if (tx < 0 || tx % stride) continue;
                const int ox = tx / stride;
                if (ox < ow) s += g[(int64_t)oy * ow + ox] * inv;
            }
        }
        dx[i] = s;
    }
}

// torch's adaptive windows [floor(i*in/out), ceil((i+1)*in/out)), as the cpu backend.
__device__ inline int ad_start(int i, int in, int out) { return (int)((int64_t)i * in / out); }
__device__ inline int ad_end(int i, int in, int out) { return (int)(((int64_t)(i + 1) * in + out - 1) / out); }

__global__ void adaptive_avg_pool_kernel(const float* x, float* y, int nc, int h, int w, int oh, int ow) {
    GRID_STRIDE(i, (int64_t)nc * oh * ow) {
        const int ox = (int)(i % ow), oy = (int)((i / ow) % oh);
        const int64_t p = i / ((int64_t)ow * oh);
        const float* in = x + p * h * w;
        const int y0 = ad_start(oy, h, oh), y1 = ad_end(oy, h, oh);
        const int x0 = ad_start(ox, w, ow), x1 = ad_end(ox, w, ow);
        double s = 0.0;
        for (int iy = y0; iy < y1; iy++)
            for (int ix = x0; ix < x1; ix++) s += in[(int64_t)iy * w + ix];
        y[i] = (float)(s / ((y1 - y0) * (x1 - x0)));
    }
}

__global__ void adaptive_avg_pool_bwd_kernel(const float* dy, float* dx, int nc, int h, int w, int oh, int ow) {
    GRID_STRIDE(i, (int64_t)nc * h * w) {
        const int ix = (int)(i % w), iy = (int)((i / w) % h);
        const int64_t p = i / ((int64_t)w * h);
        const float* g = dy + p * oh * ow;
        float s = 0.0f;
        for (int oy = 0; oy < oh; oy++) {
            const int y0 = ad_start(oy, h, oh), y1 = ad_end(oy, h, oh);
            if (iy < y0 || iy >= y1) continue;
            for (int ox = 0; ox < ow; ox++) {
                const int x0 = ad_start(ox, w, ow), x1 = ad_end(ox, w, ow);
                if (ix < x0 || ix >= x1) continue;
                s += (float)(g[(int64_t)oy * ow + ox] / (double)((y1 - y0) * (x1 - x0)));
            }
        }
        dx[i] = s;
    }
}

// ---------------------------------------------------------------- loss (one block: batches have a few hundred rows)

__global__ void softmax_ce_kernel(const float* logits, const int32_t* labels, float smoothing, float* dlogits,
                                  float* loss_out, int n, int k) {
    __shared__ double red[kThreads];
    double total = 0.0;
    for (int b = threadIdx.x; b < n; b += kThreads)
        total += qat4j::softmax_ce_row(logits + (int64_t)b * k, labels[b], smoothing, dlogits + (int64_t)b * k, n, k);
    total = block_sum(total, red);
    if (threadIdx.x == 0) loss_out[0] = (float)(total / n);
}

// ---------------------------------------------------------------- quantizers

__global__ void act_quant_kernel(const float* x, float* y, int64_t len, int kind, int bits, const float* alpha,
                                 float fixed_clip) {
    const qat4j::ActQuantParams p = qat4j::make_params(kind, bits, alpha ? alpha[0] : 0.0f, fixed_clip);
    GRID_STRIDE(i, len) y[i] = p.zero ? 0.0f : qat4j::act_quant_one(x[i], p);
}

// dx and one double partial of dalpha per block; finish_sum_kernel adds the partials in block order.
__global__ void act_quant_bwd_kernel(const float* dy, const float* x, float* dx, double* partial, int64_t len,
                                     int kind, const float* alpha, float fixed_clip) {
    __shared__ double red[kThreads];
    const float a = alpha ? alpha[0] : 0.0f;
    double s = 0.0;
    GRID_STRIDE(i, len) {
        dx[i] = dy[i] * qat4j::act_grad_x(x[i], kind, a, fixed_clip);
        s += (double)dy[i] * qat4j::act_grad_alpha(x[i], kind, a);
    }
    s = block_sum(s, red);
    if (threadIdx.x == 0 && partial) partial[blockIdx.x] = s;
}

__global__ void finish_sum_kernel(const double* partial, int count, float* out) {
    __shared__ double red[kThreads];
    double s = 0.0;
    for (int i = threadIdx.x; i < count; i += kThreads) s += partial[i];
    s = block_sum(s, red);
    if (threadIdx.x == 0) out[0] = (float)s;
}

// Weight quantizers in three steps so the expensive part (tanh in double, as the reference) runs on every SM:
// t = tanh(w) with a per-block max, one block combining the maxima (and, for 1 bit, the scale mean|t/m|), then the
// elementwise part. The maxima are exact whatever the order; the 1-bit sum adds in a fixed order.
constexpr int kWeightBlocks = 256;

__device__ float block_max(float v, float* red) {
    red[threadIdx.x] = v;
    __syncthreads();
    for (int o = kThreads / 2; o > 0; o >>= 1) {
        if ((int)threadIdx.x < o) red[threadIdx.x] = qat4j::nan_max(red[threadIdx.x], red[threadIdx.x + o]);
        __syncthreads();
    }
    const float r = red[0];
    __syncthreads();
    return r;
}

__global__ void tanh_max_kernel(const float* w, float* t, int64_t len, float* block_max_out) {
    __shared__ float red[kThreads];
    float m = 0.0f;
    GRID_STRIDE(i, len) {
        const float v = (float)tanh((double)w[i]);
        t[i] = v;
        m = qat4j::nan_max(m, fabsf(v));
    }
    m = block_max(m, red);
    if (threadIdx.x == 0) block_max_out[blockIdx.x] = m;
}

// stats[0] = m = max|t|; stats[1] = mean|t / m| for 1 bit (else 0).
__global__ void weight_stats_finish_kernel(const float* t, int64_t len, int bits, const float* maxima, int blocks,
                                           float* stats) {
    __shared__ float redf[kThreads];
    __shared__ double red[kThreads];
    float m = 0.0f;
    for (int i = threadIdx.x; i < blocks; i += kThreads) m = qat4j::nan_max(m, maxima[i]);
    m = block_max(m, redf);
    double s = 0.0;
    if (bits == 1 && m != 0.0f)
        for (int64_t i = threadIdx.x; i < len; i += kThreads) s += fabsf(t[i] / m);
    s = block_sum(s, red);
    if (threadIdx.x == 0) {
        stats[0] = m;
        stats[1] = (bits == 1 && m != 0.0f) ? (float)(s / len) : 0.0f;
    }
}

__global__ void weight_quant_kernel(const float* t, float* wq, int64_t len, int bits, const float* stats) {
    const float m = stats[0], binary = stats[1];
    GRID_STRIDE(i, len) wq[i] = m == 0.0f ? 0.0f : qat4j::weight_value(qat4j::weight_code(t[i] / m, bits), bits, binary);
}

// Backward: the gradient through tanh and through the max (to the elements at the max, shared equally), in
// double as the reference. td[i] = tanh(w) in double; stats = {m, sum g*t, ties}.
__global__ void tanh_max_double_kernel(const float* w, double* td, int64_t len, double* block_max_out) {
    __shared__ double red[kThreads];
    double m = 0.0;
    GRID_STRIDE(i, len) {
        const double v = tanh((double)w[i]);
        td[i] = v;
        m = qat4j::nan_max(m, fabs(v));
    }
    red[threadIdx.x] = m;
    __syncthreads();
    for (int o = kThreads / 2; o > 0; o >>= 1) {
        if ((int)threadIdx.x < o) red[threadIdx.x] = qat4j::nan_max(red[threadIdx.x], red[threadIdx.x + o]);
        __syncthreads();
    }
    if (threadIdx.x == 0) block_max_out[blockIdx.x] = red[0];
}

__global__ void max_finish_kernel(const double* maxima, int blocks, double* out) {
    __shared__ double red[kThreads];
    double m = 0.0;
    for (int i = threadIdx.x; i < blocks; i += kThreads) m = qat4j::nan_max(m, maxima[i]);
    red[threadIdx.x] = m;
    __syncthreads();
    for (int o = kThreads / 2; o > 0; o >>= 1) {
        if ((int)threadIdx.x < o) red[threadIdx.x] = qat4j::nan_max(red[threadIdx.x], red[threadIdx.x + o]);
        __syncthreads();
    }
    if (threadIdx.x == 0) out[0] = red[0];
}

// Per block: sum g*t and the count of elements at the max, into partial[block*2 + {0,1}].
__global__ void weight_bwd_sums_kernel(const float* g, const double* td, int64_t len, const double* stats,
                                       double* partial) {
    __shared__ double red[kThreads];
    const double m = stats[0];
    double sum_gt = 0.0, ties = 0.0;
    GRID_STRIDE(i, len) {
        sum_gt += g[i] * td[i];
        if (fabs(td[i]) == m) ties += 1.0;
    }
    sum_gt = block_sum(sum_gt, red);
    ties = block_sum(ties, red);
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
    s = block_sum(s, red);
    t = block_sum(t, red);
    if (threadIdx.x == 0) {
        stats[1] = s;
        stats[2] = t;
    }
}

__global__ void weight_quant_bwd_kernel(const float* g, const double* td, float* dw, int64_t len, const double* stats) {
    const double m = stats[0], sum_gt = stats[1], ties = stats[2];
    GRID_STRIDE(i, len) {
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

// ---------------------------------------------------------------- requantization (64-bit integer, exact)

__global__ void requantize_kernel(const int32_t* acc, const int32_t* mult, const int32_t* shift, const int32_t* bias,
                                  int per_tensor, int rounding, int qmin, int qmax, void* out, int out_bytes,
                                  int64_t len, int channels, int64_t inner) {
    GRID_STRIDE(i, len) {
        const int ch = per_tensor ? 0 : (int)((i / inner) % channels);
        const int64_t y = qat4j::requantize_one(acc[i], mult[ch], shift[ch], bias ? bias[ch] : 0, rounding, qmin, qmax);
        if (out_bytes == 1) ((int8_t*)out)[i] = (int8_t)y;
        else ((int32_t*)out)[i] = (int32_t)y;
    }
}

inline unsigned grid(int64_t len) { return qc::blocks_for(len, kThreads, 8192); }

}  // namespace

// ---------------------------------------------------------------- C ABI

using qc::ptr;

extern "C" int qc_bias_bwd_f32(int64_t dy, int64_t db, int n, int c, int64_t inner) {
    QC_PROFILE("bias_bwd_f32");
    if (c <= 0) return 0;
    bias_bwd_kernel<<<c, kThreads, 0, qc::stream()>>>(ptr<float>(dy), ptr<float>(db), n, c, inner);
    return qc::launched();
}

extern "C" int qc_bn_train_f32(int64_t x, int64_t gamma, int64_t beta, int64_t running_mean, int64_t running_var,
                               float momentum, float eps, int64_t y, int64_t mean, int64_t inv_std, int n, int c,
                               int64_t hw) {
    QC_PROFILE("bn_train_f32");
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
    QC_PROFILE("bn_eval_f32");
    const int64_t len = (int64_t)n * c * hw;
    if (len <= 0) return 0;
    bn_eval_kernel<<<grid(len), kThreads, 0, qc::stream()>>>(ptr<float>(x), ptr<float>(gamma), ptr<float>(beta),
                                                             ptr<float>(running_mean), ptr<float>(running_var), eps,
                                                             ptr<float>(y), c, hw, len);
    return qc::launched();
}

extern "C" int qc_bn_bwd_f32(int64_t dy, int64_t x, int64_t gamma, int64_t mean, int64_t inv_std, int64_t dx,
                             int64_t dgamma, int64_t dbeta, int n, int c, int64_t hw) {
    QC_PROFILE("bn_bwd_f32");
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

extern "C" int qc_clamp_f32(int64_t x, int64_t y, int64_t len, float lo, float hi) {
    QC_PROFILE("clamp_f32");
    if (len <= 0) return 0;
    clamp_kernel<<<grid(len), kThreads, 0, qc::stream()>>>(ptr<float>(x), ptr<float>(y), len, lo, hi);
    return qc::launched();
}

extern "C" int qc_clamp_bwd_f32(int64_t dy, int64_t x, int64_t dx, int64_t len, float lo, float hi) {
    QC_PROFILE("clamp_bwd_f32");
    if (len <= 0) return 0;
    clamp_bwd_kernel<<<grid(len), kThreads, 0, qc::stream()>>>(ptr<float>(dy), ptr<float>(x), ptr<float>(dx), len, lo,
                                                               hi);
    return qc::launched();
}

extern "C" int qc_add_f32(int64_t a, int64_t b, int64_t y, int64_t len) {
    QC_PROFILE("add_f32");
    if (len <= 0) return 0;
    add_kernel<<<grid(len), kThreads, 0, qc::stream()>>>(ptr<float>(a), ptr<float>(b), ptr<float>(y), len);
    return qc::launched();
}

extern "C" int qc_avg_pool_f32(int64_t x, int64_t y, int nc, int h, int w, int k, int stride, int pad) {
    QC_PROFILE("avg_pool_f32");
    const int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    const int64_t len = (int64_t)nc * oh * ow;
    if (len <= 0) return 0;
    avg_pool_kernel<<<grid(len), kThreads, 0, qc::stream()>>>(ptr<float>(x), ptr<float>(y), nc, h, w, k, stride, pad,
                                                              oh, ow);
    return qc::launched();
}

extern "C" int qc_avg_pool_bwd_f32(int64_t dy, int64_t dx, int nc, int h, int w, int k, int stride, int pad) {
    QC_PROFILE("avg_pool_bwd_f32");
    const int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    const int64_t len = (int64_t)nc * h * w;
    if (len <= 0) return 0;
    avg_pool_bwd_kernel<<<grid(len), kThreads, 0, qc::stream()>>>(ptr<float>(dy), ptr<float>(dx), nc, h, w, k, stride,
                                                                  pad, oh, ow);
    return qc::launched();
}

extern "C" int qc_adaptive_avg_pool_f32(int64_t x, int64_t y, int nc, int h, int w, int oh, int ow) {
    QC_PROFILE("adaptive_avg_pool_f32");
    const int64_t len = (int64_t)nc * oh * ow;
    if (len <= 0) return 0;
    adaptive_avg_pool_kernel<<<grid(len), kThreads, 0, qc::stream()>>>(ptr<float>(x), ptr<float>(y), nc, h, w, oh, ow);
    return qc::launched();
}

extern "C" int qc_adaptive_avg_pool_bwd_f32(int64_t dy, int64_t dx, int nc, int h, int w, int oh, int ow) {
    QC_PROFILE("adaptive_avg_pool_bwd_f32");
    const int64_t len = (int64_t)nc * h * w;
    if (len <= 0) return 0;
    adaptive_avg_pool_bwd_kernel<<<grid(len), kThreads, 0, qc::stream()>>>(ptr<float>(dy), ptr<float>(dx), nc, h, w,
                                                                           oh, ow);
    return qc::launched();
}

extern "C" int qc_softmax_ce_f32(int64_t logits, int64_t labels, float smoothing, int64_t dlogits, int64_t loss, int n,
                                 int k) {
    QC_PROFILE("softmax_ce_f32");
    softmax_ce_kernel<<<1, kThreads, 0, qc::stream()>>>(ptr<float>(logits), ptr<int32_t>(labels), smoothing,
                                                        ptr<float>(dlogits), ptr<float>(loss), n, k);
    return qc::launched();
}

extern "C" int qc_sgd_f32(int64_t param, int64_t grad, int64_t buf, int64_t len, float lr, float momentum,
                          float weight_decay, int nesterov) {
    QC_PROFILE("sgd_f32");
    if (len <= 0) return 0;
    sgd_kernel<<<grid(len), kThreads, 0, qc::stream()>>>(ptr<float>(param), ptr<float>(grad), ptr<float>(buf), len, lr,
                                                         momentum, weight_decay, nesterov);
    return qc::launched();
}

extern "C" int qc_act_quant_f32(int64_t x, int64_t y, int64_t len, int kind, int bits, int64_t alpha,
                                float fixed_clip) {
    QC_PROFILE("act_quant_f32");
    if (len <= 0) return 0;
    act_quant_kernel<<<grid(len), kThreads, 0, qc::stream()>>>(ptr<float>(x), ptr<float>(y), len, kind, bits,
                                                               ptr<float>(alpha), fixed_clip);
    return qc::launched();
}

extern "C" int qc_act_quant_bwd_f32(int64_t dy, int64_t x, int64_t dx, int64_t dalpha, int64_t len, int kind,
                                    int bits, int64_t alpha, float fixed_clip) {
    QC_PROFILE("act_quant_bwd_f32");
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
    QC_PROFILE("weight_quant_f32");
    if (len <= 0) return 0;
    const unsigned blocks = qc::blocks_for(len, kThreads, kWeightBlocks);
    // wq holds t = tanh(w) until the last kernel overwrites each element with its quantized value.
    float* stats = qc::scratch<float>(2 + blocks);
    if (!stats) return qc::set_error(cudaErrorMemoryAllocation);
    float* maxima = stats + 2;
    tanh_max_kernel<<<blocks, kThreads, 0, qc::stream()>>>(ptr<float>(w), ptr<float>(wq), len, maxima);
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
    QC_PROFILE("weight_quant_bwd_f32");
    (void)bits;
    if (len <= 0) return 0;
    const unsigned blocks = qc::blocks_for(len, kThreads, kWeightBlocks);
    double* td = qc::scratch<double>(len + 3 + 2 * (int64_t)blocks);
    if (!td) return qc::set_error(cudaErrorMemoryAllocation);
    double* stats = td + len;
    double* partial = stats + 3;  // maxima first, then (sum, ties) pairs
    tanh_max_double_kernel<<<blocks, kThreads, 0, qc::stream()>>>(ptr<float>(w), td, len, partial);
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

extern "C" int qc_requantize_s32(int64_t acc, int64_t mult, int64_t shift, int64_t bias, int per_tensor, int rounding,
                                 int qmin, int qmax, int64_t out, int out_bytes, int64_t len, int channels,
                                 int64_t inner) {
    QC_PROFILE("requantize_s32");
    if (len <= 0) return 0;
    requantize_kernel<<<grid(len), kThreads, 0, qc::stream()>>>(ptr<int32_t>(acc), ptr<int32_t>(mult),
                                                                ptr<int32_t>(shift), ptr<int32_t>(bias), per_tensor,
                                                                rounding, qmin, qmax, ptr<void>(out), out_bytes, len,
                                                                channels, inner);
    return qc::launched();
}
