// Elementwise, normalisation, pooling, loss, optimizer and quantizer-backward kernels of the cpu backend.
// These ops are memory-bound: the portable variants are written branch-free so gcc vectorises them at -O3, and the
// ones a training step spends its time in (batch norm, clamp and activation-quantizer backward) also have an
// AVX-512 variant, picked by the isa argument as in act_quant.cpp (QAT4J_ISA_AUTO: qat4j_cpu_active_isa()).
// Per-channel and dalpha reductions accumulate in double (like the Java reference) so results agree to float
// rounding; several double partial sums (vector lanes) instead of one sequential sum, since a single chain of
// dependent double adds is what made these ops 10x slower than a pass over memory.
#include "qat4j_kernels.h"
#include "quant_common.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include <vector>

#define QAT4J_PAR_MIN (1 << 15)  // below this many elements, threads cost more than they save

namespace {

bool use_avx512(int isa) {
    if (isa == QAT4J_ISA_AUTO) isa = qat4j_cpu_active_isa();
    return isa >= QAT4J_ISA_AVX512VNNI;
}

// The high 8 floats of v as doubles (AVX-512F only: _mm512_extractf32x8_ps would need DQ).
__attribute__((target("avx512f"))) inline __m512d cvt_hi_pd(__m512 v) {
    return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

__attribute__((target("avx512f"))) inline __m512d cvt_lo_pd(__m512 v) {
    return _mm512_cvtps_pd(_mm512_castps512_ps256(v));
}

// ---------------------------------------------------------------- batch norm, plane by plane
// Both passes run over the [n, c] planes in memory order (not channel by channel, whose planes lie c * hw floats
// apart: each plane a fresh stream for the prefetcher, measured 2-3x slower), keeping one pair of double sums per
// plane that are added up per channel afterwards, in batch order whatever the thread count.
// Train: the sums of d = x - k and d^2, shifted by k, one value of the channel, so a single pass is as accurate as
// the reference's two (no cancellation when the mean is large against the spread). Backward: sum(dy) and
// sum(dy * (x - mu)).

constexpr int kLanes = 8;  // partial sums of the portable variants: independent chains gcc can also vectorise

void plane_sums_scalar(const float* p, int64_t hw, double k, double* s1, double* s2) {
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

__attribute__((target("avx512f")))
void plane_sums_avx512(const float* p, int64_t hw, double k, double* s1, double* s2) {
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

void plane_bwd_sums_scalar(const float* g, const float* p, int64_t hw, float mu, double* s_dy, double* s_dyd) {
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

__attribute__((target("avx512f")))
void plane_bwd_sums_avx512(const float* g, const float* p, int64_t hw, float mu, double* s_dy, double* s_dyd) {
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
void plane_affine_scalar(const float* p, float* q, int64_t hw, float scale, float shift) {
    for (int64_t i = 0; i < hw; i++) q[i] = p[i] * scale + shift;
}

__attribute__((target("avx512f")))
void plane_affine_avx512(const float* p, float* q, int64_t hw, float scale, float shift) {
    const __m512 vs = _mm512_set1_ps(scale), vb = _mm512_set1_ps(shift);
    int64_t i = 0;
    for (; i + 16 <= hw; i += 16)
        _mm512_storeu_ps(q + i, _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(p + i), vs), vb));
    for (; i < hw; i++) q[i] = p[i] * scale + shift;
}

// dx = a * dy - b - ((x - mu) * is) * cc in float, the same operations in both variants.
void plane_bwd_dx_scalar(const float* g, const float* p, float* d, int64_t hw, float mu, float is, float a, float bb,
                         float cc) {
    for (int64_t i = 0; i < hw; i++) d[i] = a * g[i] - bb - ((p[i] - mu) * is) * cc;
}

__attribute__((target("avx512f")))
void plane_bwd_dx_avx512(const float* g, const float* p, float* d, int64_t hw, float mu, float is, float a, float bb,
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
#pragma omp parallel for schedule(static) if (len > QAT4J_PAR_MIN)
    for (int64_t i = 0; i < len; i++) {
        // Both loads unconditional and & rather than &&: a select gcc vectorises. A load of dy under the condition
        // cannot be, and as a branch it mispredicts on about half of the activations (10x slower).
        const float v = x[i], g = dy[i];
        dx[i] = ((v > lo) & (v < hi)) ? g : 0.0f;
    }
}

// The first r (< 16) lanes.
inline __mmask16 lanes(int64_t r) { return (__mmask16)((1u << r) - 1u); }

__attribute__((target("avx512f")))
inline void clamp_bwd_block(const float* dy, const float* x, float* dx, __mmask16 k, __m512 lo, __m512 hi) {
    const __m512 v = _mm512_maskz_loadu_ps(k, x), g = _mm512_maskz_loadu_ps(k, dy);
    // ordered compares: false for a NaN x, which gets 0 (as the reference)
    const __mmask16 in = _mm512_cmp_ps_mask(v, lo, _CMP_GT_OQ) & _mm512_cmp_ps_mask(v, hi, _CMP_LT_OQ);
    _mm512_mask_storeu_ps(dx, k, _mm512_maskz_mov_ps(in, g));
}

__attribute__((target("avx512f")))
void clamp_bwd_avx512(const float* dy, const float* x, float* dx, int64_t len, float lo, float hi) {
    const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    const int64_t blocks = len / 16;
#pragma omp parallel for schedule(static) if (len > QAT4J_PAR_MIN)
    for (int64_t b = 0; b < blocks; b++) clamp_bwd_block(dy + b * 16, x + b * 16, dx + b * 16, 0xFFFF, vlo, vhi);
    if (len % 16) clamp_bwd_block(dy + blocks * 16, x + blocks * 16, dx + blocks * 16, lanes(len % 16), vlo, vhi);
}

// dx = dy * grad_x (a float multiply, as the reference: NaN and inf dy and the sign of zero come out the same);
// dalpha = sum over i of (double)(dy * grad_alpha), the float product exact since grad_alpha is 0 or +-1.
double act_quant_bwd_scalar(const float* dy, const float* x, float* dx, int64_t len, const qat4j::ActGradParams& p) {
    constexpr int64_t kChunk = 2048;  // the dalpha loop re-reads the chunk from L1
    const int64_t chunks = (len + kChunk - 1) / kChunk;
    double dalpha = 0.0;
#pragma omp parallel for reduction(+ : dalpha) schedule(static) if (len > QAT4J_PAR_MIN)
    for (int64_t ci = 0; ci < chunks; ci++) {
        const int64_t i0 = ci * kChunk, i1 = i0 + kChunk < len ? i0 + kChunk : len;
        for (int64_t i = i0; i < i1; i++) dx[i] = dy[i] * qat4j::act_grad_x_sel(x[i], p);
        double part[kLanes] = {};
        int64_t i = i0;
        for (; i + kLanes <= i1; i += kLanes)
            for (int l = 0; l < kLanes; l++) part[l] += (double)(dy[i + l] * qat4j::act_grad_alpha_sel(x[i + l], p));
        for (; i < i1; i++) part[0] += (double)(dy[i] * qat4j::act_grad_alpha_sel(x[i], p));
        for (int l = 0; l < kLanes; l++) dalpha += part[l];
    }
    return dalpha;
}

struct ActGradVec {
    __m512 x_lo, x_hi, x_val, a_hi, a_pos, a_lo, a_neg;
};

__attribute__((target("avx512f")))
inline void act_quant_bwd_block(const float* dy, const float* x, float* dx, __mmask16 k, const ActGradVec& p,
                                __m512d& acc0, __m512d& acc1) {
    const __m512 v = _mm512_maskz_loadu_ps(k, x), g = _mm512_maskz_loadu_ps(k, dy);
    const __mmask16 in = _mm512_cmp_ps_mask(v, p.x_lo, _CMP_GE_OQ) & _mm512_cmp_ps_mask(v, p.x_hi, _CMP_LE_OQ);
    _mm512_mask_storeu_ps(dx, k, _mm512_mul_ps(g, _mm512_maskz_mov_ps(in, p.x_val)));
    const __m512 below = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, p.a_lo, _CMP_LE_OQ), p.a_neg);
    const __m512 ga = _mm512_mask_mov_ps(below, _mm512_cmp_ps_mask(v, p.a_hi, _CMP_GE_OQ), p.a_pos);
    const __m512 t = _mm512_mul_ps(g, ga);  // masked-off lanes: 0 * 0
    acc0 = _mm512_add_pd(acc0, cvt_lo_pd(t));
    acc1 = _mm512_add_pd(acc1, cvt_hi_pd(t));
}

__attribute__((target("avx512f")))
double act_quant_bwd_avx512(const float* dy, const float* x, float* dx, int64_t len, const qat4j::ActGradParams& q) {
    const ActGradVec p{_mm512_set1_ps(q.x_lo), _mm512_set1_ps(q.x_hi), _mm512_set1_ps(q.x_val), _mm512_set1_ps(q.a_hi),
                       _mm512_set1_ps(q.a_pos), _mm512_set1_ps(q.a_lo), _mm512_set1_ps(q.a_neg)};
    const int64_t blocks = len / 16;
    double dalpha = 0.0;
#pragma omp parallel reduction(+ : dalpha) if (len > QAT4J_PAR_MIN)
    {
        __m512d acc0 = _mm512_setzero_pd(), acc1 = acc0;
#pragma omp for schedule(static) nowait
        for (int64_t b = 0; b < blocks; b++) act_quant_bwd_block(dy + b * 16, x + b * 16, dx + b * 16, 0xFFFF, p, acc0, acc1);
        dalpha += _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1));
    }
    if (len % 16) {
        __m512d acc0 = _mm512_setzero_pd(), acc1 = acc0;
        act_quant_bwd_block(dy + blocks * 16, x + blocks * 16, dx + blocks * 16, lanes(len % 16), p, acc0, acc1);
        dalpha += _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1));
    }
    return dalpha;
}

}  // namespace

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
                                   float* inv_std, int n, int c, int64_t hw, int isa) {
    const double count = (double)n * hw;
    const int64_t planes = (int64_t)n * c;
    const bool wide = use_avx512(isa), par = planes * hw > QAT4J_PAR_MIN;
    std::vector<double> shift_of(c), sums(2 * planes);
    std::vector<float> scale(c), shift(c);
    for (int ch = 0; ch < c; ch++) {
        const double k = x[(int64_t)ch * hw];  // the shift: the channel's first value
        shift_of[ch] = isfinite(k) ? k : 0.0;  // an inf or NaN there must give the reference's mean (inf stays inf)
    }
#pragma omp parallel for schedule(static) if (par)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float* p = x + pl * hw;
        if (wide) plane_sums_avx512(p, hw, shift_of[pl % c], &sums[2 * pl], &sums[2 * pl + 1]);
        else plane_sums_scalar(p, hw, shift_of[pl % c], &sums[2 * pl], &sums[2 * pl + 1]);
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
        if (wide) plane_affine_avx512(x + pl * hw, y + pl * hw, hw, scale[ch], shift[ch]);
        else plane_affine_scalar(x + pl * hw, y + pl * hw, hw, scale[ch], shift[ch]);
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
                                 int64_t hw, int isa) {
    const double m = (double)n * hw;
    const int64_t planes = (int64_t)n * c;
    const bool wide = use_avx512(isa), par = planes * hw > QAT4J_PAR_MIN;
    std::vector<double> sums(2 * planes);
    std::vector<float> ca(c), cb(c), cc(c);
#pragma omp parallel for schedule(static) if (par)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float mu = mean[pl % c];
        if (wide) plane_bwd_sums_avx512(dy + pl * hw, x + pl * hw, hw, mu, &sums[2 * pl], &sums[2 * pl + 1]);
        else plane_bwd_sums_scalar(dy + pl * hw, x + pl * hw, hw, mu, &sums[2 * pl], &sums[2 * pl + 1]);
    }
    for (int ch = 0; ch < c; ch++) {
        double sum_dy = 0.0, sum_dy_d = 0.0;
        for (int b = 0; b < n; b++) {
            sum_dy += sums[2 * ((int64_t)b * c + ch)];
            sum_dy_d += sums[2 * ((int64_t)b * c + ch) + 1];
        }
        const double sum_dy_xh = sum_dy_d * inv_std[ch];  // xh = (x - mu) * is: the reference's product, factored out
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
        if (wide) plane_bwd_dx_avx512(dy + pl * hw, x + pl * hw, dx + pl * hw, hw, mean[ch], inv_std[ch], ca[ch], cb[ch], cc[ch]);
        else plane_bwd_dx_scalar(dy + pl * hw, x + pl * hw, dx + pl * hw, hw, mean[ch], inv_std[ch], ca[ch], cb[ch], cc[ch]);
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

extern "C" void qat4j_clamp_bwd_f32(const float* dy, const float* x, float* dx, int64_t len, float lo, float hi,
                                    int isa) {
    if (use_avx512(isa)) clamp_bwd_avx512(dy, x, dx, len, lo, hi);
    else clamp_bwd_scalar(dy, x, dx, len, lo, hi);
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
                                         float alpha, float fixed_clip, int isa) {
    (void)bits;
    const qat4j::ActGradParams p = qat4j::make_grad_params(kind, alpha, fixed_clip);
    return (float)(use_avx512(isa) ? act_quant_bwd_avx512(dy, x, dx, len, p) : act_quant_bwd_scalar(dy, x, dx, len, p));
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
    // tanh once per weight (it was evaluated in each of the three loops), in parallel; the max and the sum stay
    // sequential over the stored values, in the reference's order.
    std::vector<double> t((size_t)len);
#pragma omp parallel for schedule(static) if (len > QAT4J_PAR_MIN / 8)
    for (int64_t i = 0; i < len; i++) t[i] = tanh((double)w[i]);
    double m = 0.0;
    for (int64_t i = 0; i < len; i++) {
        const double a = fabs(t[i]);
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
        sum_gt += g[i] * t[i];
        if (fabs(t[i]) == m) ties++;
    }
#pragma omp parallel for schedule(static) if (len > QAT4J_PAR_MIN)
    for (int64_t i = 0; i < len; i++) {
        double dt = g[i] / m;
        if (fabs(t[i]) == m) dt -= (t[i] > 0 ? 1.0 : -1.0) * sum_gt / (m * m) / (double)ties;
        dw[i] = (float)(dt * (1.0 - t[i] * t[i]));
    }
}
