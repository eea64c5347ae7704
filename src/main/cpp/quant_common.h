// Scalar parts of the quantizers shared by the kernels, in the exact float operation order of the Java
// reference (dev.qat4j.quant.ActQuantizer / WeightQuantizer), so native results are bit-identical.
#ifndef QAT4J_QUANT_COMMON_H
#define QAT4J_QUANT_COMMON_H

#include "qat4j_kernels.h"
#include <math.h>

// The scalar parts below are compiled for the GPU too (src/main/cuda includes this header), so the CUDA kernels
// use the very same quantizer arithmetic; the CUDA build passes --fmad=false so no multiply is fused into an add.
#ifdef __CUDACC__
#define QAT4J_HD __host__ __device__
#else
#define QAT4J_HD
#endif

namespace qat4j {

// Per-call constants: y = clamp(pre * x, lo, hi); code = rint(y * mul_a [* mul_b]); value = code / div [* post].
struct ActQuantParams {
    float pre;     // 0.1 for DoReFa (its clip at x = 10), else 1 (not applied)
    bool has_pre;
    float lo, hi;
    bool div_first; // fixed clip: (clamp(x) / c) * n; others: clamp(x) * s
    float scale;    // s, or n for fixed clip / DoReFa
    float clip;     // c for fixed clip
    float value_div;  // value = code / value_div
    float value_mul;  // then * value_mul (fixed clip only)
    bool zero;      // alpha <= 0 (PACT) or == 0 (mPACT): output all zeros
};

QAT4J_HD inline ActQuantParams make_params(int kind, int bits, float alpha, float fixed_clip) {
    ActQuantParams p{};
    p.pre = 1.0f;
    p.value_mul = 1.0f;
    switch (kind) {
        case QAT4J_ACT_PACT: {
            const float n = (float)((1 << bits) - 1);
            p.zero = !(alpha > 0.0f);
            p.lo = 0.0f; p.hi = alpha;
            p.scale = n / alpha; p.value_div = p.scale;
            break;
        }
        case QAT4J_ACT_MPACT: {
            const float a = fabsf(alpha);
            const float r = (float)((1 << (bits - 1)) - 1);
            p.zero = a == 0.0f;
            p.lo = -a; p.hi = a;
            p.scale = r / a; p.value_div = p.scale;
            break;
        }
        case QAT4J_ACT_FIXED_CLIP: {
            const float n = (float)((1 << bits) - 1);
            p.lo = 0.0f; p.hi = fixed_clip;
            p.div_first = true; p.clip = fixed_clip;
            p.scale = n; p.value_div = n; p.value_mul = fixed_clip;
            break;
        }
        default: { // DoReFa
            const float n = (float)((1 << bits) - 1);
            p.has_pre = true; p.pre = 0.1f;
            p.lo = 0.0f; p.hi = 1.0f;
            p.scale = n; p.value_div = n;
            break;
        }
    }
    return p;
}

QAT4J_HD inline float act_quant_one(float x, const ActQuantParams& p) {
    float v = p.has_pre ? p.pre * x : x;
    v = v < p.lo ? p.lo : v;
    v = v > p.hi ? p.hi : v;
    float code = p.div_first ? rintf((v / p.clip) * p.scale) : rintf(v * p.scale);
    float out = code / p.value_div;
    return p.div_first ? out * p.value_mul : out;
}


// The integer code of x (a float holding an integer), as ActQuantizer.code.
QAT4J_HD inline float act_code_one(float x, const ActQuantParams& p) {
    float v = p.has_pre ? p.pre * x : x;
    v = v < p.lo ? p.lo : v;
    v = v > p.hi ? p.hi : v;
    return p.div_first ? rintf((v / p.clip) * p.scale) : rintf(v * p.scale);
}

// value(code) ~= code * step, as ActQuantizer.step.
QAT4J_HD inline float act_step(int kind, int bits, float alpha, float fixed_clip) {
    switch (kind) {
        case QAT4J_ACT_PACT: return alpha > 0.0f ? alpha / (float)((1 << bits) - 1) : 0.0f;
        case QAT4J_ACT_MPACT: return fabsf(alpha) / (float)((1 << (bits - 1)) - 1);
        case QAT4J_ACT_FIXED_CLIP: return fixed_clip / (float)((1 << bits) - 1);
        default: return 1.0f / (float)((1 << bits) - 1);
    }
}

// Straight-through derivatives, as ActQuantizer.gradX / gradAlpha (bits < 32).
QAT4J_HD inline float act_grad_x(float x, int kind, float alpha, float fixed_clip) {
    switch (kind) {
        case QAT4J_ACT_PACT: return (alpha > 0.0f && x >= 0.0f && x <= alpha) ? 1.0f : 0.0f;
        case QAT4J_ACT_MPACT: return (alpha != 0.0f && fabsf(x) <= fabsf(alpha)) ? 1.0f : 0.0f;
        case QAT4J_ACT_FIXED_CLIP: return (x >= 0.0f && x <= fixed_clip) ? 1.0f : 0.0f;
        default: return (x >= 0.0f && x <= 10.0f) ? 0.1f : 0.0f;
    }
}

QAT4J_HD inline float act_grad_alpha(float x, int kind, float alpha) {
    if (kind == QAT4J_ACT_PACT) return (alpha > 0.0f && x >= alpha) ? 1.0f : 0.0f;
    if (kind == QAT4J_ACT_MPACT) {
        const float a = fabsf(alpha);
        if (a == 0.0f) return 0.0f;
        const float sign = alpha > 0.0f ? 1.0f : -1.0f;
        return x >= a ? sign : (x <= -a ? -sign : 0.0f);
    }
    return 0.0f;
}

// The same derivatives as selects on per-call thresholds, branch-free so that loops over them vectorise (and
// the AVX-512 kernels do the same compares): grad_x = x_lo <= x <= x_hi ? x_val : 0, grad_alpha = x >= a_hi ? a_pos
// : (x <= a_lo ? a_neg : 0). Every case of act_grad_x / act_grad_alpha maps to these, NaN x and NaN alpha included
// (each comparison is false: 0, as there).
struct ActGradParams {
    float x_lo, x_hi, x_val;
    float a_hi, a_pos, a_lo, a_neg;
};

QAT4J_HD inline ActGradParams make_grad_params(int kind, float alpha, float fixed_clip) {
    ActGradParams p{};
    p.a_hi = INFINITY; p.a_lo = -INFINITY;  // with a_pos = a_neg = 0: grad_alpha is 0 (kinds without alpha)
    switch (kind) {
        case QAT4J_ACT_PACT:
            p.x_lo = 0.0f; p.x_hi = alpha; p.x_val = alpha > 0.0f ? 1.0f : 0.0f;
            p.a_hi = alpha; p.a_pos = alpha > 0.0f ? 1.0f : 0.0f;
            break;
        case QAT4J_ACT_MPACT: {
            // |x| <= |alpha| is -|alpha| <= x <= |alpha| (both false for a NaN x or alpha)
            const float a = fabsf(alpha);
            p.x_lo = -a; p.x_hi = a; p.x_val = alpha != 0.0f ? 1.0f : 0.0f;
            if (a != 0.0f) {
                const float sign = alpha > 0.0f ? 1.0f : -1.0f;
                p.a_hi = a; p.a_pos = sign; p.a_lo = -a; p.a_neg = -sign;
            }
            break;
        }
        case QAT4J_ACT_FIXED_CLIP:
            p.x_lo = 0.0f; p.x_hi = fixed_clip; p.x_val = 1.0f;
            break;
        default:  // DoReFa
            p.x_lo = 0.0f; p.x_hi = 10.0f; p.x_val = 0.1f;
            break;
    }
    return p;
}

QAT4J_HD inline float act_grad_x_sel(float x, const ActGradParams& p) {
    return ((x >= p.x_lo) & (x <= p.x_hi)) ? p.x_val : 0.0f;
}

QAT4J_HD inline float act_grad_alpha_sel(float x, const ActGradParams& p) {
    const float below = x <= p.a_lo ? p.a_neg : 0.0f;
    return x >= p.a_hi ? p.a_pos : below;
}

// Java's (int) of a float, which the reference uses to turn codes into integers: NaN gives 0 and out-of-range
// values saturate. C++'s (int) cast is undefined behaviour for NaN and out-of-range values (UBSan's
// float-cast-overflow), so every float code becomes an integer through this.
QAT4J_HD inline int java_f2i(float v) {
    if (v != v) return 0;
    if (v >= 2147483648.0f) return 2147483647;
    if (v <= -2147483648.0f) return (int)(-2147483647 - 1);
    return (int)v;
}

// max(a, b) that keeps a NaN from either side, as Java's Math.max and torch's amax: the weight quantizers' max|tanh w|
// must be NaN when any weight is (a comparison-based max would drop it). Used by the CUDA reductions.
QAT4J_HD inline float nan_max(float a, float b) { return (b > a || b != b) ? b : a; }
QAT4J_HD inline double nan_max(double a, double b) { return (b > a || b != b) ? b : a; }

// Weight quantizer parts (WeightQuantizer): S = 2^(b-1) - 1, binary for b <= 2.
QAT4J_HD inline int weight_max_code(int bits) { return bits <= 2 ? 1 : (1 << (bits - 1)) - 1; }

QAT4J_HD inline float weight_code(float wn, int bits) {
    if (bits <= 2) return wn >= 0.0f ? 1.0f : -1.0f;
    return rintf(wn * (float)weight_max_code(bits));
}

// t[i] = tanh(w[i]) in double rounded to float (the Java reference's (float) Math.tanh); returns max|t|, NaN when
// any t[i] is NaN (as Java's Math.max and torch's amax: a comparison-based max, the OpenMP max reduction included,
// would drop the NaN and quantize the other weights as if nothing were wrong).
inline float tanh_and_max_abs(const float* w, int64_t len, float* t) {
    float m = 0.0f;
    int nan = 0;
#pragma omp parallel for reduction(max : m) reduction(| : nan) schedule(static) if (len > (1 << 15))
    for (int64_t i = 0; i < len; i++) {
        t[i] = (float)tanh((double)w[i]);
        const float a = fabsf(t[i]);
        if (a != a) {
            nan = 1;
        } else {
            m = a > m ? a : m;
        }
    }
    return nan ? NAN : m;
}

// mean|t / m| summed sequentially in double, as RefKernels.meanAbs: the 1-bit weights' scale.
inline float mean_abs_normalized(const float* t, int64_t len, float m) {
    double s = 0.0;
    for (int64_t i = 0; i < len; i++) s += fabsf(t[i] / m);
    return (float)(s / len);
}

// value(code) = code * step for the weight quantizer, as RefKernels.weightStep.
QAT4J_HD inline float weight_step(int bits, float binary_scale) {
    return bits == 1 ? binary_scale : (bits == 2 ? 1.0f : 1.0f / (float)((1 << (bits - 1)) - 1));
}

QAT4J_HD inline float weight_value(float code, int bits, float binary_scale) {
    if (bits == 1) return code * binary_scale;
    if (bits == 2) return code;
    return code / (float)weight_max_code(bits);
}

// Rounding of v / 2^shift; mode is one of QAT4J_ROUND_* (qat4j_kernels.h).
QAT4J_HD inline int64_t div_pow2(int64_t v, int shift, int mode) {
    if (shift == 0) return v;
    const int64_t floor_q = v >> shift;  // arithmetic shift: floor for negative v too
    // v - floor_q * 2^shift, i.e. the low bits of v: taken with a mask, since left-shifting a negative floor_q
    // is undefined behaviour before C++20 (UBSan reports it).
    const int64_t rem = (int64_t)((uint64_t)v & (((uint64_t)1 << shift) - 1));
    const int64_t half = (int64_t)1 << (shift - 1);
    switch (mode) {
        case QAT4J_ROUND_HALF_EVEN: return (rem > half || (rem == half && (floor_q & 1))) ? floor_q + 1 : floor_q;
        case QAT4J_ROUND_HALF_UP: return rem >= half ? floor_q + 1 : floor_q;
        case QAT4J_ROUND_HALF_AWAY_FROM_ZERO: return (rem > half || (rem == half && v >= 0)) ? floor_q + 1 : floor_q;
        case QAT4J_ROUND_TOWARD_ZERO: return (v < 0 && rem != 0) ? floor_q + 1 : floor_q;
        default: return floor_q;  // QAT4J_ROUND_FLOOR
    }
}

// One requantized element: clamp(round(acc * mult + bias) / 2^shift), as dev.qat4j.quant.Requantizer.
QAT4J_HD inline int64_t requantize_one(int32_t acc, int32_t mult, int32_t shift, int32_t bias, int rounding, int qmin,
                                       int qmax) {
    const int64_t y = div_pow2((int64_t)acc * mult + bias, shift, rounding);
    return y < qmin ? qmin : (y > qmax ? qmax : y);
}

// Softmax cross-entropy of one row of k logits (label smoothing over k classes) in double, as RefKernels: writes
// d[j] = (p_j - target_j) / n and returns the row's loss.
QAT4J_HD inline double softmax_ce_row(const float* row, int label, float smoothing, float* d, int n, int k) {
    double mx = -INFINITY;
    for (int j = 0; j < k; j++) mx = row[j] > mx ? row[j] : mx;
    double se = 0.0;
    for (int j = 0; j < k; j++) se += exp(row[j] - mx);
    const double log_sum = log(se) + mx;
    double loss = 0.0;
    for (int j = 0; j < k; j++) {
        const double target = (j == label ? 1.0 - smoothing : 0.0) + (double)smoothing / k;
        const double log_p = row[j] - log_sum;
        loss -= target * log_p;
        d[j] = (float)((exp(log_p) - target) / n);
    }
    return loss;
}

}  // namespace qat4j

#endif
