// Elementwise, normalisation, pooling, loss, optimizer and quantizer-backward kernels of the cpu backend.
// One portable variant each: these ops are memory-bound and gcc vectorises the inner loops at -O3; per-channel
// reductions accumulate in double (like the Java reference) so results agree to float rounding.
#include "qat4j_kernels.h"
#include "quant_common.h"
#include <math.h>
#include <string.h>

#define QAT4J_PAR_MIN (1 << 15)  // below this many elements, threads cost more than they save

extern "C" void qat4j_bias_bwd_f32(const float* dy, float* db, int n, int c, int64_t inner) {
#pragma omp parallel for schedule(static) if ((int64_t)n * c * inner > QAT4J_PAR_MIN)
    for (int ch = 0; ch < c; ch++) {
        double sum = 0.0;
        for (int b = 0; b < n; b++) {
            const float* p = dy + ((int64_t)b * c + ch) * inner;
            float part = 0.0f;
            for (int64_t i = 0; i < inner; i++) part += p[i];
            sum += part;
        }
        db[ch] = (float)sum;
    }
}

extern "C" void qat4j_bn_train_f32(const float* x, const float* gamma, const float* beta, float* running_mean,
                                   float* running_var, float momentum, float eps, float* y, float* mean,
                                   float* inv_std, int n, int c, int64_t hw) {
    const double count = (double)n * hw;
#pragma omp parallel for schedule(static) if ((int64_t)n * c * hw > QAT4J_PAR_MIN)
    for (int ch = 0; ch < c; ch++) {
        double sum = 0.0;
        for (int b = 0; b < n; b++) {
            const float* p = x + ((int64_t)b * c + ch) * hw;
            double part = 0.0;
            for (int64_t i = 0; i < hw; i++) part += p[i];
            sum += part;
        }
        const double mu = sum / count;
        double sq = 0.0;
        for (int b = 0; b < n; b++) {
            const float* p = x + ((int64_t)b * c + ch) * hw;
            double part = 0.0;
            for (int64_t i = 0; i < hw; i++) {
                const double d = p[i] - mu;
                part += d * d;
            }
            sq += part;
        }
        const double var = sq / count;
        const double is = 1.0 / sqrt(var + eps);
        // y = x * scale + shift, folded in float for speed: differs from the reference's double by float rounding.
        const float scale = (float)(is * gamma[ch]);
        const float shift = (float)(beta[ch] - mu * is * gamma[ch]);
        for (int b = 0; b < n; b++) {
            const float* p = x + ((int64_t)b * c + ch) * hw;
            float* q = y + ((int64_t)b * c + ch) * hw;
            for (int64_t i = 0; i < hw; i++) q[i] = p[i] * scale + shift;
        }
        mean[ch] = (float)mu;
        inv_std[ch] = (float)is;
        running_mean[ch] = (float)((1.0 - momentum) * running_mean[ch] + momentum * mu);
        running_var[ch] = (float)((1.0 - momentum) * running_var[ch] + momentum * (sq / (count - 1.0)));
    }
}

extern "C" void qat4j_bn_eval_f32(const float* x, const float* gamma, const float* beta, const float* running_mean,
                                  const float* running_var, float eps, float* y, int n, int c, int64_t hw) {
#pragma omp parallel for collapse(2) schedule(static) if ((int64_t)n * c * hw > QAT4J_PAR_MIN)
    for (int b = 0; b < n; b++) {
        for (int ch = 0; ch < c; ch++) {
            const double is = 1.0 / sqrt((double)running_var[ch] + eps);
            const float scale = (float)(is * gamma[ch]);
            const float shift = (float)(beta[ch] - running_mean[ch] * is * gamma[ch]);
            const float* p = x + ((int64_t)b * c + ch) * hw;
            float* q = y + ((int64_t)b * c + ch) * hw;
            for (int64_t i = 0; i < hw; i++) q[i] = p[i] * scale + shift;
        }
    }
}

extern "C" void qat4j_bn_bwd_f32(const float* dy, const float* x, const float* gamma, const float* mean,
                                 const float* inv_std, float* dx, float* dgamma, float* dbeta, int n, int c,
                                 int64_t hw) {
    const double m = (double)n * hw;
#pragma omp parallel for schedule(static) if ((int64_t)n * c * hw > QAT4J_PAR_MIN)
    for (int ch = 0; ch < c; ch++) {
        const float mu = mean[ch], is = inv_std[ch];
        double sum_dy = 0.0, sum_dy_xh = 0.0;
        for (int b = 0; b < n; b++) {
            const float* g = dy + ((int64_t)b * c + ch) * hw;
            const float* p = x + ((int64_t)b * c + ch) * hw;
            double s1 = 0.0, s2 = 0.0;
            for (int64_t i = 0; i < hw; i++) {
                s1 += g[i];
                s2 += (double)g[i] * ((p[i] - mu) * is);
            }
            sum_dy += s1;
            sum_dy_xh += s2;
        }
        const double k = (double)gamma[ch] * is / m;
        const float a = (float)(k * m), bcoef = (float)(k * sum_dy), ccoef = (float)(k * sum_dy_xh);
        for (int b = 0; b < n; b++) {
            const float* g = dy + ((int64_t)b * c + ch) * hw;
            const float* p = x + ((int64_t)b * c + ch) * hw;
            float* d = dx + ((int64_t)b * c + ch) * hw;
            for (int64_t i = 0; i < hw; i++) d[i] = a * g[i] - bcoef - ((p[i] - mu) * is) * ccoef;
        }
        dgamma[ch] = (float)sum_dy_xh;
        dbeta[ch] = (float)sum_dy;
    }
}

