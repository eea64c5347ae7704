// Integer inference kernels of the cpu backend: int8 convolution and requantization.
// Convolutions: with AVX-512 VNNI an implicit GEMM over a padded, channel-interleaved copy of each image
// (conv_s8.cpp); otherwise one exact int8 GEMM per group (qat4j_gemm_s8_s32, ISA variants in gemm_s8.cpp) over an
// im2col of the byte codes; the variants come from the dispatch table (qat4j_kernels_for). Requantization is 64-bit
// integer arithmetic, identical to dev.qat4j.quant.Requantizer; its residual epilogue has a scalar and an AVX-512F
// variant, the same bits. Work buffers: qat4j_alloc64, QAT4J_ERR_NO_MEMORY when they cannot be had.
#include "qat4j_internal.h"
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

namespace qat4j_int_ops {
namespace {

using qat4j::ConvDims;

// One im2col row segment: the output rows of one (kernel offset ky, kx) over one input plane; padding is code 0.
inline void im2col_plane_rows(const uint8_t* plane, uint8_t* dst, const ConvDims& g, int ky, int kx, int oh, int ow) {
    for (int oy = 0; oy < oh; oy++) {
        const int64_t iy = (int64_t)oy * g.sh - g.ph + ky;
        uint8_t* o = dst + (int64_t)oy * ow;
        if (iy < 0 || iy >= g.h) {
            memset(o, 0, ow);
            continue;
        }
        const uint8_t* in = plane + iy * g.w;
        for (int ox = 0; ox < ow; ox++) {
            const int64_t ix = (int64_t)ox * g.sw - g.pw + kx;
            o[ox] = (ix >= 0 && ix < g.w) ? in[ix] : 0;
        }
    }
}

// Byte im2col of group `group` over the batch: col[k][b*P + p], k = (ic*kh + ky)*kw + kx; padding is code 0.
void im2col_u8(const uint8_t* x, uint8_t* col, const ConvDims& g, int group) {
    const int oh = g.oh(), ow = g.ow(), cig = g.cig(), kh = g.kh, kw = g.kw, n = g.n;
    const int64_t P = g.p(), NP = (int64_t)n * P, plane_len = (int64_t)g.h * g.w;
#pragma omp parallel for collapse(2) schedule(static)
    for (int ic = 0; ic < cig; ic++) {
        for (int kk = 0; kk < kh * kw; kk++) {
            const int ky = kk / kw, kx = kk % kw;
            uint8_t* row = col + ((int64_t)ic * kh * kw + kk) * NP;
            for (int b = 0; b < n; b++) {
                const uint8_t* plane = x + ((int64_t)b * g.c + (int64_t)group * cig + ic) * plane_len;
                im2col_plane_rows(plane, row + (int64_t)b * P, g, ky, kx, oh, ow);
            }
        }
    }
}

// Depthwise (groups == c == co): direct loops, one (image, channel) plane per task. Through the GEMM path every
// channel would be its own im2col + 1-row GEMM, two parallel regions per channel: slow, and very slow when the
// machine is oversubscribed (OpenMP barriers spin).
void depthwise_codes(const uint8_t* x, int x_signed, const int8_t* wt, int32_t* acc, const ConvDims& g) {
    const int n = g.n, c = g.c, h = g.h, w = g.w, kh = g.kh, kw = g.kw, oh = g.oh(), ow = g.ow();
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < n; b++) {
        for (int ch = 0; ch < c; ch++) {
            const uint8_t* plane = x + ((int64_t)b * c + ch) * h * w;
            const int8_t* k = wt + (int64_t)ch * kh * kw;
            int32_t* out = acc + ((int64_t)b * c + ch) * oh * ow;
            for (int oy = 0; oy < oh; oy++) {
                for (int ox = 0; ox < ow; ox++) {
                    int32_t s = 0;
                    for (int ky = 0; ky < kh; ky++) {
                        const int64_t iy = (int64_t)oy * g.sh - g.ph + ky;
                        if (iy < 0 || iy >= h) continue;
                        for (int kx = 0; kx < kw; kx++) {
                            const int64_t ix = (int64_t)ox * g.sw - g.pw + kx;
                            if (ix < 0 || ix >= w) continue;
                            const uint8_t v = plane[iy * w + ix];
                            s += (x_signed ? (int32_t)(int8_t)v : (int32_t)v) * (int32_t)k[ky * kw + kx];
                        }
                    }
                    out[(int64_t)oy * ow + ox] = s;
                }
            }
        }
    }
}

// One image's byte im2col, serial (called by one thread): col[k][p], k = (ic*kh + ky)*kw + kx; padding is code 0.
void im2col_u8_image(const uint8_t* img, uint8_t* col, const ConvDims& g, int group) {
    const int oh = g.oh(), ow = g.ow(), cig = g.cig();
    const int64_t P = g.p(), plane_len = (int64_t)g.h * g.w;
    for (int ic = 0; ic < cig; ic++) {
        const uint8_t* plane = img + ((int64_t)group * cig + ic) * plane_len;
        for (int kk = 0; kk < g.kh * g.kw; kk++) {
            const int ky = kk / g.kw, kx = kk % g.kw;
            im2col_plane_rows(plane, col + ((int64_t)ic * g.kh * g.kw + kk) * P, g, ky, kx, oh, ow);
        }
    }
}

// Integer conv of byte codes into acc [n, co, oh, ow]: the implicit GEMM where the level has it (VNNI), else per
// image when the batch can feed every thread, else one [co][n*P] GEMM per group and a transposing copy.
int conv_codes(const uint8_t* x, int x_signed, const int8_t* wt, int32_t* acc, const ConvDims& g,
               const qat4j_kernel_table* kt) {
    const int n = g.n, co = g.co, groups = g.groups, cog = g.cog();
    if (groups > 1 && g.depthwise()) {
        depthwise_codes(x, x_signed, wt, acc, g);
        return QAT4J_OK;
    }
    if (kt->conv_s8_implicit) {
        const int st = kt->conv_s8_implicit(x, x_signed, wt, acc, g, nullptr, 0.0f);
        if (st != qat4j::kConvNotApplicable) return st;
    }
    const int64_t K = g.k(), P = g.p(), NP = (int64_t)n * P, img_len = (int64_t)g.c * g.h * g.w;
    if (n >= 2 * omp_get_max_threads()) {
        // Threads over images: each builds its image's im2col panel (K x P bytes, cache-sized for these layers) and
        // runs the GEMM straight into acc[b] ([co][P] is the output layout), so nothing is transposed afterwards.
        // The GEMM inside a parallel region runs on its calling thread (nested parallelism is off), and every
        // accumulator is the same exact int32 sum whichever path computes it.
        int oom = 0;
#pragma omp parallel reduction(| : oom)
        {
            uint8_t* col = (uint8_t*)qat4j_alloc64_n(K * P, 1);
            oom = col ? 0 : 1;
#pragma omp for schedule(static)
            for (int b = 0; b < n; b++) {
                if (!col) continue;  // the call fails as a whole; the thread still takes part in the loop
                for (int grp = 0; grp < groups; grp++) {
                    im2col_u8_image(x + (int64_t)b * img_len, col, g, grp);
                    if (kt->gemm_s8(cog, P, K, wt + (int64_t)grp * cog * K, col, x_signed != 0,
                                    acc + ((int64_t)b * co + (int64_t)grp * cog) * P) != QAT4J_OK)
                        oom = 1;
                }
            }
            qat4j_free64(col);
        }
        return oom ? QAT4J_ERR_NO_MEMORY : QAT4J_OK;
    }
    uint8_t* col = (uint8_t*)qat4j_alloc64_n(K * NP, 1);
    int32_t* t = (int32_t*)qat4j_alloc64_n((int64_t)co * NP, sizeof(int32_t));
    int st = col && t ? QAT4J_OK : QAT4J_ERR_NO_MEMORY;
    for (int grp = 0; grp < groups && st == QAT4J_OK; grp++) {
        im2col_u8(x, col, g, grp);
        st = kt->gemm_s8(cog, NP, K, wt + (int64_t)grp * cog * K, col, x_signed != 0, t + (int64_t)grp * cog * NP);
    }
    if (st == QAT4J_OK) {
#pragma omp parallel for collapse(2) schedule(static)
        for (int b = 0; b < n; b++)
            for (int oc = 0; oc < co; oc++)
                memcpy(acc + ((int64_t)b * co + oc) * P, t + (int64_t)oc * NP + (int64_t)b * P, sizeof(int32_t) * P);
    }
    qat4j_free64(col);
    qat4j_free64(t);
    return st;
}

}  // namespace
}  // namespace qat4j_int_ops

