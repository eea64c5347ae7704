// Float convolution, forward and both backwards (data, weight), on the tiled GEMM core of gemm.cuh; depthwise
// convolutions (one input channel per group) take direct kernels instead. The op family's loaders, stores and kernels
// live together here so that the conv ops change in one place. Built with FMA (no --fmad=false).
#include "qat4j_cuda.h"
#include "cuda_common.cuh"
#include "gemm.cuh"
#include "../cpp/quant_common.h"

namespace {

// Forward A: row = output pixel (image, oy, ox), k = (ic, ky, kx): the implicit im2col.
template <typename T, typename Acc>
struct PatchByPixel {
    const T* x;
    Conv cv;
    using Row = PixelCtx;
    using Col = TapCtx;
    __device__ Row row(int g, int m) const { return pixel_ctx(cv, g, m); }
    __device__ Col col(int, int k) const { return tap_ctx(cv, k); }
    __device__ Acc at(const Row& r, const Col& c) const { return patch_at<T, Acc>(x, cv, r, c); }
};

// Backward-weight A: row = (ic, ky, kx), k = output pixel: the same patch, roles swapped.
struct PatchByTap {
    const float* x;
    Conv cv;
    using Row = TapCtx;
    using Col = PixelCtx;
    __device__ Row row(int, int m) const { return tap_ctx(cv, m); }
    __device__ Col col(int g, int k) const { return pixel_ctx(cv, g, k); }
    __device__ float at(const Row& r, const Col& c) const { return patch_at<float, float>(x, cv, c, r); }
};

// Forward B: w[g*cog + n][k], k = (ic, ky, kx) contiguous.
template <typename T, typename Acc>
struct WeightByOut {
    const T* wt;
    Conv cv;
    using Row = int64_t;
    using Col = int;
    __device__ Row row(int g, int n) const { return ((int64_t)g * cv.cog + n) * ((int64_t)cv.cig * cv.taps()); }
    __device__ Col col(int, int k) const { return k; }
    __device__ Acc at(Row r, Col c) const { return (Acc)wt[r + c]; }
};

// Backward-data A: row = input pixel (image, iy, ix), k = (oc, ky, kx); dy where an output pixel reads (iy, ix)
// through tap (ky, kx), else 0.
struct DyByInputPixel {
    const float* dy;
    Conv cv;
    struct Row {
        int64_t base;  // (image, first channel of the group) in dy
        int ty0, tx0;  // iy + ph, ix + pw
    };
    using Col = TapCtx;  // off = oc * oh * ow
    __device__ Row row(int g, int m) const {
        const int b = cv.by_hw.div(m), r = m - b * cv.h * cv.w;
        const int iy = cv.by_w.div(r), ix = r - iy * cv.w;
        return Row{((int64_t)b * cv.co + (int64_t)g * cv.cog) * cv.oh * cv.ow, iy + cv.ph, ix + cv.pw};
    }
    __device__ Col col(int, int k) const {
        const int oc = cv.by_taps.div(k), t = k - oc * cv.taps();
        const int ky = cv.by_kw.div(t), kx = t - ky * cv.kw;
        return TapCtx{oc * cv.oh * cv.ow, ky, kx};
    }
    __device__ float at(const Row& r, const Col& c) const {
        const int ty = r.ty0 - c.ky, tx = r.tx0 - c.kx;
        if (ty < 0 || tx < 0) return 0.0f;
        const int oy = cv.by_sh.div(ty), ox = cv.by_sw.div(tx);
        if (oy * cv.sh != ty || ox * cv.sw != tx || oy >= cv.oh || ox >= cv.ow) return 0.0f;
        return dy[r.base + c.off + (int64_t)oy * cv.ow + ox];
    }
};

// Backward-data B: w[g*cog + oc][n][ky][kx] for k = (oc, ky, kx), row n = input channel in the group.
struct WeightByIn {
    const float* wt;
    Conv cv;
    using Row = int;       // n * taps
    using Col = int64_t;   // (g*cog + oc) * cig * taps + tap
    __device__ Row row(int, int n) const { return n * cv.taps(); }
    __device__ Col col(int g, int k) const {
        const int oc = cv.by_taps.div(k), t = k - oc * cv.taps();
        return ((int64_t)g * cv.cog + oc) * cv.cig * cv.taps() + t;
    }
    __device__ float at(Row r, Col c) const { return wt[c + r]; }
};

// Backward-weight B: dy[image][g*cog + n][pixel], k = (image, pixel).
struct DyByPixel {
    const float* dy;
    Conv cv;
    using Row = int64_t;  // n * P
    using Col = int64_t;  // (image * co + g*cog) * P + pixel
    __device__ Row row(int, int n) const { return (int64_t)n * cv.pixels(); }
    __device__ Col col(int g, int k) const {
        const int b = cv.by_pixels.div(k), p = k - b * cv.pixels();
        return ((int64_t)b * cv.co + (int64_t)g * cv.cog) * cv.pixels() + p;
    }
    __device__ float at(Row r, Col c) const { return dy[r + c]; }
};

struct ConvOutStore {
    float* y;
    const float* bias;
    Conv cv;
    __device__ void operator()(int, int g, int m, int n, float v) const {
        const int P = cv.pixels();
        const int b = cv.by_pixels.div(m), p = m - b * P;
        const int oc = g * cv.cog + n;
        y[((int64_t)b * cv.co + oc) * P + p] = bias ? v + bias[oc] : v;
    }
};

struct InputGradStore {
    float* dx;
    Conv cv;
    __device__ void operator()(int, int g, int m, int n, float v) const {
        const int HW = cv.h * cv.w;
        const int b = cv.by_hw.div(m), r = m - b * HW;
        dx[((int64_t)b * cv.c + g * cv.cig + n) * HW + r] = v;
    }
};

struct WeightGradStore {
    float* dw;
    Conv cv;
    __device__ void operator()(int, int g, int m, int n, float v) const {
        const int64_t K = (int64_t)cv.cig * cv.taps();
        dw[((int64_t)g * cv.cog + n) * K + m] = v;
    }
};
// ---------------------------------------------------------------- depthwise (one input channel per group)
// A GEMM with one column per group would waste the tile; these direct kernels walk the taps instead.

__global__ void dw_fwd_kernel(const float* x, const float* wt, const float* bias, float* y, Conv cv) {
    const int64_t total = (int64_t)cv.n * cv.co * cv.oh * cv.ow;
    QC_GRID_STRIDE(i, total) {
        const int ox = (int)(i % cv.ow), oy = (int)((i / cv.ow) % cv.oh);
        const int ch = (int)((i / ((int64_t)cv.ow * cv.oh)) % cv.co);
        const int64_t b = i / ((int64_t)cv.ow * cv.oh * cv.co);
        const float* plane = x + (b * cv.c + ch) * (int64_t)cv.h * cv.w;  // cig = cog = 1: channel ch reads plane ch
        const float* k = wt + (int64_t)ch * cv.taps();
        float s = 0.0f;
        for (int ky = 0; ky < cv.kh; ky++) {
            const int iy = oy * cv.sh - cv.ph + ky;
            if (iy < 0 || iy >= cv.h) continue;
            for (int kx = 0; kx < cv.kw; kx++) {
                const int ix = ox * cv.sw - cv.pw + kx;
                if (ix >= 0 && ix < cv.w) s += plane[(int64_t)iy * cv.w + ix] * k[ky * cv.kw + kx];
            }
        }
        y[i] = bias ? s + bias[ch] : s;
    }
}

__global__ void dw_bwd_data_kernel(const float* dy, const float* wt, float* dx, Conv cv) {
    const int64_t total = (int64_t)cv.n * cv.c * cv.h * cv.w;
    QC_GRID_STRIDE(i, total) {
        const int ix = (int)(i % cv.w), iy = (int)((i / cv.w) % cv.h);
        const int ch = (int)((i / ((int64_t)cv.w * cv.h)) % cv.c);
        const int64_t b = i / ((int64_t)cv.w * cv.h * cv.c);
        const float* g = dy + (b * cv.co + ch) * (int64_t)cv.oh * cv.ow;
        const float* k = wt + (int64_t)ch * cv.taps();
        float s = 0.0f;
        for (int ky = 0; ky < cv.kh; ky++) {
            const int ty = iy + cv.ph - ky;
            if (ty < 0 || ty % cv.sh) continue;
            const int oy = ty / cv.sh;
            if (oy >= cv.oh) continue;
            for (int kx = 0; kx < cv.kw; kx++) {
                const int tx = ix + cv.pw - kx;
                if (tx < 0 || tx % cv.sw) continue;
                const int ox = tx / cv.sw;
                if (ox < cv.ow) s += g[(int64_t)oy * cv.ow + ox] * k[ky * cv.kw + kx];
            }
        }
        dx[i] = s;
    }
}

// One block per (channel, tap): a fixed-order block reduction over images and pixels.
__global__ void dw_bwd_weight_kernel(const float* dy, const float* x, float* dw, Conv cv) {
    const int ch = blockIdx.x / cv.taps(), t = blockIdx.x % cv.taps();
    const int ky = t / cv.kw, kx = t - ky * cv.kw;
    const int64_t P = cv.pixels(), total = (int64_t)cv.n * P;
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < total; i += blockDim.x) {
        const int64_t b = i / P;
        const int p = (int)(i - b * P);
        const int oy = p / cv.ow, ox = p - oy * cv.ow;
        const int iy = oy * cv.sh - cv.ph + ky, ix = ox * cv.sw - cv.pw + kx;
        if (iy < 0 || iy >= cv.h || ix < 0 || ix >= cv.w) continue;
        s += dy[(b * cv.co + ch) * P + p] * x[((b * cv.c + ch) * cv.h + iy) * cv.w + ix];
    }
    __shared__ float red[256];
    s = qc::block_reduce<256>(s, red, qc::Sum());  // launched with 256 threads
    if (threadIdx.x == 0) dw[blockIdx.x] = s;
}

