// Float convolution and linear layers of the cpu backend.
// Convolutions (dense, grouped and depthwise): implicit GEMMs over a padded copy of each image (below, and
// sgemm_f32.cpp; a depthwise conv is the M = 1 case, one group per channel), the GEMM variant taken once per call
// from the dispatch table (qat4j_kernels_for); direct loops over the valid taps where padding dominates the input
// and output (padding_dominates); linear layers: OpenBLAS.
// Work buffers come from qat4j_alloc64 (per call, or per thread inside the batch loop); when one cannot be had the
// entry frees what it holds and returns QAT4J_ERR_NO_MEMORY (a thread that misses its buffers sets a shared flag
// and skips its images: the output is then unspecified, and the caller raises).
#include "qat4j_internal.h"
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include <memory>
#include <vector>

namespace {

using ConvGeom = qat4j::ConvDims;

float* alloc_floats(int64_t count) { return (float*)qat4j_alloc64_n(count > 0 ? count : 1, sizeof(float)); }

}  // namespace

// ------------------------------------------------------------------------------------------------ dense and grouped
// Implicit GEMMs (sgemm_f32.cpp): no im2col. Threads split the batch; image by image, a thread copies the image once
// into a padded layout and multiplies shifted views of it (one offset per reduction index k) straight into a "wide"
// output whose rows are as long as the padded rows, then keeps the valid columns. One threading model (OpenMP) for
// the whole op: OpenBLAS's own pool, spinning beside OpenMP's on a 2-core machine, made convolutions 10x slower.

