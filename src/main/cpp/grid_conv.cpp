// The forward conv of quantized training: when both operands lie on quantization grids (x = code_x * step_x from an
// activation quantizer, w = code_w * step_w from the weight quantizer), their conv is step_x * step_w times an
// integer conv of the codes. The codes go through the exact int8 conv (int_ops.cpp, VNNI) and one float scale, so
// the result is the exact sum rounded once, where a float conv of the values rounds at every partial sum.
#include "qat4j_kernels.h"
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

namespace qat4j_grid_conv {
namespace {

void* grid_alloc(int64_t bytes) {
    const size_t b = ((size_t)(bytes > 0 ? bytes : 1) + 63) & ~(size_t)63;
    return aligned_alloc(64, b);
}

// codes[i] = rint(v[i] / step) as bytes; false when a value is not finite or its code leaves [lo, hi] (the values
// were not made by the quantizer the grid claims: the caller then runs the float conv, which propagates NaN/inf).
// The quantizers compute value(code) with their own float formula, within a few ulp of code * step; v * (1/step)
// in float is then within 4 ulp of the code, far inside the 0.5 that rounding tolerates for |code| <= 255.
bool to_codes_scalar(const float* v, int64_t begin, int64_t end, float inv, int lo, int hi, uint8_t* codes) {
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

__attribute__((target("avx512f"))) bool to_codes_avx512(const float* v, int64_t begin, int64_t end, float inv, int lo,
                                                         int hi, uint8_t* codes) {
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
    const bool tail_ok = to_codes_scalar(v, i, end, inv, lo, hi, codes);
    return bad == 0 && tail_ok;
}

bool to_codes(const float* v, int64_t len, float step, int lo, int hi, uint8_t* codes, bool simd) {
    const float inv = 1.0f / step;
    const int64_t chunk = 1 << 16;
    const int64_t chunks = (len + chunk - 1) / chunk;
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad) if (chunks > 1)
    for (int64_t c = 0; c < chunks; c++) {
        const int64_t b = c * chunk, e = b + chunk < len ? b + chunk : len;
        const bool ok = simd ? to_codes_avx512(v, b, e, inv, lo, hi, codes) : to_codes_scalar(v, b, e, inv, lo, hi, codes);
        bad |= ok ? 0 : 1;
    }
    return bad == 0;
}

}  // namespace
}  // namespace qat4j_grid_conv

extern "C" int qat4j_conv2d_grid_f32(const float* x, float x_step, int x_signed, int x_min, int x_max, const float* wt,
                                     float w_step, int w_min, int w_max, const float* bias, float* y, int n, int c,
                                     int h, int w, int co, int kh, int kw, int sh, int sw, int ph, int pw, int groups,
                                     int isa) {
    const int64_t xlen = (int64_t)n * c * h * w, wlen = (int64_t)co * (c / groups) * kh * kw;
    const int oh = (h + 2 * ph - kh) / sh + 1, ow = (w + 2 * pw - kw) / sw + 1;
    const int64_t P = (int64_t)oh * ow, ylen = (int64_t)n * co * P;
    if (isa == QAT4J_ISA_AUTO) isa = qat4j_cpu_active_isa();
    if (isa > qat4j_cpu_max_isa()) isa = qat4j_cpu_max_isa();  // never run instructions the CPU lacks
    const bool vnni = isa >= QAT4J_ISA_AVX512VNNI;
    uint8_t* xc = (uint8_t*)qat4j_grid_conv::grid_alloc(xlen);
    uint8_t* wc = (uint8_t*)qat4j_grid_conv::grid_alloc(wlen);
    int done = 0;  // out of memory for the codes: 0, and the caller runs the float conv instead
    if (xc && wc && qat4j_grid_conv::to_codes(x, xlen, x_step, x_min, x_max, xc, vnni) &&
        qat4j_grid_conv::to_codes(wt, wlen, w_step, w_min, w_max, wc, vnni)) {
        const float scale = x_step * w_step;
        if (vnni &&
            qat4j_conv2d_s8_s32_vnni(xc, x_signed, (const int8_t*)wc, nullptr, n, c, h, w, co, kh, kw, sh, sw, ph, pw,
                                     groups, y, scale)) {
            // the VNNI conv stored y = (float) acc * scale itself
        } else {
            int32_t* acc = (int32_t*)qat4j_grid_conv::grid_alloc(ylen * 4);
            if (!acc) {
                free(xc);
                free(wc);
                return 0;  // y untouched: the caller runs the float conv
            }
            qat4j_conv2d_s8_s32(xc, x_signed, (const int8_t*)wc, acc, n, c, h, w, co, kh, kw, sh, sw, ph, pw, groups,
                                isa);
#pragma omp parallel for schedule(static) if (ylen > (1 << 15))
            for (int64_t i = 0; i < ylen; i++) y[i] = (float)acc[i] * scale;
            free(acc);
        }
        if (bias) {
#pragma omp parallel for schedule(static) if (ylen > (1 << 15))
            for (int64_t plane = 0; plane < (int64_t)n * co; plane++) {
                const float b = bias[plane % co];
                float* o = y + plane * P;
                for (int64_t i = 0; i < P; i++) o[i] += b;
            }
        }
        done = 1;
    }
    free(xc);
    free(wc);
    return done;
}
