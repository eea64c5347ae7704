// Float convolution and linear layers of the cpu backend.
// Variants: im2col per image + our small-M sgemm (sgemm_f32.cpp) per group for dense and grouped convs (OpenBLAS
// for the weight gradient's long reductions), and direct
// loops for depthwise convs (one input channel per group), where an im2col GEMM would have M = 1.
// The im2col layout is col[k][b*P + p] with k = (ic*kh + ky)*kw + kx and P = oh*ow; the convs below build it one
// image at a time, so a GEMM writes straight into NCHW.
#include "qat4j_kernels.h"
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

namespace {

struct ConvGeom {
    int n, c, h, w, co, kh, kw, sh, sw, ph, pw, groups;
    int oh() const { return (h + 2 * ph - kh) / sh + 1; }
    int ow() const { return (w + 2 * pw - kw) / sw + 1; }
    int cig() const { return c / groups; }
    int cog() const { return co / groups; }
    int64_t k() const { return (int64_t)cig() * kh * kw; }
    int64_t p() const { return (int64_t)oh() * ow(); }
    bool depthwise() const { return cig() == 1 && cog() == 1; }
};

float* alloc_floats(int64_t count) {
    size_t bytes = ((size_t)(count > 0 ? count : 1) * sizeof(float) + 63) & ~(size_t)63;
    return (float*)aligned_alloc(64, bytes);
}

// col[k][b*P + p] for the input channels of group g.
template <typename T>
void im2col(const T* x, T* col, const ConvGeom& g, int group) {
    const int oh = g.oh(), ow = g.ow(), cig = g.cig();
    const int64_t P = g.p(), NP = (int64_t)g.n * P;
#pragma omp parallel for collapse(2) schedule(static)
    for (int ic = 0; ic < cig; ic++) {
        for (int kk = 0; kk < g.kh * g.kw; kk++) {
            const int ky = kk / g.kw, kx = kk % g.kw;
            T* row = col + ((int64_t)ic * g.kh * g.kw + kk) * NP;
            for (int b = 0; b < g.n; b++) {
                const T* plane = x + ((int64_t)b * g.c + (int64_t)group * cig + ic) * g.h * g.w;
                T* out = row + (int64_t)b * P;
                for (int oy = 0; oy < oh; oy++) {
                    const int iy = oy * g.sh - g.ph + ky;
                    T* o = out + (int64_t)oy * ow;
                    if (iy < 0 || iy >= g.h) {
                        memset(o, 0, sizeof(T) * ow);
                        continue;
                    }
                    const T* in = plane + (int64_t)iy * g.w;
                    for (int ox = 0; ox < ow; ox++) {
                        const int ix = ox * g.sw - g.pw + kx;
                        o[ox] = (ix >= 0 && ix < g.w) ? in[ix] : (T)0;
                    }
                }
            }
        }
    }
}

// dx (accumulated) from dcol of group g; parallel over (b, channel) so no two threads write one plane.
void col2im(const float* col, float* dx, const ConvGeom& g, int group) {
    const int oh = g.oh(), ow = g.ow(), cig = g.cig();
    const int64_t P = g.p(), NP = (int64_t)g.n * P;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < g.n; b++) {
        for (int ic = 0; ic < cig; ic++) {
            float* plane = dx + ((int64_t)b * g.c + (int64_t)group * cig + ic) * g.h * g.w;
            for (int kk = 0; kk < g.kh * g.kw; kk++) {
                const int ky = kk / g.kw, kx = kk % g.kw;
                const float* row = col + ((int64_t)ic * g.kh * g.kw + kk) * NP + (int64_t)b * P;
                for (int oy = 0; oy < oh; oy++) {
                    const int iy = oy * g.sh - g.ph + ky;
                    if (iy < 0 || iy >= g.h) continue;
                    for (int ox = 0; ox < ow; ox++) {
                        const int ix = ox * g.sw - g.pw + kx;
                        if (ix >= 0 && ix < g.w) plane[(int64_t)iy * g.w + ix] += row[(int64_t)oy * ow + ox];
                    }
                }
            }
        }
    }
}

void depthwise_fwd(const float* x, const float* wt, const float* bias, float* y, const ConvGeom& g) {
    const int oh = g.oh(), ow = g.ow();
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < g.n; b++) {
        for (int ch = 0; ch < g.c; ch++) {
            const float* in = x + ((int64_t)b * g.c + ch) * g.h * g.w;
            const float* k = wt + (int64_t)ch * g.kh * g.kw;
            float* out = y + ((int64_t)b * g.co + ch) * oh * ow;
            const float b0 = bias ? bias[ch] : 0.0f;
            for (int oy = 0; oy < oh; oy++) {
                for (int ox = 0; ox < ow; ox++) {
                    float acc = 0.0f;
                    for (int ky = 0; ky < g.kh; ky++) {
                        const int iy = oy * g.sh - g.ph + ky;
                        if (iy < 0 || iy >= g.h) continue;
                        for (int kx = 0; kx < g.kw; kx++) {
                            const int ix = ox * g.sw - g.pw + kx;
                            if (ix >= 0 && ix < g.w) acc += in[(int64_t)iy * g.w + ix] * k[ky * g.kw + kx];
                        }
                    }
                    out[(int64_t)oy * ow + ox] = acc + b0;
                }
            }
        }
    }
}