bool is_depthwise(const Conv& cv) { return cv.cig == 1 && cv.cog == 1; }
}  // namespace

// ---------------------------------------------------------------- C ABI

extern "C" int qc_conv2d_f32(int64_t x, int64_t wt, int64_t bias, int64_t y, int n, int c, int h, int w, int co,
                             int kh, int kw, int sh, int sw, int ph, int pw, int groups) {
    QC_PROFILE(QAT4J_OP_CONV2D);
    const Conv cv = make_conv(n, c, h, w, co, kh, kw, sh, sw, ph, pw, groups);
    if (is_depthwise(cv)) {
        const int64_t total = (int64_t)n * co * cv.oh * cv.ow;
        dw_fwd_kernel<<<qc::blocks_for(total, 256), 256, 0, qc::stream()>>>(
            qc::ptr<float>(x), qc::ptr<float>(wt), qc::ptr<float>(bias), qc::ptr<float>(y), cv);
        return qc::launched();
    }
    return run_gemm<float, false, true>(n * cv.pixels(), cv.cog, cv.cig * cv.taps(), groups,
                                        PatchByPixel<float, float>{qc::ptr<float>(x), cv},
                                        WeightByOut<float, float>{qc::ptr<float>(wt), cv},
                                        ConvOutStore{qc::ptr<float>(y), qc::ptr<float>(bias), cv});
}