extern "C" int qat4j_conv2d_s8_s32(const uint8_t* x, int x_signed, const int8_t* wt, int32_t* acc,
                                   const qat4j_conv_geometry* g, int isa) {
    return qat4j_int_ops::conv_codes(x, x_signed, wt, acc, qat4j::ConvDims(*g), qat4j_kernels_for(isa));
}

extern "C" int qat4j_requantize_s32(const int32_t* acc, const int32_t* mult, const int32_t* shift,
                                     const int32_t* bias, int per_tensor, int rounding, int qmin, int qmax, void* out,
                                     int out_bytes, int64_t len, int channels, int64_t inner) {
#pragma omp parallel for schedule(static) if (len > (1 << 15))
    for (int64_t i = 0; i < len; i++) {
        const int ch = per_tensor ? 0 : (int)((i / inner) % channels);
        const int64_t y = qat4j::requantize_one(acc[i], mult[ch], shift[ch], bias ? bias[ch] : 0, rounding, qmin, qmax);
        if (out_bytes == QAT4J_OUT_INT8) ((int8_t*)out)[i] = (int8_t)y;
        else ((int32_t*)out)[i] = (int32_t)y;
    }
    return QAT4J_OK;
}

namespace qat4j_int_ops {
namespace {

// One (image, channel) plane of the epilogue, specialised on the residual's type (RK: 0 none, 1 int8, 2 uint8,
// 3 int32) and the output width, with half-to-even inline: (v + 2^(s-1) - 1 + lsb(v >> s)) >> s is div_pow2's
// HALF_EVEN for |v| < 2^62 (an arithmetic shift: GCC's, as everywhere in this file).
template <int RK, typename Out>
void requant_plane(const int32_t* acc, const void* residual, int64_t m, int64_t b, int64_t rm, int s, int rounding,
                   int64_t qmin, int64_t qmax, Out* out, int64_t begin, int64_t end) {
    const bool half_even = rounding == QAT4J_ROUND_HALF_EVEN && s > 0;
    const int64_t half = s > 0 ? ((int64_t)1 << (s - 1)) - 1 : 0;
    for (int64_t i = begin; i < end; i++) {
        int64_t v = (int64_t)acc[i] * m + b;
        if (RK == 1) v += (int64_t)((const int8_t*)residual)[i] * rm;
        if (RK == 2) v += (int64_t)((const uint8_t*)residual)[i] * rm;
        if (RK == 3) v += (int64_t)((const int32_t*)residual)[i] * rm;
        int64_t y = half_even ? (v + half + ((v >> s) & 1)) >> s : qat4j::div_pow2(v, s, rounding);
        y = y < qmin ? qmin : (y > qmax ? qmax : y);
        out[i] = (Out)y;
    }
}

// The same plane, 8 values per step in 64-bit lanes (AVX-512F only): vpmuldq multiplies the int32 operands into
// exact int64 products, then the half-to-even shift, clamp and truncating narrow as the scalar loop; the tail runs
// the scalar loop. Only for HALF_EVEN (the integer model's rounding); other roundings use requant_plane.
template <int RK, typename Out>
QAT4J_AVX512F void requant_plane_avx512(const int32_t* acc, const void* residual, int64_t m,
                                                             int64_t b, int64_t rm, int s, int64_t qmin, int64_t qmax,
                                                             Out* out, int64_t begin, int64_t end) {
    const __m512i vm = _mm512_set1_epi64(m), vb = _mm512_set1_epi64(b), vrm = _mm512_set1_epi64(rm);
    const __m512i vlo = _mm512_set1_epi64(qmin), vhi = _mm512_set1_epi64(qmax);
    const __m512i half = _mm512_set1_epi64(s > 0 ? ((int64_t)1 << (s - 1)) - 1 : 0), one = _mm512_set1_epi64(1);
    const __m128i count = _mm_cvtsi32_si128(s);
    int64_t i = begin;
    // 16 values per step: vpmuldq multiplies the even int32 lanes, so the odd ones are shifted down first; the two
    // halves are rounded and clamped in int64, then merged back into 16 int32 lanes and narrowed once.
    for (; i + 16 <= end; i += 16) {
        const __m512i a = _mm512_loadu_si512((const void*)(acc + i));
        __m512i ve = _mm512_add_epi64(_mm512_mul_epi32(a, vm), vb);
        __m512i vo = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(a, 32), vm), vb);
        if (RK != 0) {
            __m512i r;
            if (RK == 1) r = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i*)((const int8_t*)residual + i)));
            else if (RK == 2) r = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*)((const uint8_t*)residual + i)));
            else r = _mm512_loadu_si512((const void*)((const int32_t*)residual + i));
            ve = _mm512_add_epi64(ve, _mm512_mul_epi32(r, vrm));
            vo = _mm512_add_epi64(vo, _mm512_mul_epi32(_mm512_srli_epi64(r, 32), vrm));
        }
        if (s > 0) {
            ve = _mm512_sra_epi64(_mm512_add_epi64(_mm512_add_epi64(ve, half),
                                                   _mm512_and_si512(_mm512_sra_epi64(ve, count), one)), count);
            vo = _mm512_sra_epi64(_mm512_add_epi64(_mm512_add_epi64(vo, half),
                                                   _mm512_and_si512(_mm512_sra_epi64(vo, count), one)), count);
        }
        ve = _mm512_min_epi64(_mm512_max_epi64(ve, vlo), vhi);
        vo = _mm512_min_epi64(_mm512_max_epi64(vo, vlo), vhi);
        // clamped values fit int32: the low dword of each int64 lane is the result
        const __m512i y = _mm512_mask_blend_epi32((__mmask16)0xAAAA, ve, _mm512_slli_epi64(vo, 32));
        if (sizeof(Out) == 1) _mm_storeu_si128((__m128i*)(out + i), _mm512_cvtepi32_epi8(y));
        else _mm512_storeu_si512((void*)(out + i), y);
    }
    for (; i + 8 <= end; i += 8) {
        __m512i v = _mm512_add_epi64(_mm512_mul_epi32(_mm512_cvtepi32_epi64(_mm256_loadu_si256((const __m256i*)(acc + i))), vm), vb);
        if (RK == 1 || RK == 2) {
            const __m128i r8 = _mm_loadl_epi64((const __m128i*)((const uint8_t*)residual + i));
            const __m512i r = RK == 1 ? _mm512_cvtepi8_epi64(r8) : _mm512_cvtepu8_epi64(r8);
            v = _mm512_add_epi64(v, _mm512_mul_epi32(r, vrm));
        }
        if (RK == 3) {
            const __m512i r = _mm512_cvtepi32_epi64(_mm256_loadu_si256((const __m256i*)((const int32_t*)residual + i)));
            v = _mm512_add_epi64(v, _mm512_mul_epi32(r, vrm));
        }
        if (s > 0) {
            const __m512i lsb = _mm512_and_si512(_mm512_sra_epi64(v, count), one);
            v = _mm512_sra_epi64(_mm512_add_epi64(_mm512_add_epi64(v, half), lsb), count);
        }
        v = _mm512_min_epi64(_mm512_max_epi64(v, vlo), vhi);
        if (sizeof(Out) == 1) _mm_storel_epi64((__m128i*)(out + i), _mm512_cvtepi64_epi8(v));
        else _mm256_storeu_si256((__m256i*)(out + i), _mm512_cvtepi64_epi32(v));
    }
    requant_plane<RK, Out>(acc, residual, m, b, rm, s, 0, qmin, qmax, out, i, end);
}

