// DoReFa weight quantizer (per tensor), forward and backward, as dev.qat4j.quant.WeightQuantizer and RefKernels:
// w_q = value(code(tanh(w) / max|tanh(w)|)). One variant: tanh in double dominates and gcc vectorises the rest.
// The max and the backward's sums run sequentially over the stored values, in the reference's order.
#include "qat4j_internal.h"
#include <math.h>
#include <string.h>

extern "C" int qat4j_weight_quant_f32(const float* w, float* wq, int64_t len, int bits) {
    if (bits == 32) {
        memcpy(wq, w, sizeof(float) * len);
        return QAT4J_OK;
    }
    // wq doubles as the tanh buffer: each element is read before it is overwritten.
    const float m = qat4j::tanh_and_max_abs(w, len, wq);
    if (m == 0.0f) {
        memset(wq, 0, sizeof(float) * len);
        return QAT4J_OK;
    }
    const float binary_scale = bits == 1 ? qat4j::mean_abs_normalized(wq, len, m) : 0.0f;
#pragma omp parallel for schedule(static) if (len > qat4j::kParMin)
    for (int64_t i = 0; i < len; i++) {
        const float wn = wq[i] / m;
        wq[i] = qat4j::weight_value(qat4j::weight_code(wn, bits), bits, binary_scale);
    }
    return QAT4J_OK;
}

extern "C" int qat4j_weight_quant_bwd_f32(const float* g, const float* w, float* dw, int64_t len, int bits) {
    if (bits == 32) {
        memcpy(dw, g, sizeof(float) * len);
        return QAT4J_OK;
    }
    // tanh once per weight (it was evaluated in each of the three loops), in parallel; the max and the sum stay
    // sequential over the stored values, in the reference's order.
    double* t = (double*)qat4j_alloc64_n(len, sizeof(double));
    if (!t) return QAT4J_ERR_NO_MEMORY;
#pragma omp parallel for schedule(static) if (len > qat4j::kParMin / 8)
    for (int64_t i = 0; i < len; i++) t[i] = tanh((double)w[i]);
    double m = 0.0;
    for (int64_t i = 0; i < len; i++) {
        const double a = fabs(t[i]);
        m = (a > m || a != a) ? a : m;  // a NaN weight makes the max NaN (Java's Math.max): every gradient NaN
        if (m != m) break;
    }
    if (m == 0.0) {
        memset(dw, 0, sizeof(float) * len);
        qat4j_free64(t);
        return QAT4J_OK;
    }
    double sum_gt = 0.0;
    int64_t ties = 0;
    for (int64_t i = 0; i < len; i++) {
        sum_gt += g[i] * t[i];
        if (fabs(t[i]) == m) ties++;
    }
#pragma omp parallel for schedule(static) if (len > qat4j::kParMin)
    for (int64_t i = 0; i < len; i++) {
        double dt = g[i] / m;
        if (fabs(t[i]) == m) dt -= (t[i] > 0 ? 1.0 : -1.0) * sum_gt / (m * m) / (double)ties;
        dw[i] = (float)(dt * (1.0 - t[i] * t[i]));
    }
    qat4j_free64(t);
    return QAT4J_OK;
}