extern "C" int qc_conv2d_bwd_data_f32(int64_t dy, int64_t wt, int64_t dx, int n, int c, int h, int w, int co, int kh,
                                      int kw, int sh, int sw, int ph, int pw, int groups) {
    QC_PROFILE(QAT4J_OP_CONV2D_BACKWARD_DATA);
    const Conv cv = make_conv(n, c, h, w, co, kh, kw, sh, sw, ph, pw, groups);
    if (is_depthwise(cv)) {
        const int64_t total = (int64_t)n * c * h * w;
        dw_bwd_data_kernel<<<qc::blocks_for(total, 256), 256, 0, qc::stream()>>>(qc::ptr<float>(dy),
                                                                                 qc::ptr<float>(wt), qc::ptr<float>(dx), cv);
        return qc::launched();
    }
    return run_gemm<float, false, true>(n * h * w, cv.cig, cv.cog * cv.taps(), groups,
                                        DyByInputPixel{qc::ptr<float>(dy), cv}, WeightByIn{qc::ptr<float>(wt), cv},
                                        InputGradStore{qc::ptr<float>(dx), cv});
}

extern "C" int qc_conv2d_bwd_weight_f32(int64_t dy, int64_t x, int64_t dw, int n, int c, int h, int w, int co, int kh,
                                        int kw, int sh, int sw, int ph, int pw, int groups) {
    QC_PROFILE(QAT4J_OP_CONV2D_BACKWARD_WEIGHT);
    const Conv cv = make_conv(n, c, h, w, co, kh, kw, sh, sw, ph, pw, groups);
    if (is_depthwise(cv)) {
        dw_bwd_weight_kernel<<<co * cv.taps(), 256, 0, qc::stream()>>>(qc::ptr<float>(dy), qc::ptr<float>(x),
                                                                       qc::ptr<float>(dw), cv);
        return qc::launched();
    }
    return run_gemm<float, true, true>(cv.cig * cv.taps(), cv.cog, n * cv.pixels(), groups,
                                       PatchByTap{qc::ptr<float>(x), cv}, DyByPixel{qc::ptr<float>(dy), cv},
                                       WeightGradStore{qc::ptr<float>(dw), cv});
}