extern "C" void qat4j_clamp_f32(const float* x, float* y, int64_t len, float lo, float hi) {
#pragma omp parallel for schedule(static) if (len > QAT4J_PAR_MIN)
    for (int64_t i = 0; i < len; i++) {
        float v = x[i];
        // Same as Java's Math.min(Math.max(v, lo), hi) for non-NaN inputs; NaN stays NaN.
        v = v < lo ? lo : v;
        y[i] = v > hi ? hi : v;
    }
}

extern "C" void qat4j_clamp_bwd_f32(const float* dy, const float* x, float* dx, int64_t len, float lo, float hi) {
#pragma omp parallel for schedule(static) if (len > QAT4J_PAR_MIN)
    for (int64_t i = 0; i < len; i++) dx[i] = (x[i] > lo && x[i] < hi) ? dy[i] : 0.0f;
}

extern "C" void qat4j_add_f32(const float* a, const float* b, float* y, int64_t len) {
#pragma omp parallel for schedule(static) if (len > QAT4J_PAR_MIN)
    for (int64_t i = 0; i < len; i++) y[i] = a[i] + b[i];
}

extern "C" void qat4j_avg_pool_f32(const float* x, float* y, int nc, int h, int w, int k, int stride, int pad) {
    const int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    const float inv = 1.0f / (float)(k * k);
#pragma omp parallel for schedule(static) if ((int64_t)nc * h * w > QAT4J_PAR_MIN)
    for (int p = 0; p < nc; p++) {
        const float* in = x + (int64_t)p * h * w;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                float s = 0.0f;
                for (int ky = 0; ky < k; ky++) {
                    const int iy = oy * stride - pad + ky;
                    if (iy < 0 || iy >= h) continue;
                    for (int kx = 0; kx < k; kx++) {
                        const int ix = ox * stride - pad + kx;
                        if (ix >= 0 && ix < w) s += in[(int64_t)iy * w + ix];
                    }
                }
                y[((int64_t)p * oh + oy) * ow + ox] = s * inv;
            }
    }
}

extern "C" void qat4j_avg_pool_bwd_f32(const float* dy, float* dx, int nc, int h, int w, int k, int stride, int pad) {
    const int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    const float inv = 1.0f / (float)(k * k);
#pragma omp parallel for schedule(static) if ((int64_t)nc * h * w > QAT4J_PAR_MIN)
    for (int p = 0; p < nc; p++) {
        float* d = dx + (int64_t)p * h * w;
        memset(d, 0, sizeof(float) * h * w);
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                const float g = dy[((int64_t)p * oh + oy) * ow + ox] * inv;
                for (int ky = 0; ky < k; ky++) {
                    const int iy = oy * stride - pad + ky;
                    if (iy < 0 || iy >= h) continue;
                    for (int kx = 0; kx < k; kx++) {
                        const int ix = ox * stride - pad + kx;
                        if (ix >= 0 && ix < w) d[(int64_t)iy * w + ix] += g;
                    }
                }
            }
    }
}

// torch's adaptive pooling windows: [floor(i*in/out), ceil((i+1)*in/out))
static inline int ad_start(int i, int in, int out) { return (int)((int64_t)i * in / out); }
static inline int ad_end(int i, int in, int out) { return (int)(((int64_t)(i + 1) * in + out - 1) / out); }

extern "C" void qat4j_adaptive_avg_pool_f32(const float* x, float* y, int nc, int h, int w, int oh, int ow) {
#pragma omp parallel for schedule(static) if ((int64_t)nc * h * w > QAT4J_PAR_MIN)
    for (int p = 0; p < nc; p++) {
        const float* in = x + (int64_t)p * h * w;
        for (int oy = 0; oy < oh; oy++) {
            const int y0 = ad_start(oy, h, oh), y1 = ad_end(oy, h, oh);
            for (int ox = 0; ox < ow; ox++) {
                const int x0 = ad_start(ox, w, ow), x1 = ad_end(ox, w, ow);
                double s = 0.0;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) s += in[(int64_t)iy * w + ix];
                y[((int64_t)p * oh + oy) * ow + ox] = (float)(s / ((y1 - y0) * (x1 - x0)));
            }
        }
    }
}