// SIMD: the AVX-512F variant, which serves HALF_EVEN (the integer model's rounding) with 8 int64 lanes and runs the
// scalar loop for the other roundings.
template <bool SIMD, int RK, typename Out>
void requant_all(const int32_t* acc, const void* residual, const int32_t* mult, const int32_t* shift,
                 const int64_t* bias, const int32_t* res_mult, int rounding, int qmin, int qmax, Out* out,
                 int64_t len, int channels, int64_t inner) {
    const int64_t planes = len / inner;
    const bool simd = SIMD && rounding == QAT4J_ROUND_HALF_EVEN;
#pragma omp parallel for schedule(static) if (len > (1 << 15))
    for (int64_t plane = 0; plane < planes; plane++) {
        const int ch = (int)(plane % channels);
        if (simd)
            requant_plane_avx512<RK, Out>(acc, residual, mult[ch], bias[ch], RK ? res_mult[ch] : 0, shift[ch], qmin,
                                          qmax, out, plane * inner, (plane + 1) * inner);
        else
            requant_plane<RK, Out>(acc, residual, mult[ch], bias[ch], RK ? res_mult[ch] : 0, shift[ch], rounding,
                                   qmin, qmax, out, plane * inner, (plane + 1) * inner);
    }
}

template <bool SIMD, typename Out>
void requant_dispatch(const int32_t* acc, const void* residual, int residual_kind, const int32_t* mult,
                      const int32_t* shift, const int64_t* bias, const int32_t* res_mult, int rounding, int qmin,
                      int qmax, Out* out, int64_t len, int channels, int64_t inner) {
    switch (residual_kind) {
        case QAT4J_RESIDUAL_INT8:
            requant_all<SIMD, 1, Out>(acc, residual, mult, shift, bias, res_mult, rounding, qmin, qmax, out, len,
                                      channels, inner);
            break;
        case QAT4J_RESIDUAL_UINT8:
            requant_all<SIMD, 2, Out>(acc, residual, mult, shift, bias, res_mult, rounding, qmin, qmax, out, len,
                                      channels, inner);
            break;
        case QAT4J_RESIDUAL_INT32:
            requant_all<SIMD, 3, Out>(acc, residual, mult, shift, bias, res_mult, rounding, qmin, qmax, out, len,
                                      channels, inner);
            break;
        default:
            requant_all<SIMD, 0, Out>(acc, residual, mult, shift, bias, res_mult, rounding, qmin, qmax, out, len,
                                      channels, inner);
    }
}

