// Activation fake-quant forward (PACT, mPACT, fixed clip, DoReFa), bit-identical to ActQuantizer.fakeQuant.
// Variants: scalar (the portable baseline) and AVX-512 (16 lanes; AVX2 machines run the scalar one, which
// gcc auto-vectorises well enough for a memory-bound op). The float operations are the same, in the same order,
// as the Java reference: clamp (NaN propagates, -0 kept, as the ternaries below), multiply by a float scale,
// round half to even, then divide (or divide and multiply for the fixed clip). Build with -ffp-contract=off so
// no multiply is fused into an add.
#include "qat4j_kernels.h"
#include <immintrin.h>
#include <math.h>

#include "quant_common.h"

namespace {

using qat4j::ActQuantParams;
using qat4j::make_params;
using qat4j::act_quant_one;

void act_quant_f32_scalar(const float* x, float* y, int64_t n, const ActQuantParams& p) {
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t i = 0; i < n; i++) y[i] = act_quant_one(x[i], p);
}

__attribute__((target("avx512f")))
void act_quant_f32_avx512(const float* x, float* y, int64_t n, const ActQuantParams& p) {
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

}  // namespace

extern "C" void qat4j_act_quant_f32(const float* x, float* y, int64_t n, int kind, int bits, float alpha,
                                    float fixed_clip, int isa) {
    const ActQuantParams p = make_params(kind, bits, alpha, fixed_clip);
    if (p.zero) {
        for (int64_t i = 0; i < n; i++) y[i] = 0.0f;
        return;
    }
    if (isa == QAT4J_ISA_AUTO) isa = qat4j_cpu_active_isa();
    if (isa >= QAT4J_ISA_AVX512VNNI) act_quant_f32_avx512(x, y, n, p);
    else act_quant_f32_scalar(x, y, n, p);
}
