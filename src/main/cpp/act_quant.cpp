// Activation fake-quant (PACT, mPACT, fixed clip, DoReFa), forward and backward, bit-identical to ActQuantizer.
// Variants: scalar (the portable baseline, what AVX2 machines run: gcc auto-vectorises it well enough for a
// memory-bound op) and AVX-512F (16 lanes), picked through the dispatch table (qat4j_kernels_for).
// Forward: the same float operations, in the same order, as the Java reference: clamp (NaN propagates, -0 kept, as
// the ternaries below), multiply by a float scale, round half to even, then divide (or divide and multiply for the
// fixed clip). Built with -ffp-contract=off so no multiply is fused into an add.
// Backward: dx = dy * grad_x (a float multiply, as the reference), dalpha = sum of dy * grad_alpha accumulated in
// double (several partial sums instead of one dependent chain, which made it 10x slower than a pass over memory).
#include "qat4j_internal.h"
#include <math.h>

using qat4j::ActGradParams;
using qat4j::ActQuantParams;

// ---------------------------------------------------------------- forward

void qat4j::act_quant_scalar(const float* x, float* y, int64_t n, const ActQuantParams& params) {
    // A local copy: through the reference, every store to y could alias the parameters, and gcc would reload them
    // in each iteration instead of vectorising the loop (reached through the dispatch table, nothing is inlined).
    const ActQuantParams p = params;
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t i = 0; i < n; i++) y[i] = act_quant_one(x[i], p);
}

QAT4J_AVX512F
void qat4j::act_quant_avx512(const float* x, float* y, int64_t n, const ActQuantParams& p) {
    const __m512 pre = _mm512_set1_ps(p.pre), lo = _mm512_set1_ps(p.lo), hi = _mm512_set1_ps(p.hi);
    const __m512 scale = _mm512_set1_ps(p.scale), clip = _mm512_set1_ps(p.clip);
    const __m512 vdiv = _mm512_set1_ps(p.value_div), vmul = _mm512_set1_ps(p.value_mul);
    const int64_t blocks = n / 16;
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t b = 0; b < blocks; b++) {
        __m512 v = _mm512_loadu_ps(x + b * 16);
        if (p.has_pre) v = _mm512_mul_ps(pre, v);
        // max/min return the second operand when either is NaN or both are zeros: same as the ternaries.
        v = _mm512_max_ps(lo, v);
        v = _mm512_min_ps(hi, v);
        if (p.div_first) v = _mm512_div_ps(v, clip);
        v = _mm512_mul_ps(v, scale);
        v = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        v = _mm512_div_ps(v, vdiv);
        if (p.div_first) v = _mm512_mul_ps(v, vmul);
        _mm512_storeu_ps(y + b * 16, v);
    }
    for (int64_t i = blocks * 16; i < n; i++) y[i] = act_quant_one(x[i], p);
}

extern "C" int qat4j_act_quant_f32(const float* x, float* y, int64_t n, int kind, int bits, float alpha,
                                   float fixed_clip, int isa) {
    const ActQuantParams p = qat4j::make_params(kind, bits, alpha, fixed_clip);
    if (p.zero) {
        for (int64_t i = 0; i < n; i++) y[i] = 0.0f;
        return QAT4J_OK;
    }
    qat4j_kernels_for(isa)->act_quant(x, y, n, p);
    return QAT4J_OK;
}

// ---------------------------------------------------------------- backward

