// Elementwise, normalisation, pooling, loss and optimizer kernels of the cpu backend.
// These ops are memory-bound: the portable variants are written branch-free so gcc vectorises them at -O3, and the
// ones a training step spends its time in (batch norm, clamp backward) also have an AVX-512F variant, picked through
// the dispatch table (qat4j_kernels_for; the activation quantizer's are in act_quant.cpp).
// Per-channel reductions accumulate in double (like the Java reference) so results agree to float rounding; several
// double partial sums (vector lanes) instead of one sequential sum, since a single chain of dependent double adds
// is what made these ops 10x slower than a pass over memory.
#include "qat4j_internal.h"
#include <cmath>
#include <math.h>
#include <string.h>

#include <vector>

using qat4j::kParMin;

namespace qat4j {

// ---------------------------------------------------------------- batch norm, plane by plane
// Both passes run over the [n, c] planes in memory order (not channel by channel, whose planes lie c * hw floats
// apart: each plane a fresh stream for the prefetcher, measured 2-3x slower), keeping one pair of double sums per
// plane that are added up per channel afterwards, in batch order whatever the thread count.
// Train: the sums of d = x - k and d^2, shifted by k, one value of the channel, so a single pass is as accurate as
// the reference's two (no cancellation when the mean is large against the spread). Backward: sum(dy) and
// sum(dy * (x - mu)).

namespace {
constexpr int kLanes = 8;  // partial sums of the portable variants: independent chains gcc can also vectorise
}  // namespace

void bn_plane_sums_scalar(const float* p, int64_t hw, double k, double* s1, double* s2) {
    double a[kLanes] = {}, q[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= hw; i += kLanes)
        for (int l = 0; l < kLanes; l++) {
            const double d = (double)p[i + l] - k;
            a[l] += d;
            q[l] += d * d;
        }
    for (; i < hw; i++) {
        const double d = (double)p[i] - k;
        a[0] += d;
        q[0] += d * d;
    }
    double sa = 0.0, sq = 0.0;
    for (int l = 0; l < kLanes; l++) {
        sa += a[l];
        sq += q[l];
    }
    *s1 = sa;
    *s2 = sq;
}

QAT4J_AVX512F
void bn_plane_sums_avx512(const float* p, int64_t hw, double k, double* s1, double* s2) {
    const __m512d vk = _mm512_set1_pd(k);
    __m512d a0 = _mm512_setzero_pd(), a1 = a0, q0 = a0, q1 = a0;
    double ta = 0.0, tq = 0.0;
    int64_t i = 0;
    for (; i + 16 <= hw; i += 16) {
        const __m512 v = _mm512_loadu_ps(p + i);
        const __m512d d0 = _mm512_sub_pd(cvt_lo_pd(v), vk), d1 = _mm512_sub_pd(cvt_hi_pd(v), vk);
        a0 = _mm512_add_pd(a0, d0);
        a1 = _mm512_add_pd(a1, d1);
        q0 = _mm512_fmadd_pd(d0, d0, q0);
        q1 = _mm512_fmadd_pd(d1, d1, q1);
    }
    for (; i < hw; i++) {
        const double d = (double)p[i] - k;
        ta += d;
        tq += d * d;
    }
    *s1 = _mm512_reduce_add_pd(_mm512_add_pd(a0, a1)) + ta;
    *s2 = _mm512_reduce_add_pd(_mm512_add_pd(q0, q1)) + tq;
}

void bn_plane_bwd_sums_scalar(const float* g, const float* p, int64_t hw, float mu, double* s_dy, double* s_dyd) {
    double a[kLanes] = {}, q[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= hw; i += kLanes)
        for (int l = 0; l < kLanes; l++) {
            a[l] += g[i + l];
            q[l] += (double)g[i + l] * (double)(p[i + l] - mu);
        }
    for (; i < hw; i++) {
        a[0] += g[i];
        q[0] += (double)g[i] * (double)(p[i] - mu);
    }
    double sa = 0.0, sq = 0.0;
    for (int l = 0; l < kLanes; l++) {
        sa += a[l];
        sq += q[l];
    }
    *s_dy = sa;
    *s_dyd = sq;
}

QAT4J_AVX512F
void bn_plane_bwd_sums_avx512(const float* g, const float* p, int64_t hw, float mu, double* s_dy, double* s_dyd) {
    const __m512 vmu = _mm512_set1_ps(mu);
    __m512d a0 = _mm512_setzero_pd(), a1 = a0, q0 = a0, q1 = a0;
    double ta = 0.0, tq = 0.0;
    int64_t i = 0;
    for (; i + 16 <= hw; i += 16) {
        const __m512 vg = _mm512_loadu_ps(g + i);
        const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(p + i), vmu);  // x - mu in float, as the reference
        const __m512d g0 = cvt_lo_pd(vg), g1 = cvt_hi_pd(vg);
        a0 = _mm512_add_pd(a0, g0);
        a1 = _mm512_add_pd(a1, g1);
        q0 = _mm512_fmadd_pd(g0, cvt_lo_pd(d), q0);
        q1 = _mm512_fmadd_pd(g1, cvt_hi_pd(d), q1);
    }
    for (; i < hw; i++) {
        ta += g[i];
        tq += (double)g[i] * (double)(p[i] - mu);
    }
    *s_dy = _mm512_reduce_add_pd(_mm512_add_pd(a0, a1)) + ta;
    *s_dyd = _mm512_reduce_add_pd(_mm512_add_pd(q0, q1)) + tq;
}