void depthwise_bwd_data(const float* dy, const float* wt, float* dx, const ConvGeom& g) {
    const int oh = g.oh(), ow = g.ow();
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < g.n; b++) {
        for (int ch = 0; ch < g.c; ch++) {
            float* d = dx + ((int64_t)b * g.c + ch) * g.h * g.w;
            const float* k = wt + (int64_t)ch * g.kh * g.kw;
            const float* gy = dy + ((int64_t)b * g.co + ch) * oh * ow;
            memset(d, 0, sizeof(float) * g.h * g.w);
            for (int oy = 0; oy < oh; oy++) {
                for (int ox = 0; ox < ow; ox++) {
                    const float v = gy[(int64_t)oy * ow + ox];
                    for (int ky = 0; ky < g.kh; ky++) {
                        const int iy = oy * g.sh - g.ph + ky;
                        if (iy < 0 || iy >= g.h) continue;
                        for (int kx = 0; kx < g.kw; kx++) {
                            const int ix = ox * g.sw - g.pw + kx;
                            if (ix >= 0 && ix < g.w) d[(int64_t)iy * g.w + ix] += v * k[ky * g.kw + kx];
                        }
                    }
                }
            }
        }
    }
}

void depthwise_bwd_weight(const float* dy, const float* x, float* dw, const ConvGeom& g) {
    const int oh = g.oh(), ow = g.ow();
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < g.c; ch++) {
        for (int kk = 0; kk < g.kh * g.kw; kk++) {
            const int ky = kk / g.kw, kx = kk % g.kw;
            double acc = 0.0;
            for (int b = 0; b < g.n; b++) {
                const float* in = x + ((int64_t)b * g.c + ch) * g.h * g.w;
                const float* gy = dy + ((int64_t)b * g.co + ch) * oh * ow;
                float part = 0.0f;
                for (int oy = 0; oy < oh; oy++) {
                    const int iy = oy * g.sh - g.ph + ky;
                    if (iy < 0 || iy >= g.h) continue;
                    for (int ox = 0; ox < ow; ox++) {
                        const int ix = ox * g.sw - g.pw + kx;
                        if (ix >= 0 && ix < g.w) part += gy[(int64_t)oy * ow + ox] * in[(int64_t)iy * g.w + ix];
                    }
                }
                acc += part;
            }
            dw[(int64_t)ch * g.kh * g.kw + kk] = (float)acc;
        }
    }
}

}  // namespace

// Threads split the batch: each takes a contiguous range of images and, image by image, builds a K x P im2col
// panel (small enough to stay in L2) and multiplies it straight into that image's NCHW output. No batch-sized
// buffers, no reorder pass: the panel is the only temporary. One threading model (OpenMP) for the whole op:
// OpenBLAS's own pool, spinning beside OpenMP's on a 2-core machine, made convolutions 10x slower. The helpers
// above hold `omp parallel` loops that run serially here (nested parallelism is off).
static int batch_chunks(int n) {
    const int t = omp_get_max_threads();
    return n < t ? (n > 0 ? n : 1) : t;
}

// Images [b0, b0 + nb) of chunk t of `chunks`: contiguous, sizes differing by at most one.
struct BatchChunk {
    int b0, nb;
    BatchChunk(int n, int t, int chunks)
        : b0((int)((int64_t)n * t / chunks)), nb((int)((int64_t)n * (t + 1) / chunks) - (int)((int64_t)n * t / chunks)) {}
};

static ConvGeom one_image(const ConvGeom& g) {
    ConvGeom c = g;
    c.n = 1;
    return c;
}

extern "C" void qat4j_conv2d_f32(const float* x, const float* wt, const float* bias, float* y, int n, int c, int h,
                                 int w, int co, int kh, int kw, int sh, int sw, int ph, int pw, int groups, int isa) {
    const ConvGeom g{n, c, h, w, co, kh, kw, sh, sw, ph, pw, groups};
    if (g.depthwise()) {
        depthwise_fwd(x, wt, bias, y, g);
        return;
    }
    const int64_t K = g.k(), P = g.p();
    const int cog = g.cog(), chunks = batch_chunks(n);
    const ConvGeom g1 = one_image(g);
#pragma omp parallel for schedule(static, 1) num_threads(chunks)
    for (int t = 0; t < chunks; t++) {
        const BatchChunk ch(n, t, chunks);
        float* col = alloc_floats(K * P);
        for (int b = ch.b0; b < ch.b0 + ch.nb; b++) {
            const float* xb = x + (int64_t)b * c * h * w;
            float* yb = y + (int64_t)b * co * P;
            for (int grp = 0; grp < groups; grp++) {
                im2col(xb, col, g1, grp);
                qat4j_sgemm_nn_f32(cog, P, K, wt + (int64_t)grp * cog * K, K, col, P, yb + (int64_t)grp * cog * P, P,
                                   isa);
            }
            if (bias) {
                for (int oc = 0; oc < co; oc++) {
                    float* o = yb + (int64_t)oc * P;
                    for (int64_t i = 0; i < P; i++) o[i] += bias[oc];
                }
            }
        }
        free(col);
    }
}