namespace {

int64_t cdiv(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

int batch_chunks(int n) {
    const int t = omp_get_max_threads();
    return n < t ? (n > 0 ? n : 1) : t;
}

// Images [b0, b0 + nb) of chunk t of `chunks`: contiguous, sizes differing by at most one.
struct BatchChunk {
    int b0, nb;
    BatchChunk(int n, int t, int chunks)
        : b0((int)((int64_t)n * t / chunks)), nb((int)((int64_t)n * (t + 1) / chunks) - (int)((int64_t)n * t / chunks)) {}
};

// One image's input channels of one group, zero-padded and split by stride phase, so that every (ic, ky, kx) of a
// strided conv is a plain shifted view: padded position (yp, xp) of channel ic lives at
// ((py*psw + px)*cn + ic)*plane + (yp/sh)*Wh + xp/sw with (py, px) = (yp % sh, xp % sw). Only the phases some tap
// reads are kept (py < psh = min(sh, kh), px < psw = min(sw, kw)): a stride larger than the kernel skips the rest.
// Output pixel (oy, ox) then reads tap (ic, ky, kx) at offset(ic, ky, kx) + oy*Wh + ox. Output rows are Wh wide; columns ox >= ow read
// neighbouring values and are discarded, and the GEMM stops at the last valid pixel, (oh-1)*Wh + ow, so no read
// leaves the plane. `direct`: a 1x1 stride-1 unpadded conv reads the NCHW input itself.
// With `images` > 1 the planes of consecutive images follow each other per channel (plane slot
// ((phase*cn + ic)*images + img)), so one shifted view runs through all of them: the weight gradient then sums over
// several images per dot product instead of reducing short per-image ones.
struct InputLayout {
    int c_n, h, w, kh, kw, sh, sw, ph, pw, psh, psw, Hh, Wh, images;
    int64_t plane, floats;
    bool direct;

    InputLayout(const ConvGeom& g, int images_ = 1)
        : c_n(g.cig()), h(g.h), w(g.w), kh(g.kh), kw(g.kw), sh(g.sh), sw(g.sw), ph(g.ph), pw(g.pw),
          psh(g.sh < g.kh ? g.sh : g.kh), psw(g.sw < g.kw ? g.sw : g.kw), Hh((int)cdiv(g.h + 2 * g.ph, g.sh)),
          Wh((int)cdiv(g.w + 2 * g.pw, g.sw)), images(images_) {
        direct = images == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0 && g.kw == 1;
        if (direct) Hh = g.h, Wh = g.w;
        plane = (int64_t)Hh * Wh;
        floats = (int64_t)psh * psw * c_n * images * plane;
    }

    int64_t offset(int ic, int ky, int kx) const {
        if (direct) return (int64_t)ic * plane + (int64_t)ky * Wh + kx;
        return ((int64_t)((ky % sh) * psw + kx % sw) * c_n + ic) * images * plane + (int64_t)(ky / sh) * Wh + kx / sw;
    }

    // The B-row offset of every reduction index k = (ic*kh + ky)*kw + kx (the weights' own order).
    std::vector<int64_t> offsets() const {
        std::vector<int64_t> off((size_t)c_n * kh * kw);
        for (int ic = 0; ic < c_n; ic++)
            for (int ky = 0; ky < kh; ky++)
                for (int kx = 0; kx < kw; kx++) off[((size_t)ic * kh + ky) * kw + kx] = offset(ic, ky, kx);
        return off;
    }

    // src: channel 0 of this group in the first image (NCHW planes of h*w); count <= images images, image_stride
    // floats apart.
    const float* fill(const float* src, float* buf, int count = 1, int64_t image_stride = 0) const {
        if (direct) return src;
        for (int py = 0; py < psh; py++)
            for (int px = 0; px < psw; px++)
                for (int ic = 0; ic < c_n; ic++)
                    for (int img = 0; img < count; img++) {
                        float* dst = buf + (((int64_t)(py * psw + px) * c_n + ic) * images + img) * plane;
                        const float* in = src + img * image_stride + (int64_t)ic * h * w;
                        for (int r = 0; r < Hh; r++) {
                            float* row = dst + (int64_t)r * Wh;
                            const int iy = r * sh + py - ph;
                            if (iy < 0 || iy >= h) {
                                memset(row, 0, sizeof(float) * Wh);
                                continue;
                            }
                            const float* s = in + (int64_t)iy * w;
                            if (sw == 1) {
                                // Columns pw .. pw+w-1 hold the row (clipped to Wh), the rest is padding.
                                const int lead = pw < Wh ? pw : Wh, len = (w < Wh - lead) ? w : Wh - lead;
                                memset(row, 0, sizeof(float) * lead);
                                memcpy(row + lead, s, sizeof(float) * len);
                                memset(row + lead + len, 0, sizeof(float) * (Wh - lead - len));
                            } else {
                                for (int col = 0; col < Wh; col++) {
                                    const int ix = col * sw + px - pw;
                                    row[col] = ix >= 0 && ix < w ? s[ix] : 0.0f;
                                }
                            }
                        }
                    }
        return buf;
    }
};

// Weight panels of every group packed once per call: group g at Ap + g * stride.
struct PackedWeights {
    float* data;
    int64_t stride;
    PackedWeights(int groups, int64_t M, int64_t K) : stride(qat4j_sgemm_packed_a_floats(M, K)) {
        data = alloc_floats(stride * groups);  // NULL when out of memory: the caller checks
    }
    ~PackedWeights() { qat4j_free64(data); }
    PackedWeights(const PackedWeights&) = delete;
    PackedWeights& operator=(const PackedWeights&) = delete;
    float* group(int g) const { return data + stride * g; }
};

// Backward data of a strided conv, split by the stride phase (ry, rx) of the padded input position: the positions
// yp = u*sh + ry receive only taps ky = a*sh + ry, from output rows oy = u - a. Per phase that is a stride-1 "full"
// correlation of dy (zero-padded by A-1 rows, B-1 columns) with the flipped, transposed sub-kernel
// W'[ic][oc][a'][b'] = W[oc][ic][(A-1-a')*sh + ry][(B-1-b')*sw + rx], computed only for the u (v) whose positions
// are real input rows (columns): u0 .. u0+U-1. dyp holds dy[oy = u0 + i - (A-1)][ox = v0 + j - (B-1)], Ud x Wd.
struct DataPhase {
    int ry, rx, A, B, u0, U, v0, V, Ud, Wd;
    bool dy_direct, dx_direct;  // dyp is dy itself / the wide output is dx itself (no copies)
    int64_t K;
    std::vector<int64_t> off;

    DataPhase(const ConvGeom& g, int ry_, int rx_) : ry(ry_), rx(rx_) {
        A = (int)cdiv(g.kh - ry, g.sh);
        B = (int)cdiv(g.kw - rx, g.sw);
        u0 = (int)(g.ph - ry > 0 ? cdiv(g.ph - ry, g.sh) : 0);
        v0 = (int)(g.pw - rx > 0 ? cdiv(g.pw - rx, g.sw) : 0);
        U = (int)cdiv(g.ph + g.h - ry, g.sh) - u0;
        V = (int)cdiv(g.pw + g.w - rx, g.sw) - v0;
        if (A < 0) A = 0;
        if (B < 0) B = 0;
        Ud = U + A - 1;
        Wd = V + B - 1;
        K = (int64_t)g.cog() * A * B;
        dy_direct = u0 - (A - 1) == 0 && v0 - (B - 1) == 0 && Ud == g.oh() && Wd == g.ow();
        dx_direct = g.sh == 1 && g.sw == 1 && U == g.h && V == g.w && Wd == g.w;
        if (!empty()) {
            off.resize((size_t)K);
            for (int oc = 0; oc < g.cog(); oc++)
                for (int a = 0; a < A; a++)
                    for (int b = 0; b < B; b++)
                        off[((size_t)oc * A + a) * B + b] = ((int64_t)oc * Ud + a) * Wd + b;
        }
    }

    bool empty() const { return A <= 0 || B <= 0 || U <= 0 || V <= 0; }
    int64_t dyp_floats(int cog) const { return empty() || dy_direct ? 0 : (int64_t)cog * Ud * Wd; }
    int64_t wide_floats(int cig) const { return empty() || dx_direct ? 0 : (int64_t)cig * U * Wd; }

    void pack(const float* wt, const ConvGeom& g, int grp, float* Ap) const {
        const int cig = g.cig(), cog = g.cog();
        std::vector<float> t((size_t)cig * K);
        for (int ic = 0; ic < cig; ic++)
            for (int oc = 0; oc < cog; oc++)
                for (int a = 0; a < A; a++)
                    for (int b = 0; b < B; b++) {
                        const int ky = (A - 1 - a) * g.sh + ry, kx = (B - 1 - b) * g.sw + rx;
                        t[(size_t)ic * K + ((size_t)oc * A + a) * B + b] =
                            wt[(((int64_t)grp * cog + oc) * cig + ic) * g.kh * g.kw + (int64_t)ky * g.kw + kx];
                    }
        qat4j_sgemm_pack_a_f32(cig, K, t.data(), K, Ap);
    }

    // dy: channel 0 of this group in one image.
    const float* fill(const float* dy, const ConvGeom& g, float* dyp) const {
        if (dy_direct) return dy;
        const int oh = g.oh(), ow = g.ow();
        const int j0 = (B - 1 - v0) > 0 ? B - 1 - v0 : 0;
        int j1 = ow + B - 1 - v0;
        if (j1 > Wd) j1 = Wd;
        for (int oc = 0; oc < g.cog(); oc++)
            for (int i = 0; i < Ud; i++) {
                float* row = dyp + ((int64_t)oc * Ud + i) * Wd;
                const int oy = u0 + i - (A - 1);
                memset(row, 0, sizeof(float) * Wd);
                if (oy < 0 || oy >= oh || j1 <= j0) continue;
                memcpy(row + j0, dy + ((int64_t)oc * oh + oy) * ow + (j0 + v0 - (B - 1)), sizeof(float) * (j1 - j0));
            }
        return dyp;
    }

    // wide [cig][U][Wd] -> dx positions of this phase (channel 0 of this group in one image).
    void scatter(const float* wide, const ConvGeom& g, float* dx) const {
        for (int ic = 0; ic < g.cig(); ic++)
            for (int i = 0; i < U; i++) {
                const int iy = (u0 + i) * g.sh + ry - g.ph;
                const float* s = wide + ((int64_t)ic * U + i) * Wd;
                float* d = dx + ((int64_t)ic * g.h + iy) * g.w;
                const int ix0 = v0 * g.sw + rx - g.pw;
                if (g.sw == 1) memcpy(d + ix0, s, sizeof(float) * V);
                else
                    for (int j = 0; j < V; j++) d[ix0 + j * g.sw] = s[j];
            }
    }
};

}  // namespace

// ------------------------------------------------------------------------------------------------ direct loops
// The implicit GEMMs above work on padded planes and rows as wide as the padded input. When the padding dwarfs the
// input and the output (a pad of 2^19 around a 1x3 image, a kernel as tall as the padded input), that layout costs
// memory and multiply-adds in proportion to the padding: minutes and gigabytes for a few valid taps. These loops visit
// only the taps that land inside the input, so their cost is the useful work.
namespace {

// Taps [lo, hi) of one axis that land inside the input for output position o.
struct TapRange {
    int64_t lo, hi;
    TapRange(int64_t o, int stride, int pad, int kernel, int in) {
        const int64_t start = o * stride - pad;  // input position of tap 0
        lo = start < 0 ? -start : 0;
        hi = in - start < kernel ? in - start : kernel;
    }
};

// The implicit GEMMs hold planes of Hh x Wh padded pixels and compute output rows Wh wide to keep ow of them: when
// either wastes more than a few times the useful size, the direct loops win (ordinary layers stay far below: there
// Wh - ow is about the kernel width plus the pads over the stride).
bool padding_dominates(const ConvGeom& g) {
    const int64_t Hh = qat4j::ceil_div((int64_t)g.h + 2LL * g.ph, g.sh);
    const int64_t Wh = qat4j::ceil_div((int64_t)g.w + 2LL * g.pw, g.sw);
    return Hh * Wh > 8 * ((int64_t)g.h * g.w + g.p()) + (1 << 16) || Wh > 4LL * g.ow() + 64;
}

int conv2d_fwd_direct(const float* x, const float* wt, const float* bias, float* y, const ConvGeom& g) {
    const int cig = g.cig(), cog = g.cog(), oh = g.oh(), ow = g.ow();
#pragma omp parallel for collapse(2) schedule(dynamic)
    for (int b = 0; b < g.n; b++)
        for (int oc = 0; oc < g.co; oc++) {
            const int grp = oc / cog;
            for (int oy = 0; oy < oh; oy++) {
                const TapRange ry(oy, g.sh, g.ph, g.kh, g.h);
                for (int ox = 0; ox < ow; ox++) {
                    const TapRange rx(ox, g.sw, g.pw, g.kw, g.w);
                    float s = bias ? bias[oc] : 0.0f;
                    for (int ic = 0; ic < cig; ic++) {
                        const float* in = x + ((int64_t)b * g.c + (int64_t)grp * cig + ic) * g.h * g.w;
                        const float* k = wt + ((int64_t)oc * cig + ic) * g.kh * g.kw;
                        for (int64_t ky = ry.lo; ky < ry.hi; ky++) {
                            const int64_t iy = (int64_t)oy * g.sh - g.ph + ky;
                            for (int64_t kx = rx.lo; kx < rx.hi; kx++)
                                s += in[iy * g.w + (int64_t)ox * g.sw - g.pw + kx] * k[ky * g.kw + kx];
                        }
                    }
                    y[(((int64_t)b * g.co + oc) * oh + oy) * ow + ox] = s;
                }
            }
        }
    return QAT4J_OK;
}

int conv2d_bwd_data_direct(const float* dy, const float* wt, float* dx, const ConvGeom& g) {
    const int cig = g.cig(), cog = g.cog(), oh = g.oh(), ow = g.ow();
    // threads own whole images (and groups within them), so no two scatter into the same dx
#pragma omp parallel for collapse(2) schedule(dynamic)
    for (int b = 0; b < g.n; b++)
        for (int grp = 0; grp < g.groups; grp++) {
            float* dxg = dx + ((int64_t)b * g.c + (int64_t)grp * cig) * g.h * g.w;
            memset(dxg, 0, sizeof(float) * (size_t)cig * g.h * g.w);
            for (int o = 0; o < cog; o++) {
                const int oc = grp * cog + o;
                for (int oy = 0; oy < oh; oy++) {
                    const TapRange ry(oy, g.sh, g.ph, g.kh, g.h);
                    for (int ox = 0; ox < ow; ox++) {
                        const TapRange rx(ox, g.sw, g.pw, g.kw, g.w);
                        const float d = dy[(((int64_t)b * g.co + oc) * oh + oy) * ow + ox];
                        for (int ic = 0; ic < cig; ic++) {
                            float* out = dxg + (int64_t)ic * g.h * g.w;
                            const float* k = wt + ((int64_t)oc * cig + ic) * g.kh * g.kw;
                            for (int64_t ky = ry.lo; ky < ry.hi; ky++) {
                                const int64_t iy = (int64_t)oy * g.sh - g.ph + ky;
                                for (int64_t kx = rx.lo; kx < rx.hi; kx++)
                                    out[iy * g.w + (int64_t)ox * g.sw - g.pw + kx] += d * k[ky * g.kw + kx];
                            }
                        }
                    }
                }
            }
        }
    return QAT4J_OK;
}

int conv2d_bwd_weight_direct(const float* dy, const float* x, float* dw, const ConvGeom& g) {
    const int cig = g.cig(), cog = g.cog(), oh = g.oh(), ow = g.ow();
    // threads own output channels: each dw row is written by one thread
#pragma omp parallel for schedule(dynamic)
    for (int oc = 0; oc < g.co; oc++) {
        const int grp = oc / cog;
        float* d = dw + (int64_t)oc * g.k();
        memset(d, 0, sizeof(float) * (size_t)g.k());
        for (int b = 0; b < g.n; b++)
            for (int oy = 0; oy < oh; oy++) {
                const TapRange ry(oy, g.sh, g.ph, g.kh, g.h);
                for (int ox = 0; ox < ow; ox++) {
                    const TapRange rx(ox, g.sw, g.pw, g.kw, g.w);
                    const float gy = dy[(((int64_t)b * g.co + oc) * oh + oy) * ow + ox];
                    for (int ic = 0; ic < cig; ic++) {
                        const float* in = x + ((int64_t)b * g.c + (int64_t)grp * cig + ic) * g.h * g.w;
                        float* k = d + (int64_t)ic * g.kh * g.kw;
                        for (int64_t ky = ry.lo; ky < ry.hi; ky++) {
                            const int64_t iy = (int64_t)oy * g.sh - g.ph + ky;
                            for (int64_t kx = rx.lo; kx < rx.hi; kx++)
                                k[ky * g.kw + kx] += gy * in[iy * g.w + (int64_t)ox * g.sw - g.pw + kx];
                        }
                    }
                }
            }
    }
    return QAT4J_OK;
}

}  // namespace

namespace {

int conv2d_fwd(const float* x, const float* wt, const float* bias, float* y, const ConvGeom& g, int isa) {
    const qat4j_kernel_table* kt = qat4j_kernels_for(isa);
    const int n = g.n, c = g.c, h = g.h, w = g.w, co = g.co, groups = g.groups;
    const int64_t K = g.k(), P = g.p();
    const int cig = g.cig(), cog = g.cog(), oh = g.oh(), ow = g.ow(), chunks = batch_chunks(n);
    const InputLayout L(g);
    const int64_t ld = (int64_t)oh * L.Wh, N = ld - (L.Wh - ow);  // wide row stride; pixels computed
    const bool wide_is_y = L.Wh == ow;
    const std::vector<int64_t> off = L.offsets();
    PackedWeights Ap(groups, cog, K);
    if (!Ap.data) return QAT4J_ERR_NO_MEMORY;
    for (int grp = 0; grp < groups; grp++)
        qat4j_sgemm_pack_a_f32(cog, K, wt + (int64_t)grp * cog * K, K, Ap.group(grp));
    int oom = 0;
#pragma omp parallel for schedule(static, 1) num_threads(chunks) reduction(| : oom)
    for (int t = 0; t < chunks; t++) {
        const BatchChunk ch(n, t, chunks);
        float* buf = L.direct ? nullptr : alloc_floats(L.floats);
        float* wide = wide_is_y ? nullptr : alloc_floats((int64_t)cog * ld);
        if ((!L.direct && !buf) || (!wide_is_y && !wide)) {
            oom = 1;
            qat4j_free64(buf);
            qat4j_free64(wide);
            continue;
        }
        for (int b = ch.b0; b < ch.b0 + ch.nb; b++) {
            for (int grp = 0; grp < groups; grp++) {
                const float* B = L.fill(x + ((int64_t)b * c + (int64_t)grp * cig) * h * w, buf);
                float* yg = y + ((int64_t)b * co + (int64_t)grp * cog) * P;
                qat4j_sgemm_off_nn_f32(kt, cog, N, K, Ap.group(grp), B, off.data(), wide_is_y ? yg : wide,
                                       wide_is_y ? P : ld);
                for (int o = 0; o < cog; o++) {
                    const float bo = bias ? bias[grp * cog + o] : 0.0f;
                    float* yo = yg + (int64_t)o * P;
                    if (wide_is_y) {
                        if (bias)
                            for (int64_t i = 0; i < P; i++) yo[i] += bo;
                        continue;
                    }
                    for (int oy = 0; oy < oh; oy++) {
                        const float* s = wide + (int64_t)o * ld + (int64_t)oy * L.Wh;
                        float* d = yo + (int64_t)oy * ow;
                        for (int ox = 0; ox < ow; ox++) d[ox] = s[ox] + bo;
                    }
                }
            }
        }
        qat4j_free64(buf);
        qat4j_free64(wide);
    }
    return oom ? QAT4J_ERR_NO_MEMORY : QAT4J_OK;
}

int conv2d_bwd_data(const float* dy, const float* wt, float* dx, const ConvGeom& g, int isa) {
    const qat4j_kernel_table* kt = qat4j_kernels_for(isa);
    const int n = g.n, c = g.c, h = g.h, w = g.w, co = g.co, kh = g.kh, kw = g.kw, sh = g.sh, sw = g.sw;
    const int groups = g.groups;
    const int cig = g.cig(), cog = g.cog(), chunks = batch_chunks(n);
    const int64_t P = g.p();
    std::vector<DataPhase> phases;
    // Phases ry >= kh (rx >= kw) receive no tap: only the first min(stride, kernel) per axis can be non-empty.
    for (int ry = 0; ry < sh && ry < kh; ry++)
        for (int rx = 0; rx < sw && rx < kw; rx++) {
            DataPhase d(g, ry, rx);
            if (!d.empty()) phases.push_back(std::move(d));
        }
    // dx positions no phase writes (taps that never reach them) stay 0: every image is zeroed first, unless one
    // stride-1 phase covers all of dx.
    const bool covers_all = phases.size() == 1 && sh == 1 && sw == 1 && phases[0].U == h && phases[0].V == w;
    int64_t dyp_max = 0, wide_max = 0;
    std::vector<std::unique_ptr<PackedWeights>> packs;
    for (const DataPhase& d : phases) {
        if (d.dyp_floats(cog) > dyp_max) dyp_max = d.dyp_floats(cog);
        if (d.wide_floats(cig) > wide_max) wide_max = d.wide_floats(cig);
        packs.push_back(std::make_unique<PackedWeights>(groups, cig, d.K));
        if (!packs.back()->data) return QAT4J_ERR_NO_MEMORY;
        for (int grp = 0; grp < groups; grp++) d.pack(wt, g, grp, packs.back()->group(grp));
    }
    int oom = 0;
#pragma omp parallel for schedule(static, 1) num_threads(chunks) reduction(| : oom)
    for (int t = 0; t < chunks; t++) {
        const BatchChunk ch(n, t, chunks);
        float* dyp = dyp_max ? alloc_floats(dyp_max) : nullptr;
        float* wide = wide_max ? alloc_floats(wide_max) : nullptr;
        if ((dyp_max && !dyp) || (wide_max && !wide)) {
            oom = 1;
            qat4j_free64(dyp);
            qat4j_free64(wide);
            continue;
        }
        for (int b = ch.b0; b < ch.b0 + ch.nb; b++) {
            float* dxb = dx + (int64_t)b * c * h * w;
            if (!covers_all) memset(dxb, 0, sizeof(float) * (int64_t)c * h * w);
            for (int grp = 0; grp < groups; grp++) {
                float* dxg = dxb + (int64_t)grp * cig * h * w;
                for (size_t f = 0; f < phases.size(); f++) {
                    const DataPhase& d = phases[f];
                    const float* B = d.fill(dy + ((int64_t)b * co + (int64_t)grp * cog) * P, g, dyp);
                    // Rows U x Wd; the last one only up to its last valid column, so no read leaves dyp.
                    const int64_t ld = (int64_t)d.U * d.Wd, N = ld - (d.Wd - d.V);
                    qat4j_sgemm_off_nn_f32(kt, cig, N, d.K, packs[f]->group(grp), B, d.off.data(),
                                           d.dx_direct ? dxg : wide, ld);
                    if (!d.dx_direct) d.scatter(wide, g, dxg);
                }
            }
        }
        qat4j_free64(dyp);
        qat4j_free64(wide);
    }
    if (oom) return QAT4J_ERR_NO_MEMORY;
    if (phases.empty()) memset(dx, 0, sizeof(float) * (size_t)g.x_len());
    return QAT4J_OK;
}

int conv2d_bwd_weight(const float* dy, const float* x, float* dw, const ConvGeom& g, int isa) {
    const qat4j_kernel_table* kt = qat4j_kernels_for(isa);
    const int n = g.n, c = g.c, h = g.h, w = g.w, co = g.co, groups = g.groups;
    const int64_t K = g.k(), P = g.p(), wlen = (int64_t)co * K;
    const int cig = g.cig(), cog = g.cog(), oh = g.oh(), ow = g.ow(), chunks = batch_chunks(n);
    // Images per dot product: enough that a reduction runs over ~1024 pixels (a 4x4 block of dot products ends in a
    // 16-way lane reduction: on 8x8 planes of one image that costs as much as the products).
    const InputLayout L1(g);
    int images = (int)(1024 / (L1.plane > 0 ? L1.plane : 1));
    if (images > (n + chunks - 1) / chunks) images = (n + chunks - 1) / chunks;
    if (images < 1) images = 1;
    const InputLayout L(g, images);
    const int64_t ld = L.plane, N1 = (int64_t)oh * L.Wh - (L.Wh - ow);  // pixels of one image, last valid + 1
    const bool dy_direct = images == 1 && L.Wh == ow;
    const std::vector<int64_t> off = L.offsets();
    // One partial dW per chunk, accumulated image group by group, summed afterwards in chunk order (deterministic
    // for a given thread count).
    float* partial = alloc_floats(wlen * chunks);
    if (!partial) return QAT4J_ERR_NO_MEMORY;
    int oom = 0;
#pragma omp parallel for schedule(static, 1) num_threads(chunks) reduction(| : oom)
    for (int t = 0; t < chunks; t++) {
        const BatchChunk ch(n, t, chunks);
        float* pw_t = partial + wlen * t;
        memset(pw_t, 0, sizeof(float) * wlen);
        float* buf = L.direct ? nullptr : alloc_floats(L.floats);
        // dy as [o][image][plane]: rows widened to Wh and planes to Hh rows with zeros, so the neighbours the
        // extra positions read add nothing.
        const int64_t dyw_floats = (int64_t)cog * images * ld;
        float* dyw = dy_direct ? nullptr : alloc_floats(dyw_floats);
        if ((!L.direct && !buf) || (!dy_direct && !dyw)) {
            oom = 1;
            qat4j_free64(buf);
            qat4j_free64(dyw);
            continue;
        }
        if (dyw) memset(dyw, 0, sizeof(float) * dyw_floats);
        for (int b0 = ch.b0; b0 < ch.b0 + ch.nb; b0 += images) {
            const int count = ch.b0 + ch.nb - b0 < images ? ch.b0 + ch.nb - b0 : images;
            const int64_t Q = (int64_t)(count - 1) * ld + N1;
            for (int grp = 0; grp < groups; grp++) {
                const float* B = L.fill(x + ((int64_t)b0 * c + (int64_t)grp * cig) * h * w, buf, count, (int64_t)c * h * w);
                const float* dyg = dy + ((int64_t)b0 * co + (int64_t)grp * cog) * P;
                if (dyw)
                    for (int o = 0; o < cog; o++)
                        for (int img = 0; img < count; img++)
                            for (int oy = 0; oy < oh; oy++)
                                memcpy(dyw + ((int64_t)o * images + img) * ld + (int64_t)oy * L.Wh,
                                       dyg + (int64_t)img * co * P + (int64_t)o * P + (int64_t)oy * ow, sizeof(float) * ow);
                qat4j_sgemm_off_nt_acc_f32(kt, cog, K, Q, dyw ? dyw : dyg, dyw ? images * ld : P, B, off.data(),
                                           pw_t + (int64_t)grp * cog * K, K);
            }
        }
        qat4j_free64(buf);
        qat4j_free64(dyw);
    }
    if (oom) {
        qat4j_free64(partial);
        return QAT4J_ERR_NO_MEMORY;
    }
    for (int64_t i = 0; i < wlen; i++) {
        float s = partial[i];
        for (int t = 1; t < chunks; t++) s += partial[wlen * t + i];
        dw[i] = s;
    }
    qat4j_free64(partial);
    return QAT4J_OK;
}

}  // namespace

extern "C" int qat4j_conv2d_f32(const float* x, const float* wt, const float* bias, float* y,
                                const qat4j_conv_geometry* g, int isa) {
    const ConvGeom geo(*g);
    if (padding_dominates(geo)) return conv2d_fwd_direct(x, wt, bias, y, geo);
    return qat4j::guard_alloc([&] { return conv2d_fwd(x, wt, bias, y, geo, isa); });
}

extern "C" int qat4j_conv2d_bwd_data_f32(const float* dy, const float* wt, float* dx, const qat4j_conv_geometry* g,
                                         int isa) {
    const ConvGeom geo(*g);
    if (padding_dominates(geo)) return conv2d_bwd_data_direct(dy, wt, dx, geo);
    return qat4j::guard_alloc([&] { return conv2d_bwd_data(dy, wt, dx, geo, isa); });
}

extern "C" int qat4j_conv2d_bwd_weight_f32(const float* dy, const float* x, float* dw, const qat4j_conv_geometry* g,
                                           int isa) {
    const ConvGeom geo(*g);
    if (padding_dominates(geo)) return conv2d_bwd_weight_direct(dy, x, dw, geo);
    return qat4j::guard_alloc([&] { return conv2d_bwd_weight(dy, x, dw, geo, isa); });
}

extern "C" int qat4j_linear_f32(const float* x, const float* wt, const float* bias, float* y, int n, int in, int out) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, wt, in, 0.0f, y, out);
    if (bias)
        for (int b = 0; b < n; b++)
            for (int o = 0; o < out; o++) y[(int64_t)b * out + o] += bias[o];
    return QAT4J_OK;
}

extern "C" int qat4j_linear_bwd_data_f32(const float* dy, const float* wt, float* dx, int n, int in, int out) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy, out, wt, in, 0.0f, dx, in);
    return QAT4J_OK;
}

extern "C" int qat4j_linear_bwd_weight_f32(const float* dy, const float* x, float* dw, int n, int in, int out) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dy, out, x, in, 0.0f, dw, in);
    return QAT4J_OK;
}