namespace qat4j_act_quant {
namespace {

constexpr int kLanes = 8;  // partial sums of the portable variant: independent chains gcc can also vectorise

struct ActGradVec {
    __m512 x_lo, x_hi, x_val, a_hi, a_pos, a_lo, a_neg;
};

QAT4J_AVX512F
inline void bwd_block(const float* dy, const float* x, float* dx, __mmask16 k, const ActGradVec& p, __m512d& acc0,
                      __m512d& acc1) {
    const __m512 v = _mm512_maskz_loadu_ps(k, x), g = _mm512_maskz_loadu_ps(k, dy);
    const __mmask16 in = _mm512_cmp_ps_mask(v, p.x_lo, _CMP_GE_OQ) & _mm512_cmp_ps_mask(v, p.x_hi, _CMP_LE_OQ);
    _mm512_mask_storeu_ps(dx, k, _mm512_mul_ps(g, _mm512_maskz_mov_ps(in, p.x_val)));
    const __m512 below = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, p.a_lo, _CMP_LE_OQ), p.a_neg);
    const __m512 ga = _mm512_mask_mov_ps(below, _mm512_cmp_ps_mask(v, p.a_hi, _CMP_GE_OQ), p.a_pos);
    const __m512 t = _mm512_mul_ps(g, ga);  // masked-off lanes: 0 * 0
    acc0 = _mm512_add_pd(acc0, qat4j::cvt_lo_pd(t));
    acc1 = _mm512_add_pd(acc1, qat4j::cvt_hi_pd(t));
}

}  // namespace
}  // namespace qat4j_act_quant

// dx = dy * grad_x (a float multiply, as the reference: NaN and inf dy and the sign of zero come out the same);
// dalpha = sum over i of (double)(dy * grad_alpha), the float product exact since grad_alpha is 0 or +-1.
double qat4j::act_quant_bwd_scalar(const float* dy, const float* x, float* dx, int64_t len,
                                   const ActGradParams& params) {
    const ActGradParams p = params;  // a local copy, as in act_quant_scalar: no reload after every store to dx
    using qat4j_act_quant::kLanes;
    constexpr int64_t kChunk = 2048;  // the dalpha loop re-reads the chunk from L1
    const int64_t chunks = (len + kChunk - 1) / kChunk;
    double dalpha = 0.0;
#pragma omp parallel for reduction(+ : dalpha) schedule(static) if (len > qat4j::kParMin)
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

QAT4J_AVX512F
double qat4j::act_quant_bwd_avx512(const float* dy, const float* x, float* dx, int64_t len, const ActGradParams& q) {
    using qat4j_act_quant::ActGradVec;
    using qat4j_act_quant::bwd_block;
    const ActGradVec p{_mm512_set1_ps(q.x_lo), _mm512_set1_ps(q.x_hi), _mm512_set1_ps(q.x_val), _mm512_set1_ps(q.a_hi),
                       _mm512_set1_ps(q.a_pos), _mm512_set1_ps(q.a_lo), _mm512_set1_ps(q.a_neg)};
    const int64_t blocks = len / 16;
    double dalpha = 0.0;
#pragma omp parallel reduction(+ : dalpha) if (len > qat4j::kParMin)
    {
        __m512d acc0 = _mm512_setzero_pd(), acc1 = acc0;
#pragma omp for schedule(static) nowait
        for (int64_t b = 0; b < blocks; b++) bwd_block(dy + b * 16, x + b * 16, dx + b * 16, 0xFFFF, p, acc0, acc1);
        dalpha += _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1));
    }
    if (len % 16) {
        __m512d acc0 = _mm512_setzero_pd(), acc1 = acc0;
        bwd_block(dy + blocks * 16, x + blocks * 16, dx + blocks * 16, qat4j::first_lanes(len % 16), p, acc0, acc1);
        dalpha += _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1));
    }
    return dalpha;
}

extern "C" int qat4j_act_quant_bwd_f32(const float* dy, const float* x, float* dx, int64_t len, int kind, int bits,
                                       float alpha, float fixed_clip, float* dalpha, int isa) {
    (void)bits;
    const ActGradParams p = qat4j::make_grad_params(kind, alpha, fixed_clip);
    *dalpha = (float)qat4j_kernels_for(isa)->act_quant_bwd(dy, x, dx, len, p);
    return QAT4J_OK;
}
