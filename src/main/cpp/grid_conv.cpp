// The forward conv of quantized training: when both operands lie on quantization grids (x = code_x * step_x from an
// activation quantizer, w = code_w * step_w from the weight quantizer), their conv is step_x * step_w times an
// integer conv of the codes. The codes go through the exact int8 conv (int_ops.cpp, VNNI) and one float scale, so
// the result is the exact sum rounded once, where a float conv of the values rounds at every partial sum.
// Variants: the code conversion has a scalar and an AVX-512F variant, the integer conv is the VNNI implicit GEMM
// (writing the float output itself) where the level has it, else qat4j_conv2d_s8_s32's path; all through the
// dispatch table. Out of memory for the code buffers is QAT4J_ERR_NO_MEMORY, distinct from QAT4J_OFF_GRID.
#include "qat4j_internal.h"
#include <math.h>
#include <omp.h>
#include <string.h>

namespace qat4j_grid_conv {
namespace {

// codes[i] = rint(v[i] / step) as bytes for the whole array, in parallel chunks; false when a value is not finite
// or its code leaves [lo, hi] (the values were not made by the quantizer the grid claims: the caller then runs the
// float conv, which propagates NaN/inf).
bool to_codes(const float* v, int64_t len, float step, int lo, int hi, uint8_t* codes, const qat4j_kernel_table* kt) {
    const float inv = 1.0f / step;
    const int64_t chunk = 1 << 16;
    const int64_t chunks = (len + chunk - 1) / chunk;
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad) if (chunks > 1)
    for (int64_t c = 0; c < chunks; c++) {
        const int64_t b = c * chunk, e = b + chunk < len ? b + chunk : len;
        bad |= kt->grid_to_codes(v, b, e, inv, lo, hi, codes) ? 0 : 1;
    }
    return bad == 0;
}

}  // namespace
}  // namespace qat4j_grid_conv

// The quantizers compute value(code) with their own float formula, within a few ulp of code * step; v * (1/step)
// in float is then within 4 ulp of the code, far inside the 0.5 that rounding tolerates for |code| <= 255.
bool qat4j::grid_to_codes_scalar(const float* v, int64_t begin, int64_t end, float inv, int lo, int hi,
                                 uint8_t* codes) {
    bool ok = true;
    for (int64_t i = begin; i < end; i++) {
        const float c = rintf(v[i] * inv);
        if (!(c >= (float)lo && c <= (float)hi)) {  // also catches NaN and inf
            ok = false;
            codes[i] = 0;
            continue;
        }
        codes[i] = (uint8_t)(int8_t)(int)c;  // two's complement byte for signed codes, the byte itself for unsigned
    }
    return ok;
}

QAT4J_AVX512F bool qat4j::grid_to_codes_avx512(const float* v, int64_t begin, int64_t end,
                                                                     float inv, int lo, int hi, uint8_t* codes) {
    const __m512 vinv = _mm512_set1_ps(inv), vlo = _mm512_set1_ps((float)lo), vhi = _mm512_set1_ps((float)hi);
    __mmask16 bad = 0;
    int64_t i = begin;
    for (; i + 16 <= end; i += 16) {
        const __m512 c = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_loadu_ps(v + i), vinv),
                                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        // in range, ordered (a NaN compares false): anything else marks the call as off-grid
        bad |= ~(_mm512_cmp_ps_mask(c, vlo, _CMP_GE_OQ) & _mm512_cmp_ps_mask(c, vhi, _CMP_LE_OQ));
        _mm_storeu_si128((__m128i*)(codes + i), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(c)));
    }
    const bool tail_ok = grid_to_codes_scalar(v, i, end, inv, lo, hi, codes);
    return bad == 0 && tail_ok;
}

extern "C" int qat4j_conv2d_grid_f32(const float* x, float x_step, int x_signed, int x_min, int x_max, const float* wt,
                                     float w_step, int w_min, int w_max, const float* bias, float* y,
                                     const qat4j_conv_geometry* geo, int isa) {
    const qat4j::ConvDims g(*geo);
    const qat4j_kernel_table* kt = qat4j_kernels_for(isa);
    const int64_t xlen = g.x_len(), wlen = g.w_len(), P = g.p(), ylen = g.y_len();
    uint8_t* xc = (uint8_t*)qat4j_alloc64_n(xlen, 1);
    uint8_t* wc = (uint8_t*)qat4j_alloc64_n(wlen, 1);
    int st = xc && wc ? QAT4J_OK : QAT4J_ERR_NO_MEMORY;
    if (st == QAT4J_OK && !(qat4j_grid_conv::to_codes(x, xlen, x_step, x_min, x_max, xc, kt) &&
                            qat4j_grid_conv::to_codes(wt, wlen, w_step, w_min, w_max, wc, kt))) {
        st = QAT4J_OFF_GRID;  // y untouched: the caller runs the float conv
    }
    const float scale = x_step * w_step;
    bool done = false;
    if (st == QAT4J_OK && kt->conv_s8_implicit) {
        // the VNNI conv stores y = (float) acc * scale itself
        const int r = kt->conv_s8_implicit(xc, x_signed, (const int8_t*)wc, nullptr, g, y, scale);
        if (r != qat4j::kConvNotApplicable) st = r, done = true;
    }
    if (st == QAT4J_OK && !done) {
        int32_t* acc = (int32_t*)qat4j_alloc64_n(ylen, sizeof(int32_t));
        st = acc ? qat4j_conv2d_s8_s32(xc, x_signed, (const int8_t*)wc, acc, geo, isa) : QAT4J_ERR_NO_MEMORY;
        if (st == QAT4J_OK) {
#pragma omp parallel for schedule(static) if (ylen > (1 << 15))
            for (int64_t i = 0; i < ylen; i++) y[i] = (float)acc[i] * scale;
        }
        qat4j_free64(acc);
    }
    if (st == QAT4J_OK && bias) {
#pragma omp parallel for schedule(static) if (ylen > (1 << 15))
        for (int64_t plane = 0; plane < (int64_t)g.n * g.co; plane++) {
            const float b = bias[plane % g.co];
            float* o = y + plane * P;
            for (int64_t i = 0; i < P; i++) o[i] += b;
        }
    }
    qat4j_free64(xc);
    qat4j_free64(wc);
    return st;
}