extern "C" void qat4j_conv2d_bwd_data_f32(const float* dy, const float* wt, float* dx, int n, int c, int h, int w,
                                          int co, int kh, int kw, int sh, int sw, int ph, int pw, int groups, int isa) {
    const ConvGeom g{n, c, h, w, co, kh, kw, sh, sw, ph, pw, groups};
    if (g.depthwise()) {
        depthwise_bwd_data(dy, wt, dx, g);
        return;
    }
    const int64_t K = g.k(), P = g.p();
    const int cog = g.cog(), chunks = batch_chunks(n);
    const ConvGeom g1 = one_image(g);
    // W_g^T [K, cog] for every group, once: dcol[K, P] = W_g^T * dY_g[cog, P] is then a plain NN GEMM.
    float* wT = alloc_floats(K * co);
    for (int grp = 0; grp < groups; grp++)
        for (int64_t k = 0; k < K; k++)
            for (int o = 0; o < cog; o++) wT[(int64_t)grp * K * cog + k * cog + o] = wt[((int64_t)grp * cog + o) * K + k];
#pragma omp parallel for schedule(static, 1) num_threads(chunks)
    for (int t = 0; t < chunks; t++) {
        const BatchChunk ch(n, t, chunks);
        float* dcol = alloc_floats(K * P);
        for (int b = ch.b0; b < ch.b0 + ch.nb; b++) {
            float* dxb = dx + (int64_t)b * c * h * w;
            memset(dxb, 0, sizeof(float) * (int64_t)c * h * w);
            for (int grp = 0; grp < groups; grp++) {
                qat4j_sgemm_nn_f32(K, P, cog, wT + (int64_t)grp * K * cog, cog, dy + ((int64_t)b * co + (int64_t)grp * cog) * P,
                                   P, dcol, P, isa);
                col2im(dcol, dxb, g1, grp);
            }
        }
        free(dcol);
    }
    free(wT);
}

extern "C" void qat4j_conv2d_bwd_weight_f32(const float* dy, const float* x, float* dw, int n, int c, int h, int w,
                                            int co, int kh, int kw, int sh, int sw, int ph, int pw, int groups,
                                            int isa) {
    const ConvGeom g{n, c, h, w, co, kh, kw, sh, sw, ph, pw, groups};
    if (g.depthwise()) {
        depthwise_bwd_weight(dy, x, dw, g);
        return;
    }
    if (isa == QAT4J_ISA_AUTO) isa = qat4j_cpu_active_isa();
    const int64_t K = g.k(), P = g.p(), wlen = (int64_t)co * K;
    const int cog = g.cog(), chunks = batch_chunks(n);
    const ConvGeom g1 = one_image(g);
    // One partial dW per chunk, accumulated image by image, summed afterwards in chunk order (deterministic for a
    // given thread count).
    float* partial = alloc_floats(wlen * chunks);
#pragma omp parallel for schedule(static, 1) num_threads(chunks)
    for (int t = 0; t < chunks; t++) {
        const BatchChunk ch(n, t, chunks);
        float* pw_t = partial + wlen * t;
        memset(pw_t, 0, sizeof(float) * wlen);
        float* col = alloc_floats(K * P);
        for (int b = ch.b0; b < ch.b0 + ch.nb; b++) {
            for (int grp = 0; grp < groups; grp++) {
                im2col(x + (int64_t)b * c * h * w, col, g1, grp);
                const float* dyg = dy + ((int64_t)b * co + (int64_t)grp * cog) * P;
                float* dwg = pw_t + (int64_t)grp * cog * K;
                // Our AVX-512 NT kernel where the CPU has it; below that OpenBLAS (vectorised for AVX2) beats a
                // portable loop.
                if (isa >= QAT4J_ISA_AVX512VNNI) qat4j_sgemm_nt_acc_f32(cog, K, P, dyg, P, col, P, dwg, K, isa);
                else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cog, (int)K, (int)P, 1.0f, dyg, (int)P, col,
                                 (int)P, 1.0f, dwg, (int)K);
            }
        }
        free(col);
    }
    for (int64_t i = 0; i < wlen; i++) {
        float s = partial[i];
        for (int t = 1; t < chunks; t++) s += partial[wlen * t + i];
        dw[i] = s;
    }
    free(partial);
}

extern "C" void qat4j_linear_f32(const float* x, const float* wt, const float* bias, float* y, int n, int in, int out) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, wt, in, 0.0f, y, out);
    if (bias)
        for (int b = 0; b < n; b++)
            for (int o = 0; o < out; o++) y[(int64_t)b * out + o] += bias[o];
}

extern "C" void qat4j_linear_bwd_data_f32(const float* dy, const float* wt, float* dx, int n, int in, int out) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy, out, wt, in, 0.0f, dx, in);
}

extern "C" void qat4j_linear_bwd_weight_f32(const float* dy, const float* x, float* dw, int n, int in, int out) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dy, out, x, in, 0.0f, dw, in);
}