template <bool SIMD>
void requant_residual(const int32_t* acc, const void* residual, int residual_kind, const int32_t* mult,
                      const int32_t* shift, const int64_t* bias, const int32_t* res_mult, int rounding, int qmin,
                      int qmax, void* out, int out_bytes, int64_t len, int channels, int64_t inner) {
    if (out_bytes == QAT4J_OUT_INT8) {
        requant_dispatch<SIMD, int8_t>(acc, residual, residual_kind, mult, shift, bias, res_mult, rounding, qmin, qmax,
                                       (int8_t*)out, len, channels, inner);
    } else {
        requant_dispatch<SIMD, int32_t>(acc, residual, residual_kind, mult, shift, bias, res_mult, rounding, qmin,
                                        qmax, (int32_t*)out, len, channels, inner);
    }
}

}  // namespace
}  // namespace qat4j_int_ops

void qat4j::requant_residual_scalar(const int32_t* acc, const void* residual, int residual_kind, const int32_t* mult,
                                    const int32_t* shift, const int64_t* bias, const int32_t* res_mult, int rounding,
                                    int qmin, int qmax, void* out, int out_bytes, int64_t len, int channels,
                                    int64_t inner) {
    qat4j_int_ops::requant_residual<false>(acc, residual, residual_kind, mult, shift, bias, res_mult, rounding, qmin,
                                           qmax, out, out_bytes, len, channels, inner);
}