// y = x * scale + shift (separate multiply and add: the same floats in both variants).
void bn_plane_affine_scalar(const float* p, float* q, int64_t hw, float scale, float shift) {
    for (int64_t i = 0; i < hw; i++) q[i] = p[i] * scale + shift;
}

QAT4J_AVX512F
void bn_plane_affine_avx512(const float* p, float* q, int64_t hw, float scale, float shift) {
    const __m512 vs = _mm512_set1_ps(scale), vb = _mm512_set1_ps(shift);
    int64_t i = 0;
    for (; i + 16 <= hw; i += 16)
        _mm512_storeu_ps(q + i, _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(p + i), vs), vb));
    for (; i < hw; i++) q[i] = p[i] * scale + shift;
}

// dx = a * dy - b - ((x - mu) * is) * cc in float, the same operations in both variants.
void bn_plane_bwd_dx_scalar(const float* g, const float* p, float* d, int64_t hw, float mu, float is, float a, float bb,
                         float cc) {
    for (int64_t i = 0; i < hw; i++) d[i] = a * g[i] - bb - ((p[i] - mu) * is) * cc;
}

QAT4J_AVX512F
void bn_plane_bwd_dx_avx512(const float* g, const float* p, float* d, int64_t hw, float mu, float is, float a, float bb,
                         float cc) {
    const __m512 vmu = _mm512_set1_ps(mu), vis = _mm512_set1_ps(is), va = _mm512_set1_ps(a);
    const __m512 vb = _mm512_set1_ps(bb), vc = _mm512_set1_ps(cc);
    int64_t i = 0;
    for (; i + 16 <= hw; i += 16) {
        const __m512 xh = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(p + i), vmu), vis);
        const __m512 t = _mm512_sub_ps(_mm512_mul_ps(va, _mm512_loadu_ps(g + i)), vb);
        _mm512_storeu_ps(d + i, _mm512_sub_ps(t, _mm512_mul_ps(xh, vc)));
    }
    for (; i < hw; i++) d[i] = a * g[i] - bb - ((p[i] - mu) * is) * cc;
}

// ---------------------------------------------------------------- clamp and activation-quantizer backward