extern "C" void qat4j_adaptive_avg_pool_bwd_f32(const float* dy, float* dx, int nc, int h, int w, int oh, int ow) {
#pragma omp parallel for schedule(static) if ((int64_t)nc * h * w > QAT4J_PAR_MIN)
    for (int p = 0; p < nc; p++) {
        float* d = dx + (int64_t)p * h * w;
        memset(d, 0, sizeof(float) * h * w);
        for (int oy = 0; oy < oh; oy++) {
            const int y0 = ad_start(oy, h, oh), y1 = ad_end(oy, h, oh);
            for (int ox = 0; ox < ow; ox++) {
                const int x0 = ad_start(ox, w, ow), x1 = ad_end(ox, w, ow);
                const float g = (float)(dy[((int64_t)p * oh + oy) * ow + ox] / (double)((y1 - y0) * (x1 - x0)));
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) d[(int64_t)iy * w + ix] += g;
            }
        }
    }
}

extern "C" float qat4j_softmax_ce_f32(const float* logits, const int32_t* labels, float smoothing, float* dlogits,
                                      int n, int k) {
    double total = 0.0;
#pragma omp parallel for reduction(+ : total) schedule(static) if ((int64_t)n * k > QAT4J_PAR_MIN)
    for (int b = 0; b < n; b++)
        total += qat4j::softmax_ce_row(logits + (int64_t)b * k, labels[b], smoothing, dlogits + (int64_t)b * k, n, k);
    return (float)(total / n);
}

extern "C" void qat4j_sgd_f32(float* param, const float* grad, float* buf, int64_t len, float lr, float momentum,
                              float weight_decay, int nesterov) {
    // Same float operations, in the same order, as RefKernels.sgdStep: bit-identical.
#pragma omp parallel for schedule(static) if (len > QAT4J_PAR_MIN)
    for (int64_t i = 0; i < len; i++) {
        const float g = grad[i] + weight_decay * param[i];
        buf[i] = momentum * buf[i] + g;
        const float step = nesterov ? g + momentum * buf[i] : buf[i];
        param[i] -= lr * step;
    }
}

extern "C" float qat4j_act_quant_bwd_f32(const float* dy, const float* x, float* dx, int64_t len, int kind, int bits,
                                         float alpha, float fixed_clip) {
    (void)bits;
    double dalpha = 0.0;
#pragma omp parallel for reduction(+ : dalpha) schedule(static) if (len > QAT4J_PAR_MIN)
    for (int64_t i = 0; i < len; i++) {
        dx[i] = dy[i] * qat4j::act_grad_x(x[i], kind, alpha, fixed_clip);
        dalpha += (double)dy[i] * qat4j::act_grad_alpha(x[i], kind, alpha);
    }
    return (float)dalpha;
}

extern "C" void qat4j_weight_quant_f32(const float* w, float* wq, int64_t len, int bits) {
    if (bits == 32) {
        memcpy(wq, w, sizeof(float) * len);
        return;
    }
    // wq doubles as the tanh buffer: each element is read before it is overwritten.
    const float m = qat4j::tanh_and_max_abs(w, len, wq);
    if (m == 0.0f) {
        memset(wq, 0, sizeof(float) * len);
        return;
    }
    const float binary_scale = bits == 1 ? qat4j::mean_abs_normalized(wq, len, m) : 0.0f;
#pragma omp parallel for schedule(static) if (len > QAT4J_PAR_MIN)
    for (int64_t i = 0; i < len; i++) {
        const float wn = wq[i] / m;
        wq[i] = qat4j::weight_value(qat4j::weight_code(wn, bits), bits, binary_scale);
    }
}

extern "C" void qat4j_weight_quant_bwd_f32(const float* g, const float* w, float* dw, int64_t len, int bits) {
    if (bits == 32) {
        memcpy(dw, g, sizeof(float) * len);
        return;
    }
    double m = 0.0;
    for (int64_t i = 0; i < len; i++) {
        const double a = fabs(tanh((double)w[i]));
        m = (a > m || a != a) ? a : m;  // a NaN weight makes the max NaN (Java's Math.max): every gradient NaN
        if (m != m) break;
    }
    if (m == 0.0) {
        memset(dw, 0, sizeof(float) * len);
        return;
    }
    double sum_gt = 0.0;
    int64_t ties = 0;
    for (int64_t i = 0; i < len; i++) {
        const double t = tanh((double)w[i]);
        sum_gt += g[i] * t;
        if (fabs(t) == m) ties++;
    }
#pragma omp parallel for schedule(static) if (len > QAT4J_PAR_MIN)
    for (int64_t i = 0; i < len; i++) {
        const double t = tanh((double)w[i]);
        double dt = g[i] / m;
        if (fabs(t) == m) dt -= (t > 0 ? 1.0 : -1.0) * sum_gt / (m * m) / (double)ties;
        dw[i] = (float)(dt * (1.0 - t * t));
    }
}