void qat4j::requant_residual_avx512(const int32_t* acc, const void* residual, int residual_kind, const int32_t* mult,
                                    const int32_t* shift, const int64_t* bias, const int32_t* res_mult, int rounding,
                                    int qmin, int qmax, void* out, int out_bytes, int64_t len, int channels,
                                    int64_t inner) {
    qat4j_int_ops::requant_residual<true>(acc, residual, residual_kind, mult, shift, bias, res_mult, rounding, qmin,
                                          qmax, out, out_bytes, len, channels, inner);
}

void qat4j::requant_span(const int32_t* acc, const void* residual, int residual_kind, int64_t mult, int64_t bias,
                         int64_t res_mult, int shift, int rounding, int64_t qmin, int64_t qmax, void* out,
                         int out_bytes, int64_t len, bool simd) {
    using namespace qat4j_int_ops;
    const bool v = simd && rounding == QAT4J_ROUND_HALF_EVEN;
#define QAT4J_SPAN(RK, Out)                                                                                  \
    if (v) requant_plane_avx512<RK, Out>(acc, residual, mult, bias, res_mult, shift, qmin, qmax, (Out*)out, 0, len); \
    else requant_plane<RK, Out>(acc, residual, mult, bias, res_mult, shift, rounding, qmin, qmax, (Out*)out, 0, len);
#define QAT4J_SPAN_OUT(RK)                 \
    if (out_bytes == QAT4J_OUT_INT8) {     \
        QAT4J_SPAN(RK, int8_t)             \
    } else {                               \
        QAT4J_SPAN(RK, int32_t)            \
    }
    switch (residual_kind) {
        case QAT4J_RESIDUAL_INT8: QAT4J_SPAN_OUT(1) break;
        case QAT4J_RESIDUAL_UINT8: QAT4J_SPAN_OUT(2) break;
        case QAT4J_RESIDUAL_INT32: QAT4J_SPAN_OUT(3) break;
        default: QAT4J_SPAN_OUT(0)
    }
#undef QAT4J_SPAN_OUT
#undef QAT4J_SPAN
}

extern "C" int qat4j_requantize_residual_s32(const int32_t* acc, const void* residual, int residual_kind,
                                             const int32_t* mult, const int32_t* shift, const int64_t* bias,
                                             const int32_t* res_mult, int rounding, int qmin, int qmax, void* out,
                                             int out_bytes, int64_t len, int channels, int64_t inner, int isa) {
    qat4j_kernels_for(isa)->requant_residual(acc, residual, residual_kind, mult, shift, bias, res_mult, rounding, qmin,
                                             qmax, out, out_bytes, len, channels, inner);
    return QAT4J_OK;
}