void clamp_bwd_scalar(const float* dy, const float* x, float* dx, int64_t len, float lo, float hi) {
#pragma omp parallel for schedule(static) if (len > kParMin)
    for (int64_t i = 0; i < len; i++) {
        // Both loads unconditional and & rather than &&: a select gcc vectorises. A load of dy under the condition
        // cannot be, and as a branch it mispredicts on about half of the activations (10x slower).
        const float v = x[i], g = dy[i];
        dx[i] = ((v > lo) & (v < hi)) ? g : 0.0f;
    }
}

namespace {
QAT4J_AVX512F
inline void clamp_bwd_block(const float* dy, const float* x, float* dx, __mmask16 k, __m512 lo, __m512 hi) {
    const __m512 v = _mm512_maskz_loadu_ps(k, x), g = _mm512_maskz_loadu_ps(k, dy);
    // ordered compares: false for a NaN x, which gets 0 (as the reference)
    const __mmask16 in = _mm512_cmp_ps_mask(v, lo, _CMP_GT_OQ) & _mm512_cmp_ps_mask(v, hi, _CMP_LT_OQ);
    _mm512_mask_storeu_ps(dx, k, _mm512_maskz_mov_ps(in, g));
}
}  // namespace

QAT4J_AVX512F
void clamp_bwd_avx512(const float* dy, const float* x, float* dx, int64_t len, float lo, float hi) {
    const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    const int64_t blocks = len / 16;
#pragma omp parallel for schedule(static) if (len > kParMin)
    for (int64_t b = 0; b < blocks; b++) clamp_bwd_block(dy + b * 16, x + b * 16, dx + b * 16, 0xFFFF, vlo, vhi);
    if (len % 16) clamp_bwd_block(dy + blocks * 16, x + blocks * 16, dx + blocks * 16, first_lanes(len % 16), vlo, vhi);
}

}  // namespace qat4j

extern "C" int qat4j_bias_bwd_f32(const float* dy, float* db, int n, int c, int64_t inner) {
#pragma omp parallel for schedule(static) if ((int64_t)n * c * inner > kParMin)
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
    return QAT4J_OK;
}

extern "C" int qat4j_bn_train_f32(const float* x, const float* gamma, const float* beta, float* running_mean,
                                   float* running_var, float momentum, float eps, float* y, float* mean,
                                   float* inv_std, int n, int c, int64_t hw, int isa) {
    return qat4j::guard_alloc([&] {
        const qat4j_kernel_table* kt = qat4j_kernels_for(isa);
        const double count = (double)n * hw;
        const int64_t planes = (int64_t)n * c;
        const bool par = planes * hw > kParMin;
        std::vector<double> shift_of(c), sums(2 * planes);
        std::vector<float> scale(c), shift(c);
        for (int ch = 0; ch < c; ch++) {
            const double k = x[(int64_t)ch * hw];  // the shift: the channel's first value
            shift_of[ch] = isfinite(k) ? k : 0.0;  // an inf or NaN there must give the reference's mean (inf stays inf)
        }
#pragma omp parallel for schedule(static) if (par)
        for (int64_t pl = 0; pl < planes; pl++) {
            const float* p = x + pl * hw;
            kt->bn_plane_sums(p, hw, shift_of[pl % c], &sums[2 * pl], &sums[2 * pl + 1]);
        }
        for (int ch = 0; ch < c; ch++) {
            double s1 = 0.0, s2 = 0.0;
            for (int b = 0; b < n; b++) {
                s1 += sums[2 * ((int64_t)b * c + ch)];
                s2 += sums[2 * ((int64_t)b * c + ch) + 1];
            }
            const double off = s1 / count, mu = shift_of[ch] + off;
            double sq = s2 - s1 * off;  // sum (x - mu)^2
            sq = sq < 0.0 ? 0.0 : sq;  // rounding on a constant channel; a NaN stays NaN
            const double var = sq / count;
            const double is = 1.0 / sqrt(var + eps);
            // y = x * scale + shift, folded in float for speed: differs from the reference's double by float rounding.
            scale[ch] = (float)(is * gamma[ch]);
            shift[ch] = (float)(beta[ch] - mu * is * gamma[ch]);
            mean[ch] = (float)mu;
            inv_std[ch] = (float)is;
            running_mean[ch] = (float)((1.0 - momentum) * running_mean[ch] + momentum * mu);
            running_var[ch] = (float)((1.0 - momentum) * running_var[ch] + momentum * (sq / (count - 1.0)));
        }
#pragma omp parallel for schedule(static) if (par)
        for (int64_t pl = 0; pl < planes; pl++) {
            const int ch = (int)(pl % c);
            kt->bn_plane_affine(x + pl * hw, y + pl * hw, hw, scale[ch], shift[ch]);
        }
        return QAT4J_OK;
    });
}

extern "C" int qat4j_bn_eval_f32(const float* x, const float* gamma, const float* beta, const float* running_mean,
                                  const float* running_var, float eps, float* y, int n, int c, int64_t hw) {
#pragma omp parallel for collapse(2) schedule(static) if ((int64_t)n * c * hw > kParMin)
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
    return QAT4J_OK;
}

extern "C" int qat4j_bn_bwd_f32(const float* dy, const float* x, const float* gamma, const float* mean,
                                 const float* inv_std, float* dx, float* dgamma, float* dbeta, int n, int c,
                                 int64_t hw, int isa) {
    return qat4j::guard_alloc([&] {
        const qat4j_kernel_table* kt = qat4j_kernels_for(isa);
        const double m = (double)n * hw;
        const int64_t planes = (int64_t)n * c;
        const bool par = planes * hw > kParMin;
        std::vector<double> sums(2 * planes);
        std::vector<float> ca(c), cb(c), cc(c);
#pragma omp parallel for schedule(static) if (par)
        for (int64_t pl = 0; pl < planes; pl++) {
            const float mu = mean[pl % c];
            kt->bn_plane_bwd_sums(dy + pl * hw, x + pl * hw, hw, mu, &sums[2 * pl], &sums[2 * pl + 1]);
        }
        for (int ch = 0; ch < c; ch++) {
            double sum_dy = 0.0, sum_dy_d = 0.0;
            for (int b = 0; b < n; b++) {
                sum_dy += sums[2 * ((int64_t)b * c + ch)];
                sum_dy_d += sums[2 * ((int64_t)b * c + ch) + 1];
            }
            // xh = (x - mu) * is: the reference's product, factored out
            const double sum_dy_xh = sum_dy_d * inv_std[ch];
            const double k = (double)gamma[ch] * inv_std[ch] / m;
            ca[ch] = (float)(k * m);
            cb[ch] = (float)(k * sum_dy);
            cc[ch] = (float)(k * sum_dy_xh);
            dgamma[ch] = (float)sum_dy_xh;
            dbeta[ch] = (float)sum_dy;
        }
#pragma omp parallel for schedule(static) if (par)
        for (int64_t pl = 0; pl < planes; pl++) {
            const int ch = (int)(pl % c);
            kt->bn_plane_bwd_dx(dy + pl * hw, x + pl * hw, dx + pl * hw, hw, mean[ch], inv_std[ch], ca[ch], cb[ch],
                                cc[ch]);
        }
        return QAT4J_OK;
    });
}

extern "C" int qat4j_clamp_f32(const float* x, float* y, int64_t len, float lo, float hi) {
#pragma omp parallel for schedule(static) if (len > kParMin)
    for (int64_t i = 0; i < len; i++) {
        float v = x[i];
        // Same as Java's Math.min(Math.max(v, lo), hi) for non-NaN inputs; NaN stays NaN.
        v = v < lo ? lo : v;
        y[i] = v > hi ? hi : v;
    }
    return QAT4J_OK;
}

extern "C" int qat4j_clamp_bwd_f32(const float* dy, const float* x, float* dx, int64_t len, float lo, float hi,
                                    int isa) {
    qat4j_kernels_for(isa)->clamp_bwd(dy, x, dx, len, lo, hi);
    return QAT4J_OK;
}

extern "C" int qat4j_add_f32(const float* a, const float* b, float* y, int64_t len) {
#pragma omp parallel for schedule(static) if (len > kParMin)
    for (int64_t i = 0; i < len; i++) y[i] = a[i] + b[i];
    return QAT4J_OK;
}

extern "C" int qat4j_avg_pool_f32(const float* x, float* y, int nc, int h, int w, int k, int stride, int pad) {
    const int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    const float inv = (float)(1.0 / ((double)k * k));  // k * k overflows int from k = 46341
#pragma omp parallel for schedule(static) if ((int64_t)nc * h * w > kParMin)
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
    return QAT4J_OK;
}

extern "C" int qat4j_avg_pool_bwd_f32(const float* dy, float* dx, int nc, int h, int w, int k, int stride, int pad) {
    const int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    const float inv = (float)(1.0 / ((double)k * k));  // k * k overflows int from k = 46341
#pragma omp parallel for schedule(static) if ((int64_t)nc * h * w > kParMin)
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
    return QAT4J_OK;
}

// torch's adaptive pooling windows: [floor(i*in/out), ceil((i+1)*in/out))
static inline int ad_start(int i, int in, int out) { return (int)((int64_t)i * in / out); }
static inline int ad_end(int i, int in, int out) { return (int)(((int64_t)(i + 1) * in + out - 1) / out); }

extern "C" int qat4j_adaptive_avg_pool_f32(const float* x, float* y, int nc, int h, int w, int oh, int ow) {
#pragma omp parallel for schedule(static) if ((int64_t)nc * h * w > kParMin)
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
    return QAT4J_OK;
}

extern "C" int qat4j_adaptive_avg_pool_bwd_f32(const float* dy, float* dx, int nc, int h, int w, int oh, int ow) {
#pragma omp parallel for schedule(static) if ((int64_t)nc * h * w > kParMin)
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
    return QAT4J_OK;
}

extern "C" int qat4j_softmax_ce_f32(const float* logits, const int32_t* labels, float smoothing, float* dlogits,
                                    int n, int k, float* loss) {
    double total = 0.0;
#pragma omp parallel for reduction(+ : total) schedule(static) if ((int64_t)n * k > kParMin)
    for (int b = 0; b < n; b++)
        total += qat4j::softmax_ce_row(logits + (int64_t)b * k, labels[b], smoothing, dlogits + (int64_t)b * k, n, k);
    *loss = (float)(total / n);
    return QAT4J_OK;
}

namespace {
// Same float operations, in the same order, as RefKernels.sgdStep: bit-identical. CHECK adds the finiteness test of
// sgdSteps; plain sgdStep keeps the loop without it.
template <bool CHECK>
bool sgd_update(float* param, const float* grad, float* buf, int64_t len, float lr, float momentum, float weight_decay,
                int nesterov) {
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad) if (len > kParMin)
    for (int64_t i = 0; i < len; i++) {
        const float g = grad[i] + weight_decay * param[i];
        buf[i] = momentum * buf[i] + g;
        const float step = nesterov ? g + momentum * buf[i] : buf[i];
        param[i] -= lr * step;
        if (CHECK) bad |= std::isfinite(param[i]) ? 0 : 1;
    }
    return bad != 0;
}
}  // namespace

extern "C" int qat4j_sgd_f32(float* param, const float* grad, float* buf, int64_t len, float lr, float momentum,
                              float weight_decay, int nesterov) {
    sgd_update<false>(param, grad, buf, len, lr, momentum, weight_decay, nesterov);
    return QAT4J_OK;
}

extern "C" int qat4j_sgd_checked_f32(float* param, const float* grad, float* buf, int64_t len, float lr,
                                      float momentum, float weight_decay, int nesterov, float* non_finite) {
    if (!non_finite) return qat4j_sgd_f32(param, grad, buf, len, lr, momentum, weight_decay, nesterov);
    if (sgd_update<true>(param, grad, buf, len, lr, momentum, weight_decay, nesterov)) *non_finite = 1.0f;
    return QAT4J_OK;
}
